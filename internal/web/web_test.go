package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/server"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/throttle"
	"github.com/portvakt/portvakt/internal/web"
)

// stack is a real server on a real SQLite store.
type stack struct {
	t        testing.TB
	url      string
	store    *store.Store
	accounts *accounts.Service
	authn    *authn.Service
	pages    *web.Handler
	privacy  *privacy.Service
	clock    *time.Time
}

var sqlite = storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL}

func newStack(t testing.TB) *stack { return newStackOn(t, sqlite) }

// newStackOn builds the stack on engine e with cheap hashing; opts adjust
// the pages before they start.
func newStackOn(t testing.TB, e storetest.Engine, opts ...func(*web.Handler)) *stack {
	return newStackWith(t, e, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2, opts...)
}

// newStackWith builds the stack on engine e with the given hashing
// parameters and hashing concurrency; opts adjust the pages before they
// start.
func newStackWith(t testing.TB, e storetest.Engine, params password.Params, concurrency int, opts ...func(*web.Handler)) *stack {
	t.Helper()
	st := storetest.Open(t, e)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	hasher, err := password.NewHasher(params, concurrency)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	acc := &accounts.Service{Store: st, Events: st, Hasher: hasher, Policy: password.Policy{ProductName: "Portvakt"}, Now: clock}
	master, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(context.Background(), st, keyring.MasterKeys{Current: master}, now)
	if err != nil {
		t.Fatal(err)
	}
	factors := &authn.Service{Store: st, Cipher: kr, Issuer: "Portvakt", Now: clock}
	limiter := func(name string, free int) *throttle.Limiter {
		return &throttle.Limiter{Store: st, Name: name, Free: free, Window: time.Hour, BaseDelay: 30 * time.Second, MaxDelay: 15 * time.Minute, Now: clock}
	}
	issuer, _ := url.Parse("http://localhost")
	// Without a grace period unless a test gives one.
	priv := &privacy.Service{Store: st, Profiles: st, SignIns: st, Memberships: st, Activity: st, Now: clock}
	h := &web.Handler{
		Catalog:  cat,
		Accounts: acc,
		Privacy:  priv,
		Authn:    factors,
		Flows:    &flows.Service{Store: st, Now: clock},
		Sessions: &session.Manager{Store: st, Now: clock},
		Limits: web.Limits{
			LoginIP: limiter("login:ip", 50), LoginAccount: limiter("login:account", 5),
			Register: limiter("register:ip", 20), RecoveryIP: limiter("recovery:ip", 20),
			RecoveryAccount: limiter("recovery:account", 5), Verify: limiter("verify:user", 5),
			SecondFactor: limiter("second_factor:user", 5), EmailChange: limiter("email_change:user", 3),
		},
		Brand:             web.Branding{ProductName: "Portvakt", PrimaryColor: "#1f5fbf"},
		Issuer:            issuer,
		MinPasswordLength: 8,
		Now:               clock,
	}
	for _, o := range opts {
		o(h)
	}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Issuer: issuer}, h)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &stack{t: t, url: ts.URL, store: st, accounts: acc, authn: factors, pages: h, privacy: priv, clock: &now}
}

// browser is a client with cookies that follows redirects.
type browser struct {
	s      *stack
	c      *http.Client
	header http.Header
	page   response // the page a benchmark worker re-submits
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, c: &http.Client{Jar: jar}, header: http.Header{}}
}

type response struct {
	status int
	body   string
	url    string
	header http.Header
}

func (b *browser) do(method, path string, form url.Values) response {
	b.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.s.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: string(raw), url: res.Request.URL.RequestURI(), header: res.Header}
}

func (b *browser) get(path string) response { return b.do(http.MethodGet, path, nil) }

