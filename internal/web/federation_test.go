package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/federation/fedtest"
	"github.com/portvakt/portvakt/internal/session"
)

// withUpstream runs a mock OpenID provider and registers it as "mock".
// The stack's issuer becomes its real URL, so that the provider can send
// the browser back.
func (s *stack) withUpstream(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	u, _ := url.Parse(s.url)
	s.pages.Issuer = u
	s.pages.Federation = &federation.Service{Store: s.store, Cipher: s.authn.Cipher}
	cfg := m.Config()
	if _, err := s.pages.Federation.Create(t.Context(), federation.Provider{
		ID: "mock", Name: "Mock ID", Issuer: m.Issuer(), ClientID: cfg.ClientID, SecretPlain: cfg.ClientSecret,
		Scopes: []string{"openid", "email", "profile"}, TrustEmail: true,
	}, "system:test"); err != nil {
		t.Fatal(err)
	}
	return m
}

var continueRe = regexp.MustCompile(`(?s)<form method="post" action="(/login/idp/mock)">.*?name="csrf_token" value="([^"]+)"`)

// continueWith presses "Continue with Mock ID" on page.
func (b *browser) continueWith(page response) response {
	b.s.t.Helper()
	m := continueRe.FindStringSubmatch(page.body)
	if m == nil {
		b.s.t.Fatalf("no Continue with Mock ID on %s", page.url)
	}
	return b.do(http.MethodPost, m[1], url.Values{"csrf_token": {m[2]}})
}

func TestUpstreamSignIn(t *testing.T) {
	s := newStack(t)
	m := s.withUpstream(t)
	b := s.browser()

	// A new person: an account is made (just in time), signed in.
	m.QueueUser(&mockoidc.MockUser{Subject: "up-1", Email: "new@example.com", EmailVerified: true})
	login := b.get("/login")
	if !strings.Contains(login.body, "Continue with Mock ID") {
		t.Fatal("no provider button on the sign-in page")
	}
	if reg := b.get("/registration"); !strings.Contains(reg.body, "Continue with Mock ID") {
		t.Error("no provider button on the registration page")
	}
	acct := b.continueWith(login)
	if acct.url != "/account" || !strings.Contains(acct.body, "new@example.com (verified)") || !strings.Contains(acct.body, "Linked accounts") {
		t.Fatalf("after the provider: %s\n%s", acct.url, acct.body)
	}
	b.signOut()
	m.QueueUser(&mockoidc.MockUser{Subject: "up-1", Email: "new@example.com", EmailVerified: true})
	again := b.continueWith(b.get("/login"))
	if again.url != "/account" || !strings.Contains(again.body, "new@example.com") {
		t.Fatalf("signing in again: %s", again.url)
	}
	// Its only way in cannot be unlinked.
	token := csrfField.FindStringSubmatch(again.body)[1]
	if res := b.do(http.MethodPost, "/account/identities/unlink", url.Values{"csrf_token": {token}, "provider": {"mock"}, "subject": {"up-1"}}); !strings.Contains(res.body, "only way to sign in") {
		t.Errorf("unlinking the last way in: %s", res.url)
	}
	b.signOut()

	// An address that has an account: linked only after signing in to it.
	s.createUser("bob@example.com", goodPassword, true)
	m.QueueUser(&mockoidc.MockUser{Subject: "up-2", Email: "bob@example.com", EmailVerified: true})
	link := b.continueWith(b.get("/login"))
	if !strings.HasPrefix(link.url, "/login?flow=") || !strings.Contains(link.body, "You already have an account with this email address") {
		t.Fatalf("an existing address: %s, want sign-in with the notice", link.url)
	}
	if res := b.get("/account"); res.url == "/account" {
		t.Fatal("signed in to the existing account without proof")
	}
	acct = b.submit(link, map[string]string{"email": "bob@example.com", "password": goodPassword})
	if acct.url != "/account" || !strings.Contains(acct.body, "Mock ID") {
		t.Fatalf("after proving the account: %s, want it linked\n%s", acct.url, acct.body)
	}
	b.signOut()
	m.QueueUser(&mockoidc.MockUser{Subject: "up-2", Email: "bob@example.com", EmailVerified: true})
	if res := b.continueWith(b.get("/login")); res.url != "/account" || !strings.Contains(res.body, "bob@example.com") {
		t.Fatalf("the linked account signs Bob in: %s", res.url)
	}
	token = csrfField.FindStringSubmatch(b.get("/account").body)[1]
	unlinked := b.do(http.MethodPost, "/account/identities/unlink", url.Values{"csrf_token": {token}, "provider": {"mock"}, "subject": {"up-2"}})
	if !strings.Contains(unlinked.body, "The account was unlinked") || strings.Contains(unlinked.body, `value="up-2"`) {
		t.Errorf("unlinking with a password left: %s", unlinked.url)
	}
	// Linking from the account page: one's own upstream account, not
	// someone else's.
	linkForm := regexp.MustCompile(`action="(/account/identities/link/mock)"`).FindStringSubmatch(unlinked.body)
	if linkForm == nil {
		t.Fatalf("no Link a Mock ID account button:\n%s", unlinked.body)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "up-1", Email: "new@example.com", EmailVerified: true})
	if res := b.do(http.MethodPost, linkForm[1], url.Values{"csrf_token": {token}}); !strings.Contains(res.body, "already linked to another user") {
		t.Errorf("linking another user's upstream account: %s", res.url)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "up-3", Email: "bob.other@example.com", EmailVerified: true})
	if res := b.do(http.MethodPost, linkForm[1], url.Values{"csrf_token": {token}}); !strings.Contains(res.body, "The account was linked") || !strings.Contains(res.body, `value="up-3"`) {
		t.Errorf("linking from the account page: %s\n%s", res.url, res.body)
	}
	b.signOut()

	// An unverified upstream address that matches an account: no link, no
	// takeover.
	s.createUser("carol@example.com", goodPassword, true)
	m.QueueUser(&mockoidc.MockUser{Subject: "evil", Email: "carol@example.com", EmailVerified: false})
	res := b.continueWith(b.get("/login"))
	if res.url == "/account" || !strings.HasPrefix(res.url, "/login") {
		t.Fatalf("an unverified matching address led to %s", res.url)
	}
	if acct := b.get("/account"); acct.url == "/account" {
		t.Fatal("an unverified upstream address took over an account")
	}
	if ids, _ := s.store.Identities(t.Context(), userID(t, s, "carol@example.com")); len(ids) != 0 {
		t.Errorf("identities linked to Carol without proof: %+v", ids)
	}
}

