package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/server"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/web"
)

// testKeys is a fixed key set: one RSA, one EC and one Ed25519 key,
// generated per test.
type testKeys struct{ rsa, ec, ed testKey }

type testKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
	pub any
}

func (k testKey) ID() string                                  { return k.id }
func (k testKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k testKey) Algorithm() jose.SignatureAlgorithm          { return k.alg }
func (k testKey) Use() string                                 { return "sig" }
func (k testKey) Key() any                                    { return k.key }

type publicKey struct{ testKey }

func (k publicKey) Key() any { return k.pub }

func newTestKeys(t *testing.T) *testKeys {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{
		rsa: testKey{id: "rsa-1", alg: jose.RS256, key: r, pub: &r.PublicKey},
		ec:  testKey{id: "ec-1", alg: jose.ES256, key: e, pub: &e.PublicKey},
		ed:  testKey{id: "ed-1", alg: jose.EdDSA, key: edPriv, pub: edPub},
	}
}

func (k *testKeys) Signer(_ context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error) {
	switch alg {
	case jose.RS256:
		return k.rsa, nil
	case jose.ES256:
		return k.ec, nil
	case jose.EdDSA:
		return k.ed, nil
	}
	return nil, errors.New("no key")
}

func (k *testKeys) PublicKeys(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{k.rsa}, publicKey{k.ec}, publicKey{k.ed}}, nil
}

// testClients is a fixed registry.
type testClients map[string]struct {
	c      oidc.Client
	secret string
}

func (c testClients) LookupClient(_ context.Context, id string) (oidc.Client, error) {
	e, ok := c[id]
	if !ok {
		return oidc.Client{}, oidc.ErrNotFound
	}
	return e.c, nil
}

func (c testClients) CheckClientSecret(_ context.Context, id, secret string) error {
	e, ok := c[id]
	if !ok || e.secret == "" || e.secret != secret {
		return errors.New("invalid client")
	}
	return nil
}

type stack struct {
	t        *testing.T
	url      string
	accounts *accounts.Service
	authn    *authn.Service
	// proofing keeps and opens verified attributes, with the stack's
	// keyring.
	proofing *federation.Service
	// orgs are the organizations, roles and memberships tokens read.
	orgs  *orgs.Service
	store *store.Store
	keys  *testKeys
	clock *clock
	rp    *httptest.Server // the relying party's redirect target
}

// clock is the stack's time: the real time, moved forward by the tests.
// (Relying-party libraries check tokens against the real time, so the
// stack cannot run in the past.)
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// advance moves the stack's time forward by d.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

const (
	goodPassword = "tangerine-orbit-velvet-42"
	clientID     = "webapp"
	clientSecret = "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret"
	// thirdParty is a confidential client that is not first-party: its
	// users are asked for consent.
	thirdParty       = "photos"
	thirdPartySecret = "ph0tos-ph0tos-ph0tos-ph0tos-ph0tos-ph0tos"
	thirdPartyName   = "Photo Album <Åkerö>"
	// backend is a client that uses only client_credentials.
	backend       = "backend"
	backendSecret = "b4ckend-b4ckend-b4ckend-b4ckend-b4ckend"
)

