package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// setPolicy changes the sign-in policy of organization id.
func (s *stack) setPolicy(id string, c orgs.Change) {
	s.t.Helper()
	if _, err := s.orgs.UpdateOrganization(context.Background(), id, c, "system:test"); err != nil {
		s.t.Fatal(err)
	}
}

// claimsOf exchanges the code of callback cb and returns the ID token's
// acr, amr and organization.
func (s *stack) claimsOf(conf *oauth2.Config, cb *url.URL, pkce string) (acrClaims, string) {
	s.t.Helper()
	if cb == nil || cb.Query().Get("code") == "" {
		s.t.Fatalf("no code in %v", cb)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		s.t.Fatalf("exchange: %v", err)
	}
	_, p := jwtParts(s.t, tok.Extra("id_token").(string))
	var c acrClaims
	c.ACR, _ = p["acr"].(string)
	for _, m := range p["amr"].([]any) {
		c.AMR = append(c.AMR, m.(string))
	}
	org, _ := p["org_id"].(string)
	return c, org
}

// request is an authorization request of the web app, with its PKCE
// verifier.
func request(conf *oauth2.Config, params ...string) (string, string) {
	pkce := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pkce), oauth2.SetAuthURLParam("ui_locales", "en")}
	for i := 0; i+1 < len(params); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
	}
	return conf.AuthCodeURL("st", opts...), pkce
}

// TestOrganizationPolicyMFA: an organization that requires a second
// factor sends its member, signed in with a password, to set one up and
// then back to the application (named in the request or picked on the
// organization page), whose token says mfa; prompt=none hears
// interaction_required; another organization, and a sign-in outside any,
// are not affected.
func TestOrganizationPolicyMFA(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		acme, beta, ada := orgFixture(t, s)
		if _, err := s.orgs.AddMember(ctx, beta.ID, ada, nil, "system:test"); err != nil {
			t.Fatal(err)
		}
		yes := true
		s.setPolicy(acme.ID, orgs.Change{RequireMFA: &yes})
		conf := s.clientConfig(ctx, clientID, clientSecret, "/callback", "openid")
		b := s.browser()

		// For Beta (no policy): the password is enough.
		u, pkce := request(conf, "organization", "beta")
		c, org := s.claimsOf(conf, b.authorize(u, true), pkce)
		if org != beta.ID || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Errorf("Beta: org %s amr %v, want Beta with [pwd]", org, c.AMR)
		}
		// For Acme under prompt=none: the policy needs the person.
		u, _ = request(conf, "organization", "acme", "prompt", "none")
		if cb := b.authorize(u, false); cb.Query().Get("error") != "interaction_required" || cb.Query().Get("code") != "" {
			t.Errorf("Acme, prompt=none: %v, want interaction_required", cb)
		}
		// Acme picked on the organization page: to set up a second factor,
		// then back to the request.
		u, pkce = request(conf)
		chooser := b.open(u)
		if chooser.url.Path != "/authorize/organization" {
			t.Fatalf("in two organizations: at %s, want the organization page", chooser.url)
		}
		setup := b.submit(chooser, url.Values{"organization": {acme.ID}})
		if setup.url.Path != "/account/mfa" || !strings.HasPrefix(setup.url.Query().Get("return_to"), "/authorize/callback?") {
			t.Fatalf("Acme requires a second factor: at %s, want the set-up page returning to the request\n%s", setup.url, setup.body)
		}
		m := regexp.MustCompile(`href="(/account/totp\?[^"]+)"`).FindStringSubmatch(setup.body)
		if m == nil {
			t.Fatalf("no authenticator app choice:\n%s", setup.body)
		}
		_, page := b.page(s.url + strings.ReplaceAll(m[1], "&amp;", "&"))
		key := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page)
		if key == nil {
			t.Fatalf("no key on the set-up page:\n%s", page)
		}
		code, _ := totp.GenerateCode(key[1], s.clock.Now())
		if res := b.submitPage(page, url.Values{"code": {code}}); res.StatusCode != http.StatusOK {
			t.Fatalf("set-up answered %d", res.StatusCode)
		}
		// The recovery codes page continues to the request.
		cb := b.authorize(s.url+setup.url.Query().Get("return_to"), false)
		c, org = s.claimsOf(conf, cb, pkce)
		if org != acme.ID || !slices.Contains(c.AMR, "mfa") || !slices.Contains(c.AMR, "otp") {
			t.Errorf("Acme after setting up the app: org %s amr %v, want Acme with otp and mfa", org, c.AMR)
		}

		// A new browser: the password, then the app's code.
		s.clock.advance(30 * time.Second)
		b = s.browser()
		u, pkce = request(conf, "organization", "acme")
		second := b.signIn(b.open(u))
		if second.url.Path != "/login/second-factor" {
			t.Fatalf("after the password: %s, want the second step", second.url)
		}
		code, _ = totp.GenerateCode(key[1], s.clock.Now())
		c, _ = s.claimsOf(conf, b.submit(second, url.Values{"code": {code}}).to, pkce)
		if !slices.Contains(c.AMR, "mfa") {
			t.Errorf("new browser: amr %v, want mfa", c.AMR)
		}

		// Outside any organization: the password is enough.
		if _, err := s.accounts.Create(ctx, accounts.NewUser{Email: "bo@example.com", Password: goodPassword, GivenName: "Bo", Verified: true}, "system:test"); err != nil {
			t.Fatal(err)
		}
		bo := s.browser()
		u, pkce = request(conf)
		done := bo.submit(bo.open(u), url.Values{"email": {"bo@example.com"}, "password": {goodPassword}})
		c, org = s.claimsOf(conf, done.to, pkce)
		if org != "" || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Errorf("outside any organization: org %q amr %v, want none and [pwd]", org, c.AMR)
		}
	})
}

