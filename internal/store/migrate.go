package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

//go:embed migrations
var migrations embed.FS

// ErrSchemaTooNew means the database was migrated by a newer Portvakt; this
// binary refuses to run against it rather than misread data.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// ErrSchemaBehind means migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind; run portvakt migrate")

// provider returns a goose provider, holding the migration lock for each
// call if locked. Goose takes the lock for every call, also for reading the
// version: a reader that waited for it (/readyz while another node migrates)
// would report the node not ready.
func (s *Store) provider(logger *slog.Logger, locked bool) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, s.engine.migrationDir())
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(logger)}
	if locked {
		locker, err := s.engine.migrationLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(s.engine.gooseDialect(), s.write, sub, opts...)
}

// SchemaVersion returns the database's schema version and the newest one
// this binary knows. It does not wait for a migration under way.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	return s.schemaVersion(ctx, false)
}

// schemaVersion reads the schema version, holding the migration lock if
// locked (goose creates its version table on a fresh database: nodes that
// start together must take turns at that too).
func (s *Store) schemaVersion(ctx context.Context, locked bool) (current, latest int64, err error) {
	p, err := s.provider(nil, locked)
	if err != nil {
		return 0, 0, err
	}
	sources := p.ListSources()
	latest = sources[len(sources)-1].Version
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("read schema version: %w", err)
	}
	return current, latest, nil
}

// Migrate applies pending migrations, holding a lock so that nodes starting
// together on one database take turns. It returns the versions applied, and
// ErrSchemaTooNew if the database is ahead of this binary.
func (s *Store) Migrate(ctx context.Context, logger *slog.Logger) ([]int64, error) {
	if err := s.checkNotNewer(ctx); err != nil {
		return nil, err
	}
	p, err := s.provider(logger, true)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	s.migrated = true
	return applied, nil
}

func (s *Store) checkNotNewer(ctx context.Context) error {
	current, latest, err := s.schemaVersion(ctx, true)
	if err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d; upgrade portvakt", ErrSchemaTooNew, current, latest)
	}
	return nil
}

// CheckSchema reports whether the schema is exactly at the version this
// binary knows: ErrSchemaBehind or ErrSchemaTooNew otherwise.
func (s *Store) CheckSchema(ctx context.Context) error {
	current, latest, err := s.SchemaVersion(ctx)
	switch {
	case err != nil:
		return err
	case current > latest:
		return fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d; upgrade portvakt", ErrSchemaTooNew, current, latest)
	case current < latest:
		return fmt.Errorf("%w: at version %d of %d", ErrSchemaBehind, current, latest)
	}
	return nil
}