// newStack builds the provider, the hosted pages and a relying party on a
// fresh database of engine e; adjust changes the provider's configuration
// before it is built.
func newStack(t *testing.T, e storetest.Engine, adjust ...func(*oidc.Config)) *stack {
	t.Helper()
	st := storetest.Open(t, e)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, store: st, keys: newTestKeys(t), clock: &clock{}}
	// The relying party's callback only records what it receives.
	s.rp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "rp") }))
	t.Cleanup(s.rp.Close)

	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	ts.Start()
	t.Cleanup(ts.Close)
	s.url = ts.URL
	issuer, _ := url.Parse(ts.URL)

	acc := &accounts.Service{Store: st, Events: st, Hasher: hasher, Now: s.clock.Now}
	sessions := &session.Manager{Store: st, Now: s.clock.Now}
	master, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(t.Context(), st, keyring.MasterKeys{Current: master}, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.authn = &authn.Service{Store: st, Cipher: kr, Issuer: "Portvakt", Now: s.clock.Now}
	s.proofing = &federation.Service{Store: st, Cipher: kr, Now: s.clock.Now}
	s.orgs = &orgs.Service{Store: st, Now: s.clock.Now}
	pages := &web.Handler{Catalog: cat, Accounts: acc, Authn: s.authn, Flows: &flows.Service{Store: st, Now: s.clock.Now}, Sessions: sessions,
		Brand: web.Branding{ProductName: "Portvakt"}, Issuer: issuer, MinPasswordLength: 8, Now: s.clock.Now,
		Orgs: s.orgs, Federation: s.proofing}
	if err := pages.Init(); err != nil {
		t.Fatal(err)
	}
	cfg := oidc.Config{
		Issuer: issuer, Grants: st, Keys: s.keys, Users: st, Sessions: sessions, Levels: s.authn, Pages: pages, Ping: st.Ping, Now: s.clock.Now,
		Assertions: st, Proofing: s.proofing, Organizations: s.orgs,
		Clients: testClients{"spa": {c: oidc.Client{
			ID: "spa", Name: "Single Page", RedirectURIs: []string{s.rp.URL + "/spa"}, AuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}, FirstParty: true,
			// The web app is the resource server of the SPA's tokens: it may
			// introspect them.
			Audience: []string{clientID},
		}}, clientID: {secret: clientSecret, c: oidc.Client{
			ID: clientID, Name: "Web App", RedirectURIs: []string{s.rp.URL + "/callback"}, AuthMethod: "client_secret_basic",
			PostLogoutRedirectURIs: []string{s.rp.URL + "/logged-out", s.rp.URL + "/logged-out?from=portvakt"},
			GrantTypes:             []string{"authorization_code", "refresh_token"},
			Scopes:                 []string{"openid", "profile", "email", "phone", "address", "offline_access"},
			FirstParty:             true, JWTAccessTokens: true,
		}}, thirdParty: {secret: thirdPartySecret, c: oidc.Client{
			ID: thirdParty, Name: thirdPartyName, RedirectURIs: []string{s.rp.URL + "/photos"}, AuthMethod: "client_secret_basic",
			PostLogoutRedirectURIs: []string{s.rp.URL + "/photos-logged-out"},
			GrantTypes:             []string{"authorization_code", "refresh_token"},
			Scopes:                 []string{"openid", "profile", "email", "offline_access", "portvakt:photos:read"},
		}}, "cli": {c: oidc.Client{
			ID: "cli", Name: "Command line", RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.cli:/cb"}, AuthMethod: "none", Native: true,
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, FirstParty: true,
		}}, backend: {secret: backendSecret, c: oidc.Client{
			ID: backend, Name: "Nightly sync", AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"portvakt:users:read"}, JWTAccessTokens: true,
		}}},
	}
	for _, f := range adjust {
		f(&cfg)
	}
	provider, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Issuer: issuer}, pages, provider)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", srv.Handler())
	s.accounts = acc
	if _, err := acc.Create(context.Background(), accounts.NewUser{
		Email: "ada@example.com", Password: goodPassword, GivenName: "Ada", FamilyName: "Lovelace", Verified: true, Locale: "sv",
	}, "system:test"); err != nil {
		t.Fatal(err)
	}
	return s
}

// browser follows redirects on the provider but stops at the relying party.
type browser struct {
	s *stack
	c *http.Client
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, c: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), s.rp.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

