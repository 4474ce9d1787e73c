package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/signing"
)

func newMigrateCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Long: `Apply pending database migrations and exit. "portvakt serve" does this at
start too; run it on its own to upgrade the schema before rolling out nodes.
Migrations only go forward. A database migrated by a newer Portvakt is
refused with a clear message rather than misread.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags(), e.getenv)
			if err != nil {
				return err
			}
			a := &app{cfg: cfg, log: cfg.logger(e.stderr)}
			if err := a.openStore(cmd.Context()); err != nil {
				return err
			}
			defer a.close()
			current, _, err := a.store.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s schema at version %d\n", a.store.Engine(), current)
			return nil
		},
	}
}

func newVersionCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"version": version, "go": runtime.Version()}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v["commit"] = s.Value
					}
				}
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(v)
			}
			fmt.Fprintf(e.stdout, "portvakt %s (%s)\n", v["version"], v["go"])
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newConfigCmd(e env) *cobra.Command {
	cmd := groupCmd("config", "Inspect the configuration")
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with secrets redacted",
		Long: `Validate the configuration from flags, PORTVAKT_* environment variables and
the --config file, report every problem at once (exit code 2), or print the
effective configuration as JSON with secrets redacted (exit code 0).
Nothing is connected to or written.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags(), e.getenv)
			if err != nil {
				return err
			}
			if err := checkMasterKeys(cfg); err != nil {
				return err
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(cfg.redacted())
		},
	})
	return cmd
}

func newKeysCmd(e env) *cobra.Command {
	cmd := groupCmd("keys", "Manage the token signing keys and the master key")
	cmd.AddCommand(newKeysListCmd(e), newKeysRotateCmd(e))
	var asJSON bool
	rotate := &cobra.Command{
		Use:   "rotate-master",
		Short: "Re-encrypt the data keys under a new master key",
		Long: `Re-encrypt (re-wrap) every data key under the current master key, in one
transaction. Running servers are not interrupted.

With the master key in the data directory (no PORTVAKT_MASTER_KEY): a new key
is generated, the data keys are re-wrapped, the new key replaces master.key
and the old one is kept as master.key.previous. Back up the new master.key.

With PORTVAKT_MASTER_KEY, rotate without downtime in three steps:
  1. on every node set PORTVAKT_MASTER_KEY to the new key and
     PORTVAKT_MASTER_KEY_PREVIOUS to the old one, and restart them in turn;
  2. run "portvakt keys rotate-master" once, with the same settings;
  3. remove PORTVAKT_MASTER_KEY_PREVIOUS and restart the nodes in turn.

It is safe to run again: keys already under the current master are skipped.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := openApp(ctx, cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			var n int
			mk := a.masters
			if mk.File != "" {
				mk, n, err = keyring.RotateMasterFile(ctx, a.store, mk, "system:cli", a.now())
			} else {
				n, err = keyring.RotateMaster(ctx, a.store, mk, "system:cli", a.now())
			}
			if err != nil {
				return err
			}
			out := map[string]any{"rewrapped": n, "master_key_id": mk.Current.ID()}
			if mk.File != "" {
				out["file"] = mk.File
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			fmt.Fprintf(e.stdout, "re-wrapped %d data key(s) under master key %s\n", n, mk.Current.ID())
			if mk.File != "" {
				fmt.Fprintf(e.stdout, "the new master key is in %s: back it up now\n", mk.File)
			}
			return nil
		},
	}
	rotate.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.AddCommand(rotate)
	return cmd
}

// signingKeys returns the token signing keys with the same options as
// "portvakt serve".
func (a *app) signingKeys() (*signing.Keys, error) {
	return signing.New(a.store, a.keyring, signing.Options{Now: a.now, Logger: a.log.With("component", "signing")})
}

func newKeysListCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the token signing keys (no key material)",
		Long: `List the keys that sign ID tokens and access tokens, active keys first:
key ID (kid), algorithm, state and times. No key material is printed; the
private keys are stored encrypted and never leave the server.

A key is in one of three states:
  next     published in the JWKS, not signing yet; it takes over when the
           active key is due (activates_at)
  active   signing; one per algorithm (RS256, ES256, EdDSA); replaced on
           schedule (rotates_at)
  retired  not signing, still published until every token it signed has
           expired (retire_until); then deleted

If the database has no signing keys yet, an active key per algorithm is
made first, as "portvakt serve" does at start.

With --json each key is one JSON object a line: kid, alg, state, created_at,
and where they apply activated_at, activates_at, rotates_at, retired_at and
retire_until (RFC 3339, UTC).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := openApp(ctx, cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			keys, err := a.signingKeys()
			if err != nil {
				return err
			}
			if err := keys.Ensure(ctx); err != nil {
				return err
			}
			infos, err := keys.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := json.NewEncoder(e.stdout)
				for _, info := range infos {
					if err := out.Encode(info); err != nil {
						return err
					}
				}
				return nil
			}
			return printSigningKeys(e.stdout, infos)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per key")
	return cmd
}

// printSigningKeys writes keys as a table for a person to read.
func printSigningKeys(w io.Writer, infos []signing.Info) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tNEXT")
	for _, i := range infos {
		next := ""
		switch {
		case !i.ActivatesAt.IsZero():
			next = "signs at " + i.ActivatesAt.Format(time.RFC3339)
		case !i.RotatesAt.IsZero():
			next = "rotates at " + i.RotatesAt.Format(time.RFC3339)
		case !i.RetireUntil.IsZero():
			next = "unpublished at " + i.RetireUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.ID, i.Algorithm, i.State, i.CreatedAt.Format(time.RFC3339), next)
	}
	return tw.Flush()
}

