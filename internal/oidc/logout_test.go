package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/storetest"
)

// These tests are named after the OpenID Foundation's RP-Initiated Logout
// certification modules (oidcc-rp-initiated-logout-*), plus what OpenID
// Connect RP-Initiated Logout 1.0 asks beyond them.

// signedInAt signs a new browser in through the webapp's code flow and
// returns it with the ID token and the tokens.
func signedInAt(t *testing.T, s *stack) (*browser, string, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx, "offline_access")
	v := oauth2.GenerateVerifier()
	b := s.browser()
	cb := b.authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return b, tok.Extra("id_token").(string), tok
}

// endSession sends the browser to the end_session endpoint.
func (b *browser) endSession(params url.Values) stop {
	b.s.t.Helper()
	return b.open("/end_session?" + params.Encode())
}

// isSignedIn reports whether the browser has a session at the provider.
func (b *browser) isSignedIn() bool {
	b.s.t.Helper()
	p := b.open("/account")
	return p.status == http.StatusOK && p.url.Path == "/account"
}

func isSignOutPage(p stop) bool {
	return p.status == http.StatusOK && p.url.Path == "/end_session" && strings.Contains(p.body, `action="/end_session/confirm"`)
}

func isSignedOutPage(p stop) bool {
	return p.status == http.StatusOK && p.url.Path == "/logged-out" && p.to == nil
}

// signIDToken signs claims as an ID token with key under kid.
func signIDToken(t *testing.T, key any, kid string, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// accountsNewUser is another verified person.
func accountsNewUser(email string) accounts.NewUser {
	return accounts.NewUser{Email: email, Password: goodPassword, GivenName: "Grace", Verified: true}
}

// tamper changes one character in the middle of a JWT's signature.
func tamper(jwt string) string {
	i := strings.LastIndex(jwt, ".") + 10
	c := byte('A')
	if jwt[i] == 'A' {
		c = 'B'
	}
	return jwt[:i] + string(c) + jwt[i+1:]
}

func TestOIDCCRPInitiatedLogout(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		b, hint, tok := signedInAt(t, s)
		p := b.endSession(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}, "state": {"xyz"}})
		if p.to == nil || p.to.String() != s.rp.URL+"/logged-out?state=xyz" {
			t.Fatalf("end_session: %d at %s (to %v), want a redirect to %s/logged-out?state=xyz", p.status, p.url, p.to, s.rp.URL)
		}
		if b.isSignedIn() {
			t.Error("still signed in after end_session")
		}
		// The session's end is recorded; nothing else is revoked.
		u, _ := s.accounts.Find(ctx, "ada@example.com")
		evs, err := s.store.EventsFor(ctx, "user:"+u.ID, 20)
		if err != nil {
			t.Fatal(err)
		}
		var ended bool
		for _, ev := range evs {
			if ev.Type == "session.ended" {
				var data map[string]any
				_ = json.Unmarshal(ev.Data, &data)
				ended = data["client_id"] == clientID
			}
		}
		if !ended {
			t.Errorf("no session.ended event naming the client among %v", evs)
		}
		conf, _ := s.oauth2Config(ctx)
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Errorf("refresh after RP-initiated logout: %v; end_session ends the browser's session only", err)
		}
	})
}

