package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/storetest"
)

var (
	secretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryRe = regexp.MustCompile(`<li><code>([a-z2-9]{6}-[a-z2-9]{6})</code></li>`)
)

// code is the authenticator app's code for secret at the stack's time,
// moved by d.
func (s *stack) code(secret string, d time.Duration) string {
	s.t.Helper()
	c, err := totp.GenerateCode(secret, s.clock.Add(d))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *stack) advance(d time.Duration) { *s.clock = s.clock.Add(d) }

// signIn signs b in with the password and returns the page it lands on.
func (b *browser) signIn(email string) response {
	b.s.t.Helper()
	return b.submit(b.get("/login"), map[string]string{"email": email, "password": goodPassword})
}

// enrolTOTP sets up an authenticator app for the signed-in b and returns
// its secret and the recovery codes shown.
func (b *browser) enrolTOTP() (string, []string) {
	b.s.t.Helper()
	page := b.get("/account/totp")
	m := secretRe.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil || !strings.Contains(page.body, `src="data:image/png;base64,`) {
		b.s.t.Fatalf("set-up page %d %s has no QR code and key:\n%s", page.status, page.url, page.body)
	}
	wrong := b.submit(page, map[string]string{"code": "000000", "name": "Phone"})
	if wrong.status != http.StatusUnprocessableEntity || !strings.Contains(wrong.body, `aria-invalid="true"`) || secretRe.FindStringSubmatch(wrong.body)[1] != m[1] {
		b.s.t.Fatalf("a wrong first code: %d, want 422 with the same key and the field marked", wrong.status)
	}
	done := b.submit(wrong, map[string]string{"code": b.s.code(m[1], 0), "name": "Phone"})
	var codes []string
	for _, c := range recoveryRe.FindAllStringSubmatch(done.body, -1) {
		codes = append(codes, c[1])
	}
	if done.status != http.StatusOK || len(codes) != 10 || done.header.Get("Cache-Control") != "no-store" {
		b.s.t.Fatalf("after set-up: %d %s with %d recovery codes (Cache-Control %q), want 10, not cached", done.status, done.url, len(codes), done.header.Get("Cache-Control"))
	}
	return m[1], codes
}

func (b *browser) signOut() {
	b.s.t.Helper()
	acct := b.get("/account")
	m := csrfField.FindStringSubmatch(acct.body)
	if m == nil {
		b.s.t.Fatalf("no CSRF token on %s", acct.url)
	}
	if out := b.do(http.MethodPost, "/logout", url.Values{"csrf_token": {m[1]}}); out.url != "/logged-out" {
		b.s.t.Fatalf("sign-out ended at %s", out.url)
	}
}

func TestTwoStepSignIn(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) { testTwoStepSignIn(t, newStackOn(t, e)) })
}

