package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
)

// errFromFn is the error the suite's update functions return to refuse a
// change.
var errFromFn = errors.New("refused by fn")

// work stands for the time a request spends between reading and writing
// in an update function, so that read-modify-writes that are not serialized
// overlap and lose updates.
func work() { time.Sleep(2 * time.Millisecond) }

// concurrently runs fn(0) … fn(n-1) in n goroutines released at the same
// moment, and returns their errors by index.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSession returns a session of userID, created at base.
func newSession(userID string) session.Session {
	return session.Session{
		IDHash:     session.Hash(randomHex(32)),
		UserID:     userID,
		CreatedAt:  base,
		LastSeenAt: base,
		AuthTime:   base,
		Methods:    []string{"pwd"},
		ExpiresAt:  base.Add(7 * 24 * time.Hour),
	}
}

// sessionAsStored is ss as the store gives it back.
func sessionAsStored(ss session.Session) session.Session {
	ss.CreatedAt, ss.LastSeenAt = stored(ss.CreatedAt), stored(ss.LastSeenAt)
	ss.AuthTime, ss.ExpiresAt = stored(ss.AuthTime), stored(ss.ExpiresAt)
	return ss
}

// createSessions stores n sessions of userID and returns their hashes.
func createSessions(t testing.TB, s *store.Store, userID string, n int) []string {
	t.Helper()
	var hashes []string
	for range n {
		ss := newSession(userID)
		must(t, s.CreateSession(context.Background(), ss, ""), "CreateSession")
		hashes = append(hashes, ss.IDHash)
	}
	return hashes
}

// sessionsLeft returns which of hashes still name a session.
func sessionsLeft(t testing.TB, s *store.Store, hashes []string) []string {
	t.Helper()
	var left []string
	for _, h := range hashes {
		_, err := s.SessionByHash(context.Background(), h)
		switch {
		case err == nil:
			left = append(left, h)
		case !errors.Is(err, session.ErrNotFound):
			t.Fatalf("SessionByHash: %v", err)
		}
	}
	return left
}

// createUser stores a new user with email and returns it.
func createUser(t testing.TB, s *store.Store, email string) accounts.User {
	t.Helper()
	u := newUser(t, email, "")
	must(t, s.CreateUser(context.Background(), u, userEvent(t, u)), "CreateUser(%s)", email)
	return u
}

// newToken returns a token of kind for u, created at created and live for
// an hour. Its hash and code hash are random.
func newToken(u accounts.User, kind accounts.TokenKind, created time.Time) accounts.Token {
	return accounts.Token{
		ID:        accounts.NewID(),
		Hash:      randomHex(32),
		CodeHash:  randomHex(32),
		Kind:      kind,
		UserID:    u.ID,
		Email:     u.EmailNormalized,
		CreatedAt: created,
		ExpiresAt: created.Add(time.Hour),
	}
}

// tokenAsStored is tk as the store gives it back.
func tokenAsStored(tk accounts.Token) accounts.Token {
	tk.CreatedAt, tk.ExpiresAt = stored(tk.CreatedAt), stored(tk.ExpiresAt)
	if !tk.UsedAt.IsZero() {
		tk.UsedAt = stored(tk.UsedAt)
	}
	return tk
}

// tokenByHash reads a token that must exist.
func tokenByHash(t testing.TB, s *store.Store, hash string) accounts.Token {
	t.Helper()
	tk, err := s.TokenByHash(context.Background(), hash)
	must(t, err, "TokenByHash")
	return tk
}

