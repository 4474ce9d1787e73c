package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/retention"
)

// RunAssertions is the conformance suite for used client assertions (the
// oidc.AssertionStore methods and their purge) on engine e. Call it once
// per engine, typically through ForEachEngine.
func RunAssertions(t *testing.T, e Engine) {
	t.Run("UseOnce", func(t *testing.T) { testAssertionUseOnce(t, e) })
	t.Run("AfterExpiry", func(t *testing.T) { testAssertionAfterExpiry(t, e) })
	t.Run("Race", func(t *testing.T) { testAssertionRace(t, e) })
	t.Run("Purge", func(t *testing.T) { testAssertionPurge(t, e) })
}

func testAssertionUseOnce(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	exp := oidcBase.Add(5 * time.Minute)
	must(t, s.UseClientAssertion(ctx, "billing", "j1", exp, oidcBase), "first use of (billing, j1)")
	err := s.UseClientAssertion(ctx, "billing", "j1", exp, oidcBase.Add(time.Minute))
	if !errors.Is(err, oidc.ErrAssertionReplayed) {
		t.Errorf("second use of (billing, j1): got %v, want ErrAssertionReplayed", err)
	}
	// The same jti is another assertion for another client, and another
	// jti is another assertion for the same client.
	must(t, s.UseClientAssertion(ctx, "reports", "j1", exp, oidcBase), "use of (reports, j1)")
	must(t, s.UseClientAssertion(ctx, "billing", "j2", exp, oidcBase), "use of (billing, j2)")
	// jti is compared exactly, case included.
	must(t, s.UseClientAssertion(ctx, "billing", "J1", exp, oidcBase), "use of (billing, J1)")
}

func testAssertionAfterExpiry(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	exp := oidcBase.Add(5 * time.Minute)
	must(t, s.UseClientAssertion(ctx, "billing", "j1", exp, oidcBase), "first use")
	// Just before expiry the record still holds.
	if err := s.UseClientAssertion(ctx, "billing", "j1", exp.Add(5*time.Minute), exp.Add(-time.Microsecond)); !errors.Is(err, oidc.ErrAssertionReplayed) {
		t.Errorf("use a microsecond before expiry: got %v, want ErrAssertionReplayed", err)
	}
	// Once expired but not yet purged, the jti may be used again by a new
	// assertion, and is then recorded until the new expiry.
	later := exp.Add(5 * time.Minute)
	must(t, s.UseClientAssertion(ctx, "billing", "j1", later, exp), "use at expiry")
	if err := s.UseClientAssertion(ctx, "billing", "j1", later.Add(time.Minute), later.Add(-time.Second)); !errors.Is(err, oidc.ErrAssertionReplayed) {
		t.Errorf("use before the new expiry: got %v, want ErrAssertionReplayed", err)
	}
}

func testAssertionRace(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.UseClientAssertion(ctx, "billing", "raced", oidcBase.Add(time.Minute), oidcBase)
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, oidc.ErrAssertionReplayed):
			t.Errorf("use %d: got %v, want nil or ErrAssertionReplayed", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("concurrent uses of one assertion: %d succeeded, want exactly 1", ok)
	}
}

func testAssertionPurge(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	must(t, s.UseClientAssertion(ctx, "billing", "old", oidcBase.Add(time.Minute), oidcBase), "use old")
	must(t, s.UseClientAssertion(ctx, "billing", "new", oidcBase.Add(time.Hour), oidcBase), "use new")
	now := oidcBase.Add(2 * time.Minute)
	counts, err := s.Purge(ctx, now, now.Add(-24*time.Hour), func(c retention.Counts) (events.Event, error) {
		return newEvent(t, "retention.purged", "system:retention", map[string]any{}), nil
	})
	must(t, err, "Purge")
	if got := counts["oidc_client_assertions"]; got != 1 {
		t.Errorf("Purge: got %d client assertions deleted, want 1 (counts %v)", got, counts)
	}
	// The live record survives the purge; the purged one is gone. The
	// purged one is tested with a time before its expiry, which the
	// surviving row would still refuse.
	if err := s.UseClientAssertion(ctx, "billing", "new", oidcBase.Add(time.Hour), now); !errors.Is(err, oidc.ErrAssertionReplayed) {
		t.Errorf("use of the live assertion after Purge: got %v, want ErrAssertionReplayed", err)
	}
	must(t, s.UseClientAssertion(ctx, "billing", "old", oidcBase.Add(time.Minute), oidcBase), "use of the purged assertion")
}
