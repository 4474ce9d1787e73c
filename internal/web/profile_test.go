package web_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/federation/fedtest"
)

// TestProgressiveProfiling: a registration through a provider that did
// not send everything the deployment needs asks for only what is missing,
// and the terms, before the account exists; the terms' receipt is written
// with it.
func TestProgressiveProfiling(t *testing.T) {
	s := newStack(t)
	m := s.withUpstream(t)
	s.pages.RegistrationFields = []string{"given_name", "phone"}
	s.pages.Consents = s.consents(termsOnly("https://example.com/terms"))
	b := s.browser()
	m.QueueUser(&mockoidc.MockUser{Subject: "pp-1", Email: "pia@example.com", EmailVerified: true})
	ask := b.continueWith(b.get("/login"))
	if !strings.HasPrefix(ask.url, "/login/idp/profile?flow=") || !strings.Contains(ask.body, "Almost done") {
		t.Fatalf("after the provider: %s, want the profile step\n%s", ask.url, ask.body)
	}
	for _, want := range []string{`name="given_name"`, `name="phone"`, `name="consent_terms"`, `href="https://example.com/terms"`, "pia@example.com"} {
		if !strings.Contains(ask.body, want) {
			t.Errorf("the profile step lacks %s", want)
		}
	}
	if strings.Contains(ask.body, `name="family_name"`) {
		t.Error("the profile step asks for a field nobody needs")
	}
	if n := countUsers(t, s); n != 0 {
		t.Fatalf("%d users before the profile step was done", n)
	}
	// Another browser cannot finish it.
	if other := s.browser().get(ask.url); other.status != http.StatusGone {
		t.Errorf("the profile step in another browser = %d, want 410", other.status)
	}
	bad := b.submit(ask, map[string]string{"given_name": " ", "phone": "555-1234"})
	if bad.status != http.StatusBadRequest {
		t.Fatalf("an incomplete profile = %d", bad.status)
	}
	for _, want := range []string{"Enter your first name.", "Enter the number with the country code", "Accept this to create an account."} {
		if !strings.Contains(bad.body, want) {
			t.Errorf("the answer lacks %q", want)
		}
	}
	if n := countUsers(t, s); n != 0 {
		t.Fatalf("%d users after an incomplete profile", n)
	}
	done := b.submit(bad, map[string]string{"given_name": "Pia", "phone": "+46 70 123 45 67", "consent_terms": "1"})
	if done.url != "/account" {
		t.Fatalf("after the profile step: %s (%d)\n%s", done.url, done.status, done.body)
	}
	u, err := s.store.UserByEmail(t.Context(), "pia@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.GivenName != "Pia" || u.Phone != "+46701234567" || !u.EmailVerified {
		t.Errorf("the new user %+v", u)
	}
	evs := allEventsOf(t, s, "user:"+u.ID)
	i := slices.IndexFunc(evs, func(e events.Event) bool { return e.Type == "user.registered" })
	if i < 0 {
		t.Fatal("no user.registered")
	}
	data := evs[i].Data
	if !strings.Contains(string(data), `"source":"social:mock"`) || !strings.Contains(string(data), `"asked":["given_name","phone"]`) {
		t.Errorf("user.registered data %s", data)
	}
	expectReceipts(t, s, u.ID, "terms:1:granted:upstream_registration:checkbox")
	// The step counts once.
	if again := b.submit(bad, map[string]string{"given_name": "Pia", "phone": "+46701234567", "consent_terms": "1"}); again.status != http.StatusGone {
		t.Errorf("the profile step again = %d, want 410", again.status)
	}

	// A provider's own required field, which it did send, is not asked.
	p, _ := s.store.ProviderByID(t.Context(), "mock")
	p.RequiredFields = []string{"phone"}
	if err := s.store.PutProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	s.pages.RegistrationFields, s.pages.Consents = nil, nil
	b2 := s.browser()
	m.QueueUser(&mockoidc.MockUser{Subject: "pp-2", Email: "per@example.com", EmailVerified: true, Phone: "+358 40 123 4567"})
	if res := b2.continueWith(b2.get("/login")); res.url != "/account" {
		t.Errorf("a provider that sent the phone: %s, want no profile step", res.url)
	}
}