var (
	csrfRe   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	actionRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// authorize runs the browser part of the code flow and returns the
// redirect to the relying party.
func (b *browser) authorize(authURL string, signIn bool) *url.URL {
	b.s.t.Helper()
	res, err := b.c.Get(authURL)
	if err != nil {
		b.s.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusFound || res.StatusCode == http.StatusSeeOther {
		loc, _ := res.Location()
		return loc
	}
	if !signIn {
		b.s.t.Fatalf("authorize: %d at %s, want a redirect to the client:\n%s", res.StatusCode, res.Request.URL, body)
	}
	m, a := csrfRe.FindSubmatch(body), actionRe.FindSubmatch(body)
	if m == nil || a == nil {
		b.s.t.Fatalf("no sign-in form at %s (%d):\n%s", res.Request.URL, res.StatusCode, body)
	}
	action := strings.ReplaceAll(string(a[1]), "&amp;", "&")
	res, err = b.c.PostForm(b.s.url+action, url.Values{"csrf_token": {string(m[1])}, "email": {"ada@example.com"}, "password": {goodPassword}})
	if err != nil {
		b.s.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if err != nil {
		b.s.t.Fatalf("after sign-in: %d at %s, want a redirect to the client", res.StatusCode, res.Request.URL)
	}
	return loc
}

func (s *stack) oauth2Config(ctx context.Context, scopes ...string) (*oauth2.Config, *gooidc.IDTokenVerifier) {
	s.t.Helper()
	p, err := gooidc.NewProvider(ctx, s.url)
	if err != nil {
		s.t.Fatalf("discovery: %v", err)
	}
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, Endpoint: p.Endpoint(),
		RedirectURL: s.rp.URL + "/callback", Scopes: append([]string{gooidc.ScopeOpenID}, scopes...),
	}, p.Verifier(&gooidc.Config{ClientID: clientID})
}

// TestCodeFlowWithGoOIDC is the basic certification profile's happy path
// (oidcc-server) with a real relying-party library: discovery, the code flow
// with PKCE, ID token validation, userinfo, refresh with rotation.
func TestCodeFlowWithGoOIDC(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		conf, verifier := s.oauth2Config(ctx, "profile", "email", "offline_access")
		verifierPKCE := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifierPKCE), gooidc.Nonce("n0nce"), oauth2.SetAuthURLParam("prompt", "consent"))
		cb := s.browser().authorize(authURL, true)
		if got := cb.Query().Get("state"); got != "st4te" {
			t.Fatalf("state = %q, want st4te (redirect %s)", got, cb)
		}
		if got := cb.Query().Get("iss"); got != s.url {
			t.Errorf("iss in the authorization response = %q, want %q (RFC 9207)", got, s.url)
		}
		tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifierPKCE))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if idt.Nonce != "n0nce" {
			t.Errorf("nonce = %q", idt.Nonce)
		}
		var claims struct {
			AuthTime int64    `json:"auth_time"`
			AMR      []string `json:"amr"`
			AtHash   string   `json:"at_hash"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.AuthTime == 0 || len(claims.AMR) == 0 || claims.AtHash == "" {
			t.Errorf("ID token claims = %+v, want auth_time, amr and at_hash", claims)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		p, _ := gooidc.NewProvider(ctx, s.url)
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var profile struct {
			GivenName string `json:"given_name"`
			Locale    string `json:"locale"`
		}
		_ = ui.Claims(&profile)
		if ui.Email != "ada@example.com" || !ui.EmailVerified || profile.GivenName != "Ada" || ui.Subject != idt.Subject {
			t.Errorf("userinfo = %+v %+v", ui, profile)
		}

		// Refresh rotates; the old refresh token is then refused and its
		// reuse revokes the family, the new one included.
		first := tok.RefreshToken
		if first == "" {
			t.Fatal("no refresh token with offline_access")
		}
		refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshed.RefreshToken == "" || refreshed.RefreshToken == first {
			t.Fatalf("refresh token not rotated")
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token(); err == nil {
			t.Fatal("the rotated refresh token was accepted again")
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
			t.Error("after reuse of an old refresh token, the newest one still works; the family should be revoked")
		}
	})
}

// TestCodeReuse is oidcc-codereuse: a code works once, and its second use
// revokes the tokens issued for it.
func TestCodeReuse(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx, "offline_access")
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "consent")), true)
	code := cb.Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err == nil {
		t.Fatal("a code was exchanged twice")
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("the refresh token from the first exchange survived the code's reuse")
	}
}

// TestRedirectURIMustBeRegistered is oidcc-ensure-registered-redirect-uri:
// an unregistered redirect URI is never redirected to.
func TestRedirectURIMustBeRegistered(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	for _, bad := range []string{"https://evil.example/callback", s.rp.URL + "/callback/../evil", s.rp.URL + "/callbackx", s.rp.URL + "/callback?x=1"} {
		q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {bad}, "state": {"s"}}
		res, err := s.browser().c.Get(s.url + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if strings.HasPrefix(res.Request.URL.String(), "https://evil") || res.Request.URL.Host != strings.TrimPrefix(s.url, "http://") {
			t.Errorf("redirect_uri %s: browser ended at %s", bad, res.Request.URL)
		}
		if res.StatusCode < 400 {
			t.Errorf("redirect_uri %s: status %d, want an error page", bad, res.StatusCode)
		}
	}
}

// TestPromptNone covers oidcc-prompt-none-not-logged-in and
// oidcc-prompt-none-logged-in.
func TestPromptNone(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	v := oauth2.GenerateVerifier()
	b := s.browser()
	cb := b.authorize(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")), false)
	if got := cb.Query().Get("error"); got != "login_required" || cb.Query().Get("iss") != s.url || cb.Query().Get("state") != "s1" {
		t.Errorf("prompt=none without a session: %s, want error=login_required with state and iss", cb)
	}
	b.authorize(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)), true)
	cb = b.authorize(conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")), false)
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != "s3" {
		t.Errorf("prompt=none with a session: %s, want a code", cb)
	}
}

// TestPKCE: S256 only; required for public clients; a challenge sent at
// authorization must be answered at the token endpoint (no downgrade).
func TestPKCE(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	b := s.browser()
	b.authorize(conf.AuthCodeURL("warm-up", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), true)

	public := *conf
	public.ClientID, public.ClientSecret, public.RedirectURL = "spa", "", s.rp.URL+"/spa"
	for _, tc := range []struct {
		name string
		conf *oauth2.Config
		opts []oauth2.AuthCodeOption
	}{
		{"public client without PKCE", &public, nil},
		{"plain method", conf, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := b.authorize(tc.conf.AuthCodeURL("s", tc.opts...), false)
			if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("code") != "" {
				t.Errorf("got %s, want error=invalid_request and no code", cb)
			}
		})
	}

	v := oauth2.GenerateVerifier()
	for _, tc := range []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"downgrade: no verifier", nil},
		{"wrong verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := b.authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), false)
			if _, err := conf.Exchange(ctx, cb.Query().Get("code"), tc.opts...); err == nil {
				t.Error("code exchanged without the right code_verifier")
			}
		})
	}
	cb := b.authorize(public.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), false)
	if _, err := public.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Errorf("public client with PKCE: %v", err)
	}
}

// TestDiscoveryIsTrue is the Config OP plan's discovery check: the
// document names this issuer and advertises only what is supported.
func TestDiscoveryIsTrue(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	res, err := http.Get(s.url + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                           s.url,
		"jwks_uri":                         s.url + "/keys",
		"authorization_endpoint":           s.url + "/authorize",
		"response_types_supported":         []any{"code"},
		"code_challenge_methods_supported": []any{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    nil,
		"request_uri_parameter_supported":                false,
	}
	for k, v := range want {
		if got := d[k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, g := range d["grant_types_supported"].([]any) {
		if g == "implicit" || g == "password" {
			t.Errorf("discovery advertises the %s grant", g)
		}
	}
	if _, ok := d["device_authorization_endpoint"]; ok {
		t.Error("discovery advertises a device endpoint that is not served")
	}
	keys, err := http.Get(s.url + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Body.Close()
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(keys.Body).Decode(&jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("jwks: %v %v", jwks, err)
	}
	for _, k := range jwks.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %v carries private member %s", k["kid"], private)
			}
		}
		if k["kid"] == nil || k["alg"] == nil || k["use"] != "sig" {
			t.Errorf("JWKS key lacks kid, alg or use: %v", k)
		}
	}
}