var (
	csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	actionRe  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRe  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit posts the page's first form with the CSRF token and values.
func (b *browser) submit(page response, values map[string]string) response {
	b.s.t.Helper()
	m := csrfField.FindStringSubmatch(page.body)
	a := actionRe.FindStringSubmatch(page.body)
	if m == nil || a == nil {
		b.s.t.Fatalf("no form on %s:\n%s", page.url, page.body)
	}
	form := url.Values{"csrf_token": {m[1]}}
	for _, h := range hiddenRe.FindAllStringSubmatch(page.body, -1) {
		form.Set(h[1], htmlUnescape(h[2]))
	}
	for k, v := range values {
		form.Set(k, v)
	}
	return b.do(http.MethodPost, htmlUnescape(a[1]), form)
}

func htmlUnescape(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

const goodPassword = "tangerine-orbit-velvet-42"

func (s *stack) createUser(email, pw string, verified bool) accounts.User {
	s.t.Helper()
	u, err := s.accounts.Create(context.Background(), accounts.NewUser{Email: email, Password: pw, Verified: verified}, "system:test")
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

func TestSignInAndOut(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testSignInAndOut(t, newStackOn(t, e)) })
}

func testSignInAndOut(t *testing.T, s *stack) {
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	login := b.get("/")
	if !strings.HasPrefix(login.url, "/login?flow=") {
		t.Fatalf("/ led to %s, want the sign-in page", login.url)
	}
	acct := b.submit(login, map[string]string{"email": "ADA@example.com", "password": goodPassword})
	if acct.status != http.StatusOK || acct.url != "/account" || !strings.Contains(acct.body, "ada@example.com") {
		t.Fatalf("after sign-in: %d %s, want the account page", acct.status, acct.url)
	}
	out := b.do(http.MethodPost, "/logout", url.Values{"csrf_token": {csrfField.FindStringSubmatch(acct.body)[1]}})
	if out.url != "/logged-out" {
		t.Fatalf("after sign-out at %s, want /logged-out", out.url)
	}
	if again := b.get("/account"); !strings.HasPrefix(again.url, "/login") {
		t.Errorf("account after sign-out went to %s, want sign-in", again.url)
	}
}

func TestCSRFIsRequired(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	login := b.get("/login")
	action := htmlUnescape(actionRe.FindStringSubmatch(login.body)[1])
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"missing token", url.Values{"email": {"ada@example.com"}, "password": {goodPassword}}, ""},
		{"wrong token", url.Values{"csrf_token": {strings.Repeat("x", 43)}, "email": {"ada@example.com"}, "password": {goodPassword}}, ""},
		{"foreign origin", url.Values{"csrf_token": {csrfField.FindStringSubmatch(login.body)[1]}, "email": {"ada@example.com"}, "password": {goodPassword}}, "https://evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.header.Set("Origin", tc.origin)
			if tc.origin == "" {
				b.header.Del("Origin")
			}
			res := b.do(http.MethodPost, action, tc.form)
			if res.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", res.status)
			}
			if strings.Contains(res.body, "ada@example.com") || res.url == "/account" {
				t.Errorf("signed in without a valid CSRF token")
			}
		})
	}
}

// TestNoEnumeration: sign-in, registration and recovery answer the same for
// known and unknown addresses.
func TestNoEnumeration(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testNoEnumeration(t, newStackOn(t, e)) })
}

func testNoEnumeration(t *testing.T, s *stack) {
	s.createUser("known@example.com", goodPassword, true)
	type outcome struct {
		status int
		path   string
		text   string
	}
	strip := func(r response, email string) outcome {
		path := r.url
		if i := strings.Index(path, "?"); i >= 0 {
			path = path[:i]
		}
		body := strings.ReplaceAll(r.body, email, "EMAIL")
		body = regexp.MustCompile(`[0-9a-f]{24,}`).ReplaceAllString(body, "ID")
		body = regexp.MustCompile(`value="[A-Za-z0-9_-]{43}"`).ReplaceAllString(body, `value="CSRF"`)
		return outcome{r.status, path, body}
	}
	for _, tc := range []struct {
		name string
		path string
		form func(email string) map[string]string
	}{
		{"sign-in with a wrong password", "/login", func(e string) map[string]string {
			return map[string]string{"email": e, "password": "wrong-password-123"}
		}},
		{"registration", "/registration", func(e string) map[string]string {
			return map[string]string{"email": e, "password": goodPassword}
		}},
		{"recovery", "/recovery", func(e string) map[string]string { return map[string]string{"email": e} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []outcome
			// A fresh unknown address per case: registration creates its own.
			unknown := "unknown-" + strings.ReplaceAll(tc.path, "/", "") + "@example.com"
			for _, email := range []string{"known@example.com", unknown} {
				b := s.browser()
				res := b.submit(b.get(tc.path), tc.form(email))
				got = append(got, strip(res, email))
			}
			if got[0].status >= 500 {
				t.Fatalf("known email: status %d, want a normal answer", got[0].status)
			}
			if got[0] != got[1] {
				t.Errorf("known and unknown emails differ:\nknown:   %d %s\nunknown: %d %s\n--- known body\n%s\n--- unknown body\n%s",
					got[0].status, got[0].path, got[1].status, got[1].path, got[0].text, got[1].text)
			}
		})
	}
}