// TestOIDCCRPInitiatedLogoutModules runs the variants of the logout
// certification modules, each in a freshly signed-in browser.
func TestOIDCCRPInitiatedLogoutModules(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	back := s.rp.URL + "/logged-out"
	u, _ := s.accounts.Find(ctx, "ada@example.com")
	expired := func() string {
		past := time.Now().Add(-2 * time.Hour).Unix()
		return signIDToken(t, s.keys.rsa.key, s.keys.rsa.id, map[string]any{
			"iss": s.url, "sub": u.ID, "aud": []string{clientID}, "azp": clientID, "exp": past + 600, "iat": past, "auth_time": past,
		})
	}
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := s.accounts.Create(ctx, accountsNewUser("grace@example.com"), "system:test")

	for _, tc := range []struct {
		module string
		params func(hint string) url.Values
		// ask: the person is asked first; then, after yes:
		ask bool
		// to is where the browser goes in the end ("" is the signed-out page).
		to string
	}{
		{"oidcc-rp-initiated-logout-no-state", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {back}}
		}, false, back},
		{"oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {back + "?from=portvakt"}, "state": {"a b&c"}}
		}, false, back + "?from=portvakt&state=a+b%26c"},
		{"oidcc-rp-initiated-logout-no-post-logout-redirect-uri", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}}
		}, false, ""},
		{"oidcc-rp-initiated-logout-only-state", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "state": {"xyz"}}
		}, false, ""},
		{"oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {s.rp.URL + "/evil"}, "state": {"xyz"}}
		}, false, ""},
		{"post_logout_redirect_uri of another client", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {s.rp.URL + "/photos-logged-out"}}
		}, false, ""},
		{"post_logout_redirect_uri not exactly as registered", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {back + "/"}}
		}, false, ""},
		{"matching client_id", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "client_id": {clientID}, "post_logout_redirect_uri": {back}, "state": {"s"}}
		}, false, back + "?state=s"},
		{"expired id_token_hint is accepted", func(string) url.Values {
			return url.Values{"id_token_hint": {expired()}, "post_logout_redirect_uri": {back}, "state": {"s"}}
		}, false, back + "?state=s"},
		{"oidcc-rp-initiated-logout-modified-id-token-hint", func(h string) url.Values {
			return url.Values{"id_token_hint": {tamper(h)}, "post_logout_redirect_uri": {back}, "state": {"s"}}
		}, true, ""},
		{"id_token_hint signed by another key", func(string) url.Values {
			now := time.Now().Unix()
			return url.Values{"id_token_hint": {signIDToken(t, foreign, s.keys.rsa.id, map[string]any{
				"iss": s.url, "sub": u.ID, "aud": []string{clientID}, "azp": clientID, "exp": now + 600, "iat": now,
			})}, "post_logout_redirect_uri": {back}}
		}, true, ""},
		{"id_token_hint of another issuer", func(string) url.Values {
			now := time.Now().Unix()
			return url.Values{"id_token_hint": {signIDToken(t, s.keys.rsa.key, s.keys.rsa.id, map[string]any{
				"iss": "https://elsewhere.example", "sub": u.ID, "aud": []string{clientID}, "azp": clientID, "exp": now + 600, "iat": now,
			})}, "post_logout_redirect_uri": {back}}
		}, true, ""},
		{"id_token_hint of another person", func(string) url.Values {
			now := time.Now().Unix()
			return url.Values{"id_token_hint": {signIDToken(t, s.keys.rsa.key, s.keys.rsa.id, map[string]any{
				"iss": s.url, "sub": other.ID, "aud": []string{clientID}, "azp": clientID, "exp": now + 600, "iat": now,
			})}, "post_logout_redirect_uri": {back}, "state": {"s"}}
		}, true, back + "?state=s"},
		{"client_id other than the hint's", func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "client_id": {thirdParty}, "post_logout_redirect_uri": {s.rp.URL + "/photos-logged-out"}}
		}, true, ""},
		{"oidcc-rp-initiated-logout-no-id-token-hint", func(string) url.Values {
			return url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {back}, "state": {"s"}}
		}, true, back + "?state=s"},
		{"oidcc-rp-initiated-logout-no-params", func(string) url.Values { return url.Values{} }, true, ""},
		{"unknown client_id", func(string) url.Values {
			return url.Values{"client_id": {"nope"}, "post_logout_redirect_uri": {back}}
		}, true, ""},
	} {
		t.Run(tc.module, func(t *testing.T) {
			b, hint, _ := signedInAt(t, s)
			p := b.endSession(tc.params(hint))
			if tc.ask {
				if !isSignOutPage(p) {
					t.Fatalf("%d at %s (to %v), want the page asking whether to sign out", p.status, p.url, p.to)
				}
				checkPage(t, p, "sv", "Logga ut?") // Ada's own language
				if !b.isSignedIn() {
					t.Fatal("signed out before saying yes")
				}
				p = b.submit(p, nil)
			}
			switch {
			case tc.to == "" && !isSignedOutPage(p):
				t.Errorf("%d at %s (to %v), want the signed-out page and no redirect", p.status, p.url, p.to)
			case tc.to != "" && (p.to == nil || p.to.String() != tc.to):
				t.Errorf("%d at %s (to %v), want a redirect to %s", p.status, p.url, p.to, tc.to)
			}
			if b.isSignedIn() {
				t.Error("still signed in")
			}
		})
	}
}

