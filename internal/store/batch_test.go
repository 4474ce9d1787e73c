package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// openBatchTest opens a SQLite store with a table of its own.
func openBatchTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "batch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.write.ExecContext(t.Context(), `CREATE TABLE items (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func countItems(t *testing.T, s *Store, where string, args ...any) int {
	t.Helper()
	var n int
	if err := s.read.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM items `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGroupCommit: many concurrent transactions, some of which fail on
// their own (an error from the function, a unique key taken): each that
// succeeds is committed whole, each that fails leaves nothing, and every
// caller hears its own outcome.
func TestGroupCommit(t *testing.T) {
	s := openBatchTest(t)
	ctx := t.Context()
	errRefused := errors.New("refused")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.inTx(ctx, func(tx *sql.Tx) error {
				// Two rows per transaction: both or neither.
				for _, k := range []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)} {
					if _, err := tx.ExecContext(ctx, `INSERT INTO items (k, v) VALUES ($1, $2)`, k, i); err != nil {
						return err
					}
				}
				switch i % 10 {
				case 3:
					return errRefused
				case 7:
					// Takes a key another transaction holds (or will).
					_, err := tx.ExecContext(ctx, `INSERT INTO items (k, v) VALUES ('shared', $1)`, i)
					return err
				}
				return nil
			})
		})
	}
	wg.Wait()
	shared := 0
	for i, err := range errs {
		rows := countItems(t, s, `WHERE v = $1 AND k <> 'shared'`, i)
		switch {
		case i%10 == 3:
			if !errors.Is(err, errRefused) || rows != 0 {
				t.Errorf("transaction %d refused by its function: err %v, %d rows left, want errRefused and none", i, err, rows)
			}
		case i%10 == 7 && err != nil:
			if !errors.Is(err, ErrConflict) || rows != 0 {
				t.Errorf("transaction %d with a taken key: err %v, %d rows left, want ErrConflict and none", i, err, rows)
			}
		case i%10 == 7:
			shared++
			fallthrough
		default:
			if err != nil || rows != 2 {
				t.Errorf("transaction %d: err %v, %d rows, want both rows committed", i, err, rows)
			}
		}
	}
	if shared != 1 || countItems(t, s, `WHERE k = 'shared'`) != 1 {
		t.Errorf("%d transactions took the shared key, want exactly 1", shared)
	}
	// Single statements join the batches too.
	if _, err := s.exec(ctx, `INSERT INTO items (k, v) VALUES ('single', -1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, `INSERT INTO items (k, v) VALUES ('single', -2)`); !errors.Is(s.engine.mapError(err), ErrConflict) {
		t.Errorf("second insert of one key: %v, want a conflict", err)
	}
}

// TestGroupCommitEnds: a canceled context is answered without writing, and
// a closed store refuses writes.
func TestGroupCommitEnds(t *testing.T) {
	s := openBatchTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `INSERT INTO items (k, v) VALUES ('late', 1)`)
		return err
	})
	if !errors.Is(err, context.Canceled) || countItems(t, s, `WHERE k = 'late'`) != 0 {
		t.Errorf("write with a canceled context: %v, want context.Canceled and nothing written", err)
	}
	s.batch.close()
	if err := s.inTx(t.Context(), func(*sql.Tx) error { return nil }); !errors.Is(err, errStoreClosed) {
		t.Errorf("write after close: %v, want errStoreClosed", err)
	}
}