func newKeysRotateCmd(e env) *cobra.Command {
	var asJSON bool
	var algName string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the token signing keys now",
		Long: `Make a new key sign now, for one algorithm (--alg) or for every one, and
retire the key that signed until now. The retired key stays in the JWKS until
every token it signed has expired, so those tokens still verify.

"portvakt serve" rotates on its own schedule, publishing each new key in the
JWKS a day before it signs, so that relying parties which cache the JWKS
know it in time. This command cannot wait for that: the key the schedule has
published already (if any) signs now, or else a new key that no relying
party has seen yet; they find it when they fetch the JWKS again, which most
do when they meet an unknown kid. Use it when a key must stop signing now,
for example when it may have leaked. Running servers follow within seconds.

With --json it prints one JSON object: {"rotated": [...]}, one entry per
algorithm with alg, active (the kid that signs now), was_published (whether
it was in the JWKS before), retired (the kid that stopped) and retire_until.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var algs []jose.SignatureAlgorithm
			if algName != "" {
				alg, err := signing.ParseAlgorithm(algName)
				if err != nil {
					return usageError{fmt.Errorf("--alg: %w", err)}
				}
				algs = append(algs, alg)
			}
			a, err := openApp(ctx, cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			keys, err := a.signingKeys()
			if err != nil {
				return err
			}
			if algs == nil {
				algs = keys.Algorithms()
			}
			rotated := []signing.Rotation{}
			for _, alg := range algs {
				r, err := keys.Rotate(ctx, alg, "system:cli")
				if err != nil {
					return err
				}
				rotated = append(rotated, r)
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(map[string]any{"rotated": rotated})
			}
			for _, r := range rotated {
				switch {
				case r.Retired == "":
					fmt.Fprintf(e.stdout, "%s: %s signs now (there was no active key)\n", r.Algorithm, r.Active)
				default:
					fmt.Fprintf(e.stdout, "%s: %s signs now; %s is retired and stays published until %s\n",
						r.Algorithm, r.Active, r.Retired, r.RetireUntil.UTC().Format(time.RFC3339))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&algName, "alg", "", "rotate only this algorithm: RS256, ES256 or EdDSA (default: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
