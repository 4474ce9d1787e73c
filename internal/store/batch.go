package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit for SQLite. SQLite has one writer, and with
// synchronous=FULL every commit waits for the disk (fsync). Transactions
// that arrive while a commit is under way are therefore run together in
// the next transaction, each inside its own savepoint, and committed with
// one fsync. Each keeps its own outcome: one that fails is rolled back to
// its savepoint and returns its error, the others commit; every caller
// returns only once its changes are durable (or have failed). The work is
// the same as one transaction after another, in the same order; only the
// waits for the disk are shared.

// maxBatch bounds the transactions committed together.
const maxBatch = 64

// errStoreClosed is the answer to a write after Close.
var errStoreClosed = errors.New("store: closed")

type batchJob struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
	err chan error
}

type committer struct {
	db    *sql.DB
	stmts *stmtCache
	jobs  chan *batchJob
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newCommitter(db *sql.DB, stmts *stmtCache) *committer {
	c := &committer{db: db, stmts: stmts, jobs: make(chan *batchJob), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in a transaction shared with others and returns once that
// transaction has committed or fn has failed. A job handed over is waited
// for even if ctx ends meanwhile, so that the answer is true.
func (c *committer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	j := &batchJob{ctx: ctx, fn: fn, err: make(chan error, 1)}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return errStoreClosed
	}
	return <-j.err
}

// close stops taking jobs and waits for the batch under way.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	for {
		var first *batchJob
		select {
		case first = <-c.jobs:
		case <-c.stop:
			return
		}
		batch := []*batchJob{first}
	more:
		for len(batch) < maxBatch {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		c.commit(batch)
		c.stmts.prepare(c.db)
	}
}

// commit runs a batch in one transaction.
func (c *committer) commit(batch []*batchJob) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err <- err
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	errs, err := c.runBatch(live)
	for i, j := range live {
		switch {
		case errs[i] != nil:
			j.err <- errs[i]
		default:
			j.err <- err
		}
	}
}

// runBatch returns each job's own error, and the error of the transaction
// as a whole (which every job that did not fail on its own shares).
func (c *committer) runBatch(jobs []*batchJob) ([]error, error) {
	errs := make([]error, len(jobs))
	ctx := context.Background() // one job's end must not end the others
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return errs, fmt.Errorf("begin: %w", err)
	}
	if len(jobs) == 1 {
		if err := jobs[0].fn(tx); err != nil {
			_ = tx.Rollback()
			errs[0] = err
			return errs, nil
		}
		return errs, commitErr(tx.Commit())
	}
	abort := func(err error) ([]error, error) {
		_ = tx.Rollback()
		for i := range errs {
			errs[i] = nil
		}
		return errs, err
	}
	for i, j := range jobs {
		if _, err := c.exec(ctx, tx, "SAVEPOINT batch_job"); err != nil {
			return abort(fmt.Errorf("savepoint: %w", err))
		}
		if err := j.fn(tx); err != nil {
			errs[i] = err
			if _, rerr := c.exec(ctx, tx, "ROLLBACK TO batch_job"); rerr != nil {
				return abort(fmt.Errorf("roll back a failed write (%v): %w", err, rerr))
			}
		}
		if _, err := c.exec(ctx, tx, "RELEASE batch_job"); err != nil {
			return abort(fmt.Errorf("release savepoint: %w", err))
		}
	}
	return errs, commitErr(tx.Commit())
}

// exec runs a statement of the committer's own, prepared once.
func (c *committer) exec(ctx context.Context, tx *sql.Tx, query string) (sql.Result, error) {
	if st := c.stmts.get(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx)
	}
	return tx.ExecContext(ctx, query)
}

func commitErr(err error) error {
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
