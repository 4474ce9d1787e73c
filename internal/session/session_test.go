package session_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/request"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

const (
	idle     = 30 * time.Minute
	absolute = 12 * time.Hour
)

// fixture is a Manager on a real SQLite store, with a user to sign in and a
// clock the test moves.
type fixture struct {
	store *store.Store
	raw   *sql.DB
	m     *session.Manager
	user  accounts.User
	start time.Time
	now   time.Time
}

func newFixture(t *testing.T, secure bool) *fixture {
	t.Helper()
	e := storetest.SQLite()
	dbURL := e.NewURL(t)
	f := &fixture{
		store: storetest.OpenURL(t, dbURL),
		raw:   e.RawDB(t, dbURL),
		start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	f.now = f.start
	f.m = &session.Manager{Store: f.store, Secure: secure, IdleTimeout: idle, AbsoluteTimeout: absolute, Now: func() time.Time { return f.now }}
	f.user = accounts.User{ID: accounts.NewID(), Email: "ada@example.com", CreatedAt: f.start, UpdatedAt: f.start}
	if err := f.user.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(t.Context(), f.user); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return f
}

// signIn calls Start for a browser that sends cookie (if not nil) and
// returns the session and the one cookie set.
func (f *fixture) signIn(t *testing.T, cookie *http.Cookie, evs ...events.Event) (session.Session, *http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.Header.Set("User-Agent", "test-browser/1.0")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	s, err := f.m.Start(t.Context(), w, r, f.user.ID, []string{"pwd", "otp"}, "urn:portvakt:acr:mfa", evs...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s, onlyCookie(t, w)
}

// current calls Current for a browser that sends cookie.
func (f *fixture) current(t *testing.T, cookie *http.Cookie) (session.Session, bool) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/account", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	s, ok, err := f.m.Current(t.Context(), r)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return s, ok
}

// stored returns the stored session with idHash, and whether there is one.
func (f *fixture) stored(t *testing.T, idHash string) (session.Session, bool) {
	t.Helper()
	s, err := f.store.SessionByHash(t.Context(), idHash)
	if errors.Is(err, session.ErrNotFound) {
		return session.Session{}, false
	}
	if err != nil {
		t.Fatalf("SessionByHash: %v", err)
	}
	return s, true
}

// eventTypes returns the types of the events about the user, oldest first.
func (f *fixture) eventTypes(t *testing.T) []string {
	t.Helper()
	evs, err := f.store.EventsFor(t.Context(), f.user.Subject(), 100)
	if err != nil {
		t.Fatalf("EventsFor: %v", err)
	}
	var out []string
	for _, e := range slices.Backward(evs) {
		out = append(out, e.Type)
	}
	return out
}

func onlyCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("got %d cookies set, want 1", len(cs))
	}
	return cs[0]
}

