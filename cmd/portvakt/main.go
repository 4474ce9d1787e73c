// Command portvakt is the Portvakt customer identity server: one binary that
// serves the hosted pages, the OpenID Provider and the management API, and
// holds the operator's commands (migrate, keys, users, …).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// env is the outside world a command sees; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad usage or configuration
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, e env) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "portvakt: %s\n", oneLine(err.Error()))
	return exitCode(err)
}

// oneLine folds a multi-line message (pgx and cobra write some) into one
// line: its non-blank lines, trimmed, joined with "; ".
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), ":; ", ": ")
}

func exitCode(err error) int {
	var ce configError
	var ue usageError
	switch {
	case errors.As(err, &ce), errors.As(err, &ue):
		return exitUsage
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown shorthand flag"):
		return exitUsage
	}
	return exitFailure
}

func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "portvakt",
		Short: "Portvakt: customer identity and access management",
		Long: `Portvakt is a customer identity and access management server: registration,
sign-in, OpenID Connect and OAuth 2, organizations and self-service for the
customers and partners of a business.

Run "portvakt serve" to start it with no configuration at all: it keeps its
data in ./portvakt-data (SQLite) and listens on http://localhost:8080.

Configuration comes from flags, then PORTVAKT_* environment variables, then a
YAML file (--config), then defaults; "portvakt config check" shows the result.`,
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	addConfigFlags(root.PersistentFlags())
	root.AddCommand(
		newServeCmd(e),
		newMigrateCmd(e),
		newVersionCmd(e),
		newConfigCmd(e),
		newKeysCmd(e),
		newUserCmd(e),
		newImportCmd(e),
		newMailCmd(e),
		newClientCmd(e),
		newIdpCmd(e),
		newOrgCmd(e),
		newRoleCmd(e),
		newWebhookCmd(e),
	)
	return root
}

// groupCmd is a command that only holds subcommands. Alone it prints its
// help; followed by anything else it is a usage error. (Cobra would print the
// help and exit 0, so a mistyped subcommand in a script would go unnoticed.)
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:                        use,
		Short:                      short,
		SuggestionsMinimumDistance: 2,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// noSubcommand rejects an argument to a command that only holds
// subcommands: it is a mistyped or unknown subcommand.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageError{errors.New(msg)}
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
