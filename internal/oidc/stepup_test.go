package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// enrolTOTP gives ada an authenticator app and returns its secret.
func (s *stack) enrolTOTP() string {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.store.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		s.t.Fatal(err)
	}
	e, err := s.authn.BeginTOTP(u.ID, u.Email)
	if err != nil {
		s.t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, s.clock.Now())
	if _, err := s.authn.ConfirmTOTP(ctx, u.ID, e.Sealed, code, ""); err != nil {
		s.t.Fatal(err)
	}
	// The confirming code is spent; the next one comes 30 s later.
	s.clock.advance(30 * time.Second)
	return e.Secret
}

// page follows u to a page of the provider (or a redirect to the relying
// party) and returns where it ended and the body.
func (b *browser) page(u string) (*http.Response, string) {
	b.s.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// submitPage submits the form of body with values and returns the response,
// stopping at the relying party.
func (b *browser) submitPage(body string, values url.Values) *http.Response {
	b.s.t.Helper()
	m, a := csrfRe.FindStringSubmatch(body), actionRe.FindStringSubmatch(body)
	if m == nil || a == nil {
		b.s.t.Fatalf("no form in:\n%s", body)
	}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		if values.Get(h[1]) == "" {
			values.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
		}
	}
	values.Set("csrf_token", m[1])
	res, err := b.c.PostForm(b.s.url+strings.ReplaceAll(a[1], "&amp;", "&"), values)
	if err != nil {
		b.s.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

type acrClaims struct {
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
}

// TestStepUp: a person signed in with a password (low) is asked only for
// the authenticator code when an application asks for substantial, and the
// ID token says so; a relying-party library checks it.
func TestStepUp(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		conf, verifier := s.oauth2Config(ctx)
		b := s.browser()
		exchange := func(cb *url.URL, pkce string) acrClaims {
			t.Helper()
			tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
			if err != nil {
				t.Fatalf("exchange (callback %s): %v", cb, err)
			}
			idt, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
			if err != nil {
				t.Fatal(err)
			}
			var c acrClaims
			_ = idt.Claims(&c)
			// The access token (RFC 9068) and introspection say the same.
			var at acrClaims
			parts := strings.Split(tok.AccessToken, ".")
			if len(parts) != 3 {
				t.Fatalf("access token is not a JWT: %q", tok.AccessToken)
			}
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if err := json.Unmarshal(payload, &at); err != nil || at.ACR != c.ACR || !slices.Equal(at.AMR, c.AMR) {
				t.Errorf("access token acr %q amr %v, want the ID token's %q %v (%v)", at.ACR, at.AMR, c.ACR, c.AMR, err)
			}
			form := url.Values{"token": {tok.AccessToken}}
			req, _ := http.NewRequest(http.MethodPost, s.url+"/oauth/introspect", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(clientID, clientSecret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var in acrClaims
			_ = json.NewDecoder(res.Body).Decode(&in)
			res.Body.Close()
			if in.ACR != c.ACR || !slices.Equal(in.AMR, c.AMR) || in.AuthTime != c.AuthTime {
				t.Errorf("introspection acr %q amr %v auth_time %d, want the ID token's %q %v %d", in.ACR, in.AMR, in.AuthTime, c.ACR, c.AMR, c.AuthTime)
			}
			return c
		}
		pkce := oauth2.GenerateVerifier()
		low := exchange(b.authorize(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(pkce)), true), pkce)
		if low.ACR != authn.LoALow || !slices.Equal(low.AMR, []string{"pwd"}) {
			t.Fatalf("password sign-in: acr %q amr %v, want low and [pwd]", low.ACR, low.AMR)
		}
		secret := s.enrolTOTP()

		pkce = oauth2.GenerateVerifier()
		res, body := b.page(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", authn.LoASubstantial)))
		if !strings.HasPrefix(res.Request.URL.Path, "/login/second-factor") || strings.Contains(body, `name="password"`) {
			t.Fatalf("step-up went to %s, want only the code (no password):\n%s", res.Request.URL, body)
		}
		if !strings.Contains(body, "extra verification") {
			t.Error("the step-up page does not say why it asks")
		}
		code, _ := totp.GenerateCode(secret, s.clock.Now())
		out := b.submitPage(body, url.Values{"code": {code}})
		cb, err := out.Location()
		if err != nil || !strings.HasPrefix(cb.String(), s.rp.URL) {
			t.Fatalf("after the code: %d %v, want the redirect to the client", out.StatusCode, cb)
		}
		high := exchange(cb, pkce)
		if high.ACR != authn.LoASubstantial || !slices.Equal(high.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Errorf("after step-up: acr %q amr %v, want substantial and [pwd otp mfa]", high.ACR, high.AMR)
		}
		if high.AuthTime < low.AuthTime {
			t.Errorf("auth_time went back: %d < %d", high.AuthTime, low.AuthTime)
		}
		// The session is now substantial: asking again needs nothing more.
		pkce = oauth2.GenerateVerifier()
		again := exchange(b.authorize(conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", authn.LoASubstantial)), false), pkce)
		if again.ACR != authn.LoASubstantial {
			t.Errorf("a second request: acr %q", again.ACR)
		}
	})
}

// TestUnmetAuthenticationRequirements: a level the person cannot reach,
// or that the provider does not have, is an error at the application,
// never a token with a lower level.
func TestUnmetAuthenticationRequirements(t *testing.T) {
	s := newStack(t, storetest.SQLite(), func(c *oidc.Config) {
		clients := c.Clients.(testClients)
		strict := clients[clientID]
		strict.c.ID, strict.c.MinACR = "strict", authn.LoASubstantial
		strict.c.RedirectURIs = []string{strict.c.RedirectURIs[0]}
		clients["strict"] = strict
	})
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	errorOf := func(cb *url.URL) string {
		t.Helper()
		if cb.Query().Get("code") != "" {
			t.Errorf("a code was issued: %s", cb)
		}
		if cb.Query().Get("iss") != s.url {
			t.Errorf("error response without iss: %s", cb)
		}
		return cb.Query().Get("error")
	}
	pkce := oauth2.GenerateVerifier()
	// Not signed in, no second factor: the password is taken, then the
	// application hears that the level is out of reach.
	b := s.browser()
	cb := b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", authn.LoASubstantial)), true)
	if got := errorOf(cb); got != "unmet_authentication_requirements" || cb.Query().Get("state") != "st" {
		t.Errorf("unreachable acr_values: %s, want unmet_authentication_requirements with the state", cb)
	}
	// Signed in already: straight back with the error.
	cb = b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", authn.LoAHigh+" "+authn.LoASubstantial)), false)
	if got := errorOf(cb); got != "unmet_authentication_requirements" {
		t.Errorf("signed in, unreachable: %s", cb)
	}
	// prompt=none may not ask for anything.
	cb = b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", authn.LoASubstantial), oauth2.SetAuthURLParam("prompt", "none")), false)
	if got := errorOf(cb); got != "interaction_required" {
		t.Errorf("prompt=none below the level: %s, want interaction_required", cb)
	}
	// An essential acr claim with values this provider does not have
	// (OpenID Connect Core 5.5.1.1).
	claims := `{"id_token":{"acr":{"essential":true,"values":["urn:example:gold"]}}}`
	cb = b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("claims", claims)), false)
	if got := errorOf(cb); got != "unmet_authentication_requirements" {
		t.Errorf("essential acr of unknown values: %s", cb)
	}
	// acr_values this provider does not know ask for nothing
	// (oidcc-ensure-request-with-acr-values-succeeds).
	cb = b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("acr_values", "1 2")), false)
	if cb.Query().Get("code") == "" {
		t.Errorf("unknown acr_values: %s, want a code", cb)
	}
	// A client's minimum applies without any parameter.
	strict := *conf
	strict.ClientID = "strict"
	cb = b.authorize(strict.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)), false)
	if got := errorOf(cb); got != "unmet_authentication_requirements" {
		t.Errorf("client with min_acr substantial: %s", cb)
	}
	// With an authenticator app, the same client gets the code after it.
	secret := s.enrolTOTP()
	res, body := b.page(strict.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)))
	if !strings.HasPrefix(res.Request.URL.Path, "/login/second-factor") {
		t.Fatalf("client with min_acr, user with a factor: %s, want the code page", res.Request.URL)
	}
	code, _ := totp.GenerateCode(secret, s.clock.Now())
	if loc, err := b.submitPage(body, url.Values{"code": {code}}).Location(); err != nil || loc.Query().Get("code") == "" {
		t.Errorf("after the code: %v %v, want a code for the client", loc, err)
	}
}