func TestUpstreamFailures(t *testing.T) {
	s := newStack(t)
	m := s.withUpstream(t)
	b := s.browser()

	// A forged state: the friendly page, nothing created.
	noFollow := *b.c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	state := startUpstream(t, s, b, &noFollow)
	flowID, _, _ := strings.Cut(state, ".")
	forged := b.get("/login/idp/callback?" + url.Values{"state": {flowID + ".forged"}, "code": {"x"}}.Encode())
	if forged.status != http.StatusBadGateway || !strings.Contains(forged.body, "That sign-in did not work") {
		t.Errorf("a forged state: %d", forged.status)
	}
	// The pending sign-in is spent: the real state no longer works either.
	if again := b.get("/login/idp/callback?" + url.Values{"state": {state}, "code": {"x"}}.Encode()); again.status != http.StatusGone {
		t.Errorf("the state after a failure: %d, want 410", again.status)
	}
	// A callback in another browser (no binding cookie).
	if other := s.browser().get("/login/idp/callback?" + url.Values{"state": {state}}.Encode()); other.status != http.StatusGone {
		t.Errorf("a callback in another browser: %d, want 410", other.status)
	}
	// The provider says no (the person declined there).
	state = startUpstream(t, s, b, &noFollow)
	if res := b.get("/login/idp/callback?" + url.Values{"state": {state}, "error": {"access_denied"}}.Encode()); res.status != http.StatusBadGateway {
		t.Errorf("access_denied upstream: %d, want the friendly page", res.status)
	}
	// The provider is down: the friendly page, nothing half-made.
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	s.pages.Federation = &federation.Service{Store: s.store, Cipher: s.authn.Cipher} // no cached discovery
	down := b.continueWith(b.get("/login"))
	if down.status != http.StatusBadGateway || !strings.Contains(down.body, "Nothing was changed") {
		t.Errorf("provider down: %d", down.status)
	}
	if n := countUsers(t, s); n != 0 {
		t.Errorf("%d users made by failed sign-ins", n)
	}
}

