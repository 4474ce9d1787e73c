package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrLeaseLost is returned by Store.SaveCheckpoint when the holder no longer
// holds the consumer's lease: another node took over and the work must stop.
var ErrLeaseLost = errors.New("lease lost")

// Store is what the worker framework needs from storage.
type Store interface {
	// EventsAfter returns up to limit events with Position greater than
	// after, in position order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error)
	// Checkpoint returns the last position the consumer has handled, 0 if it
	// has handled none.
	Checkpoint(ctx context.Context, consumer string) (int64, error)
	// SaveCheckpoint records that consumer has handled everything up to and
	// including position, if and only if holder still holds the lease named
	// after the consumer; otherwise it returns ErrLeaseLost.
	SaveCheckpoint(ctx context.Context, consumer, holder string, position int64, now time.Time) error
	// AcquireLease gives holder the lease name until until, if the lease is
	// free, expired at now, or already held by holder. It reports whether
	// holder holds the lease afterwards.
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// ReleaseLease gives the lease up if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Consumer is a named reader of the event log. Exactly one node at a time
// runs a consumer (it holds the lease of the same name), and it sees every
// event at least once, in order.
type Consumer struct {
	// Name identifies the consumer's checkpoint and lease; it must never
	// change once events have been handled under it.
	Name string
	// Handle is called for each event in order. An error stops the batch;
	// the event is retried after a back-off. Handle must be idempotent.
	Handle func(ctx context.Context, e Event) error
	// BatchSize is how many events are read at once (default 100).
	BatchSize int
}

// Runner runs consumers until its context ends.
type Runner struct {
	// Store reads events and keeps checkpoints and leases.
	Store Store
	// Holder names this node in leases; it must be unique per process.
	Holder string
	// Logger receives failures and lease changes.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LeaseTTL is how long a lease lasts without renewal (default 30s).
	LeaseTTL time.Duration
	// PollInterval is how often an idle consumer looks for new events
	// (default 1s). Wake cuts the wait short.
	PollInterval time.Duration
	// MaxBackoff caps the wait after a failing handler (default 1m).
	MaxBackoff time.Duration

	consumers []Consumer
	wakeMu    sync.Mutex
	wakers    []chan struct{}
}

// Add registers a consumer. It must be called before Run.
func (r *Runner) Add(c Consumer) {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	r.consumers = append(r.consumers, c)
}

// Wake tells idle consumers that new events may be there, so they need not
// wait for the next poll. It never blocks.
func (r *Runner) Wake() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	for _, w := range r.wakers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run runs every consumer until ctx ends, then releases the leases it holds
// and returns nil.
func (r *Runner) Run(ctx context.Context) error {
	if r.Holder == "" {
		return errors.New("events: runner has no holder name")
	}
	var wg sync.WaitGroup
	for _, c := range r.consumers {
		wake := make(chan struct{}, 1)
		r.wakeMu.Lock()
		r.wakers = append(r.wakers, wake)
		r.wakeMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, c, wake)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (r *Runner) loop(ctx context.Context, c Consumer, wake <-chan struct{}) {
	log := r.logger().With("consumer", c.Name)
	ttl := orDefault(r.LeaseTTL, 30*time.Second)
	poll := orDefault(r.PollInterval, time.Second)
	maxBackoff := orDefault(r.MaxBackoff, time.Minute)
	backoff := time.Duration(0)
	held := false
	defer func() {
		if held {
			// The run context is done; release with a short fresh one so
			// another node can take over at once instead of after the TTL.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := r.Store.ReleaseLease(rctx, c.Name, r.Holder); err != nil {
				log.Warn("release lease", "error", err)
			}
		}
	}()
	for {
		wait := poll
		now := r.now()
		ok, err := r.Store.AcquireLease(ctx, c.Name, r.Holder, now, now.Add(ttl))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("acquire lease", "error", err)
		default:
			if ok != held {
				log.Info("lease changed", "held", ok)
			}
			held = ok
		}
		if held && err == nil {
			more, err := r.drain(ctx, c, now.Add(ttl/2))
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrLeaseLost):
				log.Warn("lease lost to another node")
				held = false
			case err != nil:
				backoff = min(max(2*backoff, poll), maxBackoff)
				wait = backoff
				log.Error("handle events", "error", err, "retry_in", backoff.String())
			default:
				backoff = 0
				if more {
					wait = 0
				}
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-wake:
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// drain handles batches until the log is exhausted or renewBy passes (the
// caller renews the lease and comes back). It reports whether more events
// may be waiting.
func (r *Runner) drain(ctx context.Context, c Consumer, renewBy time.Time) (more bool, err error) {
	pos, err := r.Store.Checkpoint(ctx, c.Name)
	if err != nil {
		return false, fmt.Errorf("read checkpoint: %w", err)
	}
	for {
		batch, err := r.Store.EventsAfter(ctx, pos, c.BatchSize)
		if err != nil {
			return false, fmt.Errorf("read events after %d: %w", pos, err)
		}
		if len(batch) == 0 {
			return false, nil
		}
		handled := pos
		var herr error
		for _, e := range batch {
			if herr = c.Handle(ctx, e); herr != nil {
				herr = fmt.Errorf("event %d (%s): %w", e.Position, e.Type, herr)
				break
			}
			handled = e.Position
		}
		if handled > pos {
			if err := r.Store.SaveCheckpoint(ctx, c.Name, r.Holder, handled, r.now()); err != nil {
				return false, fmt.Errorf("save checkpoint: %w", err)
			}
			pos = handled
		}
		if herr != nil {
			return false, herr
		}
		if len(batch) < c.BatchSize {
			return false, nil
		}
		if !r.now().Before(renewBy) {
			return true, nil
		}
	}
}
