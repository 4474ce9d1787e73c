package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/portvakt/portvakt/internal/store"
)

// PostgresEnv names the environment variable with the PostgreSQL server URL
// for tests, e.g. postgres://postgres@127.0.0.1:5432/postgres.
const PostgresEnv = "PORTVAKT_TEST_POSTGRES_URL"

// Engine is a database engine the tests run against.
type Engine struct {
	// Name is "sqlite" or "postgres".
	Name string
	// NewURL returns the URL of a fresh, empty database that is dropped
	// when the test ends.
	NewURL func(t testing.TB) string
	// RawDB opens a plain connection pool to the database at a URL from
	// NewURL, bypassing the store, for tests that must set up states the
	// store would never create. It is closed when the test ends.
	RawDB func(t testing.TB, rawURL string) *sql.DB
}

// Engines returns SQLite, and PostgreSQL when PORTVAKT_TEST_POSTGRES_URL is
// set. Without it, PostgreSQL is reported as skipped, except under CI (CI
// set), where its absence fails the test: CI must never skip it.
func Engines(t testing.TB) []Engine {
	engines := []Engine{{Name: "sqlite", NewURL: SQLiteURL, RawDB: sqliteRawDB}}
	if os.Getenv(PostgresEnv) != "" {
		engines = append(engines, Engine{Name: "postgres", NewURL: PostgresURL, RawDB: postgresRawDB})
	} else if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set under CI: the PostgreSQL suite must run", PostgresEnv)
	} else {
		t.Logf("PostgreSQL suite skipped: set %s to run it", PostgresEnv)
	}
	return engines
}

// ForEachEngine runs fn as a subtest per engine.
func ForEachEngine(t *testing.T, fn func(t *testing.T, e Engine)) {
	for _, e := range Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

// SQLiteURL returns the URL of a new SQLite database in the test's
// temporary directory.
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "portvakt.db")
}

// PostgresURL creates a database with a random name on the server named by
// PORTVAKT_TEST_POSTGRES_URL and returns its URL; the database is dropped
// when the test ends.
func PostgresURL(t testing.TB) string {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL test skipped: set %s", PostgresEnv)
	}
	admin := openAdmin(t, base)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "portvakt_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// sqliteRawDB opens the SQLite file named by rawURL with the driver the store
// uses, without the store's pragmas except the busy timeout.
func sqliteRawDB(t testing.TB, rawURL string) *sql.DB {
	t.Helper()
	path, err := store.SQLitePath(rawURL)
	must(t, err, "raw sqlite connection")
	c, err := sqlite.NewConnector("file:" + path + "?_pragma=busy_timeout(10000)")
	must(t, err, "raw sqlite connection to %s", path)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// postgresRawDB opens the PostgreSQL database named by rawURL with pgx.
func postgresRawDB(t testing.TB, rawURL string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(rawURL)
	must(t, err, "raw postgres connection")
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openAdmin(t testing.TB, base string) *sql.DB {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	db := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s: cannot reach PostgreSQL: %v", PostgresEnv, err)
	}
	return db
}

// Open opens and migrates a fresh database of engine e, closed when the
// test ends.
func Open(t testing.TB, e Engine) *store.Store {
	t.Helper()
	return OpenURL(t, e.NewURL(t))
}

// OpenURL opens and migrates the database at rawURL, closed when the test
// ends.
func OpenURL(t testing.TB, rawURL string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("open %s: %v", store.Redact(rawURL), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// must fails the test on err.
func must(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
