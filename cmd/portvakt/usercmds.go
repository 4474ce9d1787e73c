package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/accounts"
)

// addUserCommands adds create, get, disable, enable, delete and export to
// the user command group.
func addUserCommands(group *cobra.Command, e env) {
	var in accounts.NewUser
	var passwordStdin, asJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user",
		Long: `Create a user. The password is read from standard input with
--password-stdin (never from a flag, which would leave it in the shell
history and the process list) and must meet the password policy; without a
password the user sets one through "Forgot your password?".

Example:
  printf '%s' 'a-long-passphrase' | portvakt user create --email ada@example.com --password-stdin --verified --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in.Email == "" {
				return usageError{errors.New("--email is required")}
			}
			if passwordStdin {
				pw, err := readPassword(e.stdin)
				if err != nil {
					return usageError{err}
				}
				in.Password = pw
			}
			a, err := openApp(cmd.Context(), cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			svc, err := a.services()
			if err != nil {
				return err
			}
			u, err := svc.accounts.Create(cmd.Context(), in, "system:cli")
			if err != nil {
				return userProblem(err)
			}
			return printUser(e, u, asJSON)
		},
	}
	f := create.Flags()
	f.StringVar(&in.Email, "email", "", "email address (required)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	f.BoolVar(&in.Verified, "verified", false, "mark the email address as verified")
	f.StringVar(&in.GivenName, "given-name", "", "given (first) name")
	f.StringVar(&in.FamilyName, "family-name", "", "family (last) name")
	f.StringVar(&in.Locale, "locale", "", "language, e.g. sv or fi")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get ID|EMAIL",
		Short: "Show a user",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUser(cmd, e, args[0], func(_ *services, u accounts.User) error {
				return printUser(e, u, getJSON)
			})
		},
	}
	get.Flags().BoolVar(&getJSON, "json", false, "print one JSON object")

	status := func(use, short string, st accounts.Status) *cobra.Command {
		var asJSON bool
		c := &cobra.Command{
			Use:   use + " ID|EMAIL",
			Short: short,
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withUser(cmd, e, args[0], func(svc *services, u accounts.User) error {
					u, err := svc.accounts.SetStatus(cmd.Context(), u.ID, st, "system:cli")
					if err != nil {
						return userProblem(err)
					}
					return printUser(e, u, asJSON)
				})
			},
		}
		c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
		return c
	}

	var yes bool
	del := &cobra.Command{
		Use:   "delete ID|EMAIL",
		Short: "Erase a user and everything held about them",
		Long: `Erase a user at once: the account with everything keyed to it or naming
its address (sessions, tokens, factors, linked accounts, memberships,
invitations, mail, …), and their address, names and phone scrubbed from the
events that stay. A user.deleted event (reason admin) tells integrations.
It cannot be undone; pass --yes to confirm.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{errors.New("deleting a user cannot be undone; pass --yes to confirm")}
			}
			return withUser(cmd, e, args[0], func(svc *services, u accounts.User) error {
				if err := svc.privacy.Erase(cmd.Context(), u.ID, "system:cli"); err != nil {
					return userProblem(err)
				}
				fmt.Fprintf(e.stdout, "deleted user %s (%s)\n", u.ID, u.Email)
				return nil
			})
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")

	export := &cobra.Command{
		Use:   "export ID|EMAIL",
		Short: "Print everything held about a user as JSON",
		Long: `Print everything held about a user as one JSON document (format
portvakt-export/1, described in docs/your-data.md), for a request of access
or portability that came by another channel. No secret is in it (no
password hash, factor secret or token), and the national identity number is
masked. It is recorded as a user.exported event.

Example:
  portvakt user export ada@example.com > ada.json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUser(cmd, e, args[0], func(svc *services, u accounts.User) error {
				x, err := svc.privacy.Export(cmd.Context(), u.ID, "system:cli", "json")
				if err != nil {
					return userProblem(err)
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(x)
			})
		},
	}

	group.AddCommand(create, get,
		status("disable", "Disable a user and sign them out everywhere", accounts.StatusDisabled),
		status("enable", "Enable a disabled user", accounts.StatusActive),
		del, export)
}

// withUser opens the app and its services, finds the user named by
// idOrEmail and calls fn with them.
func withUser(cmd *cobra.Command, e env, idOrEmail string, fn func(svc *services, u accounts.User) error) error {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	svc, err := a.services()
	if err != nil {
		return err
	}
	u, err := svc.accounts.Find(cmd.Context(), idOrEmail)
	if err != nil {
		return userProblem(err)
	}
	return fn(svc, u)
}

// readPassword reads one line from r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: standard input is empty")
	}
	return pw, nil
}

// userProblem turns domain errors into clear command errors.
func userProblem(err error) error {
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return usageError{errors.New("no such user")}
	case errors.Is(err, accounts.ErrConflict):
		return usageError{errors.New("a user with this email already exists")}
	case errors.Is(err, accounts.ErrInvalid):
		return usageError{err}
	}
	return err
}

func printUser(e env, u accounts.User, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(userJSON(u))
	}
	verified := "unverified"
	if u.EmailVerified {
		verified = "verified"
	}
	fmt.Fprintf(e.stdout, "%s\t%s (%s)\t%s\t%s %s\n", u.ID, u.Email, verified, u.Status, u.GivenName, u.FamilyName)
	return nil
}
