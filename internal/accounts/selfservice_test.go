package accounts_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// Hashing parameters small enough for tests.
var (
	testParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	oldParams  = password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
)

const (
	goodPassword  = "vulpine-quasar-hemlock-71"
	otherPassword = "glacier-marmot-tandem-38"
)

// fixture is an accounts.Service on a real SQLite store, with a clock the
// test moves.
type fixture struct {
	store  *store.Store
	hasher *password.Hasher
	svc    *accounts.Service
	start  time.Time
	now    time.Time
}

func newHasher(t *testing.T, p password.Params) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, 2)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := storetest.Open(t, storetest.SQLite())
	f := &fixture{store: st, hasher: newHasher(t, testParams), start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.now = f.start
	f.svc = f.service(f.hasher)
	return f
}

// service returns a Service on the fixture's store and clock with hasher h.
func (f *fixture) service(h accounts.Hasher) *accounts.Service {
	return &accounts.Service{Store: f.store, Events: f.store, Hasher: h, Policy: password.Policy{}, Now: func() time.Time { return f.now }}
}

// register registers email with goodPassword and returns the new user.
func (f *fixture) register(t *testing.T, email string) accounts.User {
	t.Helper()
	reg, err := f.svc.Register(t.Context(), accounts.Registration{Email: email, Password: goodPassword, GivenName: "Ada", Locale: "sv"})
	if err != nil {
		t.Fatalf("Register(%s): %v", email, err)
	}
	if reg.Existing {
		t.Fatalf("Register(%s): got an existing account, want a new one", email)
	}
	return reg.User
}

func (f *fixture) user(t *testing.T, id string) accounts.User {
	t.Helper()
	u, err := f.store.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return u
}

// eventTypes returns the types of the events about subject, oldest first.
func (f *fixture) eventTypes(t *testing.T, subject string) []string {
	t.Helper()
	evs, err := f.store.EventsFor(t.Context(), subject, 100)
	if err != nil {
		t.Fatalf("EventsFor: %v", err)
	}
	var out []string
	for _, e := range slices.Backward(evs) {
		out = append(out, e.Type)
	}
	return out
}

// allEvents returns the whole event log.
func (f *fixture) allEvents(t *testing.T) []events.Event {
	t.Helper()
	evs, err := f.store.EventsAfter(t.Context(), 0, 1000)
	if err != nil {
		t.Fatalf("EventsAfter: %v", err)
	}
	return evs
}

// newEvents returns the events appended since the log had n.
func (f *fixture) newEvents(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for _, e := range f.allEvents(t)[n:] {
		out = append(out, e.Type)
	}
	return out
}

// lastData returns the data of the newest event about subject.
func (f *fixture) lastData(t *testing.T, subject string) map[string]any {
	t.Helper()
	evs, err := f.store.EventsFor(t.Context(), subject, 1)
	if err != nil || len(evs) == 0 {
		t.Fatalf("EventsFor: got %d events, %v", len(evs), err)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// startSessions stores n sessions of userID and returns their hashes.
func (f *fixture) startSessions(t *testing.T, userID string, n int) []string {
	t.Helper()
	var hashes []string
	for i := range n {
		ss := session.Session{
			IDHash: session.Hash(fmt.Sprintf("%s-%d", userID, i)), UserID: userID, Methods: []string{"pwd"},
			CreatedAt: f.now, LastSeenAt: f.now, AuthTime: f.now, ExpiresAt: f.now.Add(time.Hour),
		}
		if err := f.store.CreateSession(t.Context(), ss, ""); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		hashes = append(hashes, ss.IDHash)
	}
	return hashes
}

// sessionsLeft counts which of hashes still name a session.
func (f *fixture) sessionsLeft(t *testing.T, hashes []string) int {
	t.Helper()
	n := 0
	for _, h := range hashes {
		_, err := f.store.SessionByHash(t.Context(), h)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, session.ErrNotFound):
			t.Fatalf("SessionByHash: %v", err)
		}
	}
	return n
}

