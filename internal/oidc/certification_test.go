package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/storetest"
)

// These tests are named after the modules of the OpenID Foundation's Basic
// OP certification plan; each checks what its module checks.

// signedIn returns a stack, a browser signed in through one code flow, and
// a helper that runs an authorization request with extra parameters and
// exchanges the code.
func signedIn(t *testing.T) (*stack, *browser, func(params map[string]string, scopes ...string) (*oauth2.Token, *gooidc.IDToken, *url.URL)) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	b := s.browser()
	run := func(params map[string]string, scopes ...string) (*oauth2.Token, *gooidc.IDToken, *url.URL) {
		t.Helper()
		conf, verifier := s.oauth2Config(ctx, scopes...)
		v := oauth2.GenerateVerifier()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
		for k, val := range params {
			opts = append(opts, oauth2.SetAuthURLParam(k, val))
		}
		cb := b.authorize(conf.AuthCodeURL("state", opts...), true)
		if cb.Query().Get("code") == "" {
			return nil, nil, cb
		}
		tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idt, err := verifier.Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		return tok, idt, cb
	}
	return s, b, run
}

func userinfoClaims(t *testing.T, s *stack, tok *oauth2.Token, method string) map[string]any {
	t.Helper()
	var req *http.Request
	switch method {
	case "get":
		req, _ = http.NewRequest(http.MethodGet, s.url+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	case "post-header":
		req, _ = http.NewRequest(http.MethodPost, s.url+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	case "post-body":
		req, _ = http.NewRequest(http.MethodPost, s.url+"/userinfo", strings.NewReader(url.Values{"access_token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("userinfo %s: %d %s", method, res.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("userinfo %s: %s", method, body)
	}
	return m
}

// TestOIDCCUserinfo is oidcc-userinfo-get, oidcc-userinfo-post-header and
// oidcc-userinfo-post-body: userinfo with the token in the header (GET and
// POST) or in the body.
func TestOIDCCUserinfo(t *testing.T) {
	s, _, run := signedIn(t)
	tok, idt, _ := run(nil, "email")
	for _, method := range []string{"get", "post-header", "post-body"} {
		t.Run("oidcc-userinfo-"+method, func(t *testing.T) {
			m := userinfoClaims(t, s, tok, method)
			if m["sub"] != idt.Subject || m["email"] != "ada@example.com" {
				t.Errorf("userinfo = %v, want sub %s and the email", m, idt.Subject)
			}
		})
	}
}

func TestOIDCCScopes(t *testing.T) {
	s, _, run := signedIn(t)
	for _, tc := range []struct {
		module string
		scopes []string
		want   []string
		absent []string
	}{
		{"oidcc-scope-profile", []string{"profile"}, []string{"name", "given_name", "family_name", "locale", "updated_at"}, []string{"email"}},
		{"oidcc-scope-email", []string{"email"}, []string{"email", "email_verified"}, []string{"given_name"}},
		{"oidcc-scope-address", []string{"address"}, nil, []string{"email", "given_name"}},
		{"oidcc-scope-phone", []string{"phone"}, nil, []string{"email", "given_name"}},
		{"oidcc-scope-all", []string{"profile", "email", "address", "phone"}, []string{"given_name", "email"}, nil},
		{"oidcc-ensure-other-scope-order-succeeds", []string{"email", "profile"}, []string{"given_name", "email"}, nil},
	} {
		t.Run(tc.module, func(t *testing.T) {
			tok, _, _ := run(nil, tc.scopes...)
			if tok == nil {
				t.Fatal("no token")
			}
			m := userinfoClaims(t, s, tok, "get")
			for _, c := range tc.want {
				if _, ok := m[c]; !ok {
					t.Errorf("claim %s missing from %v", c, m)
				}
			}
			for _, c := range tc.absent {
				if _, ok := m[c]; ok {
					t.Errorf("claim %s present without its scope: %v", c, m)
				}
			}
		})
	}
}

func TestOIDCCParameters(t *testing.T) {
	_, _, run := signedIn(t)
	for _, tc := range []struct {
		module string
		params map[string]string
	}{
		{"oidcc-ensure-request-without-nonce-succeeds-for-code-flow", nil},
		{"oidcc-display-page", map[string]string{"display": "page"}},
		{"oidcc-display-popup", map[string]string{"display": "popup"}},
		{"oidcc-ensure-request-with-unknown-parameter-succeeds", map[string]string{"extra": "foobar"}},
		{"oidcc-login-hint", map[string]string{"login_hint": "ada@example.com"}},
		{"oidcc-ui-locales", map[string]string{"ui_locales": "sv-SE fi"}},
		{"oidcc-claims-locales", map[string]string{"claims_locales": "sv"}},
		{"oidcc-ensure-request-with-acr-values-succeeds", map[string]string{"acr_values": "1 2"}},
		{"oidcc-max-age-10000", map[string]string{"max_age": "10000"}},
	} {
		t.Run(tc.module, func(t *testing.T) {
			tok, idt, cb := run(tc.params)
			if tok == nil || idt == nil {
				t.Fatalf("no tokens: %s", cb)
			}
			if cb.Query().Get("state") != "state" {
				t.Errorf("state not passed through: %s", cb)
			}
		})
	}
}

// TestOIDCCResponseTypeMissing is oidcc-response-type-missing.
func TestOIDCCResponseTypeMissing(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	q := url.Values{"client_id": {clientID}, "scope": {"openid"}, "redirect_uri": {s.rp.URL + "/callback"}, "state": {"s"}}
	// The module accepts the error shown to the person or sent to the
	// client; never a code.
	res, err := s.browser().c.Get(s.url + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := res.Location()
	switch {
	case res.StatusCode >= 400:
	case loc != nil && loc.Query().Get("error") != "" && loc.Query().Get("code") == "":
	default:
		t.Errorf("no response_type: %d %v, want an error", res.StatusCode, loc)
	}
}

// TestOIDCCMaxAge1 is oidcc-max-age-1.
func TestOIDCCMaxAge1(t *testing.T) {
	s, b, run := signedIn(t)
	_, first, _ := run(nil)
	time.Sleep(2100 * time.Millisecond)
	// max_age=1 after two seconds must make the person sign in again.
	conf, verifier := s.oauth2Config(context.Background())
	v := oauth2.GenerateVerifier()
	res, err := b.c.Get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("max_age", "1")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.HasPrefix(res.Request.URL.Path, "/login") {
		t.Fatalf("max_age=1 with an old sign-in went to %s, want the sign-in page", res.Request.URL)
	}
	cb := b.authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("max_age", "1")), true)
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var a, c struct {
		AuthTime int64 `json:"auth_time"`
	}
	_ = first.Claims(&a)
	_ = idt.Claims(&c)
	if c.AuthTime <= a.AuthTime {
		t.Errorf("auth_time %d not after the first sign-in's %d", c.AuthTime, a.AuthTime)
	}
}

func TestOIDCCPromptLogin(t *testing.T) {
	s, b, _ := signedIn(t)
	conf, _ := s.oauth2Config(context.Background())
	v := oauth2.GenerateVerifier()
	b.authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	res, err := b.c.Get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "login")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.HasPrefix(res.Request.URL.Path, "/login") {
		t.Errorf("prompt=login with a session went to %s, want the sign-in page", res.Request.URL)
	}
}

// TestOIDCCIDTokenHint is oidcc-id-token-hint.
func TestOIDCCIDTokenHint(t *testing.T) {
	_, _, run := signedIn(t)
	_, _, _ = run(nil)
	tok, _, _ := run(nil)
	raw := tok.Extra("id_token").(string)
	tok2, idt2, cb := run(map[string]string{"id_token_hint": raw, "prompt": "none"})
	if tok2 == nil || idt2 == nil {
		t.Fatalf("id_token_hint with prompt=none: %s", cb)
	}
}

// TestOIDCCUnsignedRequestObjectRejected is
// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported:
// request objects are not supported, and say so to the client.
func TestOIDCCUnsignedRequestObjectRejected(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	// alg none, {"client_id":"webapp"}
	req := "eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJ3ZWJhcHAiLCJzY29wZSI6Im9wZW5pZCJ9."
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {s.rp.URL + "/callback"}, "state": {"s"}, "request": {req}}
	cb := s.browser().authorize(s.url+"/authorize?"+q.Encode(), false)
	if e := cb.Query().Get("error"); e != "request_not_supported" && e != "invalid_request_object" {
		t.Errorf("unsigned request object: %s, want request_not_supported", cb)
	}
}

// TestScopesLimitedToRegistration: a client gets only the scopes it is
// registered for.
func TestScopesLimitedToRegistration(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	public := oauth2.Config{ClientID: "spa", RedirectURL: s.rp.URL + "/spa", Scopes: []string{"openid", "email", "profile"}}
	p, err := gooidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatal(err)
	}
	public.Endpoint = p.Endpoint()
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(public.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	tok, err := public.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	m := userinfoClaims(t, s, tok, "get")
	if _, ok := m["email"]; ok {
		t.Errorf("a client registered without the email scope got the email: %v", m)
	}
	if m["given_name"] != "Ada" {
		t.Errorf("registered profile scope not honoured: %v", m)
	}
}

// TestOIDCCEnsureRequestObjectWithRedirectURI is
// oidcc-ensure-request-object-with-redirect-uri: a request object names the
// registered redirect URI while the query names another. Portvakt does not
// read request objects, so it must not trust the one inside; the query's
// unregistered URI is refused on Portvakt's own page, and the browser goes
// to neither.
func TestOIDCCEnsureRequestObjectWithRedirectURI(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	obj := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"client_id":"webapp","redirect_uri":"`+s.rp.URL+`/callback","scope":"openid","response_type":"code"}`)) + "."
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
		"redirect_uri": {"https://evil.example/cb"}, "request": {obj}}
	res, err := s.browser().c.Get(s.url + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
		t.Errorf("request object with another redirect_uri in the query: %d, Location %q; want 400 and no redirect", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestOIDCCEnsureRequestWithValidPKCESucceeds is
// oidcc-ensure-request-with-valid-pkce-succeeds: a confidential client
// that sends an S256 challenge and the matching verifier gets its tokens.
func TestOIDCCEnsureRequestWithValidPKCESucceeds(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	tok, idt := codeFlow(t, s) // S256 challenge and verifier
	if tok.AccessToken == "" || idt.Subject == "" {
		t.Errorf("code flow with PKCE: %+v, %+v", tok, idt)
	}
}