// sha256Hex is the stored form of a session ID, computed here rather than
// with session.Hash.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var cookieValue = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestStart(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		cookieName string
	}{
		{"http", false, "portvakt_session"},
		{"https", true, "__Host-portvakt_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.secure)
			s, c := f.signIn(t, nil)

			if c.Name != tt.cookieName || f.m.CookieName() != tt.cookieName {
				t.Errorf("cookie name: got %q (CookieName %q), want %q", c.Name, f.m.CookieName(), tt.cookieName)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tt.secure {
				t.Errorf("cookie: got HttpOnly %t, SameSite %v, Secure %t, want true, Lax, %t", c.HttpOnly, c.SameSite, c.Secure, tt.secure)
			}
			// The __Host- prefix also requires Path=/ and no Domain.
			if c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie: got Path %q, Domain %q, want / and none", c.Path, c.Domain)
			}
			if !c.Expires.Equal(f.start.Add(absolute)) {
				t.Errorf("cookie Expires: got %v, want %v", c.Expires, f.start.Add(absolute))
			}
			if !cookieValue.MatchString(c.Value) {
				t.Errorf("cookie value: got %q, want 43 characters of unpadded base64url", c.Value)
			}
			if want := sha256Hex(c.Value); s.IDHash != want {
				t.Errorf("IDHash: got %q, want the SHA-256 of the cookie value %q", s.IDHash, want)
			}

			want := session.Session{
				IDHash: sha256Hex(c.Value), UserID: f.user.ID,
				CreatedAt: f.start, LastSeenAt: f.start, AuthTime: f.start, ExpiresAt: f.start.Add(absolute),
				Methods: []string{"pwd", "otp"}, ACR: "urn:portvakt:acr:mfa", UserAgent: "test-browser/1.0",
			}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("Start result (-want +got):\n%s", diff)
			}
			got, ok := f.stored(t, sha256Hex(c.Value))
			if !ok {
				t.Fatal("no session stored under the SHA-256 of the cookie value")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored session (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"session.started"}, f.eventTypes(t)); diff != "" {
				t.Errorf("events about the user (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStartStoresNoRawID reads every column of every session and event row:
// the cookie value appears in none of them.
func TestStartStoresNoRawID(t *testing.T) {
	f := newFixture(t, false)
	_, c := f.signIn(t, nil)
	_, c2 := f.signIn(t, nil)
	for _, table := range []string{"sessions", "events"} {
		rows, err := f.raw.QueryContext(t.Context(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				for _, raw := range []string{c.Value, c2.Value} {
					if strings.Contains(v.String, raw) {
						t.Errorf("%s.%s holds the raw session ID", table, cols[i])
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
		if n != 2 {
			t.Errorf("%s: got %d rows, want 2", table, n)
		}
	}
}

func TestStartClientIP(t *testing.T) {
	f := newFixture(t, false)
	var s session.Session
	h := request.Identify{}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if s, err = f.m.Start(r.Context(), w, r, f.user.ID, []string{"pwd"}, ""); err != nil {
			t.Errorf("Start: %v", err)
		}
	}))
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = "192.0.2.10:54321"
	h.ServeHTTP(httptest.NewRecorder(), r)
	got, ok := f.stored(t, s.IDHash)
	if !ok || got.ClientIP != "192.0.2.10" {
		t.Errorf("stored ClientIP: got %q (found %t), want 192.0.2.10", got.ClientIP, ok)
	}
	evs, err := f.store.EventsFor(t.Context(), f.user.Subject(), 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("EventsFor: got %d events, %v, want 1", len(evs), err)
	}
	var data struct {
		Session  string `json:"session"`
		ClientIP string `json:"client_ip"`
	}
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.ClientIP != "192.0.2.10" || data.Session != s.Subject() {
		t.Errorf("session.started data: got %+v, want client_ip 192.0.2.10 and session %s", data, s.Subject())
	}
}

func TestStartRotates(t *testing.T) {
	tests := []struct {
		name   string
		secure bool
	}{
		{"http", false},
		{"https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.secure)
			old, c1 := f.signIn(t, nil)
			f.now = f.start.Add(time.Minute)
			next, c2 := f.signIn(t, c1)
			if c2.Value == c1.Value || next.IDHash == old.IDHash {
				t.Fatal("second Start kept the session ID, want a new one")
			}
			if _, ok := f.stored(t, old.IDHash); ok {
				t.Error("the old session is still stored after the second Start, want it deleted")
			}
			if _, ok := f.stored(t, next.IDHash); !ok {
				t.Error("the new session is not stored")
			}
			if _, ok := f.current(t, c1); ok {
				t.Error("Current with the old cookie: got a session, want none")
			}
			if s, ok := f.current(t, c2); !ok || s.IDHash != next.IDHash {
				t.Errorf("Current with the new cookie: got %q (%t), want the new session", s.IDHash, ok)
			}
		})
	}

	t.Run("planted ID", func(t *testing.T) {
		// An ID planted in the browser before sign-in is never used.
		f := newFixture(t, false)
		planted := &http.Cookie{Name: "portvakt_session", Value: strings.Repeat("A", 43)}
		s, c := f.signIn(t, planted)
		if c.Value == planted.Value || s.IDHash == sha256Hex(planted.Value) {
			t.Error("Start adopted the planted session ID, want a new one")
		}
	})
}

func TestCurrent(t *testing.T) {
	t.Run("no cookie", func(t *testing.T) {
		f := newFixture(t, false)
		f.signIn(t, nil)
		if _, ok := f.current(t, nil); ok {
			t.Error("Current without a cookie: got a session, want none")
		}
		if _, ok := f.current(t, &http.Cookie{Name: "portvakt_session", Value: strings.Repeat("B", 43)}); ok {
			t.Error("Current with an unknown cookie: got a session, want none")
		}
	})

	t.Run("touch", func(t *testing.T) {
		// Activity is written at most once a minute.
		f := newFixture(t, false)
		s, c := f.signIn(t, nil)
		steps := []struct {
			at           time.Duration // since sign-in
			wantLastSeen time.Duration // since sign-in
		}{
			{0, 0},
			{30 * time.Second, 0},
			{time.Minute - time.Microsecond, 0},
			{time.Minute, time.Minute},
			{time.Minute + 59*time.Second, time.Minute},
			{2 * time.Minute, 2 * time.Minute},
			{20 * time.Minute, 20 * time.Minute},
		}
		for _, st := range steps {
			f.now = f.start.Add(st.at)
			got, ok := f.current(t, c)
			if !ok {
				t.Fatalf("Current at %v: got no session, want one", st.at)
			}
			want := f.start.Add(st.wantLastSeen)
			if !got.LastSeenAt.Equal(want) {
				t.Errorf("Current at %v: got LastSeenAt %v, want %v", st.at, got.LastSeenAt, want)
			}
			stored, _ := f.stored(t, s.IDHash)
			if !stored.LastSeenAt.Equal(want) {
				t.Errorf("at %v: got stored LastSeenAt %v, want %v", st.at, stored.LastSeenAt, want)
			}
		}
	})

	tests := []struct {
		name string
		// visits are when Current is called, since sign-in; the session
		// is alive at every one but the last, where it is alive iff
		// wantAlive.
		visits    []time.Duration
		wantAlive bool
	}{
		{"just before the idle timeout", []time.Duration{idle - time.Second}, true},
		{"at the idle timeout", []time.Duration{idle}, false},
		{"idle after activity", []time.Duration{20 * time.Minute, 20*time.Minute + idle}, false},
		{"active past the idle timeout", []time.Duration{20 * time.Minute, 40 * time.Minute, 60 * time.Minute}, true},
		{"just before the absolute timeout", everyUntil(20*time.Minute, absolute-time.Second), true},
		{"at the absolute timeout though active", everyUntil(20*time.Minute, absolute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			s, c := f.signIn(t, nil)
			for i, at := range tt.visits {
				f.now = f.start.Add(at)
				_, ok := f.current(t, c)
				last := i == len(tt.visits)-1
				if want := !last || tt.wantAlive; ok != want {
					t.Fatalf("Current at %v: got a live session %t, want %t", at, ok, want)
				}
			}
			_, stored := f.stored(t, s.IDHash)
			if stored != tt.wantAlive {
				t.Errorf("session stored afterwards: got %t, want %t", stored, tt.wantAlive)
			}
			wantEvents := []string{"session.started"}
			if !tt.wantAlive {
				wantEvents = append(wantEvents, "session.expired")
				// An expired session stays gone.
				if _, ok := f.current(t, c); ok {
					t.Error("Current after expiry: got a session, want none")
				}
			}
			if diff := cmp.Diff(wantEvents, f.eventTypes(t)); diff != "" {
				t.Errorf("events about the user (-want +got):\n%s", diff)
			}
		})
	}
}

// everyUntil returns the times from step to last, step apart, ending with
// last.
func everyUntil(step, last time.Duration) []time.Duration {
	var out []time.Duration
	for at := step; at < last; at += step {
		out = append(out, at)
	}
	return append(out, last)
}

func TestEnd(t *testing.T) {
	tests := []struct {
		name   string
		secure bool
	}{
		{"http", false},
		{"https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.secure)
			s, c := f.signIn(t, nil)
			other, _ := f.signIn(t, nil) // another browser

			r := httptest.NewRequest(http.MethodPost, "/logout", nil)
			r.AddCookie(c)
			w := httptest.NewRecorder()
			ev, err := events.New("session.ended", f.user.Subject(), f.user.Subject(), f.now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.m.End(t.Context(), w, r, ev); err != nil {
				t.Fatalf("End: %v", err)
			}
			cleared := onlyCookie(t, w)
			if cleared.Name != f.m.CookieName() || cleared.Value != "" || cleared.MaxAge >= 0 {
				t.Errorf("cookie set by End: got %s=%q MaxAge %d, want %s cleared with MaxAge < 0", cleared.Name, cleared.Value, cleared.MaxAge, f.m.CookieName())
			}
			if cleared.Path != "/" || !cleared.HttpOnly || cleared.Secure != tt.secure {
				t.Errorf("cookie set by End: got Path %q, HttpOnly %t, Secure %t, want /, true, %t", cleared.Path, cleared.HttpOnly, cleared.Secure, tt.secure)
			}
			if _, ok := f.stored(t, s.IDHash); ok {
				t.Error("session still stored after End, want it deleted")
			}
			if _, ok := f.stored(t, other.IDHash); !ok {
				t.Error("End deleted the session of another browser")
			}
			if _, ok := f.current(t, c); ok {
				t.Error("Current after End: got a session, want none")
			}
			if diff := cmp.Diff([]string{"session.started", "session.started", "session.ended"}, f.eventTypes(t)); diff != "" {
				t.Errorf("events about the user (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("without a session", func(t *testing.T) {
		f := newFixture(t, false)
		w := httptest.NewRecorder()
		if err := f.m.End(t.Context(), w, httptest.NewRequest(http.MethodPost, "/logout", nil)); err != nil {
			t.Fatalf("End without a cookie: %v", err)
		}
		if c := onlyCookie(t, w); c.MaxAge >= 0 {
			t.Errorf("cookie set by End without a session: got MaxAge %d, want < 0", c.MaxAge)
		}
	})
}