// TestLogoutWithoutSession: with nothing to end, a valid request goes
// straight back to the client and an invalid one to the signed-out page.
func TestLogoutWithoutSession(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	_, hint, _ := signedInAt(t, s)
	b := s.browser()
	if p := b.endSession(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}, "state": {"s"}}); p.to == nil || p.to.String() != s.rp.URL+"/logged-out?state=s" {
		t.Errorf("without a session: %d at %s (to %v), want the redirect", p.status, p.url, p.to)
	}
	if p := b.endSession(url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}}); p.to == nil {
		t.Errorf("without a session or hint: %d at %s, want the redirect (nothing to ask)", p.status, p.url)
	}
	if p := b.endSession(url.Values{"id_token_hint": {tamper(hint)}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}}); !isSignedOutPage(p) {
		t.Errorf("without a session, a bad hint: %d at %s (to %v), want the signed-out page", p.status, p.url, p.to)
	}
}

// TestLogoutByPost: RP-Initiated Logout 1.0, section 2: the endpoint takes
// POST as well as GET.
func TestLogoutByPost(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b, hint, _ := signedInAt(t, s)
	p := b.post("/end_session", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}, "state": {"p"}})
	if p.to == nil || p.to.String() != s.rp.URL+"/logged-out?state=p" {
		t.Errorf("POST end_session: %d at %s (to %v), want the redirect with state", p.status, p.url, p.to)
	}
	if b.isSignedIn() {
		t.Error("still signed in after POST end_session")
	}
	b, _, _ = signedInAt(t, s)
	if p := b.post("/end_session", url.Values{"client_id": {clientID}}); !isSignOutPage(p) {
		t.Errorf("POST end_session without a hint: %d at %s, want the page asking", p.status, p.url)
	}
}

// TestLogoutConfirmationNeedsCSRF: the "yes" counts only from the page.
func TestLogoutConfirmationNeedsCSRF(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b, _, _ := signedInAt(t, s)
	p := b.endSession(url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {s.rp.URL + "/logged-out"}})
	if !isSignOutPage(p) {
		t.Fatalf("%d at %s, want the page asking", p.status, p.url)
	}
	for _, form := range []url.Values{
		{"client_id": {clientID}},
		{"client_id": {clientID}, "csrf_token": {strings.Repeat("x", 43)}},
	} {
		if res := b.post("/end_session/confirm", form); res.status != http.StatusForbidden || res.to != nil {
			t.Errorf("confirm with %v: %d (to %v), want 403", form, res.status, res.to)
		}
	}
	if !b.isSignedIn() {
		t.Error("a forged confirmation signed the browser out")
	}
	// A tampered redirect in the form is checked again.
	res := b.submit(p, url.Values{"post_logout_redirect_uri": {"https://evil.example/"}})
	if !isSignedOutPage(res) {
		t.Errorf("confirm with a changed redirect URI: %d at %s (to %v), want the signed-out page", res.status, res.url, res.to)
	}
}

// TestLogoutPageLanguages: the page asking and the signed-out page speak the
// client's ui_locales, and the page names the client.
func TestLogoutPageLanguages(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	for _, tc := range []struct{ lang, h1, text, done string }{
		{"en", "Sign out?", "Web App asked to sign you out.", "You are signed out"},
		{"sv", "Logga ut?", "Web App bad om att logga ut dig.", "Du är utloggad"},
		{"fi", "Kirjaudutaanko ulos?", "Sovellus Web App pyysi kirjaamaan sinut ulos.", "Olet kirjautunut ulos"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			b, _, _ := signedInAt(t, s)
			p := b.endSession(url.Values{"client_id": {clientID}, "ui_locales": {tc.lang}})
			if !isSignOutPage(p) {
				t.Fatalf("%d at %s, want the page asking", p.status, p.url)
			}
			checkPage(t, p, tc.lang, tc.h1)
			if !strings.Contains(p.body, tc.text) {
				t.Errorf("page lacks %q:\n%s", tc.text, p.body)
			}
			done := b.submit(p, nil)
			if !isSignedOutPage(done) {
				t.Fatalf("after yes: %d at %s (to %v), want the signed-out page", done.status, done.url, done.to)
			}
			checkPage(t, done, tc.lang, tc.done)
		})
	}
}

// TestDiscoveryAdvertisesEndSession: the endpoint discovery names is the
// one that signs out.
func TestDiscoveryAdvertisesEndSession(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	p, err := gooidc.NewProvider(context.Background(), s.url)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&d); err != nil || d.EndSession != s.url+"/end_session" {
		t.Errorf("end_session_endpoint = %q (%v), want %s/end_session", d.EndSession, err, s.url)
	}
}
