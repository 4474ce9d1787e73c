package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// The runners here poll often and renew their leases long before they
// expire, so the tests run in milliseconds. Waits poll for a condition up to
// a deadline that only a broken runner reaches.
const (
	pollInterval = 5 * time.Millisecond
	leaseTTL     = 2 * time.Second
	deadline     = 10 * time.Second
)

// appendEvents appends n events, one per transaction, and returns the whole
// log afterwards.
func appendEvents(t *testing.T, s *store.Store, n int) []events.Event {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		ev, err := events.New("test.happened", fmt.Sprintf("test:%d", i), "system:test", time.Now(), map[string]int{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, ev); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
	}
	log, err := s.EventsAfter(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatalf("EventsAfter: %v", err)
	}
	return log
}

// positions returns the positions of evs.
func positions(evs []events.Event) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Position)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s", deadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// delivery is one call of a handler.
type delivery struct {
	holder   string
	position int64
}

// recorder is a consumer's handler that records what it is given.
type recorder struct {
	mu         sync.Mutex
	deliveries []delivery
}

func (r *recorder) handler(holder string) func(context.Context, events.Event) error {
	return func(_ context.Context, e events.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.deliveries = append(r.deliveries, delivery{holder, e.Position})
		return nil
	}
}

// positions returns the positions delivered so far, in delivery order.
func (r *recorder) positions() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, d := range r.deliveries {
		out = append(out, d.position)
	}
	return out
}

// has reports whether position was delivered.
func (r *recorder) has(position int64) bool { return slices.Contains(r.positions(), position) }

// start runs r until the returned stop is called (or the test ends). stop
// cancels the run and fails the test unless Run returns nil promptly.
func start(t *testing.T, r *events.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run of %s returned %v, want nil", r.Holder, err)
				}
			case <-time.After(deadline):
				t.Errorf("Run of %s did not return within %v of its context's end", r.Holder, deadline)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// checkpoint returns the consumer's checkpoint.
func checkpoint(t *testing.T, s *store.Store, consumer string) int64 {
	t.Helper()
	pos, err := s.Checkpoint(t.Context(), consumer)
	if err != nil {
		t.Fatalf("Checkpoint(%s): %v", consumer, err)
	}
	return pos
}

func TestRunnerDeliversInOrder(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		log := appendEvents(t, s, 25)
		var rec recorder
		r := &events.Runner{Store: s, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: leaseTTL}
		// A batch size that does not divide the log: full and partial
		// batches.
		r.Add(events.Consumer{Name: "mail", Handle: rec.handler("node-1"), BatchSize: 4})
		stop := start(t, r)
		waitFor(t, "the first events", func() bool { return rec.has(log[len(log)-1].Position) })

		// Events appended while the runner runs are delivered too.
		log = appendEvents(t, s, 10)
		r.Wake()
		waitFor(t, "the later events", func() bool { return rec.has(log[len(log)-1].Position) })
		waitFor(t, "the checkpoint", func() bool { return checkpoint(t, s, "mail") == log[len(log)-1].Position })
		stop()

		if got, want := rec.positions(), positions(log); !slices.Equal(got, want) {
			t.Errorf("delivered positions: got %v, want %v (each once, in order)", got, want)
		}
	})
}

func TestRunnerRestartContinuesFromCheckpoint(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		first := appendEvents(t, s, 20)
		last := first[len(first)-1].Position

		var rec1 recorder
		r1 := &events.Runner{Store: s, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: leaseTTL}
		r1.Add(events.Consumer{Name: "audit", Handle: rec1.handler("node-1"), BatchSize: 7})
		stop1 := start(t, r1)
		waitFor(t, "the checkpoint to reach the end", func() bool { return checkpoint(t, s, "audit") == last })
		stop1()

		log := appendEvents(t, s, 10)
		// The process restarts: a new Runner on the same database.
		var rec2 recorder
		r2 := &events.Runner{Store: s, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: leaseTTL}
		r2.Add(events.Consumer{Name: "audit", Handle: rec2.handler("node-1"), BatchSize: 7})
		stop2 := start(t, r2)
		waitFor(t, "the new events", func() bool { return rec2.has(log[len(log)-1].Position) })
		stop2()

		if got, want := rec1.positions(), positions(first); !slices.Equal(got, want) {
			t.Errorf("first run delivered %v, want %v", got, want)
		}
		if got, want := rec2.positions(), positions(log[len(first):]); !slices.Equal(got, want) {
			t.Errorf("after the restart delivered %v, want only the events after the checkpoint %d: %v", got, last, want)
		}
	})
}