// TestRegistrationTerms: with terms of service, the registration form
// needs them accepted and creates nothing without.
func TestRegistrationTerms(t *testing.T) {
	s := newStack(t)
	s.pages.Consents = s.consents(termsOnly("/terms"))
	s.pages.RegistrationFields = []string{"family_name"}
	b := s.browser()
	form := b.get("/registration")
	if !strings.Contains(form.body, `href="/terms"`) || !regexp.MustCompile(`name="family_name" type="text" required`).MatchString(form.body) {
		t.Fatalf("the registration form lacks the terms or the required last name:\n%s", form.body)
	}
	bad := b.submit(form, map[string]string{"email": "reg@example.com", "password": goodPassword})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "Accept this to create an account.") || !strings.Contains(bad.body, "Enter your last name.") {
		t.Fatalf("registration without terms = %d\n%s", bad.status, bad.body)
	}
	if n := countUsers(t, s); n != 0 {
		t.Fatalf("%d users after a refused registration", n)
	}
	ok := b.submit(bad, map[string]string{"email": "reg@example.com", "password": goodPassword, "family_name": "Reg", "consent_terms": "1"})
	if ok.status != http.StatusOK || countUsers(t, s) != 1 {
		t.Fatalf("registration with terms = %d %s", ok.status, ok.url)
	}
	u, _ := s.store.UserByEmail(t.Context(), "reg@example.com")
	evs := allEventsOf(t, s, "user:"+u.ID)
	if len(evs) < 2 || evs[0].Type != "user.registered" || !strings.Contains(string(evs[0].Data), `"source":"password"`) || evs[1].Type != "consent.granted" {
		t.Errorf("user.registered and consent.granted %+v", evs)
	}
	expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox")
}

// TestFormPostAnswer: a provider that posts its answer (Apple) reaches a
// callback that, without this site's cookies (a cross-site post), has the
// browser post it again from here, which then completes the sign-in.
func TestFormPostAnswer(t *testing.T) {
	s := newStack(t)
	s.withUpstream(t)
	op := fedtest.Start(t)
	op.FormPost, op.PostUser = true, `{"name":{"firstName":"Ada","lastName":"Lovelace"}}`
	p, _ := federation.Preset("apple", "")
	p.Issuer, p.ClientID, p.SecretPlain, p.Scopes = op.Issuer(), op.Config().ClientID, op.Config().ClientSecret, []string{"openid", "email", "profile"}
	if _, err := s.pages.Federation.Create(t.Context(), p, "system:test"); err != nil {
		t.Fatal(err)
	}
	op.QueueUser(&mockoidc.MockUser{Subject: "apple-1", Email: "ada@privaterelay.example", EmailVerified: true})
	b := s.browser()
	m := regexp.MustCompile(`(?s)<form method="post" action="(/login/idp/apple)">.*?name="csrf_token" value="([^"]+)"`).FindStringSubmatch(b.get("/login").body)
	if m == nil {
		t.Fatal("no Continue with Apple")
	}
	page := b.do(http.MethodPost, m[1], url.Values{"csrf_token": {m[2]}})
	posted, ok := fedtest.ReadPosted(page.body)
	if !ok || posted.Action != s.url+"/login/idp/callback" {
		t.Fatalf("the provider's answer page: %s\n%s", page.url, page.body)
	}
	// The cross-site post carries no cookies.
	res, err := http.PostForm(posted.Action, posted.Fields)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("the cross-site post = %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	again := response{body: string(raw)}
	if !strings.Contains(again.body, "Continue signing in") || !strings.Contains(again.body, "data-autosubmit") || !strings.Contains(again.body, "/assets/autosubmit.js") {
		t.Fatalf("the page that posts again:\n%s", again.body)
	}
	// Posted again from here without the cookies: the sign-in has expired
	// (no loop).
	fields := url.Values{"again": {"1"}}
	for _, h := range hiddenRe.FindAllStringSubmatch(again.body, -1) {
		fields.Set(h[1], html.UnescapeString(h[2]))
	}
	if res, err := http.PostForm(s.url+"/login/idp/callback", fields); err != nil || res.StatusCode != http.StatusGone {
		t.Errorf("posted again without cookies = %v %v, want 410", res.StatusCode, err)
	}
	done := b.do(http.MethodPost, "/login/idp/callback", fields)
	if done.url != "/account" {
		t.Fatalf("posted again from here: %s (%d)\n%s", done.url, done.status, done.body)
	}
	u, err := s.store.UserByEmail(t.Context(), "ada@privaterelay.example")
	if err != nil || u.GivenName != "Ada" || u.FamilyName != "Lovelace" {
		t.Errorf("the new user %+v, %v: want the posted name", u, err)
	}
}