func TestRegistrationVerifyByCodeSignsIn(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testRegistrationVerifyByCodeSignsIn(t, newStackOn(t, e)) })
}

func testRegistrationVerifyByCodeSignsIn(t *testing.T, s *stack) {
	b := s.browser()
	reg := b.get("/registration?ui_locales=sv")
	if !strings.Contains(reg.body, `lang="sv"`) || !strings.Contains(reg.body, "Skapa konto") {
		t.Fatalf("registration with ui_locales=sv is not in Swedish")
	}
	weak := b.submit(reg, map[string]string{"email": "new@example.com", "password": "password1"})
	if weak.status != http.StatusBadRequest || !strings.Contains(weak.body, "för vanligt") {
		t.Fatalf("weak password: %d, want 400 with the Swedish too-common message", weak.status)
	}
	if !strings.Contains(weak.body, `value="new@example.com"`) {
		t.Errorf("typed email was lost after an error")
	}
	check := b.submit(weak, map[string]string{"email": "new@example.com", "password": goodPassword, "given_name": "Nova"})
	if !strings.HasPrefix(check.url, "/verification?flow=") {
		t.Fatalf("after registration at %s, want the verification page", check.url)
	}
	u, err := s.accounts.Find(context.Background(), "new@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.EmailVerified || u.Locale != "sv" || u.GivenName != "Nova" {
		t.Errorf("new user = verified %v locale %q given %q, want unverified sv Nova", u.EmailVerified, u.Locale, u.GivenName)
	}
	_, _, code, err := s.accounts.IssueVerification(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	wrong := b.submit(check, map[string]string{"code": otherCode(code)})
	if wrong.status != http.StatusBadRequest {
		t.Errorf("wrong code: status %d, want 400", wrong.status)
	}
	done := b.submit(wrong, map[string]string{"code": code, "action": "code"})
	if done.url != "/account" || !strings.Contains(done.body, "new@example.com") {
		t.Fatalf("after the right code at %s, want the account page", done.url)
	}
	if u, _ = s.accounts.Find(context.Background(), "new@example.com"); !u.EmailVerified {
		t.Errorf("email not verified after the right code")
	}
}

func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestSignInThrottles(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testSignInThrottles(t, newStackOn(t, e)) })
}

func testSignInThrottles(t *testing.T, s *stack) {
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	page := b.get("/login")
	for i := 0; i < 5; i++ {
		page = b.submit(page, map[string]string{"email": "ada@example.com", "password": "not-the-password"})
		if page.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, page.status)
		}
	}
	page = b.submit(page, map[string]string{"email": "ada@example.com", "password": "not-the-password"})
	// The sixth failure is past the allowance: the next try must wait.
	res := b.submit(b.get("/login"), map[string]string{"email": "ada@example.com", "password": goodPassword})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("after 6 failures: status %d Retry-After %q, want 429 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	*s.clock = s.clock.Add(16 * time.Minute)
	res = b.submit(b.get("/login"), map[string]string{"email": "ada@example.com", "password": goodPassword})
	if res.url != "/account" {
		t.Errorf("after the wait, sign-in led to %s (%d), want /account: no permanent lockout", res.url, res.status)
	}
}

func TestReturnToStaysOnSite(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	for _, tc := range []struct{ returnTo, want string }{
		{"/account?tab=1", "/account?tab=1"},
		{"https://evil.example/", "/account"},
		{"//evil.example/", "/account"},
		{"/\\evil.example", "/account"},
	} {
		t.Run(tc.returnTo, func(t *testing.T) {
			b := s.browser()
			page := b.get("/login?return_to=" + url.QueryEscape(tc.returnTo))
			res := b.submit(page, map[string]string{"email": "ada@example.com", "password": goodPassword})
			if res.url != tc.want {
				t.Errorf("landed on %s, want %s", res.url, tc.want)
			}
		})
	}
}

func TestPasswordReset(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testPasswordReset(t, newStackOn(t, e)) })
}

