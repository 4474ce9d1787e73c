package oidc_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// consentFlow is a third-party client's authorization request in a browser.
type consentFlow struct {
	s    *stack
	b    *browser
	conf *oauth2.Config
	v    string
}

func newConsentFlow(t *testing.T, s *stack, b *browser, scopes ...string) *consentFlow {
	t.Helper()
	return &consentFlow{s: s, b: b, conf: s.clientConfig(context.Background(), thirdParty, thirdPartySecret, "/photos", scopes...), v: oauth2.GenerateVerifier()}
}

// start sends the browser to the authorization endpoint with extra
// parameters. The pages are in English unless ui_locales says otherwise
// (Ada's own language is Swedish).
func (f *consentFlow) start(state string, params ...string) stop {
	f.s.t.Helper()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.v), oauth2.SetAuthURLParam("ui_locales", "en")}
	for i := 0; i+1 < len(params); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
	}
	return f.b.open(f.conf.AuthCodeURL(state, opts...))
}

// exchange redeems the code in a redirect to the client.
func (f *consentFlow) exchange(to *url.URL) (*oauth2.Token, error) {
	return f.conf.Exchange(context.Background(), to.Query().Get("code"), oauth2.VerifierOption(f.v))
}

func isConsentPage(p stop) bool {
	return p.status == http.StatusOK && p.url.Path == "/authorize/consent"
}

// TestConsent covers consent for a third-party client: the page after
// sign-in, allow and deny, the remembered answer, prompt=consent and
// prompt=none.
func TestConsent(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		b := s.browser()
		f := newConsentFlow(t, s, b, "openid", "email", "portvakt:photos:read")

		// Sign-in, then the consent page with the client's name and what it
		// asks for, in sentences.
		page := b.signIn(f.start("s1"))
		if !isConsentPage(page) {
			t.Fatalf("after sign-in: %d at %s (to %v), want the consent page", page.status, page.url, page.to)
		}
		checkPage(t, page, "en", thirdPartyName+" is asking for access to your account")
		for _, want := range []string{"Know who you are when you sign in", "See your email address", "Use the permission “portvakt:photos:read”", "ada@example.com"} {
			if !strings.Contains(page.body, html.EscapeString(want)) {
				t.Errorf("consent page lacks %q:\n%s", want, page.body)
			}
		}
		if strings.Contains(page.body, "See your name") {
			t.Errorf("consent page lists a scope that was not asked for")
		}

		// Allow: the code comes, with state and iss, and the answer is kept.
		cb := b.submit(page, url.Values{"decision": {"allow"}})
		if cb.to == nil || cb.to.Query().Get("code") == "" || cb.to.Query().Get("state") != "s1" || cb.to.Query().Get("iss") != s.url {
			t.Fatalf("after allow: %d %v, want a code with state s1 and iss", cb.status, cb.to)
		}
		tok, err := f.exchange(cb.to)
		if err != nil {
			t.Fatalf("exchange after consent: %v", err)
		}
		u, err := s.accounts.Find(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.store.ConsentFor(ctx, u.ID, thirdParty)
		if err != nil || !slices.Equal(c.Scopes, []string{"openid", "email", "portvakt:photos:read"}) {
			t.Errorf("stored consent = %+v, %v, want the requested scopes", c, err)
		}
		if m := userinfoClaims(t, s, tok, "get"); m["email"] != "ada@example.com" {
			t.Errorf("userinfo after consent = %v", m)
		}

		// The answer is remembered: no page for the same or fewer scopes.
		fewer := newConsentFlow(t, s, b, "openid", "email")
		if cb := fewer.start("s2"); cb.to == nil || cb.to.Query().Get("code") == "" {
			t.Errorf("with consent given: %d at %s, want a code straight away", cb.status, cb.url)
		}
		// prompt=none is answered with a code too.
		if cb := f.start("s3", "prompt", "none"); cb.to == nil || cb.to.Query().Get("code") == "" || cb.to.Query().Get("state") != "s3" {
			t.Errorf("prompt=none with consent given: %d at %s (to %v), want a code", cb.status, cb.url, cb.to)
		}
		// prompt=consent always asks.
		if p := f.start("s4", "prompt", "consent"); !isConsentPage(p) {
			t.Errorf("prompt=consent: %d at %s (to %v), want the consent page", p.status, p.url, p.to)
		}

		// More scopes than allowed: asked again, and then both are kept.
		more := newConsentFlow(t, s, b, "openid", "profile")
		if cb := more.start("s5", "prompt", "none"); cb.to == nil || cb.to.Query().Get("error") != "consent_required" ||
			cb.to.Query().Get("state") != "s5" || cb.to.Query().Get("iss") != s.url || cb.to.Query().Get("code") != "" {
			t.Errorf("prompt=none asking for more: %d %v, want error=consent_required with state and iss", cb.status, cb.to)
		}
		page = more.start("s6")
		if !isConsentPage(page) || !strings.Contains(page.body, "See your name and language") {
			t.Fatalf("asking for more: %d at %s, want the consent page for profile", page.status, page.url)
		}
		if cb := b.submit(page, url.Values{"decision": {"allow"}}); cb.to == nil || cb.to.Query().Get("code") == "" {
			t.Fatalf("allow for more: %d %v", cb.status, cb.to)
		}
		c, _ = s.store.ConsentFor(ctx, u.ID, thirdParty)
		for _, sc := range []string{"openid", "email", "portvakt:photos:read", "profile"} {
			if !slices.Contains(c.Scopes, sc) {
				t.Errorf("consent after the second allow = %v, want %s kept", c.Scopes, sc)
			}
		}
	})
}

