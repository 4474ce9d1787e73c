package retention_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/retention"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/storetest"
)

func TestSweepDeletesOnlyWhatExpired(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		st := storetest.Open(t, e)
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		u := accounts.User{ID: accounts.NewID(), Email: "r@example.com", EmailNormalized: "r@example.com", Status: accounts.StatusActive, Attributes: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		for i, exp := range []time.Time{now.Add(-time.Minute), now.Add(time.Hour)} {
			s := session.Session{IDHash: string(rune('a'+i)) + "0000000000000000", UserID: u.ID, CreatedAt: now, LastSeenAt: now, AuthTime: now, ExpiresAt: exp}
			if err := st.CreateSession(ctx, s, ""); err != nil {
				t.Fatal(err)
			}
			f := flows.Flow{ID: string(rune('a'+i)) + "flow", Kind: flows.Login, State: flows.StateStarted, CreatedAt: now, UpdatedAt: now, ExpiresAt: exp}
			if err := st.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
			tok := accounts.Token{ID: accounts.NewID(), Hash: string(rune('a'+i)) + "hash", Kind: accounts.TokenResetPassword, UserID: u.ID, Email: u.EmailNormalized, CreatedAt: now, ExpiresAt: exp}
			if err := st.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		job := &retention.Job{Store: st, Holder: "node-a", Now: func() time.Time { return now }}
		counts, err := job.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"sessions", "flows", "account_tokens"} {
			if counts[k] != 1 {
				t.Errorf("%s deleted = %d, want 1 (counts %v)", k, counts[k], counts)
			}
		}
		if _, err := st.SessionByHash(ctx, "b0000000000000000"); err != nil {
			t.Errorf("the live session was deleted: %v", err)
		}
		evs, err := st.EventsFor(ctx, "system:retention", 10)
		if err != nil || len(evs) != 1 || evs[0].Type != "retention.purged" {
			t.Errorf("events = %v, %v; want one retention.purged", evs, err)
		}
		other := &retention.Job{Store: st, Holder: "node-b", Now: func() time.Time { return now.Add(time.Minute) }}
		if c, err := other.Sweep(ctx); err != nil || c != nil {
			t.Errorf("second node swept while the first held the lease: %v %v", c, err)
		}
		again, err := job.Sweep(ctx)
		if err != nil || len(again) != 0 {
			t.Errorf("second sweep deleted %v (%v), want nothing", again, err)
		}
	})
}

// The hooks run on the node that holds the lease, each sweep; one that
// fails leaves the purge to run.
func TestSweepRunsItsHooksUnderTheLease(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite())
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	u := accounts.User{ID: accounts.NewID(), Email: "r@example.com", EmailNormalized: "r@example.com", Status: accounts.StatusActive, Attributes: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, session.Session{IDHash: "expired000000000000", UserID: u.ID, CreatedAt: now, LastSeenAt: now, AuthTime: now, ExpiresAt: now.Add(-time.Minute)}, ""); err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	hook := func(name string, err error) func(context.Context) (int, error) {
		return func(context.Context) (int, error) {
			calls[name]++
			return 1, err
		}
	}
	job := &retention.Job{Store: st, Holder: "node-a", Now: func() time.Time { return now },
		Expire: hook("expire", nil), Erase: hook("erase", errors.New("the database went away"))}
	counts, err := job.Sweep(ctx)
	if err != nil || counts["sessions"] != 1 {
		t.Errorf("sweep: %v, %v; want the expired session purged despite the failing hook", counts, err)
	}
	other := &retention.Job{Store: st, Holder: "node-b", Now: func() time.Time { return now }, Expire: hook("expire", nil), Erase: hook("erase", nil)}
	if _, err := other.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if calls["expire"] != 1 || calls["erase"] != 1 {
		t.Errorf("hooks called %v, want each once (by the lease's holder)", calls)
	}
}