func testPasswordReset(t *testing.T, s *stack) {
	u := s.createUser("ada@example.com", goodPassword, false)
	signedIn := s.browser()
	signedIn.submit(signedIn.get("/login"), map[string]string{"email": "ada@example.com", "password": goodPassword})
	_, link, err := s.accounts.IssueReset(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	form := b.get("/reset?token=" + link)
	if form.status != http.StatusOK {
		t.Fatalf("reset form: %d", form.status)
	}
	short := b.submit(form, map[string]string{"password": "short"})
	if short.status != http.StatusBadRequest {
		t.Errorf("short password: %d, want 400", short.status)
	}
	done := b.submit(short, map[string]string{"password": "a-brand-new-passphrase-9"})
	if done.status != http.StatusOK {
		t.Fatalf("reset: %d", done.status)
	}
	if again := b.get("/reset?token=" + link); again.status != http.StatusGone {
		t.Errorf("reused link: %d, want 410", again.status)
	}
	if res := signedIn.get("/account"); !strings.HasPrefix(res.url, "/login") {
		t.Errorf("old session still signed in after a reset (at %s)", res.url)
	}
	res := b.submit(b.get("/login"), map[string]string{"email": "ada@example.com", "password": "a-brand-new-passphrase-9"})
	if res.url != "/account" {
		t.Errorf("sign-in with the new password at %s, want /account", res.url)
	}
	if u, _ := s.accounts.Find(context.Background(), "ada@example.com"); !u.EmailVerified {
		t.Errorf("a reset link proves the mailbox, so the email should be verified")
	}
}

func TestPagesAreTranslatedAndAccessible(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct{ accept, lang, title string }{
		{"fi-FI,fi;q=0.9", "fi", "Kirjaudu sisään"},
		{"sv", "sv", "Logga in"},
		{"de", "en", "Sign in"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			b := s.browser()
			b.header.Set("Accept-Language", tc.accept)
			res := b.get("/login")
			if !strings.Contains(res.body, `<html lang="`+tc.lang+`">`) || !strings.Contains(res.body, tc.title) {
				t.Errorf("Accept-Language %s: want lang=%s and %q", tc.accept, tc.lang, tc.title)
			}
			for _, id := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(res.body, -1) {
				if !strings.Contains(res.body, `<label for="`+id[1]+`">`) {
					t.Errorf("input %s has no label", id[1])
				}
			}
			if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP = %q", csp)
			}
		})
	}
	b := s.browser()
	b.header.Set("Accept-Language", "fi")
	res := b.get("/login?lang=sv")
	if !strings.Contains(res.body, `lang="sv"`) {
		t.Errorf("language switch to sv ignored")
	}
	if res := b.get("/login"); !strings.Contains(res.body, `lang="sv"`) {
		t.Errorf("language choice not remembered")
	}
}

func TestResendCodeAndVerifyFromAccount(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	check := b.submit(b.get("/registration"), map[string]string{"email": "late@example.com", "password": goodPassword})
	if !strings.HasPrefix(check.url, "/verification") {
		t.Fatalf("after registration at %s", check.url)
	}
	// The second form on the page is the resend button.
	resend := b.do(http.MethodPost, check.url, url.Values{
		"csrf_token": {csrfField.FindStringSubmatch(check.body)[1]}, "action": {"resend"},
	})
	if resend.status != http.StatusOK || !strings.Contains(resend.body, "We sent a new email") {
		t.Fatalf("resend: %d, want 200 with the notice", resend.status)
	}
	evs, err := s.store.EventsAfter(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(evs, "user.verification_requested") {
		t.Errorf("resend wrote no user.verification_requested event")
	}

	// An unverified user who signs in can ask for a new mail from the account page.
	s.createUser("unverified@example.com", goodPassword, false)
	b2 := s.browser()
	acct := b2.submit(b2.get("/login"), map[string]string{"email": "unverified@example.com", "password": goodPassword})
	if acct.url != "/account" || !strings.Contains(acct.body, "not verified") {
		t.Fatalf("account page of an unverified user at %s lacks the notice", acct.url)
	}
	v := b2.submit(acct, nil) // the first form is "Verify email"
	if !strings.HasPrefix(v.url, "/verification?flow=") || v.status != http.StatusOK {
		t.Fatalf("verify from account: %d at %s, want the verification page", v.status, v.url)
	}
}

func hasEvent(evs []events.Event, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}
