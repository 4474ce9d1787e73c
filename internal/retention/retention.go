// Package retention deletes what has outlived its use: expired sessions,
// flows and one-time tokens, throttle counts past their window, and sent
// mail (whose encrypted bodies still hold one-time links) after a retention
// period; and, through the hooks it is given, it marks invitations expired
// and erases accounts whose deletion is due or whose registration was
// abandoned. One node at a time does it, under a lease, and each sweep
// writes a retention.purged event with the counts.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Counts is how many rows of each kind a sweep deleted.
type Counts map[string]int64

// Store deletes expired rows.
type Store interface {
	// Purge deletes rows expired at now, and mail created before
	// mailBefore, writing the event built from the counts in the same
	// transaction when anything was deleted.
	Purge(ctx context.Context, now, mailBefore time.Time, event func(Counts) (events.Event, error)) (Counts, error)
	// AcquireLease gives holder the lease until until, if free or expired.
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
}

// Job sweeps periodically.
type Job struct {
	Store  Store
	Holder string
	// Every is the time between sweeps (default 10m).
	Every time.Duration
	// MailRetention is how long mail is kept (default 30 days).
	MailRetention time.Duration
	// Expire marks what has expired but is kept (invitations), with
	// its events, on the same node and schedule as the sweep; it returns
	// how many.
	Expire func(ctx context.Context) (int, error)
	// Erase erases the accounts whose time has come (a deletion due, an
	// abandoned registration), each in its own transaction with its
	// events, on the same node and schedule; it returns how many.
	Erase  func(ctx context.Context) (int, error)
	Logger *slog.Logger
	Now    func() time.Time
}

const leaseName = "retention"

// Sweep runs once if this node gets the lease, and reports the counts.
func (j *Job) Sweep(ctx context.Context) (Counts, error) {
	now := time.Now().UTC()
	if j.Now != nil {
		now = j.Now().UTC()
	}
	every := j.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	keep := j.MailRetention
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	ok, err := j.Store.AcquireLease(ctx, leaseName, j.Holder, now, now.Add(every))
	if err != nil || !ok {
		return nil, err
	}
	for _, hook := range []struct {
		name string
		run  func(context.Context) (int, error)
	}{{"expired", j.Expire}, {"erased", j.Erase}} {
		if hook.run == nil {
			continue
		}
		// A hook that fails leaves the rest of the sweep to run.
		if n, err := hook.run(ctx); err != nil {
			j.logger().Error(hook.name, "error", err)
		} else if n > 0 {
			j.logger().Info(hook.name, "count", n)
		}
	}
	return j.Store.Purge(ctx, now, now.Add(-keep), func(c Counts) (events.Event, error) {
		data := map[string]any{}
		for k, v := range c {
			data[k] = v
		}
		return events.New("retention.purged", "system:retention", "system:retention", now, data)
	})
}

// Run sweeps now and then every Every until ctx ends. The lease lasts one
// period, so when several nodes run the job, one of them sweeps each time.
func (j *Job) Run(ctx context.Context) {
	every := j.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c, err := j.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			j.logger().Error("retention sweep", "error", err)
		case len(c) > 0:
			j.logger().Info("retention sweep", "deleted", c)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (j *Job) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.New(slog.DiscardHandler)
}
