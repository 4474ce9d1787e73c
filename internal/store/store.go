package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, wrapped with context and matched with errors.Is.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write collides with an existing record (a unique
	// key is taken).
	ErrConflict = errors.New("conflict")
)

// Store is the storage for every domain package, on SQLite or PostgreSQL.
type Store struct {
	engine engine
	// write takes every transaction that changes state. On SQLite it is one
	// connection (SQLite has one writer); on PostgreSQL it is the pool.
	write *sql.DB
	// read serves reads outside transactions: a pool on both engines.
	read *sql.DB
	// migrated is set once the schema is at the version this binary knows.
	migrated bool
	// batch, on SQLite, commits concurrent write transactions together
	// (batch.go).
	batch *committer
	// stmts, on SQLite, keeps hot write statements prepared (stmts.go).
	stmts *stmtCache
	// reads, on SQLite, keeps hot reads prepared (stmts.go).
	reads *readStmts
}

// Engine names the database engine: "sqlite" or "postgres".
func (s *Store) Engine() string { return s.engine.name() }

// Close closes the connections.
func (s *Store) Close() error {
	if s.batch != nil {
		s.batch.close()
	}
	if s.stmts != nil {
		s.stmts.close()
	}
	if s.reads != nil {
		s.reads.close()
	}
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.engine.name(), err)
	}
	return nil
}

// queryer is what a read needs: a transaction or a pool.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// exec runs one writing statement outside any transaction of the caller.
// On SQLite it joins the next group commit (batch.go) instead of
// committing on its own.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.batch == nil {
		return s.write.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := s.batch.do(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.txExec(ctx, tx, query, args...)
		return err
	})
	return res, err
}

// inTx runs fn in a write transaction, committing if fn returns nil and
// rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if s.batch != nil {
		return s.engine.mapError(s.batch.do(ctx, fn))
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", s.engine.mapError(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return s.engine.mapError(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", s.engine.mapError(err))
	}
	return nil
}

// micros converts a time to the stored form.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// fromMicros converts the stored form back to a time in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros converts an optional time; the zero time is stored as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

// fromNullMicros converts an optional stored time; NULL becomes the zero time.
func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}