func TestRunnerRetriesFailedEvent(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		log := appendEvents(t, s, 12)
		failing := log[4].Position

		var (
			mu       sync.Mutex
			attempts []int64
			failures int
			broken   atomic.Bool
		)
		broken.Store(true)
		r := &events.Runner{Store: s, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: leaseTTL, MaxBackoff: 20 * time.Millisecond}
		r.Add(events.Consumer{
			Name:      "webhooks",
			BatchSize: 5, // the failing event is in the middle of the first batch
			Handle: func(_ context.Context, e events.Event) error {
				mu.Lock()
				defer mu.Unlock()
				attempts = append(attempts, e.Position)
				if e.Position == failing && broken.Load() {
					failures++
					return errors.New("receiver is down")
				}
				return nil
			},
		})
		stop := start(t, r)
		waitFor(t, "three failed attempts", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return failures >= 3
		})
		// While the event fails, the consumer stays on it: the events
		// before it are checkpointed, none after it is handled.
		if got, want := checkpoint(t, s, "webhooks"), log[3].Position; got != want {
			t.Errorf("checkpoint while event %d fails: got %d, want %d", failing, got, want)
		}
		mu.Lock()
		for _, p := range attempts {
			if p > failing {
				t.Errorf("event %d was handled while event %d before it was failing", p, failing)
			}
		}
		mu.Unlock()

		broken.Store(false)
		waitFor(t, "the checkpoint to reach the end", func() bool {
			return checkpoint(t, s, "webhooks") == log[len(log)-1].Position
		})
		stop()

		// Every event was handled in order; only the failing one more than
		// once, and it was never skipped.
		mu.Lock()
		defer mu.Unlock()
		var retried int
		var deduped []int64
		for i, p := range attempts {
			if i > 0 && p == attempts[i-1] {
				if p != failing {
					t.Errorf("event %d was handled twice in a row, but only event %d failed", p, failing)
				}
				retried++
				continue
			}
			deduped = append(deduped, p)
		}
		if want := positions(log); !slices.Equal(deduped, want) {
			t.Errorf("attempts: got %v, want the log %v in order, the failing event repeated", attempts, want)
		}
		if retried != failures {
			t.Errorf("event %d was retried %d times, want once per failure (%d)", failing, retried, failures)
		}
	})
}

func TestRunnersShareConsumer(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		var (
			rec      recorder
			inFlight atomic.Int32
			overlaps atomic.Int32
		)
		runners := map[string]*events.Runner{}
		stops := map[string]func(){}
		for _, holder := range []string{"node-a", "node-b"} {
			record := rec.handler(holder)
			r := &events.Runner{Store: s, Holder: holder, PollInterval: pollInterval, LeaseTTL: leaseTTL}
			r.Add(events.Consumer{Name: "analytics", BatchSize: 10, Handle: func(ctx context.Context, e events.Event) error {
				if inFlight.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer inFlight.Add(-1)
				time.Sleep(200 * time.Microsecond) // widen the window for an overlap
				return record(ctx, e)
			}})
			runners[holder] = r
		}
		for holder, r := range runners {
			stops[holder] = start(t, r)
		}

		log := appendEvents(t, s, 40)
		for _, r := range runners {
			r.Wake()
		}
		waitFor(t, "the first events", func() bool { return rec.has(log[len(log)-1].Position) })

		// The node that handled them stops; the other takes over at once,
		// since a stopping runner releases its lease.
		rec.mu.Lock()
		first := rec.deliveries[len(rec.deliveries)-1].holder
		rec.mu.Unlock()
		stops[first]()
		log = appendEvents(t, s, 40)
		for _, r := range runners {
			r.Wake()
		}
		waitFor(t, "the other node to handle the later events", func() bool { return rec.has(log[len(log)-1].Position) })
		for _, stop := range stops {
			stop()
		}

		if n := overlaps.Load(); n > 0 {
			t.Errorf("two runners handled the consumer's events at the same time (%d times)", n)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		byHolder := map[string]int{}
		for _, d := range rec.deliveries {
			byHolder[d.holder]++
		}
		if len(byHolder) != 2 {
			t.Errorf("deliveries per holder: got %v, want both nodes to have handled events", byHolder)
		}
		checkInOrder(t, positions(log), rec.deliveries)
	})
}

