package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file is the one place where the two engines differ: how to connect,
// how to read their errors, how to lock, which migrations apply.

// ErrBadURL means the database URL cannot be used as given; it is a
// configuration error, not a runtime failure.
var ErrBadURL = errors.New("bad database URL")

type engine interface {
	name() string
	// mapError turns engine errors into the package's sentinels where they
	// have one, leaving others untouched.
	mapError(err error) error
	// lockEventLog makes appends to the event log commit in position order:
	// a transaction that appends events holds it until it ends.
	lockEventLog(ctx context.Context, tx *sql.Tx) error
	gooseDialect() goose.Dialect
	migrationDir() string
	migrationLocker() (lock.SessionLocker, error)
	// forUpdate is the suffix that locks the rows a SELECT reads inside a
	// write transaction.
	forUpdate() string
}

// Open connects to the database named by rawURL: "sqlite:///path/to/db"
// (created with its directory if missing) or "postgres://…". It does not
// migrate; call Migrate.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		return openSQLite(ctx, rawURL)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	default:
		scheme, _, ok := strings.Cut(rawURL, ":")
		if !ok || scheme == "" {
			return nil, fmt.Errorf("%w: %q has no scheme; use sqlite:///path/to/db or postgres://user@host/db", ErrBadURL, Redact(rawURL))
		}
		return nil, fmt.Errorf("%w: unknown scheme %q; use sqlite:///path/to/db or postgres://user@host/db", ErrBadURL, scheme)
	}
}

// SQLitePath returns the file path in a sqlite: URL.
func SQLitePath(rawURL string) (string, error) {
	p, ok := strings.CutPrefix(rawURL, "sqlite://")
	if !ok {
		p, _ = strings.CutPrefix(rawURL, "sqlite:")
	}
	switch {
	case p == "":
		return "", fmt.Errorf("%w: sqlite URL has no path; use sqlite:///path/to/db", ErrBadURL)
	case strings.ContainsAny(p, "?#"):
		return "", fmt.Errorf("%w: sqlite URL %q may not carry parameters", ErrBadURL, rawURL)
	}
	return p, nil
}

// Redact hides the password in a database URL, for logs and messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// ---- SQLite ----

type sqliteEngine struct{ path string }

func openSQLite(ctx context.Context, rawURL string) (*Store, error) {
	path, err := SQLitePath(rawURL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: create directory for %s: %w", ErrBadURL, path, err)
	}
	// FULL synchronous: a committed transaction survives a crash of the
	// process and of the machine. busy_timeout lets a CLI command and a
	// running server share the file.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	write, err := sqliteDB("file:" + path + "?" + common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := pingSQLite(ctx, write); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	read, err := sqliteDB("file:" + path + "?" + common + "&_pragma=query_only(1)")
	if err != nil {
		_ = write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	stmts := newStmtCache()
	return &Store{engine: sqliteEngine{path: path}, write: write, read: read, batch: newCommitter(write, stmts), stmts: stmts,
		reads: &readStmts{db: read, m: map[string]*sql.Stmt{}}}, nil
}

// pingSQLite opens the first connection. Processes that open a new database
// at the same moment all switch it to WAL, and SQLite answers all but one
// SQLITE_BUSY at once, without waiting for busy_timeout: try again for as
// long as busy_timeout would have waited.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func sqliteDB(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return sql.OpenDB(c), nil
}

func (sqliteEngine) name() string { return "sqlite" }

func (sqliteEngine) mapError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}

// SQLite has one writer at a time, so commits are already in position order.
func (sqliteEngine) lockEventLog(context.Context, *sql.Tx) error { return nil }

// SQLite transactions begin IMMEDIATE: the writer already holds the lock.
func (sqliteEngine) forUpdate() string { return "" }

func (sqliteEngine) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteEngine) migrationDir() string        { return "migrations/sqlite" }

func (e sqliteEngine) migrationLocker() (lock.SessionLocker, error) {
	return &fileLocker{path: e.path + ".migrate-lock"}, nil
}

// ---- PostgreSQL ----

type postgresEngine struct{}

// eventLogLockKey is the advisory lock that orders event appends.
const eventLogLockKey = 7270_1001

// migrationLockKey is the advisory lock that serializes migrations.
const migrationLockKey = 7270_1000

func openPostgres(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadURL, redactPgxError(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(25)
	db.SetMaxIdleConns(25) // as many as may be open: no reconnect churn under load
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	return &Store{engine: postgresEngine{}, write: db, read: db}, nil
}

// redactPgxError keeps parse errors from echoing the password.
func redactPgxError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		return "cannot parse the URL (check its syntax)"
	}
	return msg
}

func (postgresEngine) name() string { return "postgres" }

func (postgresEngine) mapError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

func (postgresEngine) lockEventLog(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, eventLogLockKey)
	return err
}

func (postgresEngine) forUpdate() string { return " FOR UPDATE" }

func (postgresEngine) gooseDialect() goose.Dialect { return goose.DialectPostgres }
func (postgresEngine) migrationDir() string        { return "migrations/postgres" }

func (postgresEngine) migrationLocker() (lock.SessionLocker, error) {
	// Retry every second for up to five minutes: a node that starts while
	// another migrates waits for it instead of failing.
	return lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockKey), lock.WithLockTimeout(1, 300))
}
