package throttle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/throttle"
)

const (
	free      = 3
	window    = time.Hour
	baseDelay = 10 * time.Second
	maxDelay  = 80 * time.Second
)

// countingStore counts the deletions that reach the real store.
type countingStore struct {
	throttle.Store
	deletes int
}

func (c *countingStore) DeleteThrottle(ctx context.Context, keys ...string) error {
	c.deletes++
	return c.Store.DeleteThrottle(ctx, keys...)
}

// fixture is a real SQLite store and a clock the test moves.
type fixture struct {
	store *store.Store
	count *countingStore
	start time.Time
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := storetest.Open(t, storetest.SQLite())
	f := &fixture{store: s, count: &countingStore{Store: s}, start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.now = f.start
	return f
}

// limiter returns a limiter named name on the fixture's store and clock.
func (f *fixture) limiter(name string) *throttle.Limiter {
	return &throttle.Limiter{
		Store: f.count, Name: name, Free: free, Window: window, BaseDelay: baseDelay, MaxDelay: maxDelay,
		Now: func() time.Time { return f.now },
	}
}

func fail(t *testing.T, l *throttle.Limiter, k string, times int) {
	t.Helper()
	for range times {
		if err := l.Fail(t.Context(), k); err != nil {
			t.Fatalf("Fail(%q): %v", k, err)
		}
	}
}

func wait(t *testing.T, l *throttle.Limiter, k string) time.Duration {
	t.Helper()
	d, err := l.Wait(t.Context(), k)
	if err != nil {
		t.Fatalf("Wait(%q): %v", k, err)
	}
	return d
}

// checkWait checks that Wait reports remaining: never less (a client that
// obeys it is not refused again) and less than 2s more (it is rounded to
// whole seconds for people).
func checkWait(t *testing.T, l *throttle.Limiter, k string, remaining time.Duration) {
	t.Helper()
	got := wait(t, l, k)
	switch {
	case remaining <= 0 && got != 0:
		t.Errorf("Wait(%q): got %v, want 0", k, got)
	case remaining > 0 && (got < remaining || got >= remaining+2*time.Second):
		t.Errorf("Wait(%q): got %v, want at least %v and under %v", k, got, remaining, remaining+2*time.Second)
	}
}

// state returns the stored state of name's key k.
func (f *fixture) state(t *testing.T, name, k string) (throttle.State, bool) {
	t.Helper()
	key := name + ":" + k
	states, err := f.store.ThrottleStates(t.Context(), []string{key})
	if err != nil {
		t.Fatalf("ThrottleStates: %v", err)
	}
	st, ok := states[key]
	return st, ok
}

func TestBackoff(t *testing.T) {
	f := newFixture(t)
	l := f.limiter("login:account")
	tests := []struct {
		failure int
		want    time.Duration
	}{
		{1, 0},
		{2, 0},
		{3, 0}, // the free allowance
		{4, baseDelay},
		{5, 2 * baseDelay},
		{6, 4 * baseDelay},
		{7, 8 * baseDelay}, // = maxDelay
		{8, maxDelay},
		{9, maxDelay},
		{30, maxDelay},
	}
	done := 0
	for _, tt := range tests {
		t.Run(fmt.Sprintf("failure %d", tt.failure), func(t *testing.T) {
			fail(t, l, "ada@example.com", tt.failure-done)
			done = tt.failure
			checkWait(t, l, "ada@example.com", tt.want)
			st, _ := f.state(t, "login:account", "ada@example.com")
			if st.Failures != tt.failure {
				t.Errorf("stored failures: got %d, want %d", st.Failures, tt.failure)
			}
			if got := st.BlockedUntil.Sub(f.now); tt.want > 0 && got != tt.want {
				t.Errorf("blocked for: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffOddCap(t *testing.T) {
	// A cap that is no power-of-two multiple of the base still caps.
	f := newFixture(t)
	l := f.limiter("login:account")
	l.MaxDelay = 25 * time.Second
	fail(t, l, "k", free)
	for i, want := range []time.Duration{baseDelay, 2 * baseDelay, 25 * time.Second, 25 * time.Second} {
		fail(t, l, "k", 1)
		st, _ := f.state(t, "login:account", "k")
		if got := st.BlockedUntil.Sub(f.now); got != want {
			t.Errorf("failure %d past the allowance: got blocked for %v, want %v", i+1, got, want)
		}
	}
}

func TestWaitCountsDown(t *testing.T) {
	f := newFixture(t)
	l := f.limiter("login:account")
	fail(t, l, "k", free+2) // blocked for 2 × baseDelay
	tests := []struct {
		after     time.Duration
		remaining time.Duration
	}{
		{0, 2 * baseDelay},
		{time.Second, 2*baseDelay - time.Second},
		{4500 * time.Millisecond, 2*baseDelay - 4500*time.Millisecond},
		{2*baseDelay - time.Millisecond, time.Millisecond},
		{2 * baseDelay, 0},
		{time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %v", tt.after), func(t *testing.T) {
			f.now = f.start.Add(tt.after)
			checkWait(t, l, "k", tt.remaining)
		})
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name         string
		after        time.Duration // since the first failure
		wantFailures int
		wantWait     time.Duration
	}{
		{"within the window", 30 * time.Minute, free + 2, 2 * baseDelay},
		{"at the end of the window", window, free + 2, 2 * baseDelay},
		{"after the window", window + time.Second, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			l := f.limiter("login:account")
			fail(t, l, "k", free+1) // blocked for baseDelay
			f.now = f.start.Add(tt.after)
			fail(t, l, "k", 1)
			st, _ := f.state(t, "login:account", "k")
			if st.Failures != tt.wantFailures {
				t.Errorf("stored failures: got %d, want %d", st.Failures, tt.wantFailures)
			}
			checkWait(t, l, "k", tt.wantWait)
		})
	}
}

func TestReset(t *testing.T) {
	f := newFixture(t)
	l := f.limiter("login:account")
	fail(t, l, "k", free+2)
	if err := l.Reset(t.Context(), "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	checkWait(t, l, "k", 0)
	if st, ok := f.state(t, "login:account", "k"); ok {
		t.Errorf("state after Reset: got %+v, want none", st)
	}
	// The count starts again: the allowance is free once more.
	fail(t, l, "k", free)
	checkWait(t, l, "k", 0)
	fail(t, l, "k", 1)
	checkWait(t, l, "k", baseDelay)

	// A success without earlier failures writes nothing.
	f.count.deletes = 0
	if err := l.Reset(t.Context(), "never-failed"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if f.count.deletes != 0 {
		t.Errorf("Reset of a key without failures: got %d deletions, want 0", f.count.deletes)
	}
}

func TestIndependent(t *testing.T) {
	tests := []struct {
		name         string
		blocked, got [2]string // limiter name and key
	}{
		{"keys", [2]string{"login:account", "ada@example.com"}, [2]string{"login:account", "bob@example.com"}},
		{"names", [2]string{"login:account", "ada@example.com"}, [2]string{"recovery:account", "ada@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			blocked, other := f.limiter(tt.blocked[0]), f.limiter(tt.got[0])
			fail(t, blocked, tt.blocked[1], free+3)
			checkWait(t, blocked, tt.blocked[1], 4*baseDelay)
			checkWait(t, other, tt.got[1], 0)

			// The other's failures start from its own count.
			fail(t, other, tt.got[1], free+1)
			checkWait(t, other, tt.got[1], baseDelay)
			checkWait(t, blocked, tt.blocked[1], 4*baseDelay)

			// Resetting one leaves the other blocked.
			if err := other.Reset(t.Context(), tt.got[1]); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			checkWait(t, other, tt.got[1], 0)
			checkWait(t, blocked, tt.blocked[1], 4*baseDelay)
		})
	}
}
