package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/throttle"
)

func testSessions(t *testing.T, e Engine) {
	t.Run("SessionsOf", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		ada, bo := createUser(t, s, "ada@example.com"), createUser(t, s, "bo@example.com")
		older, newer, other := newSession(ada.ID), newSession(ada.ID), newSession(bo.ID)
		older.LastSeenAt, newer.LastSeenAt = base.Add(time.Minute), base.Add(time.Hour)
		for _, ss := range []session.Session{older, newer, other} {
			must(t, s.CreateSession(ctx, ss, "", newEvent(t, "session.started", "user:"+ss.UserID, nil)), "CreateSession")
		}
		got, err := s.SessionsOf(ctx, ada.ID)
		must(t, err, "SessionsOf")
		if len(got) != 2 || got[0].IDHash != newer.IDHash || got[1].IDHash != older.IDHash {
			t.Errorf("SessionsOf(ada) = %+v, want her two, the most recently seen first", got)
		}
		if got, err := s.SessionsOf(ctx, "nobody"); err != nil || len(got) != 0 {
			t.Errorf("SessionsOf(nobody) = %v, %v", got, err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		full := session.Session{
			IDHash:     session.Hash(randomHex(32)),
			UserID:     u.ID,
			CreatedAt:  base,
			LastSeenAt: base.Add(time.Second + 999*time.Nanosecond),
			AuthTime:   base.Add(2 * time.Second),
			Methods:    []string{"pwd", "otp", "hwk"},
			ACR:        "urn:portvakt:acr:mfa",
			ExpiresAt:  base.Add(7 * 24 * time.Hour),
			ClientIP:   "2001:db8::1",
			UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0 — ö",
		}
		single := newSession(u.ID)
		none := newSession(u.ID)
		none.Methods = nil
		tests := []struct {
			name string
			ss   session.Session
		}{
			{"every field", full},
			{"one method", single},
			{"no methods", none},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ev := newEvent(t, "session.started", u.Subject(), nil)
				must(t, s.CreateSession(ctx, tt.ss, "", ev), "CreateSession")
				got, err := s.SessionByHash(ctx, tt.ss.IDHash)
				must(t, err, "SessionByHash")
				if diff := cmp.Diff(sessionAsStored(tt.ss), got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("SessionByHash (-want +got):\n%s", diff)
				}
				evs, err := s.EventsFor(ctx, u.Subject(), 1)
				must(t, err, "EventsFor")
				if diff := cmp.Diff([]string{ev.UUID}, uuids(evs)); diff != "" {
					t.Errorf("newest event about the user (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		createSessions(t, s, u.ID, 1)
		_, err := s.SessionByHash(t.Context(), session.Hash("unknown"))
		if !errors.Is(err, session.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByHash of an unknown hash: got %v, want session.ErrNotFound and store.ErrNotFound", err)
		}
	})

	t.Run("Replaces", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		other := createUser(t, s, "other@example.com")
		old := createSessions(t, s, u.ID, 1)[0]
		others := createSessions(t, s, other.ID, 1)

		// Signing in again replaces the browser's session.
		next := newSession(u.ID)
		must(t, s.CreateSession(ctx, next, old, newEvent(t, "session.started", u.Subject(), nil)), "CreateSession replacing a session")
		if diff := cmp.Diff([]string{next.IDHash}, sessionsLeft(t, s, []string{old, next.IDHash})); diff != "" {
			t.Errorf("sessions after the replacement (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(others, sessionsLeft(t, s, others)); diff != "" {
			t.Errorf("another user's sessions (-want +got):\n%s", diff)
		}

		// A replacement that fails deletes nothing: the deletion and the
		// insertion are one transaction.
		bad := newEvent(t, "session.started", u.Subject(), nil)
		bad.Subject = ""
		failed := newSession(u.ID)
		if err := s.CreateSession(ctx, failed, next.IDHash, bad); err == nil {
			t.Error("CreateSession with an invalid event: got no error, want one")
		}
		if diff := cmp.Diff([]string{next.IDHash}, sessionsLeft(t, s, []string{next.IDHash, failed.IDHash})); diff != "" {
			t.Errorf("sessions after the failed replacement (-want +got):\n%s", diff)
		}

		// Replacing a session that is already gone is not an error.
		gone := newSession(u.ID)
		must(t, s.CreateSession(ctx, gone, session.Hash("gone")), "CreateSession replacing an unknown session")
		if left := sessionsLeft(t, s, []string{gone.IDHash}); len(left) != 1 {
			t.Error("CreateSession replacing an unknown session: got no session stored, want it stored")
		}
	})

	t.Run("Touch", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		ss, other := newSession(u.ID), newSession(u.ID)
		for _, x := range []session.Session{ss, other} {
			must(t, s.CreateSession(ctx, x, ""), "CreateSession")
		}
		at := base.Add(90*time.Second + 123*time.Nanosecond)
		must(t, s.TouchSession(ctx, ss.IDHash, at), "TouchSession")
		want := sessionAsStored(ss)
		want.LastSeenAt = stored(at)
		got, err := s.SessionByHash(ctx, ss.IDHash)
		must(t, err, "SessionByHash")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("touched session (-want +got):\n%s", diff)
		}
		got, err = s.SessionByHash(ctx, other.IDHash)
		must(t, err, "SessionByHash")
		if diff := cmp.Diff(sessionAsStored(other), got); diff != "" {
			t.Errorf("another session after the touch (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		hashes := createSessions(t, s, u.ID, 2)
		ev := newEvent(t, "session.ended", u.Subject(), nil)
		must(t, s.DeleteSession(ctx, hashes[0], ev), "DeleteSession")
		if diff := cmp.Diff(hashes[1:], sessionsLeft(t, s, hashes)); diff != "" {
			t.Errorf("sessions after DeleteSession (-want +got):\n%s", diff)
		}
		evs, err := s.EventsFor(ctx, u.Subject(), 1)
		must(t, err, "EventsFor")
		if diff := cmp.Diff([]string{ev.UUID}, uuids(evs)); diff != "" {
			t.Errorf("newest event about the user (-want +got):\n%s", diff)
		}
		// Ending a session twice, or one that never was, is no error.
		for _, h := range []string{hashes[0], session.Hash("never")} {
			if err := s.DeleteSession(ctx, h, newEvent(t, "session.ended", u.Subject(), nil)); err != nil {
				t.Errorf("DeleteSession of a missing session: got %v, want nil", err)
			}
		}
		if diff := cmp.Diff(hashes[1:], sessionsLeft(t, s, hashes)); diff != "" {
			t.Errorf("sessions after the repeated DeleteSession (-want +got):\n%s", diff)
		}
		// A deletion whose event is invalid deletes nothing.
		bad := newEvent(t, "session.ended", u.Subject(), nil)
		bad.Subject = ""
		if err := s.DeleteSession(ctx, hashes[1], bad); err == nil {
			t.Error("DeleteSession with an invalid event: got no error, want one")
		}
		if diff := cmp.Diff(hashes[1:], sessionsLeft(t, s, hashes)); diff != "" {
			t.Errorf("sessions after the failed DeleteSession (-want +got):\n%s", diff)
		}
	})
}

// flowAsStored is f as the store gives it back.
func flowAsStored(f flows.Flow) flows.Flow {
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = stored(f.CreatedAt), stored(f.UpdatedAt), stored(f.ExpiresAt)
	return f
}

// newFlow returns a started flow of kind, created at base.
func newFlow(kind flows.Kind) flows.Flow {
	return flows.Flow{
		ID: randomHex(16), Kind: kind, State: flows.StateStarted,
		CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(time.Hour),
	}
}

func testFlows(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		full := flows.Flow{
			ID:             randomHex(16),
			Kind:           flows.Verification,
			State:          flows.StateSent,
			ReturnTo:       "/oauth2/auth?client_id=shop&state=a%20b",
			UILocales:      "sv fi",
			Email:          "Åsa@Example.com",
			GivenName:      "Åsa",
			FamilyName:     "\"Quoted\" O'Brien",
			UserID:         "0193a4b2-0000-7000-8000-000000000001",
			Attempts:       3,
			SignInOnVerify: true,
			ACR:            "urn:portvakt:loa:substantial",
			Methods:        []string{"pwd"},
			Binding:        "b1nd",
			Challenge:      "ch4llenge",
			MFA:            true,
			Upstream:       "upstr3am",
			PendingLink:    "l1nk",
			PendingProfile: "pr0file",
			Proofed:        "urn:portvakt:loa:substantial",
			CreatedAt:      base,
			UpdatedAt:      base.Add(time.Second + 999*time.Nanosecond),
			ExpiresAt:      base.Add(time.Hour),
		}
		tests := []struct {
			name string
			f    flows.Flow
		}{
			{"every field", full},
			{"only required fields", newFlow(flows.Login)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ev := newEvent(t, "flow.started", "flow:"+tt.f.ID, nil)
				must(t, s.CreateFlow(ctx, tt.f, ev), "CreateFlow")
				got, err := s.FlowByID(ctx, tt.f.ID)
				must(t, err, "FlowByID")
				if diff := cmp.Diff(flowAsStored(tt.f), got); diff != "" {
					t.Errorf("FlowByID (-want +got):\n%s", diff)
				}
				evs, err := s.EventsFor(ctx, "flow:"+tt.f.ID, 10)
				must(t, err, "EventsFor")
				if diff := cmp.Diff([]string{ev.UUID}, uuids(evs)); diff != "" {
					t.Errorf("events about the flow (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		must(t, s.CreateFlow(ctx, newFlow(flows.Login)), "CreateFlow")
		id := randomHex(16)
		if _, err := s.FlowByID(ctx, id); !errors.Is(err, flows.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FlowByID of an unknown ID: got %v, want flows.ErrNotFound and store.ErrNotFound", err)
		}
		_, err := s.UpdateFlow(ctx, id, func(f flows.Flow) (flows.Flow, error) {
			t.Error("UpdateFlow of an unknown ID called fn, want it not called")
			return f, nil
		})
		if !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("UpdateFlow of an unknown ID: got %v, want flows.ErrNotFound", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		f, other := newFlow(flows.Verification), newFlow(flows.Verification)
		f.Email = "before@example.com"
		for _, x := range []flows.Flow{f, other} {
			must(t, s.CreateFlow(ctx, x), "CreateFlow")
		}
		var want flows.Flow
		got, err := s.UpdateFlow(ctx, f.ID, func(cur flows.Flow) (flows.Flow, error) {
			if diff := cmp.Diff(flowAsStored(f), cur); diff != "" {
				t.Errorf("flow given to fn (-want +got):\n%s", diff)
			}
			cur.State, cur.Attempts, cur.SignInOnVerify = flows.StateDone, 2, true
			cur.ReturnTo, cur.UILocales, cur.Email = "/account", "fi", "after@example.com"
			cur.GivenName, cur.FamilyName, cur.UserID = "Ada", "Lovelace", "user-1"
			cur.UpdatedAt = base.Add(time.Minute)
			want = cur
			return cur, nil
		})
		must(t, err, "UpdateFlow")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UpdateFlow result (-want +got):\n%s", diff)
		}
		read, err := s.FlowByID(ctx, f.ID)
		must(t, err, "FlowByID")
		if diff := cmp.Diff(flowAsStored(want), read); diff != "" {
			t.Errorf("flow read back after UpdateFlow (-want +got):\n%s", diff)
		}
		// Clearing fields clears them.
		_, err = s.UpdateFlow(ctx, f.ID, func(cur flows.Flow) (flows.Flow, error) {
			cur.Attempts, cur.SignInOnVerify, cur.Email = 0, false, ""
			return cur, nil
		})
		must(t, err, "UpdateFlow")
		read, err = s.FlowByID(ctx, f.ID)
		must(t, err, "FlowByID")
		if read.Attempts != 0 || read.SignInOnVerify || read.Email != "" {
			t.Errorf("flow after clearing: got Attempts %d, SignInOnVerify %t, Email %q, want 0, false, empty", read.Attempts, read.SignInOnVerify, read.Email)
		}
		otherNow, err := s.FlowByID(ctx, other.ID)
		must(t, err, "FlowByID")
		if diff := cmp.Diff(flowAsStored(other), otherNow); diff != "" {
			t.Errorf("another flow after UpdateFlow (-want +got):\n%s", diff)
		}
	})

	t.Run("FnError", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		f := newFlow(flows.Registration)
		must(t, s.CreateFlow(ctx, f), "CreateFlow")
		_, err := s.UpdateFlow(ctx, f.ID, func(cur flows.Flow) (flows.Flow, error) {
			cur.State, cur.Attempts = flows.StateDone, 5
			return cur, errFromFn
		})
		if !errors.Is(err, errFromFn) {
			t.Errorf("UpdateFlow with a failing fn: got %v, want fn's error", err)
		}
		got, err := s.FlowByID(ctx, f.ID)
		must(t, err, "FlowByID")
		if diff := cmp.Diff(flowAsStored(f), got); diff != "" {
			t.Errorf("flow after the refused update (-want +got):\n%s", diff)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Wrong codes entered at once in one flow are all counted. Several
		// rounds, so that a race has more than one chance.
		ctx := t.Context()
		s := Open(t, e)
		const n = 10
		for round := range 3 {
			f := newFlow(flows.Verification)
			must(t, s.CreateFlow(ctx, f), "CreateFlow")
			errs := concurrently(n, func(int) error {
				_, err := s.UpdateFlow(ctx, f.ID, func(cur flows.Flow) (flows.Flow, error) {
					work()
					cur.Attempts++
					return cur, nil
				})
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: UpdateFlow %d: %v", round, i, err)
				}
			}
			got, err := s.FlowByID(ctx, f.ID)
			must(t, err, "FlowByID")
			if got.Attempts != n {
				t.Errorf("round %d: Attempts after %d concurrent increments: got %d, want %d", round, n, got.Attempts, n)
			}
		}
	})
}

// throttleAsStored is st as the store gives it back.
func throttleAsStored(st throttle.State) throttle.State {
	st.WindowStart, st.BlockedUntil = stored(st.WindowStart), stored(st.BlockedUntil)
	return st
}

func testThrottle(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		got, err := s.ThrottleStates(ctx, []string{"login:ip:192.0.2.1"})
		must(t, err, "ThrottleStates")
		if len(got) != 0 {
			t.Errorf("ThrottleStates of a new database: got %v, want none", got)
		}

		first := throttle.State{Failures: 1, WindowStart: base, BlockedUntil: base.Add(30*time.Second + 999*time.Nanosecond)}
		var seen []throttle.State
		must(t, s.UpdateThrottle(ctx, "login:ip:192.0.2.1", func(st throttle.State) throttle.State {
			seen = append(seen, st)
			return first
		}), "UpdateThrottle of a new key")
		second := throttle.State{Failures: 2, WindowStart: base, BlockedUntil: base.Add(time.Minute)}
		must(t, s.UpdateThrottle(ctx, "login:ip:192.0.2.1", func(st throttle.State) throttle.State {
			seen = append(seen, st)
			return second
		}), "UpdateThrottle of a known key")
		if diff := cmp.Diff([]throttle.State{{}, throttleAsStored(first)}, seen); diff != "" {
			t.Errorf("states given to fn (-want +got):\n%s", diff)
		}
		account := throttle.State{Failures: 7, WindowStart: base.Add(-time.Hour), BlockedUntil: base.Add(15 * time.Minute)}
		must(t, s.UpdateThrottle(ctx, "login:account:ada@example.com", func(throttle.State) throttle.State { return account }), "UpdateThrottle")

		got, err = s.ThrottleStates(ctx, []string{"login:ip:192.0.2.1", "login:account:ada@example.com", "login:ip:192.0.2.2"})
		must(t, err, "ThrottleStates")
		want := map[string]throttle.State{
			"login:ip:192.0.2.1":            throttleAsStored(second),
			"login:account:ada@example.com": throttleAsStored(account),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ThrottleStates (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		keys := []string{"a", "b", "c"}
		for _, k := range keys {
			must(t, s.UpdateThrottle(ctx, k, func(throttle.State) throttle.State {
				return throttle.State{Failures: 1, WindowStart: base, BlockedUntil: base}
			}), "UpdateThrottle(%s)", k)
		}
		must(t, s.DeleteThrottle(ctx, "a", "c", "unknown"), "DeleteThrottle")
		got, err := s.ThrottleStates(ctx, keys)
		must(t, err, "ThrottleStates")
		if diff := cmp.Diff([]string{"b"}, sortedKeys(got)); diff != "" {
			t.Errorf("keys left after DeleteThrottle (-want +got):\n%s", diff)
		}
		must(t, s.DeleteThrottle(ctx), "DeleteThrottle of no keys")
		// A deleted key starts again from the zero state.
		must(t, s.UpdateThrottle(ctx, "a", func(st throttle.State) throttle.State {
			if st != (throttle.State{}) {
				t.Errorf("state of a deleted key given to fn: got %+v, want the zero State", st)
			}
			st.Failures++
			return st
		}), "UpdateThrottle")
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Failures counted at once from many nodes are all counted, both
		// for a key seen for the first time and for a known one. Several
		// rounds, so that a race has more than one chance.
		ctx := t.Context()
		s := Open(t, e)
		const n = 10
		for round := range 3 {
			known := fmt.Sprintf("known-%d", round)
			must(t, s.UpdateThrottle(ctx, known, func(throttle.State) throttle.State {
				return throttle.State{Failures: 1, WindowStart: base}
			}), "UpdateThrottle")
			for _, tc := range []struct {
				name, key string
				want      int
			}{
				{"new key", fmt.Sprintf("new-%d", round), n},
				{"known key", known, n + 1},
			} {
				errs := concurrently(n, func(int) error {
					return s.UpdateThrottle(ctx, tc.key, func(st throttle.State) throttle.State {
						work()
						st.Failures++
						st.WindowStart = base
						return st
					})
				})
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d, %s: UpdateThrottle %d: %v", round, tc.name, i, err)
					}
				}
				got, err := s.ThrottleStates(ctx, []string{tc.key})
				must(t, err, "ThrottleStates")
				if f := got[tc.key].Failures; f != tc.want {
					t.Errorf("round %d, %s: failures after %d concurrent increments: got %d, want %d", round, tc.name, n, f, tc.want)
				}
			}
		}
	})
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