// startUpstream presses the button without following the redirect and
// returns the state sent to the provider.
func startUpstream(t *testing.T, s *stack, b *browser, noFollow *http.Client) string {
	t.Helper()
	mf := continueRe.FindStringSubmatch(b.get("/login").body)
	req, _ := http.NewRequest(http.MethodPost, s.url+mf[1], strings.NewReader(url.Values{"csrf_token": {mf[2]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	to, err := res.Location()
	if err != nil || to.Query().Get("nonce") == "" || to.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("the redirect to the provider %v lacks a nonce or PKCE (%v)", to, err)
	}
	return to.Query().Get("state")
}

func countUsers(t *testing.T, s *stack) int {
	t.Helper()
	us, err := s.store.ListUsers(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(us)
}

// eidProvider runs a mock OP whose ID tokens carry acr, birthdate and a
// national identity number (added at its token endpoint and re-signed
// with its own key), registered as an identity-proofing provider.
func (s *stack) eidProvider(t *testing.T, id, nationalID string) *fedtest.OP {
	t.Helper()
	m := fedtest.Start(t)
	m.Tamper = func(c jwt.MapClaims) {
		c["acr"], c["birthdate"], c["national_id"] = "urn:mock:loa:substantial", "1990-01-31", nationalID
		c["given_name"], c["family_name"] = "Ada", "Lovelace"
	}
	cfg := m.Config()
	if _, err := s.pages.Federation.Create(t.Context(), federation.Provider{
		ID: id, Name: "eID " + id, Issuer: m.Issuer(), ClientID: cfg.ClientID, SecretPlain: cfg.ClientSecret,
		Scopes: []string{"openid", "email", "profile"}, TrustEmail: true, Proofing: true,
		ACRMap: map[string]string{"urn:mock:loa:substantial": authn.LoASubstantial},
	}, "system:test"); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEIDBroker: an identity-proofing provider lifts the session to the
// level its acr maps to, keeps the proofed attributes sealed, and finds
// the same person again by their national identity number, through
// another eID broker too.
func TestEIDBroker(t *testing.T) {
	s := newStack(t)
	s.withUpstream(t)
	s.pages.Federation.NationalIDKey = [32]byte{7}
	bank := s.eidProvider(t, "bank", "19900131-1234")
	b := s.browser()
	bank.QueueUser(&mockoidc.MockUser{Subject: "bank-1", Email: "ada@example.com", EmailVerified: true})
	login := b.get("/login")
	form := regexp.MustCompile(`(?s)<form method="post" action="(/login/idp/bank)">.*?name="csrf_token" value="([^"]+)"`).FindStringSubmatch(login.body)
	if form == nil {
		t.Fatal("no Continue with eID bank")
	}
	acct := b.do(http.MethodPost, form[1], url.Values{"csrf_token": {form[2]}})
	if acct.url != "/account" {
		t.Fatalf("eID sign-in led to %s (%d)\n%s", acct.url, acct.status, acct.body)
	}
	u, err := s.store.UserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionOf(t, s, b); got.ACR != authn.LoASubstantial || !slices.Contains(got.Methods, "eid") {
		t.Errorf("session acr %q methods %v, want substantial from the eID, with eid", got.ACR, got.Methods)
	}
	types := eventTypes(t, s, "user:"+u.ID)
	if !slices.Contains(types, "identity.proofed") {
		t.Errorf("events %v, want identity.proofed", types)
	}
	for _, ev := range allEventsOf(t, s, "user:"+u.ID) {
		if strings.Contains(string(ev.Data), "19900131") {
			t.Errorf("the national identity number is in event %s", ev.Type)
		}
		if ev.Type == "user.registered" && !strings.Contains(string(ev.Data), `"eid:bank"`) {
			t.Errorf("registration source %s, want eid:bank", ev.Data)
		}
	}
	b.signOut()

	// Another broker, another subject and address, the same national
	// identity number: the same person.
	other := s.eidProvider(t, "telco", "19900131-1234")
	other.QueueUser(&mockoidc.MockUser{Subject: "telco-9", Email: "ada.other@example.com", EmailVerified: true})
	login = b.get("/login")
	form = regexp.MustCompile(`(?s)<form method="post" action="(/login/idp/telco)">.*?name="csrf_token" value="([^"]+)"`).FindStringSubmatch(login.body)
	again := b.do(http.MethodPost, form[1], url.Values{"csrf_token": {form[2]}})
	if again.url != "/account" || !strings.Contains(again.body, "ada@example.com") || !strings.Contains(again.body, "eID telco") {
		t.Fatalf("the second broker: %s, want Ada's account with both linked", again.url)
	}
	if n := countUsers(t, s); n != 1 {
		t.Errorf("%d users, want one person", n)
	}
}

func sessionOf(t *testing.T, s *stack, b *browser) session.Session {
	t.Helper()
	u, _ := url.Parse(s.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "portvakt_session" {
			ss, err := s.store.SessionByHash(t.Context(), session.Hash(c.Value))
			if err != nil {
				t.Fatal(err)
			}
			return ss
		}
	}
	t.Fatal("no session cookie")
	return session.Session{}
}

func allEventsOf(t *testing.T, s *stack, subject string) []events.Event {
	t.Helper()
	evs, err := s.store.EventsAfter(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for _, ev := range evs {
		if ev.Subject == subject {
			out = append(out, ev)
		}
	}
	return out
}

func eventTypes(t *testing.T, s *stack, subject string) []string {
	var out []string
	for _, ev := range allEventsOf(t, s, subject) {
		out = append(out, ev.Type)
	}
	return out
}