// checkInOrder checks deliveries against the log: they start at its first
// event and each runner goes through it in order without a gap. When another
// runner takes over it may repeat events the previous one handled but had not
// checkpointed (at least once), but it must not skip one.
func checkInOrder(t *testing.T, log []int64, deliveries []delivery) {
	t.Helper()
	index := map[int64]int{}
	for i, p := range log {
		index[p] = i
	}
	next := 0    // the index that continues the current run
	highest := 0 // one past the highest index delivered
	for i, d := range deliveries {
		at, ok := index[d.position]
		switch {
		case !ok:
			t.Fatalf("delivery %d: position %d is not in the log", i, d.position)
		case at == next:
		case i > 0 && d.holder != deliveries[i-1].holder && at < next:
			// A takeover repeating what the previous holder handled.
		default:
			t.Fatalf("delivery %d: %s got position %d (event %d of the log), want event %d: deliveries %v", i, d.holder, d.position, at, next, deliveries)
		}
		next = at + 1
		highest = max(highest, next)
	}
	if highest != len(log) {
		t.Errorf("deliveries reached event %d of %d of the log", highest, len(log))
	}
}

func TestRunnerStopReleasesLease(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		log := appendEvents(t, s, 3)
		var rec recorder
		// A lease long enough that only a release frees it within the test.
		r := &events.Runner{Store: s, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: time.Hour}
		r.Add(events.Consumer{Name: "mail", Handle: rec.handler("node-1")})
		stop := start(t, r)
		waitFor(t, "the events", func() bool { return rec.has(log[len(log)-1].Position) })
		stop() // fails the test unless Run returns nil promptly

		now := time.Now()
		held, err := s.AcquireLease(t.Context(), "mail", "node-2", now, now.Add(time.Minute))
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		if !held {
			t.Error("after Run returned, another node could not acquire the lease: it was not released")
		}
	})
}

func TestRunnerWake(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		log := appendEvents(t, s, 1)
		var rec recorder
		// Polls far apart: only Wake can explain a prompt delivery.
		r := &events.Runner{Store: s, Holder: "node-1", PollInterval: time.Hour, LeaseTTL: leaseTTL}
		r.Add(events.Consumer{Name: "mail", Handle: rec.handler("node-1")})
		start(t, r)
		waitFor(t, "the first event", func() bool { return rec.has(log[0].Position) })
		log = appendEvents(t, s, 1)
		r.Wake()
		waitFor(t, "the woken runner to deliver the second event", func() bool { return rec.has(log[1].Position) })
	})
}

// acquireCounter is the real store, counting lease acquisitions.
type acquireCounter struct {
	events.Store
	acquires atomic.Int64
}

func (c *acquireCounter) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	c.acquires.Add(1)
	return c.Store.AcquireLease(ctx, name, holder, now, until)
}

func TestRunnerStopsWhenLeaseTaken(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := storetest.Open(t, e)
		log := appendEvents(t, s, 3)
		counter := &acquireCounter{Store: s}
		var rec recorder
		r := &events.Runner{Store: counter, Holder: "node-1", PollInterval: pollInterval, LeaseTTL: leaseTTL}
		r.Add(events.Consumer{Name: "mail", Handle: rec.handler("node-1")})
		start(t, r)
		waitFor(t, "the first events", func() bool { return rec.has(log[len(log)-1].Position) })

		// Another node, whose clock is ahead, sees the lease expired and
		// takes it for a long time.
		later := time.Now().Add(2 * leaseTTL)
		held, err := s.AcquireLease(t.Context(), "mail", "node-2", later, later.Add(time.Hour))
		if err != nil || !held {
			t.Fatalf("AcquireLease by node-2: got %v, %v, want true, nil", held, err)
		}
		// A round that began before the theft may still read new events
		// (at least once allows it); wait for one that begins after.
		n := counter.acquires.Load()
		waitFor(t, "a lease attempt after the theft", func() bool { return counter.acquires.Load() > n })
		appendEvents(t, s, 3)
		r.Wake()
		// Give the runner several rounds to (wrongly) handle them.
		n = counter.acquires.Load()
		waitFor(t, "three more lease attempts", func() bool { return counter.acquires.Load() >= n+3 })
		if got := rec.positions(); len(got) != 3 {
			t.Errorf("after losing the lease the runner delivered %v, want only the 3 events before", got)
		}
	})
}

func TestRunnerWithoutHolder(t *testing.T) {
	r := &events.Runner{}
	r.Add(events.Consumer{Name: "mail", Handle: func(context.Context, events.Event) error { return nil }})
	if err := r.Run(t.Context()); err == nil {
		t.Error("Run without a holder name: got nil, want an error")
	}
}