// checkPassword reports whether password matches u's stored hash.
func (f *fixture) checkPassword(t *testing.T, u accounts.User, pw string) bool {
	t.Helper()
	ok, _, err := f.hasher.Verify(t.Context(), pw, u.PasswordHash)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return ok
}

func TestRegister(t *testing.T) {
	f := newFixture(t)
	reg, err := f.svc.Register(t.Context(), accounts.Registration{
		Email: " Ada@Example.com ", Password: goodPassword, GivenName: " Ada ", FamilyName: "Lovelace", Locale: "sv",
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	u := reg.User
	if reg.Existing {
		t.Error("Register of a new email: got Existing, want a new account")
	}
	if u.EmailVerified || u.Status != accounts.StatusActive || u.Email != "Ada@Example.com" || u.EmailNormalized != "ada@example.com" || u.GivenName != "Ada" {
		t.Errorf("registered user: got verified %t, status %s, email %q (%q), given name %q; want unverified, active, Ada@Example.com (ada@example.com), Ada",
			u.EmailVerified, u.Status, u.Email, u.EmailNormalized, u.GivenName)
	}
	if diff := cmp.Diff(u, f.user(t, u.ID)); diff != "" {
		t.Errorf("stored user (-returned +stored):\n%s", diff)
	}
	if !f.checkPassword(t, u, goodPassword) {
		t.Error("stored hash does not verify the registered password")
	}
	if diff := cmp.Diff([]string{"user.registered"}, f.eventTypes(t, u.Subject())); diff != "" {
		t.Errorf("events about the user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"locale": "sv", "method": "password", "source": "password"}, f.lastData(t, u.Subject())); diff != "" {
		t.Errorf("user.registered data (-want +got):\n%s", diff)
	}
}

func TestRegisterExisting(t *testing.T) {
	for _, email := range []string{"ada@example.com", "ADA@EXAMPLE.COM", " Ada@Example.Com\t"} {
		t.Run(email, func(t *testing.T) {
			f := newFixture(t)
			first := f.register(t, "ada@example.com")
			n := len(f.allEvents(t))
			reg, err := f.svc.Register(t.Context(), accounts.Registration{Email: email, Password: otherPassword, Locale: "fi"})
			if err != nil {
				t.Fatalf("second Register: %v", err)
			}
			if !reg.Existing || reg.User.ID != first.ID {
				t.Errorf("second Register: got Existing %t and user %s, want Existing and the first user %s", reg.Existing, reg.User.ID, first.ID)
			}
			users, err := f.store.ListUsers(t.Context(), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 1 {
				t.Errorf("users after the second Register: got %d, want 1", len(users))
			}
			// The account is the owner's: the second password is not set.
			if diff := cmp.Diff(first, f.user(t, first.ID)); diff != "" {
				t.Errorf("the account after the second Register (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"user.registration_repeated"}, f.newEvents(t, n)); diff != "" {
				t.Errorf("events of the second Register (-want +got):\n%s", diff)
			}
			if got := f.eventTypes(t, first.Subject()); got[len(got)-1] != "user.registration_repeated" {
				t.Errorf("newest event about the owner: got %s, want user.registration_repeated", got[len(got)-1])
			}
		})
	}
}

func TestRegisterInvalid(t *testing.T) {
	tests := []struct {
		name      string
		in        accounts.Registration
		wantCodes []string
	}{
		{"invalid email and short password", accounts.Registration{Email: "not-an-email", Password: "abc"}, []string{"email.invalid", "password.too_short"}},
		{"no email and common password", accounts.Registration{Email: "", Password: "password"}, []string{"email.required", "password.too_common"}},
		{"long name and short password", accounts.Registration{Email: "ada@example.com", GivenName: strings.Repeat("a", 201), Password: "abc"}, []string{"given_name.too_long", "password.too_short"}},
		{"only a short password", accounts.Registration{Email: "ada@example.com", Password: "abc"}, []string{"password.too_short"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.svc.Register(t.Context(), tt.in)
			if !errors.Is(err, accounts.ErrInvalid) {
				t.Fatalf("Register: got %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(tt.wantCodes, fieldCodes(err), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
			if users, _ := f.store.ListUsers(t.Context(), "", 10); len(users) != 0 {
				t.Errorf("users after the refused Register: got %d, want 0", len(users))
			}
			if evs := f.allEvents(t); len(evs) != 0 {
				t.Errorf("events after the refused Register: got %d, want 0", len(evs))
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	disabled := f.register(t, "disabled@example.com")
	if _, err := f.svc.SetStatus(t.Context(), disabled.ID, accounts.StatusDisabled, "system:test"); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	noPassword, err := f.svc.Create(t.Context(), accounts.NewUser{Email: "nopassword@example.com"}, "system:test")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	tests := []struct {
		name      string
		email     string
		password  string
		wantErr   error
		wantUser  string
		wantEvent map[string]any // the user.login_failed event's data; nil for none
		subject   string
	}{
		{"right password", "ada@example.com", goodPassword, nil, u.ID, nil, u.Subject()},
		{"other case and spaces", " ADA@example.COM ", goodPassword, nil, u.ID, nil, u.Subject()},
		{"wrong password", "ada@example.com", otherPassword, accounts.ErrBadCredentials, "", map[string]any{"reason": "bad_password"}, u.Subject()},
		{"unknown email", "nobody@example.com", goodPassword, accounts.ErrBadCredentials, "", nil, ""},
		{"malformed email", "nobody", goodPassword, accounts.ErrBadCredentials, "", nil, ""},
		{"account without a password", "nopassword@example.com", "", accounts.ErrBadCredentials, "", nil, noPassword.Subject()},
		{"disabled, right password", "disabled@example.com", goodPassword, accounts.ErrDisabled, "", map[string]any{"reason": "disabled"}, disabled.Subject()},
		{"disabled, wrong password", "disabled@example.com", otherPassword, accounts.ErrBadCredentials, "", map[string]any{"reason": "bad_password"}, disabled.Subject()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(f.allEvents(t))
			got, err := f.svc.Authenticate(t.Context(), tt.email, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authenticate: got %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && (errors.Is(err, accounts.ErrDisabled) != errors.Is(tt.wantErr, accounts.ErrDisabled)) {
				t.Errorf("Authenticate: got %v, want exactly %v", err, tt.wantErr)
			}
			if got.ID != tt.wantUser {
				t.Errorf("Authenticate: got user %q, want %q", got.ID, tt.wantUser)
			}
			var want []string
			if tt.wantEvent != nil {
				want = []string{"user.login_failed"}
			}
			if diff := cmp.Diff(want, f.newEvents(t, n)); diff != "" {
				t.Fatalf("events written (-want +got):\n%s", diff)
			}
			if tt.wantEvent != nil {
				if diff := cmp.Diff(tt.wantEvent, f.lastData(t, tt.subject)); diff != "" {
					t.Errorf("user.login_failed data (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAuthenticateRehashes(t *testing.T) {
	f := newFixture(t)
	old := f.service(newHasher(t, oldParams))
	u, err := old.Create(t.Context(), accounts.NewUser{Email: "ada@example.com", Password: goodPassword}, "system:test")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !strings.Contains(u.PasswordHash, "m=32,") {
		t.Fatalf("hash made with the old parameters: got %q, want m=32", u.PasswordHash)
	}

	got, err := f.svc.Authenticate(t.Context(), "ada@example.com", goodPassword)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	stored := f.user(t, u.ID)
	if stored.PasswordHash == u.PasswordHash || !strings.Contains(stored.PasswordHash, "m=64,t=1,p=1$") {
		t.Errorf("stored hash after sign-in: got %q, want a new one with m=64,t=1,p=1", stored.PasswordHash)
	}
	if got.PasswordHash != stored.PasswordHash {
		t.Errorf("Authenticate returned hash %q, want the stored %q", got.PasswordHash, stored.PasswordHash)
	}
	ok, rehash, err := f.hasher.Verify(t.Context(), goodPassword, stored.PasswordHash)
	if err != nil || !ok || rehash {
		t.Errorf("Verify of the new hash: got ok %t, needsRehash %t, %v, want ok and current", ok, rehash, err)
	}
	if diff := cmp.Diff([]string{"user.created", "password.rehashed"}, f.eventTypes(t, u.Subject())); diff != "" {
		t.Errorf("events about the user (-want +got):\n%s", diff)
	}

	// A current hash is left alone.
	if _, err := f.svc.Authenticate(t.Context(), "ada@example.com", goodPassword); err != nil {
		t.Fatalf("second Authenticate: %v", err)
	}
	if again := f.user(t, u.ID); again.PasswordHash != stored.PasswordHash {
		t.Error("second sign-in changed the current hash, want it kept")
	}
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

// otherCode returns a 6-digit code that is not code.
func otherCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1_000_000)
}

func TestVerifyCode(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	other := f.register(t, "other@example.com")
	_, link, code, err := f.svc.IssueVerification(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueVerification: %v", err)
	}
	if !sixDigits.MatchString(code) || len(link) != 43 {
		t.Fatalf("IssueVerification: got code %q and a link of %d characters, want 6 digits and 43", code, len(link))
	}
	_, _, othersCode, err := f.svc.IssueVerification(t.Context(), other.ID)
	if err != nil {
		t.Fatalf("IssueVerification: %v", err)
	}

	f.now = f.start.Add(time.Hour)
	wrong := []struct {
		name, code string
	}{
		{"wrong code", otherCode(code)},
		{"empty code", ""},
		{"the link as code", link},
	}
	if othersCode != code {
		wrong = append(wrong, struct{ name, code string }{"another user's code", othersCode})
	}
	for _, tt := range wrong {
		if _, err := f.svc.VerifyCode(t.Context(), u.ID, tt.code); !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("VerifyCode with the %s: got %v, want ErrTokenInvalid", tt.name, err)
		}
	}
	if f.user(t, u.ID).EmailVerified {
		t.Fatal("email verified after wrong codes")
	}

	got, err := f.svc.VerifyCode(t.Context(), u.ID, " "+code+" ")
	if err != nil {
		t.Fatalf("VerifyCode with the right code: %v", err)
	}
	if !got.EmailVerified || !f.user(t, u.ID).EmailVerified {
		t.Error("VerifyCode with the right code: email not verified")
	}
	if diff := cmp.Diff([]string{"user.registered", "user.verified"}, f.eventTypes(t, u.Subject())); diff != "" {
		t.Errorf("events about the user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"via": "code"}, f.lastData(t, u.Subject())); diff != "" {
		t.Errorf("user.verified data (-want +got):\n%s", diff)
	}
	if f.user(t, other.ID).EmailVerified {
		t.Error("another user's email got verified")
	}

	// The code is used up, and so is the link mailed with it.
	if _, err := f.svc.VerifyCode(t.Context(), u.ID, code); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("VerifyCode with the used code: got %v, want ErrTokenInvalid", err)
	}
	if _, err := f.svc.VerifyLink(t.Context(), link); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("VerifyLink with the link of the used code: got %v, want ErrTokenInvalid", err)
	}
}

func TestVerifyCodeExpired(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	_, _, code, err := f.svc.IssueVerification(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueVerification: %v", err)
	}
	f.now = f.start.Add(accounts.VerifyTokenTTL)
	if _, err := f.svc.VerifyCode(t.Context(), u.ID, code); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("VerifyCode with an expired code: got %v, want ErrTokenInvalid", err)
	}
}

func TestVerifyLink(t *testing.T) {
	tests := []struct {
		name      string
		after     time.Duration
		mangle    func(link string) string
		wantValid bool
	}{
		{"fresh", time.Minute, nil, true},
		{"just before expiry", accounts.VerifyTokenTTL - time.Microsecond, nil, true},
		{"at expiry", accounts.VerifyTokenTTL, nil, false},
		{"a day late", 2 * accounts.VerifyTokenTTL, nil, false},
		{"altered", time.Minute, alter, false},
		{"empty", time.Minute, func(string) string { return "" }, false},
		{"overlong", time.Minute, func(l string) string { return l + strings.Repeat("A", 100) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			u := f.register(t, "ada@example.com")
			_, link, _, err := f.svc.IssueVerification(t.Context(), u.ID)
			if err != nil {
				t.Fatalf("IssueVerification: %v", err)
			}
			if tt.mangle != nil {
				link = tt.mangle(link)
			}
			f.now = f.start.Add(tt.after)
			got, err := f.svc.VerifyLink(t.Context(), link)
			if !tt.wantValid {
				if !errors.Is(err, accounts.ErrTokenInvalid) {
					t.Errorf("VerifyLink: got %v, want ErrTokenInvalid", err)
				}
				if f.user(t, u.ID).EmailVerified {
					t.Error("email verified by an invalid link")
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyLink: %v", err)
			}
			if !got.EmailVerified || !f.user(t, u.ID).EmailVerified {
				t.Error("VerifyLink: email not verified")
			}
			if diff := cmp.Diff(map[string]any{"via": "link"}, f.lastData(t, u.Subject())); diff != "" {
				t.Errorf("user.verified data (-want +got):\n%s", diff)
			}
			if _, err := f.svc.VerifyLink(t.Context(), link); !errors.Is(err, accounts.ErrTokenInvalid) {
				t.Errorf("VerifyLink a second time: got %v, want ErrTokenInvalid", err)
			}
		})
	}
}

// alter changes the last character of link.
func alter(link string) string {
	if strings.HasSuffix(link, "A") {
		return link[:len(link)-1] + "B"
	}
	return link[:len(link)-1] + "A"
}

func TestVerifyLinkOfOtherKind(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	_, resetLink, err := f.svc.IssueReset(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueReset: %v", err)
	}
	if _, err := f.svc.VerifyLink(t.Context(), resetLink); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("VerifyLink with a reset link: got %v, want ErrTokenInvalid", err)
	}
	_, verifyLink, _, err := f.svc.IssueVerification(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueVerification: %v", err)
	}
	if _, err := f.svc.ResetPassword(t.Context(), verifyLink, otherPassword); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("ResetPassword with a verification link: got %v, want ErrTokenInvalid", err)
	}
}

func TestVerifyAfterEmailChange(t *testing.T) {
	// A link mailed to the old address does not verify the new one.
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	_, link, _, err := f.svc.IssueVerification(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueVerification: %v", err)
	}
	if _, err := f.store.UpdateUser(t.Context(), u.ID, func(cur accounts.User) (accounts.Change, error) {
		cur.Email, cur.EmailNormalized = "new@example.com", "new@example.com"
		return accounts.Change{User: cur}, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if _, err := f.svc.VerifyLink(t.Context(), link); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("VerifyLink after the email changed: got %v, want ErrTokenInvalid", err)
	}
	if f.user(t, u.ID).EmailVerified {
		t.Error("the new email got verified by a link sent to the old one")
	}
}

func TestRequestReset(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")

	t.Run("unknown email", func(t *testing.T) {
		n := len(f.allEvents(t))
		if err := f.svc.RequestReset(t.Context(), "Nobody@Example.com"); err != nil {
			t.Fatalf("RequestReset of an unknown email: %v", err)
		}
		// No event that mails anyone; the only trace is a digest of the
		// address, never the address itself.
		evs := f.allEvents(t)[n:]
		for _, e := range evs {
			if e.Type == "password.reset_requested" || strings.HasPrefix(e.Subject, "user:") {
				t.Errorf("RequestReset of an unknown email wrote %s about %s, want no event about a user", e.Type, e.Subject)
			}
			if b, _ := json.Marshal(e); strings.Contains(strings.ToLower(string(b)), "nobody") {
				t.Errorf("event %s holds the unknown address: %s", e.Type, b)
			}
		}
		if diff := cmp.Diff([]string{"user.registered"}, f.eventTypes(t, u.Subject())); diff != "" {
			t.Errorf("events about the existing user (-want +got):\n%s", diff)
		}
	})

	t.Run("known email", func(t *testing.T) {
		n := len(f.allEvents(t))
		if err := f.svc.RequestReset(t.Context(), " ADA@example.com "); err != nil {
			t.Fatalf("RequestReset: %v", err)
		}
		if diff := cmp.Diff([]string{"password.reset_requested"}, f.newEvents(t, n)); diff != "" {
			t.Errorf("events written (-want +got):\n%s", diff)
		}
		if got := f.eventTypes(t, u.Subject()); got[len(got)-1] != "password.reset_requested" {
			t.Errorf("newest event about the user: got %s, want password.reset_requested", got[len(got)-1])
		}
	})

	t.Run("malformed email", func(t *testing.T) {
		n := len(f.allEvents(t))
		if err := f.svc.RequestReset(t.Context(), "not-an-email"); !errors.Is(err, accounts.ErrInvalid) {
			t.Errorf("RequestReset of a malformed email: got %v, want ErrInvalid", err)
		}
		if got := f.newEvents(t, n); len(got) != 0 {
			t.Errorf("events written: got %v, want none", got)
		}
	})
}

func TestResetPassword(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	other := f.register(t, "other@example.com")
	own, others := f.startSessions(t, u.ID, 2), f.startSessions(t, other.ID, 1)
	_, earlier, err := f.svc.IssueReset(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueReset: %v", err)
	}
	_, link, err := f.svc.IssueReset(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueReset: %v", err)
	}
	f.now = f.start.Add(10 * time.Minute)

	if got, err := f.svc.CheckReset(t.Context(), link); err != nil || got.ID != u.ID {
		t.Errorf("CheckReset: got user %q, %v, want %s", got.ID, err, u.ID)
	}

	// The policy applies, and a refused password uses nothing up.
	_, err = f.svc.ResetPassword(t.Context(), link, "abc")
	if diff := cmp.Diff([]string{"password.too_short"}, fieldCodes(err)); diff != "" {
		t.Errorf("ResetPassword with a short password: got %v (-want +got):\n%s", err, diff)
	}
	_, err = f.svc.ResetPassword(t.Context(), link, "ada@example.com")
	if codes := fieldCodes(err); len(codes) != 1 || !strings.HasPrefix(codes[0], "password.") {
		t.Errorf("ResetPassword with the email as password: got %v, want a password field error", err)
	}
	if diff := cmp.Diff(u, f.user(t, u.ID)); diff != "" {
		t.Errorf("user after refused passwords (-want +got):\n%s", diff)
	}

	got, err := f.svc.ResetPassword(t.Context(), link, otherPassword)
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	stored := f.user(t, u.ID)
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("ResetPassword result (-stored +returned):\n%s", diff)
	}
	if stored.PasswordHash == u.PasswordHash || !f.checkPassword(t, stored, otherPassword) || f.checkPassword(t, stored, goodPassword) {
		t.Error("stored hash after the reset: want a new one that verifies the new password only")
	}
	if !stored.EmailVerified {
		t.Error("email not verified after the reset, want verified (the link proved it)")
	}
	if n := f.sessionsLeft(t, own); n != 0 {
		t.Errorf("the user's sessions after the reset: got %d, want 0", n)
	}
	if n := f.sessionsLeft(t, others); n != 1 {
		t.Errorf("another user's sessions after the reset: got %d, want 1", n)
	}
	if diff := cmp.Diff([]string{"user.registered", "password.changed"}, f.eventTypes(t, u.Subject())); diff != "" {
		t.Errorf("events about the user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"via": "reset"}, f.lastData(t, u.Subject())); diff != "" {
		t.Errorf("password.changed data (-want +got):\n%s", diff)
	}
	if _, err := f.svc.Authenticate(t.Context(), "ada@example.com", otherPassword); err != nil {
		t.Errorf("Authenticate with the new password: %v", err)
	}

	// The link works once, and the user's other reset links are used up.
	for name, l := range map[string]string{"the same link": link, "an earlier link": earlier} {
		if _, err := f.svc.ResetPassword(t.Context(), l, "third-password-quokka-55"); !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("ResetPassword with %s: got %v, want ErrTokenInvalid", name, err)
		}
		if _, err := f.svc.CheckReset(t.Context(), l); !errors.Is(err, accounts.ErrTokenInvalid) {
			t.Errorf("CheckReset with %s: got %v, want ErrTokenInvalid", name, err)
		}
	}
}

func TestResetPasswordExpired(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	_, link, err := f.svc.IssueReset(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("IssueReset: %v", err)
	}
	f.now = f.start.Add(accounts.ResetTokenTTL)
	if _, err := f.svc.ResetPassword(t.Context(), link, otherPassword); !errors.Is(err, accounts.ErrTokenInvalid) {
		t.Errorf("ResetPassword with an expired link: got %v, want ErrTokenInvalid", err)
	}
	if !f.checkPassword(t, f.user(t, u.ID), goodPassword) {
		t.Error("an expired link changed the password")
	}
}

func TestSetStatus(t *testing.T) {
	f := newFixture(t)
	u := f.register(t, "ada@example.com")
	other := f.register(t, "other@example.com")
	own, others := f.startSessions(t, u.ID, 2), f.startSessions(t, other.ID, 1)

	steps := []struct {
		status       accounts.Status
		wantEvents   []string
		wantSessions int
	}{
		{accounts.StatusDisabled, []string{"user.registered", "user.disabled"}, 0},
		{accounts.StatusDisabled, []string{"user.registered", "user.disabled"}, 0}, // no change, no event
		{accounts.StatusActive, []string{"user.registered", "user.disabled", "user.enabled"}, 0},
	}
	for _, st := range steps {
		got, err := f.svc.SetStatus(t.Context(), u.ID, st.status, "system:test")
		if err != nil {
			t.Fatalf("SetStatus(%s): %v", st.status, err)
		}
		if got.Status != st.status || f.user(t, u.ID).Status != st.status {
			t.Errorf("SetStatus(%s): got status %s (stored %s)", st.status, got.Status, f.user(t, u.ID).Status)
		}
		if diff := cmp.Diff(st.wantEvents, f.eventTypes(t, u.Subject())); diff != "" {
			t.Errorf("SetStatus(%s): events about the user (-want +got):\n%s", st.status, diff)
		}
		if n := f.sessionsLeft(t, own); n != st.wantSessions {
			t.Errorf("SetStatus(%s): got %d of the user's sessions left, want %d", st.status, n, st.wantSessions)
		}
		if n := f.sessionsLeft(t, others); n != 1 {
			t.Errorf("SetStatus(%s): got %d of another user's sessions left, want 1", st.status, n)
		}
	}
	if _, err := f.svc.SetStatus(t.Context(), accounts.NewID(), accounts.StatusDisabled, "system:test"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("SetStatus of an unknown user: got %v, want ErrNotFound", err)
	}
}