// eventTypes returns the types of evs, in order.
func eventTypes(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// rename returns a change that sets u's given name and records a
// user.updated event.
func rename(t testing.TB, u accounts.User, name string) accounts.Change {
	u.GivenName, u.UpdatedAt = name, base.Add(time.Minute)
	return accounts.Change{User: u, Events: []events.Event{newEvent(t, "user.updated", u.Subject(), nil)}}
}

func testUpdateUser(t *testing.T, e Engine) {
	t.Run("AppliesChange", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		other := createUser(t, s, "other@example.com")
		var seen accounts.User
		var change accounts.Change
		got, err := s.UpdateUser(ctx, u.ID, func(cur accounts.User) (accounts.Change, error) {
			seen = cur
			cur.Email, cur.EmailNormalized, cur.EmailVerified = "Ada@Example.org", "ada@example.org", true
			cur.GivenName, cur.FamilyName, cur.Phone, cur.Locale = "Ada", "Lovelace", "+46701234567", "sv"
			cur.Status, cur.ExternalID, cur.Attributes = accounts.StatusDisabled, "crm-7", []byte(`{"tier":"gold"}`)
			cur.PasswordHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"
			cur.LockedFields = []string{"family_name"}
			cur.UpdatedAt, cur.ProfileConfirmedAt = base.Add(time.Hour), base.Add(2*time.Hour)
			change = accounts.Change{User: cur, Events: []events.Event{newEvent(t, "user.updated", cur.Subject(), nil)}}
			return change, nil
		})
		must(t, err, "UpdateUser")
		if diff := cmp.Diff(userAsStored(u), seen); diff != "" {
			t.Errorf("user given to fn (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(change.User, got); diff != "" {
			t.Errorf("UpdateUser result (-want +got):\n%s", diff)
		}
		read, err := s.UserByID(ctx, u.ID)
		must(t, err, "UserByID")
		if diff := cmp.Diff(userAsStored(change.User), read); diff != "" {
			t.Errorf("user read back after UpdateUser (-want +got):\n%s", diff)
		}
		if _, err := s.UserByEmail(ctx, "ada@example.org"); err != nil {
			t.Errorf("UserByEmail of the new email: got %v, want the user", err)
		}
		if _, err := s.UserByEmail(ctx, u.EmailNormalized); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("UserByEmail of the old email: got %v, want ErrNotFound", err)
		}
		evs, err := s.EventsFor(ctx, u.Subject(), 10)
		must(t, err, "EventsFor")
		if got := eventTypes(evs); len(evs) != 2 || evs[0].UUID != change.Events[0].UUID {
			t.Errorf("events about the user, newest first: got %v, want [user.updated user.imported] with the update's event first", got)
		}
		otherNow, err := s.UserByID(ctx, other.ID)
		must(t, err, "UserByID(other)")
		if diff := cmp.Diff(userAsStored(other), otherNow); diff != "" {
			t.Errorf("another user after UpdateUser (-want +got):\n%s", diff)
		}
	})

	t.Run("Atomic", func(t *testing.T) {
		// Concurrent read-modify-writes of one user lose none of the
		// changes: each fn sees the result of the one before. Several
		// rounds, so that a race has more than one chance.
		ctx := t.Context()
		s := Open(t, e)
		const n = 10
		for round := range 3 {
			u := createUser(t, s, fmt.Sprintf("counter-%d@example.com", round))
			errs := concurrently(n, func(int) error {
				_, err := s.UpdateUser(ctx, u.ID, func(cur accounts.User) (accounts.Change, error) {
					work()
					cur.GivenName += "x"
					return accounts.Change{User: cur}, nil
				})
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: UpdateUser %d: %v", round, i, err)
				}
			}
			got, err := s.UserByID(ctx, u.ID)
			must(t, err, "UserByID")
			if want := strings.Repeat("x", n); got.GivenName != want {
				t.Errorf("round %d: given name after %d concurrent appends: got %q, want %q", round, n, got.GivenName, want)
			}
		}
	})

	t.Run("FnError", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		hashes := createSessions(t, s, u.ID, 2)
		before := allEvents(t, s)
		_, err := s.UpdateUser(ctx, u.ID, func(cur accounts.User) (accounts.Change, error) {
			c := rename(t, cur, "Changed")
			c.EndSessions = true
			return c, errFromFn
		})
		if !errors.Is(err, errFromFn) {
			t.Errorf("UpdateUser with a failing fn: got %v, want fn's error", err)
		}
		got, err := s.UserByID(ctx, u.ID)
		must(t, err, "UserByID")
		if diff := cmp.Diff(userAsStored(u), got); diff != "" {
			t.Errorf("user after the refused update (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
			t.Errorf("event log after the refused update (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(hashes, sessionsLeft(t, s, hashes)); diff != "" {
			t.Errorf("sessions after the refused update (-want +got):\n%s", diff)
		}
	})

	t.Run("EndSessions", func(t *testing.T) {
		tests := []struct {
			name        string
			endSessions bool
			keep        int // index of the own session to keep, -1 for none
		}{
			{"ending sessions", true, -1},
			{"ending all sessions but one", true, 1},
			{"keeping sessions", false, -1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				s := Open(t, e)
				u := createUser(t, s, "ada@example.com")
				other := createUser(t, s, "other@example.com")
				own := createSessions(t, s, u.ID, 3)
				others := createSessions(t, s, other.ID, 2)
				_, err := s.UpdateUser(ctx, u.ID, func(cur accounts.User) (accounts.Change, error) {
					c := rename(t, cur, "Ada")
					c.EndSessions = tt.endSessions
					if tt.keep >= 0 {
						c.KeepSession = own[tt.keep]
					} else {
						// Another user's session is never kept by naming it.
						c.KeepSession = others[0]
					}
					return c, nil
				})
				must(t, err, "UpdateUser")
				wantOwn := own
				switch {
				case tt.endSessions && tt.keep >= 0:
					wantOwn = []string{own[tt.keep]}
				case tt.endSessions:
					wantOwn = nil
				}
				if diff := cmp.Diff(wantOwn, sessionsLeft(t, s, own)); diff != "" {
					t.Errorf("the user's sessions (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(others, sessionsLeft(t, s, others)); diff != "" {
					t.Errorf("another user's sessions (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		tests := []struct {
			name   string
			change func(u *accounts.User)
		}{
			{"email of another user", func(u *accounts.User) { u.Email, u.EmailNormalized = "Taken@Example.com", "taken@example.com" }},
			{"external ID of another user", func(u *accounts.User) { u.ExternalID = "crm-taken" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				s := Open(t, e)
				taken := newUser(t, "taken@example.com", "crm-taken")
				must(t, s.CreateUser(ctx, taken, userEvent(t, taken)), "CreateUser")
				u := createUser(t, s, "ada@example.com")
				hashes := createSessions(t, s, u.ID, 1)
				before := allEvents(t, s)
				_, err := s.UpdateUser(ctx, u.ID, func(cur accounts.User) (accounts.Change, error) {
					c := rename(t, cur, "Ada")
					tt.change(&c.User)
					c.EndSessions = true
					return c, nil
				})
				if !errors.Is(err, accounts.ErrConflict) || !errors.Is(err, store.ErrConflict) {
					t.Errorf("UpdateUser to the %s: got %v, want accounts.ErrConflict and store.ErrConflict", tt.name, err)
				}
				got, err := s.UserByID(ctx, u.ID)
				must(t, err, "UserByID")
				if diff := cmp.Diff(userAsStored(u), got); diff != "" {
					t.Errorf("user after the refused update (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
					t.Errorf("event log after the refused update (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(hashes, sessionsLeft(t, s, hashes)); diff != "" {
					t.Errorf("sessions after the refused update (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		createUser(t, s, "ada@example.com")
		called := false
		_, err := s.UpdateUser(ctx, accounts.NewID(), func(cur accounts.User) (accounts.Change, error) {
			called = true
			return accounts.Change{User: cur}, nil
		})
		if !errors.Is(err, accounts.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser of an unknown ID: got %v, want accounts.ErrNotFound and store.ErrNotFound", err)
		}
		if called {
			t.Error("UpdateUser of an unknown ID called fn, want it not called")
		}
	})
}

func testTokens(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		live := newToken(u, accounts.TokenVerifyEmail, base)
		used := newToken(u, accounts.TokenResetPassword, base.Add(time.Second))
		used.CodeHash = ""
		used.UsedAt = base.Add(2*time.Second + 999*time.Nanosecond)
		change := newToken(u, accounts.TokenChangeEmail, base)
		change.Target = "Ada.New@Example.org"
		for _, tk := range []accounts.Token{live, used, change} {
			must(t, s.CreateToken(ctx, tk), "CreateToken")
		}
		for _, tk := range []accounts.Token{live, used, change} {
			got, err := s.TokenByHash(ctx, tk.Hash)
			must(t, err, "TokenByHash")
			if diff := cmp.Diff(tokenAsStored(tk), got); diff != "" {
				t.Errorf("TokenByHash of the %s token (-want +got):\n%s", tk.Kind, diff)
			}
		}
		if _, err := s.TokenByHash(ctx, randomHex(32)); !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("TokenByHash of an unknown hash: got %v, want ErrTokenInvalid", err)
		}
		dup := newToken(u, accounts.TokenVerifyEmail, base)
		dup.Hash = live.Hash
		if err := s.CreateToken(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateToken with a taken hash: got %v, want ErrConflict", err)
		}
	})

	t.Run("LiveTokens", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		u := createUser(t, s, "ada@example.com")
		other := createUser(t, s, "other@example.com")
		now := base.Add(30 * time.Minute)

		older := newToken(u, accounts.TokenVerifyEmail, base)
		newer := newToken(u, accounts.TokenVerifyEmail, base.Add(time.Minute))
		used := newToken(u, accounts.TokenVerifyEmail, base)
		used.UsedAt = base.Add(time.Second)
		expired := newToken(u, accounts.TokenVerifyEmail, base)
		expired.ExpiresAt = now // expiring at now is expired
		reset := newToken(u, accounts.TokenResetPassword, base)
		others := newToken(other, accounts.TokenVerifyEmail, base)
		for _, tk := range []accounts.Token{older, newer, used, expired, reset, others} {
			must(t, s.CreateToken(ctx, tk), "CreateToken")
		}
		tests := []struct {
			name   string
			userID string
			kind   accounts.TokenKind
			want   []accounts.Token
		}{
			{"verification of the user", u.ID, accounts.TokenVerifyEmail, []accounts.Token{newer, older}},
			{"reset of the user", u.ID, accounts.TokenResetPassword, []accounts.Token{reset}},
			{"verification of another user", other.ID, accounts.TokenVerifyEmail, []accounts.Token{others}},
			{"reset of another user", other.ID, accounts.TokenResetPassword, nil},
			{"unknown user", accounts.NewID(), accounts.TokenVerifyEmail, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.LiveTokens(ctx, tt.userID, tt.kind, now)
				must(t, err, "LiveTokens")
				var want []accounts.Token
				for _, tk := range tt.want {
					want = append(want, tokenAsStored(tk))
				}
				byID := cmpopts.SortSlices(func(a, b accounts.Token) bool { return a.ID < b.ID })
				if diff := cmp.Diff(want, got, byID, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("LiveTokens (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// redeemFixture is a user with live tokens of both kinds, and another user
// with a live verification token.
type redeemFixture struct {
	s            *store.Store
	u, other     accounts.User
	verify       []accounts.Token // u's live verification tokens
	reset        accounts.Token   // u's live reset token
	othersVerify accounts.Token
	now          time.Time
}

func newRedeemFixture(t *testing.T, e Engine) *redeemFixture {
	t.Helper()
	f := &redeemFixture{s: Open(t, e), now: base.Add(10 * time.Minute)}
	f.u = createUser(t, f.s, "ada@example.com")
	f.other = createUser(t, f.s, "other@example.com")
	f.verify = []accounts.Token{newToken(f.u, accounts.TokenVerifyEmail, base), newToken(f.u, accounts.TokenVerifyEmail, base.Add(time.Minute))}
	f.reset = newToken(f.u, accounts.TokenResetPassword, base)
	f.othersVerify = newToken(f.other, accounts.TokenVerifyEmail, base)
	for _, tk := range append([]accounts.Token{f.reset, f.othersVerify}, f.verify...) {
		must(t, f.s.CreateToken(t.Context(), tk), "CreateToken")
	}
	return f
}

// verified returns the change that marks cur's email verified.
func verified(t testing.TB, cur accounts.User) accounts.Change {
	cur.EmailVerified, cur.UpdatedAt = true, base.Add(time.Hour)
	return accounts.Change{User: cur, Events: []events.Event{newEvent(t, "user.verified", cur.Subject(), nil)}}
}

func testRedeemTokens(t *testing.T, e Engine) {
	t.Run("MarksUsedAndApplies", func(t *testing.T) {
		ctx := t.Context()
		f := newRedeemFixture(t, e)
		calls := 0
		var change accounts.Change
		got, err := f.s.RedeemTokens(ctx, f.u.ID, accounts.TokenVerifyEmail, f.now, func(cur accounts.User) (accounts.Change, error) {
			calls++
			if diff := cmp.Diff(userAsStored(f.u), cur); diff != "" {
				t.Errorf("user given to fn (-want +got):\n%s", diff)
			}
			change = verified(t, cur)
			return change, nil
		})
		must(t, err, "RedeemTokens")
		if calls != 1 {
			t.Errorf("RedeemTokens called fn %d times, want 1", calls)
		}
		if !got.EmailVerified {
			t.Error("RedeemTokens result: got an unverified user, want the changed user")
		}
		read, err := f.s.UserByID(ctx, f.u.ID)
		must(t, err, "UserByID")
		if diff := cmp.Diff(userAsStored(change.User), read); diff != "" {
			t.Errorf("user read back after RedeemTokens (-want +got):\n%s", diff)
		}
		for _, tk := range f.verify {
			if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.Equal(stored(f.now)) {
				t.Errorf("redeemed token created at %v: got UsedAt %v, want %v", tk.CreatedAt, got, stored(f.now))
			}
		}
		for name, tk := range map[string]accounts.Token{"the user's reset token": f.reset, "another user's verification token": f.othersVerify} {
			if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.IsZero() {
				t.Errorf("%s: got UsedAt %v, want it unused", name, got)
			}
		}
		if live, err := f.s.LiveTokens(ctx, f.u.ID, accounts.TokenVerifyEmail, f.now); err != nil || len(live) != 0 {
			t.Errorf("LiveTokens after RedeemTokens: got %d tokens, %v, want none", len(live), err)
		}
		evs, err := f.s.EventsFor(ctx, f.u.Subject(), 1)
		must(t, err, "EventsFor")
		if diff := cmp.Diff([]string{change.Events[0].UUID}, uuids(evs)); diff != "" {
			t.Errorf("newest event about the user (-want +got):\n%s", diff)
		}

		// The tokens are used up: a second redemption finds none.
		_, err = f.s.RedeemTokens(ctx, f.u.ID, accounts.TokenVerifyEmail, f.now, func(cur accounts.User) (accounts.Change, error) {
			t.Error("second RedeemTokens called fn, want it not called")
			return verified(t, cur), nil
		})
		if !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("second RedeemTokens: got %v, want ErrTokenInvalid", err)
		}
	})

	t.Run("NoLiveToken", func(t *testing.T) {
		tests := []struct {
			name   string
			userID func(f *redeemFixture) string
			kind   accounts.TokenKind
			now    func(f *redeemFixture) time.Time
		}{
			{"all expired", func(f *redeemFixture) string { return f.u.ID }, accounts.TokenVerifyEmail,
				func(f *redeemFixture) time.Time { return base.Add(time.Minute + time.Hour) }},
			{"user without tokens", func(*redeemFixture) string { return accounts.NewID() }, accounts.TokenVerifyEmail,
				func(f *redeemFixture) time.Time { return f.now }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				f := newRedeemFixture(t, e)
				before := allEvents(t, f.s)
				_, err := f.s.RedeemTokens(ctx, tt.userID(f), tt.kind, tt.now(f), func(cur accounts.User) (accounts.Change, error) {
					t.Error("RedeemTokens without a live token called fn, want it not called")
					return verified(t, cur), nil
				})
				if !errors.Is(err, accounts.ErrTokenInvalid) {
					t.Errorf("RedeemTokens: got %v, want ErrTokenInvalid", err)
				}
				if diff := cmp.Diff(uuids(before), uuids(allEvents(t, f.s))); diff != "" {
					t.Errorf("event log (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("FnError", func(t *testing.T) {
		ctx := t.Context()
		f := newRedeemFixture(t, e)
		before := allEvents(t, f.s)
		_, err := f.s.RedeemTokens(ctx, f.u.ID, accounts.TokenVerifyEmail, f.now, func(cur accounts.User) (accounts.Change, error) {
			return verified(t, cur), errFromFn
		})
		if !errors.Is(err, errFromFn) {
			t.Errorf("RedeemTokens with a failing fn: got %v, want fn's error", err)
		}
		for _, tk := range f.verify {
			if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.IsZero() {
				t.Errorf("token after the refused redemption: got UsedAt %v, want it unused", got)
			}
		}
		got, err := f.s.UserByID(ctx, f.u.ID)
		must(t, err, "UserByID")
		if diff := cmp.Diff(userAsStored(f.u), got); diff != "" {
			t.Errorf("user after the refused redemption (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(uuids(before), uuids(allEvents(t, f.s))); diff != "" {
			t.Errorf("event log after the refused redemption (-want +got):\n%s", diff)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Two requests with the same link or code: exactly one redeems it.
		// Several rounds, so that a race has more than one chance.
		ctx := t.Context()
		s := Open(t, e)
		for round := range 5 {
			u := createUser(t, s, fmt.Sprintf("race-%d@example.com", round))
			must(t, s.CreateToken(ctx, newToken(u, accounts.TokenResetPassword, base)), "CreateToken")
			var calls atomic.Int32
			errs := concurrently(2, func(i int) error {
				_, err := s.RedeemTokens(ctx, u.ID, accounts.TokenResetPassword, base.Add(time.Minute), func(cur accounts.User) (accounts.Change, error) {
					work()
					calls.Add(1)
					cur.PasswordHash = fmt.Sprintf("hash-%d", i)
					return accounts.Change{User: cur, EndSessions: true}, nil
				})
				return err
			})
			ok, invalid := 0, 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, accounts.ErrTokenInvalid):
					invalid++
				default:
					t.Errorf("round %d: RedeemTokens %d: %v", round, i, err)
				}
			}
			if ok != 1 || invalid != 1 || calls.Load() != 1 {
				t.Errorf("round %d: got %d successes, %d ErrTokenInvalid and %d calls of fn, want 1, 1 and 1", round, ok, invalid, calls.Load())
			}
		}
	})
}

// redeemOneFixture is a user with a change link, two undo links (older and
// newer) and a reset link, and another user with a change link.
type redeemOneFixture struct {
	s                           *store.Store
	u, other                    accounts.User
	change, othersToken         accounts.Token
	olderUndo, newerUndo, reset accounts.Token
	now                         time.Time
}

func newRedeemOneFixture(t *testing.T, e Engine) *redeemOneFixture {
	t.Helper()
	f := &redeemOneFixture{s: Open(t, e), now: base.Add(10 * time.Minute)}
	f.u = createUser(t, f.s, "ada@example.com")
	f.other = createUser(t, f.s, "other@example.com")
	f.change = newToken(f.u, accounts.TokenChangeEmail, base)
	f.change.Target = "Ada@New.example"
	f.olderUndo = newToken(f.u, accounts.TokenUndoEmailChange, base)
	f.olderUndo.Target = "first@example.com"
	f.newerUndo = newToken(f.u, accounts.TokenUndoEmailChange, base.Add(time.Minute))
	f.newerUndo.Target = "second@example.com"
	f.reset = newToken(f.u, accounts.TokenResetPassword, base)
	f.othersToken = newToken(f.other, accounts.TokenChangeEmail, base)
	for _, tk := range []accounts.Token{f.change, f.olderUndo, f.newerUndo, f.reset, f.othersToken} {
		must(t, f.s.CreateToken(t.Context(), tk), "CreateToken")
	}
	return f
}

// readdress returns the change that gives cur the address addr.
func readdress(t testing.TB, cur accounts.User, addr string) accounts.Change {
	cur.Email, cur.EmailNormalized, cur.UpdatedAt = addr, strings.ToLower(addr), base.Add(10*time.Minute)
	return accounts.Change{User: cur, Events: []events.Event{newEvent(t, "user.email_changed", cur.Subject(), nil)}}
}

func testRedeemToken(t *testing.T, e Engine) {
	t.Run("MarksOneUsedAndApplies", func(t *testing.T) {
		ctx := t.Context()
		f := newRedeemOneFixture(t, e)
		calls := 0
		var change accounts.Change
		got, err := f.s.RedeemToken(ctx, f.change.Hash, f.now, func(tk accounts.Token, cur accounts.User) (accounts.Change, error) {
			calls++
			want := tokenAsStored(f.change)
			want.UsedAt = stored(f.now)
			if diff := cmp.Diff(want, tk); diff != "" {
				t.Errorf("token given to fn (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(userAsStored(f.u), cur); diff != "" {
				t.Errorf("user given to fn (-want +got):\n%s", diff)
			}
			change = readdress(t, cur, tk.Target)
			return change, nil
		})
		must(t, err, "RedeemToken")
		if calls != 1 || got.EmailNormalized != "ada@new.example" {
			t.Errorf("RedeemToken: %d calls of fn, user's address %q, want 1 and ada@new.example", calls, got.EmailNormalized)
		}
		read, err := f.s.UserByID(ctx, f.u.ID)
		must(t, err, "UserByID")
		if diff := cmp.Diff(userAsStored(change.User), read); diff != "" {
			t.Errorf("user read back (-want +got):\n%s", diff)
		}
		if u, err := f.s.UserByEmail(ctx, "ada@new.example"); err != nil || u.ID != f.u.ID {
			t.Errorf("UserByEmail of the new address: %v, %v", u.ID, err)
		}
		if got := tokenByHash(t, f.s, f.change.Hash).UsedAt; !got.Equal(stored(f.now)) {
			t.Errorf("redeemed token: UsedAt %v, want %v", got, stored(f.now))
		}
		for name, tk := range map[string]accounts.Token{"an undo token": f.olderUndo, "the reset token": f.reset, "another user's token": f.othersToken} {
			if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.IsZero() {
				t.Errorf("%s: UsedAt %v, want it unused", name, got)
			}
		}
		evs, err := f.s.EventsFor(ctx, f.u.Subject(), 1)
		must(t, err, "EventsFor")
		if diff := cmp.Diff([]string{change.Events[0].UUID}, uuids(evs)); diff != "" {
			t.Errorf("newest event about the user (-want +got):\n%s", diff)
		}
		_, err = f.s.RedeemToken(ctx, f.change.Hash, f.now, func(accounts.Token, accounts.User) (accounts.Change, error) {
			t.Error("second RedeemToken called fn")
			return accounts.Change{}, nil
		})
		if !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("second RedeemToken: got %v, want ErrTokenInvalid", err)
		}
	})

	t.Run("SpendsNamedTokens", func(t *testing.T) {
		// Redeeming the older undo link spends the newer one (and the
		// pending change), but the newer spends only what came after it.
		tests := []struct {
			name       string
			redeem     func(f *redeemOneFixture) accounts.Token
			wantUnused func(f *redeemOneFixture) []accounts.Token
			wantUsed   func(f *redeemOneFixture) []accounts.Token
		}{
			{"older undo link", func(f *redeemOneFixture) accounts.Token { return f.olderUndo },
				func(f *redeemOneFixture) []accounts.Token { return []accounts.Token{f.reset, f.othersToken} },
				func(f *redeemOneFixture) []accounts.Token { return []accounts.Token{f.newerUndo, f.change} }},
			{"newer undo link", func(f *redeemOneFixture) accounts.Token { return f.newerUndo },
				func(f *redeemOneFixture) []accounts.Token {
					return []accounts.Token{f.olderUndo, f.reset, f.othersToken}
				},
				func(f *redeemOneFixture) []accounts.Token { return []accounts.Token{f.change} }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				f := newRedeemOneFixture(t, e)
				tk := tt.redeem(f)
				_, err := f.s.RedeemToken(ctx, tk.Hash, f.now, func(tk accounts.Token, cur accounts.User) (accounts.Change, error) {
					c := readdress(t, cur, tk.Target)
					c.SpendTokens = []accounts.Spend{{Kind: accounts.TokenUndoEmailChange, Since: tk.CreatedAt}, {Kind: accounts.TokenChangeEmail}}
					return c, nil
				})
				must(t, err, "RedeemToken")
				for _, tk := range tt.wantUnused(f) {
					if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.IsZero() {
						t.Errorf("%s token made at %v: UsedAt %v, want it unused", tk.Kind, tk.CreatedAt, got)
					}
				}
				for _, tk := range tt.wantUsed(f) {
					if got := tokenByHash(t, f.s, tk.Hash).UsedAt; got.IsZero() {
						t.Errorf("%s token made at %v: unused, want it spent", tk.Kind, tk.CreatedAt)
					}
				}
			})
		}
	})

	t.Run("NotLive", func(t *testing.T) {
		tests := []struct {
			name string
			hash func(f *redeemOneFixture) string
			now  time.Time
		}{
			{"unknown", func(*redeemOneFixture) string { return randomHex(32) }, base},
			{"expired", func(f *redeemOneFixture) string { return f.change.Hash }, base.Add(time.Hour)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newRedeemOneFixture(t, e)
				before := allEvents(t, f.s)
				_, err := f.s.RedeemToken(t.Context(), tt.hash(f), tt.now, func(accounts.Token, accounts.User) (accounts.Change, error) {
					t.Error("RedeemToken called fn")
					return accounts.Change{}, nil
				})
				if !errors.Is(err, accounts.ErrTokenInvalid) {
					t.Errorf("RedeemToken: got %v, want ErrTokenInvalid", err)
				}
				if diff := cmp.Diff(uuids(before), uuids(allEvents(t, f.s))); diff != "" {
					t.Errorf("event log (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("FnErrorAndConflict", func(t *testing.T) {
		tests := []struct {
			name string
			fn   func(t *testing.T, f *redeemOneFixture, cur accounts.User) (accounts.Change, error)
			want error
		}{
			{"fn refuses", func(t *testing.T, f *redeemOneFixture, cur accounts.User) (accounts.Change, error) {
				return readdress(t, cur, "ada@new.example"), errFromFn
			}, errFromFn},
			{"address of another user", func(t *testing.T, f *redeemOneFixture, cur accounts.User) (accounts.Change, error) {
				c := readdress(t, cur, f.other.Email)
				c.SpendTokens = []accounts.Spend{{Kind: accounts.TokenUndoEmailChange}}
				return c, nil
			}, accounts.ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				f := newRedeemOneFixture(t, e)
				before := allEvents(t, f.s)
				_, err := f.s.RedeemToken(ctx, f.change.Hash, f.now, func(_ accounts.Token, cur accounts.User) (accounts.Change, error) {
					return tt.fn(t, f, cur)
				})
				if !errors.Is(err, tt.want) {
					t.Errorf("RedeemToken: got %v, want %v", err, tt.want)
				}
				for _, tk := range []accounts.Token{f.change, f.olderUndo, f.newerUndo} {
					if got := tokenByHash(t, f.s, tk.Hash).UsedAt; !got.IsZero() {
						t.Errorf("%s token after the refused redemption: UsedAt %v, want it unused", tk.Kind, got)
					}
				}
				got, err := f.s.UserByID(ctx, f.u.ID)
				must(t, err, "UserByID")
				if diff := cmp.Diff(userAsStored(f.u), got); diff != "" {
					t.Errorf("user after the refused redemption (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(uuids(before), uuids(allEvents(t, f.s))); diff != "" {
					t.Errorf("event log after the refused redemption (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		for round := range 5 {
			u := createUser(t, s, fmt.Sprintf("race-%d@example.com", round))
			tk := newToken(u, accounts.TokenUndoEmailChange, base)
			must(t, s.CreateToken(ctx, tk), "CreateToken")
			var calls atomic.Int32
			errs := concurrently(2, func(i int) error {
				_, err := s.RedeemToken(ctx, tk.Hash, base.Add(time.Minute), func(_ accounts.Token, cur accounts.User) (accounts.Change, error) {
					work()
					calls.Add(1)
					cur.GivenName = fmt.Sprintf("winner-%d", i)
					return accounts.Change{User: cur, EndSessions: true}, nil
				})
				return err
			})
			ok, invalid := 0, 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, accounts.ErrTokenInvalid):
					invalid++
				default:
					t.Errorf("round %d: RedeemToken %d: %v", round, i, err)
				}
			}
			if ok != 1 || invalid != 1 || calls.Load() != 1 {
				t.Errorf("round %d: got %d successes, %d ErrTokenInvalid and %d calls of fn, want 1, 1 and 1", round, ok, invalid, calls.Load())
			}
		}
	})
}
