package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/store"
)

func newImportCmd(e env) *cobra.Command {
	cmd := groupCmd("import", "Bring users in from other registries")
	var path string
	users := &cobra.Command{
		Use:   "users",
		Short: "Import users from JSON Lines",
		Long: `Import users from JSON Lines (one JSON object a line) read from --file or
standard input. Each line is committed on its own; once committed, the line's
result is printed on standard output as one JSON object:

  {"line":1,"id":"…","email":"ada@example.com"}

A line that cannot be imported is reported on standard error with its number
and the reason, and the import goes on; the exit code is then 1. Fields:
email (required), email_verified, given_name, family_name, phone (E.164),
locale, external_id, attributes (a JSON object), profile_confirmed_at (when the
person last confirmed their profile there, RFC 3339). Unknown fields are
refused.

Example:
  echo '{"email":"ada@example.com","given_name":"Ada"}' | portvakt import users`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := e.stdin
			if path != "" && path != "-" {
				f, err := os.Open(path)
				if err != nil {
					return usageError{fmt.Errorf("--file: %w", err)}
				}
				defer f.Close()
				in = f
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
			return importUsers(cmd, svc.accounts, in, e)
		},
	}
	users.Flags().StringVar(&path, "file", "-", "JSON Lines file to read, - for standard input")
	cmd.AddCommand(users)
	return cmd
}

func importUsers(cmd *cobra.Command, svc *accounts.Service, in io.Reader, e env) error {
	ctx := cmd.Context()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	out := json.NewEncoder(e.stdout)
	line, ok, failed := 0, 0, 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var rec accounts.ImportRecord
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(&rec)
		var u accounts.User
		if err == nil {
			u, err = svc.Import(ctx, rec, "system:import")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "line %d: %s\n", line, importProblem(err))
			continue
		}
		ok++
		if err := out.Encode(map[string]any{"line": line, "id": u.ID, "email": u.Email}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", line+1, err)
	}
	if failed > 0 {
		return fmt.Errorf("imported %d user(s); %d line(s) failed", ok, failed)
	}
	return nil
}

func importProblem(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, store.ErrConflict):
		return "a user with this email or external_id already exists"
	}
	return err.Error()
}

func newUserCmd(e env) *cobra.Command {
	cmd := groupCmd("user", "Find and manage users")
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List users as JSON Lines",
		Long:  "List users in creation order, one JSON object a line.",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			out := json.NewEncoder(e.stdout)
			after, n := "", 0
			for limit <= 0 || n < limit {
				page, err := a.store.ListUsers(cmd.Context(), after, 500)
				if err != nil {
					return err
				}
				for _, u := range page {
					if limit > 0 && n >= limit {
						break
					}
					if err := out.Encode(userJSON(u)); err != nil {
						return err
					}
					n++
				}
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].ID
			}
			return nil
		},
	}
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many users (0: all)")
	list.Flags().Bool("json", true, "print JSON (the only format)")
	cmd.AddCommand(list)
	addUserCommands(cmd, e)
	return cmd
}

func userJSON(u accounts.User) map[string]any {
	m := map[string]any{
		"id":             u.ID,
		"email":          u.Email,
		"email_verified": u.EmailVerified,
		"given_name":     u.GivenName,
		"family_name":    u.FamilyName,
		"phone":          u.Phone,
		"locale":         u.Locale,
		"status":         u.Status,
		"external_id":    u.ExternalID,
		"attributes":     u.Attributes,
		"created_at":     u.CreatedAt,
		"updated_at":     u.UpdatedAt,
	}
	if !u.ProfileConfirmedAt.IsZero() {
		m["profile_confirmed_at"] = u.ProfileConfirmedAt
	}
	return m
}