// TestConsentDenied: deny sends access_denied to the client (with state and
// iss, RFC 9207) and ends the request; nothing is remembered.
func TestConsentDenied(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b := s.browser()
	f := newConsentFlow(t, s, b, "openid", "email")
	page := b.signIn(f.start("d1"))
	if !isConsentPage(page) {
		t.Fatalf("after sign-in: %d at %s, want the consent page", page.status, page.url)
	}
	cb := b.submit(page, url.Values{"decision": {"deny"}})
	if cb.to == nil {
		t.Fatalf("deny: %d at %s, want a redirect to the client", cb.status, cb.url)
	}
	q := cb.to.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "d1" || q.Get("iss") != s.url || q.Get("code") != "" ||
		!strings.HasPrefix(cb.to.String(), s.rp.URL+"/photos?") {
		t.Errorf("deny: redirect %s, want %s/photos with error=access_denied, state and iss", cb.to, s.rp.URL)
	}
	// Going back and allowing the same request does not work.
	again := b.submit(page, url.Values{"decision": {"allow"}})
	if again.to != nil || again.status != http.StatusBadRequest {
		t.Errorf("allow after deny: %d (to %v), want the expired-request page", again.status, again.to)
	}
	checkPage(t, again, "en", "This sign-in request has expired")
	u, _ := s.accounts.Find(context.Background(), "ada@example.com")
	if _, err := s.store.ConsentFor(context.Background(), u.ID, thirdParty); !errors.Is(err, oidc.ErrNotFound) {
		t.Errorf("consent after deny: %v, want none", err)
	}
	// And the next request asks again.
	if p := f.start("d2"); !isConsentPage(p) {
		t.Errorf("after deny: %d at %s, want the consent page again", p.status, p.url)
	}
}

// TestConsentPageLanguages: the page speaks the client's ui_locales.
func TestConsentPageLanguages(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b := s.browser()
	f := newConsentFlow(t, s, b, "openid", "email", "offline_access")
	b.signIn(f.start("x"))
	for _, tc := range []struct{ lang, h1, scope, allow string }{
		{"sv", thirdPartyName + " ber om åtkomst till ditt konto", "Se din e-postadress", "Tillåt"},
		{"fi", "Sovellus " + thirdPartyName + " pyytää pääsyä tiliisi", "Nähdä sähköpostiosoitteesi", "Salli"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			p := f.start("x", "ui_locales", tc.lang, "prompt", "consent")
			if !isConsentPage(p) {
				t.Fatalf("%d at %s, want the consent page", p.status, p.url)
			}
			checkPage(t, p, tc.lang, tc.h1)
			for _, want := range []string{tc.scope, ">" + tc.allow + "</button>"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s page lacks %q", tc.lang, want)
				}
			}
			if strings.Contains(p.body, "See your") || strings.Contains(p.body, ">Allow<") {
				t.Errorf("English on the %s consent page", tc.lang)
			}
		})
	}
	t.Run("the person's own language", func(t *testing.T) {
		conf := s.clientConfig(context.Background(), thirdParty, thirdPartySecret, "/photos", "openid")
		p := b.open(conf.AuthCodeURL("x", oauth2.S256ChallengeOption(f.v), oauth2.SetAuthURLParam("prompt", "consent")))
		if !isConsentPage(p) {
			t.Fatalf("%d at %s, want the consent page", p.status, p.url)
		}
		checkPage(t, p, "sv", thirdPartyName+" ber om åtkomst till ditt konto")
	})
}