// TestOrganizationPolicyMinACR: an organization's minimum level is out
// of reach without a second factor (unmet_authentication_requirements),
// and asks only for the code with one.
func TestOrganizationPolicyMinACR(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	acme, _, _ := orgFixture(t, s)
	level := authn.LoASubstantial
	s.setPolicy(acme.ID, orgs.Change{MinACR: &level})
	conf := s.clientConfig(ctx, clientID, clientSecret, "/callback", "openid")
	b := s.browser()

	u, _ := request(conf)
	if cb := b.authorize(u, true); cb.Query().Get("error") != "unmet_authentication_requirements" || cb.Query().Get("code") != "" {
		t.Errorf("Acme wants substantial, Ada has a password only: %v, want unmet_authentication_requirements", cb)
	}
	secret := s.enrolTOTP()
	u, pkce := request(conf)
	p := b.open(u)
	if p.url.Path != "/login/second-factor" || strings.Contains(p.body, `name="password"`) {
		t.Fatalf("with an app: at %s, want only the code\n%s", p.url, p.body)
	}
	code, _ := totp.GenerateCode(secret, s.clock.Now())
	c, org := s.claimsOf(conf, b.submit(p, url.Values{"code": {code}}).to, pkce)
	if org != acme.ID || c.ACR != authn.LoASubstantial || !slices.Contains(c.AMR, "mfa") {
		t.Errorf("after the code: org %s acr %s amr %v, want Acme, substantial, mfa", org, c.ACR, c.AMR)
	}
}

// TestOrganizationPolicySignInMethods: a password sign-in for an
// organization that allows only passkeys is sent back to the sign-in
// page, which says why; signing in with the password again ends with
// access_denied. With the organization's own provider allowed, the page
// leads with it, and it starts a sign-in there.
func TestOrganizationPolicySignInMethods(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	acme, _, _ := orgFixture(t, s)
	passkey := []string{orgs.SignInPasskey}
	s.setPolicy(acme.ID, orgs.Change{SignInMethods: &passkey})
	conf := s.clientConfig(ctx, clientID, clientSecret, "/callback", "openid")
	b := s.browser()

	u, _ := request(conf)
	again := b.signIn(b.open(u))
	if again.url.Path != "/login" || !strings.Contains(again.body, "Acme Oy asks its members to sign in with a passkey.") {
		t.Fatalf("password sign-in for a passkey-only organization: at %s, want the sign-in page with a notice\n%s", again.url, again.body)
	}
	checkPage(t, again, "en", "Sign in")
	if cb := b.signIn(again).to; cb == nil || cb.Query().Get("error") != "access_denied" || cb.Query().Get("code") != "" {
		t.Errorf("the password again: %v, want access_denied", cb)
	}
	// A session that is not allowed is not used under prompt=none either.
	u, _ = request(conf, "prompt", "none")
	if cb := b.authorize(u, false); cb.Query().Get("error") != "interaction_required" {
		t.Errorf("prompt=none: %v, want interaction_required", cb)
	}

	// Acme's own provider, and federated sign-ins allowed.
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	mc := m.Config()
	for _, id := range []string{"other", "mock"} {
		if _, err := s.proofing.Create(ctx, federation.Provider{ID: id, Name: "Provider " + id, Issuer: m.Issuer(), ClientID: mc.ClientID, SecretPlain: mc.ClientSecret,
			Scopes: []string{"openid", "email"}}, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	domains, provider, ways := []string{"acme.example"}, "mock", []string{orgs.SignInPasskey, orgs.SignInFederated}
	s.setPolicy(acme.ID, orgs.Change{Domains: &domains, SSOProvider: &provider, SignInMethods: &ways})
	u, _ = request(conf)
	p := b.open(u)
	if p.url.Path != "/login" || !strings.Contains(p.body, "Acme Oy asks its members to sign in with a passkey or another service") {
		t.Fatalf("federated allowed: at %s, want the sign-in page with a notice\n%s", p.url, p.body)
	}
	forms := regexp.MustCompile(`<form method="post" action="/login/idp/([a-z]+)">`).FindAllStringSubmatch(p.body, -1)
	if len(forms) != 2 || forms[0][1] != "mock" {
		t.Fatalf("provider buttons %v, want Acme's own (mock) first", forms)
	}
	i := strings.Index(p.body, `action="/login/idp/mock"`)
	form := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(p.body[i:], 3) {
		form.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
	}
	if !strings.Contains(form.Get("return_to"), "policy=1") {
		t.Errorf("the provider's sign-in returns to %q, want the request's callback marked as asked by the policy", form.Get("return_to"))
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/login/idp/mock", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noFollow := *b.c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := res.Location(); loc == nil || !strings.HasPrefix(loc.String(), m.Issuer()) {
		t.Errorf("Continue with Acme's provider: %d to %v, want the provider", res.StatusCode, loc)
	}
}