func testTwoStepSignIn(t *testing.T, s *stack) {
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	if acct := b.signIn("ada@example.com"); acct.url != "/account" || !strings.Contains(acct.body, "Two-step verification is off") {
		t.Fatalf("before set-up: %s, want the account page saying it is off", acct.url)
	}
	secret, codes := b.enrolTOTP()
	if acct := b.get("/account"); !strings.Contains(acct.body, "Two-step verification is on with Phone") || !strings.Contains(acct.body, "Recovery codes left: 10") {
		t.Errorf("account page after set-up does not say it is on:\n%s", acct.body)
	}
	b.signOut()

	// The password alone no longer signs in.
	s.advance(time.Minute)
	step := b.signIn("ada@example.com")
	if step.status != http.StatusOK || !strings.HasPrefix(step.url, "/login/second-factor?flow=") {
		t.Fatalf("after the password: %d %s, want the second step", step.status, step.url)
	}
	if acct := b.get("/account"); acct.url == "/account" {
		t.Fatal("the account page opened between the password and the code")
	}
	step = b.get(step.url)
	wrong := b.submit(step, map[string]string{"code": "123456"})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, "That code is wrong") {
		t.Errorf("a wrong code: %d, want 401 with a message", wrong.status)
	}
	good := s.code(secret, 0)
	if acct := b.submit(wrong, map[string]string{"code": good}); acct.url != "/account" {
		t.Fatalf("the right code led to %s, want /account", acct.url)
	}
	b.signOut()

	// The same code twice is refused, even within its 30 seconds.
	step = b.signIn("ada@example.com")
	if res := b.submit(step, map[string]string{"code": good}); res.status != http.StatusUnauthorized {
		t.Errorf("a replayed code: %d %s, want 401", res.status, res.url)
	}
	s.advance(30 * time.Second)
	if acct := b.submit(step, map[string]string{"code": s.code(secret, 0)}); acct.url != "/account" {
		t.Fatalf("the next code led to %s", acct.url)
	}
	b.signOut()

	// A recovery code works once.
	step = b.signIn("ada@example.com")
	rec := b.get(step.url + "&method=recovery")
	if !strings.Contains(rec.body, `name="method" value="recovery"`) {
		t.Fatalf("the recovery code page has no recovery form:\n%s", rec.body)
	}
	if acct := b.submit(rec, map[string]string{"code": strings.ToUpper(codes[3])}); acct.url != "/account" || !strings.Contains(acct.body, "Recovery codes left: 9") {
		t.Fatalf("a recovery code led to %s", acct.url)
	}
	b.signOut()
	step = b.signIn("ada@example.com")
	rec = b.get(step.url + "&method=recovery")
	if res := b.submit(rec, map[string]string{"code": codes[3]}); res.status != http.StatusUnauthorized || !strings.Contains(res.body, "already been used") {
		t.Errorf("a used recovery code: %d, want 401", res.status)
	}
}

// TestSecondStepBoundToBrowser: the second step's URL is worthless in
// another browser, even one with its own CSRF token.
func TestSecondStepBoundToBrowser(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	a := s.browser()
	a.signIn("ada@example.com")
	secret, _ := a.enrolTOTP()
	a.signOut()
	s.advance(time.Minute)
	step := a.signIn("ada@example.com")

	thief := s.browser()
	if res := thief.get(step.url); res.status != http.StatusGone {
		t.Errorf("another browser opening the second step: %d, want 410", res.status)
	}
	login := thief.get("/login") // a CSRF token of its own
	token := csrfField.FindStringSubmatch(login.body)[1]
	res := thief.do(http.MethodPost, step.url, url.Values{"csrf_token": {token}, "code": {s.code(secret, 0)}})
	if res.status != http.StatusGone || res.url == "/account" {
		t.Errorf("another browser posting the code: %d %s, want 410", res.status, res.url)
	}
	// The browser that gave the password still can.
	if acct := a.submit(a.get(step.url), map[string]string{"code": s.code(secret, 0)}); acct.url != "/account" {
		t.Errorf("the right browser ended at %s", acct.url)
	}
}

// TestSecondStepAttempts: five wrong codes end the sign-in; the throttle
// then slows guessing down per account.
func TestSecondStepAttempts(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	secret, _ := b.enrolTOTP()
	b.signOut()
	s.advance(time.Minute)
	step := b.get(b.signIn("ada@example.com").url)
	var res response
	for i := range 5 {
		res = b.submit(step, map[string]string{"code": "000000"})
		if i < 4 && res.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i+1, res.status)
		}
	}
	if !strings.Contains(res.body, "Too many wrong codes") {
		t.Fatalf("after five wrong codes: %d\n%s", res.status, res.body)
	}
	if again := b.submit(step, map[string]string{"code": s.code(secret, 0)}); again.url == "/account" {
		t.Error("the right code was accepted after the sign-in ended")
	}
	// A new sign-in: the account's throttle now asks to wait.
	step = b.get(b.signIn("ada@example.com").url)
	if res := b.submit(step, map[string]string{"code": s.code(secret, 0)}); res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("a code after five wrong ones: %d, want 429 with Retry-After", res.status)
	}
}