// TestConsentPostNeedsCSRFAndSession: the answer counts only from the
// page itself, and only for the signed-in person.
func TestConsentPostNeedsCSRFAndSession(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b := s.browser()
	f := newConsentFlow(t, s, b, "openid")
	page := b.signIn(f.start("c1"))
	if !isConsentPage(page) {
		t.Fatalf("after sign-in: %d at %s, want the consent page", page.status, page.url)
	}
	action := html.UnescapeString(actionRe.FindStringSubmatch(page.body)[1])
	forged := b.post(action, url.Values{"decision": {"allow"}, "csrf_token": {strings.Repeat("x", 43)}})
	if forged.status != http.StatusForbidden || forged.to != nil {
		t.Errorf("allow without the CSRF token: %d (to %v), want 403", forged.status, forged.to)
	}
	// Another browser, not signed in, cannot answer (it has its own CSRF
	// cookie, but no session): it is sent to sign in.
	other := s.browser()
	login := other.open("/login") // for a CSRF cookie and its token
	m := csrfRe.FindStringSubmatch(login.body)
	res := other.post(action, url.Values{"decision": {"allow"}, "csrf_token": {m[1]}})
	if res.to != nil || !strings.HasPrefix(res.url.Path, "/login") {
		t.Errorf("allow from a browser without a session: %d at %s (to %v), want the sign-in page", res.status, res.url, res.to)
	}
	// The real answer still works.
	if cb := b.submit(page, url.Values{"decision": {"allow"}}); cb.to == nil || cb.to.Query().Get("code") == "" {
		t.Errorf("allow: %d %v, want a code", cb.status, cb.to)
	}
}

// TestFirstPartySkipsConsent: first-party clients are never asked, even
// with prompt=consent.
func TestFirstPartySkipsConsent(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	conf, _ := s.oauth2Config(context.Background(), "email")
	cb := s.browser().authorize(conf.AuthCodeURL("f", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")), true)
	if cb.Query().Get("code") == "" {
		t.Errorf("first-party client with prompt=consent: %s, want a code without a consent page", cb)
	}
}

// TestConsentNamesVerifiedAttributes: a third-party client registered for
// verified attributes says so on the consent page, and a client later
// registered for more asks again.
func TestConsentNamesVerifiedAttributes(t *testing.T) {
	var clients testClients
	s := newStack(t, storetest.SQLite(), func(cfg *oidc.Config) { clients = cfg.Clients.(testClients) })
	register := func(names ...string) {
		e := clients[thirdParty]
		e.c.ReleaseVerified = names
		clients[thirdParty] = e
	}
	register("birthdate")
	b := s.browser()
	f := newConsentFlow(t, s, b, "openid", "email")
	page := b.signIn(f.start("v1"))
	if !isConsentPage(page) || !strings.Contains(page.body, "See your date of birth, as verified by an e-identification") {
		t.Fatalf("the consent page (%d at %s) does not name the verified birth date:\n%s", page.status, page.url, page.body)
	}
	if cb := b.submit(page, url.Values{"decision": {"allow"}}); cb.to == nil || cb.to.Query().Get("code") == "" {
		t.Fatalf("after allow: %d %v", cb.status, cb.to)
	}
	u, err := s.accounts.Find(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.store.ConsentFor(context.Background(), u.ID, thirdParty)
	if err != nil || !slices.Contains(c.Scopes, "verified:birthdate") {
		t.Errorf("stored consent = %+v, %v, want verified:birthdate in it", c, err)
	}
	if cb := f.start("v2"); cb.to == nil || cb.to.Query().Get("code") == "" {
		t.Errorf("with consent given: %d at %s, want a code straight away", cb.status, cb.url)
	}
	register("birthdate", "national_id")
	if p := f.start("v3"); !isConsentPage(p) || !strings.Contains(p.body, "See your national identity number") {
		t.Errorf("registered for more: %d at %s, want the consent page naming the number", p.status, p.url)
	}
}

// TestConsentNamesConsentsClaim: a third-party client registered for the
// consents claim says so on the consent page, and one registered for it
// after the person allowed it asks again.
func TestConsentNamesConsentsClaim(t *testing.T) {
	var clients testClients
	s := newStack(t, storetest.SQLite(), func(cfg *oidc.Config) { clients = cfg.Clients.(testClients) })
	b := s.browser()
	f := newConsentFlow(t, s, b, "openid", "email")
	page := b.signIn(f.start("c1"))
	if !isConsentPage(page) || strings.Contains(page.body, "Your privacy choices") {
		t.Fatalf("the consent page of a client not registered for the claim:\n%s", page.body)
	}
	if cb := b.submit(page, url.Values{"decision": {"allow"}}); cb.to == nil || cb.to.Query().Get("code") == "" {
		t.Fatalf("after allow: %d %v", cb.status, cb.to)
	}
	e := clients[thirdParty]
	e.c.ReleaseConsents = true
	clients[thirdParty] = e
	if p := f.start("c2"); !isConsentPage(p) || !strings.Contains(p.body, "Your privacy choices (which consents you have given)") {
		t.Errorf("registered for the consents claim: %d at %s, want the consent page naming it", p.status, p.url)
	}
}
