package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
)

// app is what most commands need: the configuration, a logger, the store
// (migrated) and the keyring.
type app struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	masters keyring.MasterKeys
	keyring *keyring.Keyring
	now     func() time.Time
}

// openApp loads the configuration, prepares the data directory, opens and
// migrates the database and opens the keyring. Configuration mistakes come
// back as configError.
func openApp(ctx context.Context, cmd *cobra.Command, e env) (*app, error) {
	cfg, err := loadConfig(cmd.Flags(), e.getenv)
	if err != nil {
		return nil, err
	}
	if err := checkMasterKeys(cfg); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: cfg.logger(e.stderr), now: time.Now}
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	if err := a.openKeyring(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) close() {
	if a.store != nil {
		_ = a.store.Close()
	}
}

// openStore checks the data directory, connects and migrates.
func (a *app) openStore(ctx context.Context) error {
	if err := checkDataDir(a.cfg.DataDir); err != nil {
		return configError{fmt.Errorf("data_dir (PORTVAKT_DATA_DIR): %w", err)}
	}
	st, err := store.Open(ctx, string(a.cfg.DatabaseURL))
	switch {
	case errors.Is(err, store.ErrBadURL):
		return configError{fmt.Errorf("database_url (PORTVAKT_DATABASE_URL): %w", err)}
	case err != nil && isAuthFailure(err):
		return configError{fmt.Errorf("database_url (PORTVAKT_DATABASE_URL): %w", err)}
	case err != nil:
		return fmt.Errorf("database_url (PORTVAKT_DATABASE_URL): %w", err)
	}
	a.store = st
	applied, err := st.Migrate(ctx, a.log)
	if err != nil {
		_ = st.Close()
		a.store = nil
		return err
	}
	if len(applied) > 0 {
		a.log.Info("applied database migrations", "engine", st.Engine(), "versions", applied)
	}
	return nil
}

func isAuthFailure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "password authentication failed") || strings.Contains(msg, "SQLSTATE 28")
}

// checkDataDir creates the data directory if needed and proves it writable.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// checkMasterKeys reports malformed master keys in the configuration, so
// that they are found before anything is created or migrated.
func checkMasterKeys(c Config) error {
	var errs []error
	if c.MasterKey != "" {
		if _, err := keyring.ParseMasterKey(string(c.MasterKey)); err != nil {
			errs = append(errs, fmt.Errorf("master_key (PORTVAKT_MASTER_KEY): %w", err))
		}
	}
	for i, p := range c.MasterKeyPrevious {
		if _, err := keyring.ParseMasterKey(string(p)); err != nil {
			errs = append(errs, fmt.Errorf("master_key_previous (PORTVAKT_MASTER_KEY_PREVIOUS): key %d: %w", i+1, err))
		}
	}
	if len(errs) > 0 {
		return configError{errors.Join(errs...)}
	}
	return nil
}

// openKeyring loads the master keys and the data keys.
func (a *app) openKeyring(ctx context.Context) error {
	prev := make([]string, len(a.cfg.MasterKeyPrevious))
	for i, p := range a.cfg.MasterKeyPrevious {
		prev[i] = string(p)
	}
	mk, err := keyring.LoadMasterKeys(a.cfg.DataDir, string(a.cfg.MasterKey), prev)
	if err != nil {
		return configError{fmt.Errorf("master_key (PORTVAKT_MASTER_KEY): %w", err)}
	}
	if mk.Created {
		path, _ := filepath.Abs(mk.File)
		a.log.Warn("created a new master key: BACK IT UP NOW. Without it the secrets encrypted in the database cannot be read. For more than one node, set PORTVAKT_MASTER_KEY instead.",
			"file", path, "master_key_id", mk.Current.ID())
	}
	kr, err := keyring.Open(ctx, a.store, mk, a.now())
	if errors.Is(err, keyring.ErrWrongMasterKey) {
		return configError{fmt.Errorf("master_key (PORTVAKT_MASTER_KEY): %w", err)}
	}
	if err != nil {
		return err
	}
	a.masters, a.keyring = mk, kr
	return nil
}
