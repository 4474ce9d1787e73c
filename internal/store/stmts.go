package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the statements of the hot write paths prepared on
// SQLite's one writer connection, so that SQLite does not parse them again
// for every transaction. A statement is asked for inside a transaction,
// when the connection is busy; it is prepared by the committer between two
// batches, when the connection is free, and used from then on.
type stmtCache struct {
	mu     sync.Mutex
	ready  map[string]*sql.Stmt
	wanted map[string]bool
}

// maxStmts bounds the cache: only a few statements are hot.
const maxStmts = 64

func newStmtCache() *stmtCache {
	return &stmtCache{ready: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns the prepared statement for query, or nil (and remembers to
// prepare it).
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ready[query]
	if st == nil && len(c.ready)+len(c.wanted) < maxStmts {
		c.wanted[query] = true
	}
	return st
}

// prepare prepares what was asked for; db's connection must be free.
func (c *stmtCache) prepare(db *sql.DB) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	wanted := c.wanted
	c.wanted = map[string]bool{}
	c.mu.Unlock()
	for q := range wanted {
		st, err := db.PrepareContext(context.Background(), q)
		if err != nil {
			continue // it runs unprepared, as before
		}
		c.mu.Lock()
		c.ready[q] = st
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.ready {
		_ = st.Close()
	}
	c.ready = map[string]*sql.Stmt{}
}

// txExec runs a statement in tx, prepared when the store keeps it so.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s.stmts != nil {
		if st := s.stmts.get(query); st != nil {
			return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs a query of one row in tx, prepared when the store keeps
// it so.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if s.stmts != nil {
		if st := s.stmts.get(query); st != nil {
			return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
		}
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// readStmts keeps the hot reads prepared on SQLite's read pool (each
// connection prepares a statement once, the first time it runs it).
type readStmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (r *readStmts) get(ctx context.Context, query string) *sql.Stmt {
	r.mu.Lock()
	st, ok := r.m[query]
	full := len(r.m) >= maxStmts
	r.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.m[query]; ok {
		_ = st.Close()
		return prev
	}
	r.m[query] = st
	return st
}

func (r *readStmts) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		_ = st.Close()
	}
	r.m = map[string]*sql.Stmt{}
}

// queryRow runs a hot read of one row outside any transaction, prepared
// where the store keeps reads so.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.reads != nil {
		if st := s.reads.get(ctx, query); st != nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return s.read.QueryRowContext(ctx, query, args...)
}