// TestEssentialACRMet: an essential acr claim the session meets is
// honoured, and the ID token carries acr.
func TestEssentialACRMet(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, verifier := s.oauth2Config(ctx)
	pkce := oauth2.GenerateVerifier()
	claims := `{"id_token":{"acr":{"essential":true,"values":["urn:portvakt:loa:low"]}}}`
	cb := s.browser().authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("claims", claims)), true)
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("exchange (%s): %v", cb, err)
	}
	idt, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c acrClaims
	_ = idt.Claims(&c)
	if c.ACR != authn.LoALow {
		t.Errorf("acr = %q, want %s", c.ACR, authn.LoALow)
	}
}

// TestClientRequiresMFA: a client with require_mfa sends a person without
// a second factor to set one up, then back to the request; a person with
// one signed in by password alone gives it before the code is issued.
func TestClientRequiresMFA(t *testing.T) {
	s := newStack(t, storetest.SQLite(), func(c *oidc.Config) {
		clients := c.Clients.(testClients)
		mfa := clients[clientID]
		mfa.c.ID, mfa.c.RequireMFA = "mfa-app", true
		clients["mfa-app"] = mfa
	})
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	strict := *conf
	strict.ClientID = "mfa-app"
	b := s.browser()
	pkce := oauth2.GenerateVerifier()
	// Signed in at another application with a password only.
	b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)), true)

	// Without a factor: to the set-up page, which returns to the request.
	res, body := b.page(strict.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)))
	if res.Request.URL.Path != "/account/mfa" || !strings.HasPrefix(res.Request.URL.Query().Get("return_to"), "/authorize/callback?") {
		t.Fatalf("require_mfa without a factor: %s, want the set-up page returning to the request\n%s", res.Request.URL, body)
	}
	if cb := b.authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)), false); cb.Query().Get("code") == "" {
		t.Errorf("the client without require_mfa still gets a code: %s", cb)
	}
	// Set up an authenticator app from there: the recovery codes page
	// continues to the request, which then gets its code at once (setting
	// the app up proved it).
	m := regexp.MustCompile(`href="(/account/totp\?[^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no authenticator app choice:\n%s", body)
	}
	_, setup := b.page(s.url + strings.ReplaceAll(m[1], "&amp;", "&"))
	key := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(setup)
	if key == nil {
		t.Fatalf("no key on the set-up page:\n%s", setup)
	}
	first, _ := totp.GenerateCode(key[1], s.clock.Now())
	codesPage := b.submitPage(setup, url.Values{"code": {first}})
	if loc, _ := codesPage.Location(); codesPage.StatusCode != http.StatusOK {
		t.Fatalf("set-up answered %d (%v)", codesPage.StatusCode, loc)
	}
	s.clock.advance(30 * time.Second)
	pkce = oauth2.GenerateVerifier()
	if cb := b.authorize(strict.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)), false); cb.Query().Get("code") == "" {
		t.Fatalf("after setting up the app: %s, want a code without asking again", cb)
	}
	// In a new browser: the password, then the app's code, then the client
	// gets its code.
	b = s.browser()
	secret := key[1]
	pkce = oauth2.GenerateVerifier()
	res, body = b.page(strict.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce)))
	if res.Request.URL.Path != "/login" {
		t.Fatalf("a new browser at a require_mfa client: %s, want sign-in", res.Request.URL)
	}
	second := b.submitPage(body, url.Values{"email": {"ada@example.com"}, "password": {goodPassword}})
	if second.Request.URL.Path != "/login/second-factor" {
		t.Fatalf("after the password: %s, want the second step", second.Request.URL)
	}
	_, body = b.page(second.Request.URL.String())
	code, _ := totp.GenerateCode(secret, s.clock.Now())
	cb, err := b.submitPage(body, url.Values{"code": {code}}).Location()
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("after the code: %v %v", cb, err)
	}
	tok, err := strict.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatal(err)
	}
	p, err := gooidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: strict.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c acrClaims
	_ = idt.Claims(&c)
	if !slices.Contains(c.AMR, "mfa") {
		t.Errorf("amr %v, want mfa", c.AMR)
	}
}
