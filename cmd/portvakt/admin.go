package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/keyring"
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
	cmd := groupCmd("keys", "Manage the keys that protect secrets at rest")
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