// TestFactorChangesNeedRecentSignIn: setting up or removing a factor in a
// session older than 15 minutes asks for the password again; the forms
// need the CSRF token.
func TestFactorChangesNeedRecentSignIn(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	s.advance(16 * time.Minute)
	if res := b.get("/account/totp"); !strings.HasPrefix(res.url, "/login?flow=") || !strings.Contains(res.body, `value="ada@example.com"`) {
		t.Fatalf("set-up in an old session led to %s, want sign-in with the email filled in", res.url)
	}
	if acct := b.submit(b.get("/account/totp"), map[string]string{"email": "ada@example.com", "password": goodPassword}); acct.url != "/account/totp" {
		t.Fatalf("after signing in again: %s, want back at the set-up", acct.url)
	}
	b.enrolTOTP()
	acct := b.get("/account")
	for _, path := range []string{"/account/totp/remove", "/account/recovery-codes"} {
		if res := b.do(http.MethodPost, path, url.Values{"csrf_token": {"forged"}}); res.status != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", path, res.status)
		}
	}
	token := csrfField.FindStringSubmatch(acct.body)[1]
	s.advance(16 * time.Minute)
	if res := b.do(http.MethodPost, "/account/totp/remove", url.Values{"csrf_token": {token}}); !strings.HasPrefix(res.url, "/login") {
		t.Fatalf("removal in an old session led to %s, want sign-in", res.url)
	}
}

func TestRemoveTOTP(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	_, codes := b.enrolTOTP()
	token := csrfField.FindStringSubmatch(b.get("/account").body)[1]
	regen := b.do(http.MethodPost, "/account/recovery-codes", url.Values{"csrf_token": {token}})
	if fresh := recoveryRe.FindAllStringSubmatch(regen.body, -1); len(fresh) != 10 || fresh[0][1] == codes[0] {
		t.Fatalf("new recovery codes: %d shown", len(fresh))
	}
	res := b.do(http.MethodPost, "/account/totp/remove", url.Values{"csrf_token": {token}})
	if res.url != "/account?done=totp_removed" || !strings.Contains(res.body, "Two-step verification is off") {
		t.Fatalf("after removal: %s", res.url)
	}
	b.signOut()
	if acct := b.signIn("ada@example.com"); acct.url != "/account" {
		t.Errorf("sign-in after removal led to %s, want /account straight away", acct.url)
	}
}

// TestPolicyRequired: a person without a second factor is guided to set
// one up at sign-in, cannot skip it by opening the account page, and goes
// on where they were headed once it is set up.
func TestPolicyRequired(t *testing.T) {
	s := newStack(t)
	s.authn.Policy = authn.PolicyRequired
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	setup := b.signIn("ada@example.com")
	if !strings.HasPrefix(setup.url, "/account/mfa?") || !strings.Contains(setup.body, "This service requires two-step verification") {
		t.Fatalf("sign-in without a factor led to %s, want the set-up page saying it is required", setup.url)
	}
	if res := b.get("/account"); !strings.HasPrefix(res.url, "/account/mfa?") {
		t.Errorf("the account page opened without a factor: %s", res.url)
	}
	m := regexp.MustCompile(`href="(/account/totp\?[^"]+)"`).FindStringSubmatch(setup.body)
	if m == nil {
		t.Fatalf("no authenticator app choice on the set-up page:\n%s", setup.body)
	}
	page := b.get(htmlUnescape(m[1]))
	secret := secretRe.FindStringSubmatch(page.body)[1]
	codes := b.submit(page, map[string]string{"code": s.code(secret, 0)})
	cont := regexp.MustCompile(`<a class="button" href="([^"]+)">`).FindStringSubmatch(codes.body)
	if cont == nil || htmlUnescape(cont[1]) != "/account" {
		t.Fatalf("the recovery codes page continues to %v, want /account", cont)
	}
	if acct := b.get("/account"); acct.url != "/account" {
		t.Errorf("after set-up the account page is at %s", acct.url)
	}
}

// TestPolicyOff: no second factor is offered or asked for, even one set up
// before the policy changed.
func TestPolicyOff(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	b.enrolTOTP()
	b.signOut()
	s.authn.Policy = authn.PolicyOff
	s.advance(time.Minute)
	acct := b.signIn("ada@example.com")
	if acct.url != "/account" {
		t.Fatalf("sign-in under off led to %s, want /account without a second step", acct.url)
	}
	if strings.Contains(acct.body, "/account/totp") {
		t.Error("the account page offers an authenticator app under off")
	}
	if res := b.get("/account/totp"); res.url != "/account" {
		t.Errorf("the set-up page under off: %s, want /account", res.url)
	}
}
