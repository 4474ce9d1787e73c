package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// Tests of what Portvakt adds to the framework through its server
// extension points: RFC 9068 access tokens, per-client ID token algorithms,
// pairwise subjects, the claims parameter, PAR and resource indicators.

// withClient registers another client, a copy of the web app changed by
// change.
func withClient(id string, change func(*oidc.Client)) func(*oidc.Config) {
	return func(cfg *oidc.Config) {
		tc := cfg.Clients.(testClients)
		e := tc[clientID]
		e.c.ID = id
		change(&e.c)
		tc[id] = e
	}
}

// jwtParts decodes a JWT's header and payload without checking it.
func jwtParts(t *testing.T, raw string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS in compact form: %q", raw)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

// flowFor runs the code flow for client id (secret as registered) with
// extra authorization parameters, and returns the token response.
func flowFor(t *testing.T, s *stack, id string, params url.Values, scopes ...string) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	conf := s.clientConfig(ctx, id, clientSecret, "/callback", append([]string{"openid"}, scopes...)...)
	v := oauth2.GenerateVerifier()
	u, _ := url.Parse(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
	q := u.Query()
	for k, vs := range params {
		q[k] = vs // repeated parameters too, such as resource
	}
	u.RawQuery = q.Encode()
	cb := s.browser().authorize(u.String(), true)
	if cb.Query().Get("code") == "" {
		t.Fatalf("authorization for %s: %s", id, cb)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange for %s: %v", id, err)
	}
	return tok
}

// TestAccessTokensAreRFC9068 checks the JWT access token profile: typ
// at+jwt, ES256, and the claims of section 2.2.
func TestAccessTokensAreRFC9068(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		tok, idt := codeFlow(t, s, "email")
		h, p := jwtParts(t, tok.AccessToken)
		if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != s.keys.ec.id {
			t.Errorf("access token header = %v, want typ at+jwt, alg ES256, kid %s", h, s.keys.ec.id)
		}
		if p["iss"] != s.url || p["sub"] != idt.Subject || p["client_id"] != clientID || p["jti"] == nil ||
			p["scope"] != "openid email" || p["iat"] == nil || p["exp"] == nil || p["auth_time"] == nil {
			t.Errorf("access token claims = %v", p)
		}
		if p["aud"] != clientID {
			t.Errorf("aud = %v, want the client when it has no audience configured", p["aud"])
		}
		// The signature verifies with the published EC key.
		obj, err := jose.ParseSignedCompact(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Verify(s.keys.ec.pub); err != nil {
			t.Errorf("access token signature: %v", err)
		}
		// A token with another typ (an ID token, also signed by this
		// provider) is not an access token.
		if got := userinfoStatus(t, s, tok.Extra("id_token").(string)); got != http.StatusUnauthorized {
			t.Errorf("userinfo with an ID token as bearer token: %d, want 401", got)
		}
	})
}

// TestIDTokenClaims: sid, azp, auth_time, acr, amr and a correct at_hash.
func TestIDTokenClaims(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	tok, idt := codeFlow(t, s)
	var c struct {
		SID      string   `json:"sid"`
		AZP      string   `json:"azp"`
		AuthTime int64    `json:"auth_time"`
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.SID == "" || c.AZP != clientID || c.AuthTime == 0 || c.ACR != "urn:portvakt:loa:low" || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Errorf("ID token claims = %+v, want sid, azp %s, auth_time, acr urn:portvakt:loa:low and amr [pwd]", c, clientID)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	// Another sign-in in another browser is another session.
	_, idt2 := codeFlow(t, s)
	var c2 struct {
		SID string `json:"sid"`
	}
	_ = idt2.Claims(&c2)
	if c2.SID == "" || c2.SID == c.SID {
		t.Errorf("sid of a second session = %q, want another than %q", c2.SID, c.SID)
	}
}

// TestIDTokenAlgorithmPerClient: RS256 by default, ES256 or EdDSA when the
// client is registered so, each verifiable with go-oidc.
func TestIDTokenAlgorithmPerClient(t *testing.T) {
	s := newStack(t, storetest.SQLite(),
		withClient("es-app", func(c *oidc.Client) { c.IDTokenAlg = "ES256" }),
		withClient("ed-app", func(c *oidc.Client) { c.IDTokenAlg = "EdDSA" }))
	ctx := context.Background()
	p, err := gooidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ client, alg string }{{clientID, "RS256"}, {"es-app", "ES256"}, {"ed-app", "EdDSA"}} {
		tok := flowFor(t, s, tc.client, nil)
		raw := tok.Extra("id_token").(string)
		if h, _ := jwtParts(t, raw); h["alg"] != tc.alg {
			t.Errorf("%s: ID token alg %v, want %s", tc.client, h["alg"], tc.alg)
		}
		v := p.Verifier(&gooidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.alg}})
		idt, err := v.Verify(ctx, raw)
		if err != nil {
			t.Errorf("%s: verify the %s ID token: %v", tc.client, tc.alg, err)
			continue
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("%s: at_hash with %s: %v", tc.client, tc.alg, err)
		}
	}
}

// TestPairwiseSubjects: clients of one sector see the same sub, clients of
// another sector a different one, and none sees the user ID; userinfo and
// introspection agree with the ID token.
func TestPairwiseSubjects(t *testing.T) {
	s := newStack(t, storetest.SQLite(),
		withClient("shop-a", func(c *oidc.Client) { c.Sector = "shop.example" }),
		withClient("shop-b", func(c *oidc.Client) { c.Sector = "shop.example" }),
		withClient("bank", func(c *oidc.Client) { c.Sector = "bank.example" }))
	_, public := codeFlow(t, s)
	subs := map[string]string{}
	for _, id := range []string{"shop-a", "shop-b", "bank"} {
		tok := flowFor(t, s, id, nil)
		_, p := jwtParts(t, tok.Extra("id_token").(string))
		sub, _ := p["sub"].(string)
		subs[id] = sub
		if info := userinfoClaims(t, s, tok, "get"); info["sub"] != sub {
			t.Errorf("%s: userinfo sub %v, ID token sub %s", id, info["sub"], sub)
		}
		if _, ap := jwtParts(t, tok.AccessToken); ap["sub"] != sub {
			t.Errorf("%s: access token sub %v, ID token sub %s", id, ap["sub"], sub)
		}
		if m := s.introspectAs(id, clientSecret, tok.AccessToken); m["sub"] != sub {
			t.Errorf("%s: introspection sub %v, ID token sub %s", id, m["sub"], sub)
		}
	}
	if subs["shop-a"] == "" || subs["shop-a"] != subs["shop-b"] {
		t.Errorf("one sector, two subs: %v", subs)
	}
	if subs["bank"] == subs["shop-a"] || subs["bank"] == public.Subject || subs["shop-a"] == public.Subject {
		t.Errorf("pairwise subs %v must differ between sectors and from the public sub %s", subs, public.Subject)
	}
}

// TestOIDCCClaimsEssential is oidcc-claims-essential: the name claim asked
// for as essential in userinfo is returned although the profile scope was
// not requested; a claim asked for in the ID token is in the ID token.
func TestOIDCCClaimsEssential(t *testing.T) {
	s, _, run := signedIn(t)
	tok, idt, _ := run(map[string]string{"claims": `{"userinfo":{"name":{"essential":true}},"id_token":{"email":null,"sub":{"value":"someone-else"}}}`})
	info := userinfoClaims(t, s, tok, "get")
	if info["name"] != "Ada Lovelace" {
		t.Errorf("userinfo = %v, want the essential name", info)
	}
	if _, ok := info["email"]; ok {
		t.Errorf("userinfo = %v: email was neither in scope nor asked for there", info)
	}
	var c map[string]any
	_ = idt.Claims(&c)
	if c["email"] != "ada@example.com" {
		t.Errorf("ID token = %v, want the email the claims parameter asked for", c)
	}
	if c["sub"] != idt.Subject || c["sub"] == "someone-else" {
		t.Errorf("the claims parameter changed sub: %v", c["sub"])
	}
	// A claims parameter that is not JSON is refused at the client.
	_, _, cb := run(map[string]string{"claims": `{"userinfo":`})
	if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("code") != "" {
		t.Errorf("malformed claims: redirect %s, want error=invalid_request", cb)
	}
}

// par pushes an authorization request for the web app.
func par(t *testing.T, s *stack, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	return s.postJSON("/oauth/par", id, secret, form)
}

// TestPushedAuthorizationRequests covers RFC 9126: the request is pushed
// with client authentication, the browser brings only its request_uri,
// which works once and for a minute, for its own client only; a client
// that must push cannot send a plain request.
func TestPushedAuthorizationRequests(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e, withClient("strict", func(c *oidc.Client) { c.RequirePAR = true }))
		ctx := context.Background()
		v := oauth2.GenerateVerifier()
		form := url.Values{
			"response_type": {"code"}, "client_id": {"strict"}, "redirect_uri": {s.rp.URL + "/callback"},
			"scope": {"openid email"}, "state": {"pushed-state"}, "nonce": {"n1"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		status, m := par(t, s, "strict", clientSecret, form)
		uri, _ := m["request_uri"].(string)
		if status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || m["expires_in"] != float64(60) {
			t.Fatalf("PAR: %d %v, want 201 with a request_uri valid 60 s", status, m)
		}
		authURL := s.url + "/authorize?" + url.Values{
			"client_id": {"strict"}, "request_uri": {uri},
			// Parameters beside request_uri are not used.
			"state": {"injected"}, "scope": {"openid profile"},
		}.Encode()
		b := s.browser()
		cb := b.authorize(authURL, true)
		if cb.Query().Get("state") != "pushed-state" || cb.Query().Get("code") == "" || !strings.HasPrefix(cb.String(), s.rp.URL+"/callback") {
			t.Fatalf("authorization with the request_uri: %s, want a code and the pushed state at the pushed redirect URI", cb)
		}
		conf := s.clientConfig(ctx, "strict", clientSecret, "/callback", "openid", "email")
		tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if _, p := jwtParts(t, tok.Extra("id_token").(string)); p["nonce"] != "n1" {
			t.Errorf("ID token nonce %v, want the pushed one", p["nonce"])
		}
		if tok.Extra("scope") != "openid email" {
			t.Errorf("granted scope %v, want the pushed openid email", tok.Extra("scope"))
		}

		// The request_uri works once.
		if code := refused(t, s, authURL); code != http.StatusBadRequest {
			t.Errorf("second use of the request_uri: %d, want 400 on the provider's page", code)
		}
		// And for a minute.
		_, m = par(t, s, "strict", clientSecret, form)
		late := s.url + "/authorize?" + url.Values{"client_id": {"strict"}, "request_uri": {m["request_uri"].(string)}}.Encode()
		s.clock.advance(61 * time.Second)
		if code := refused(t, s, late); code != http.StatusBadRequest {
			t.Errorf("request_uri after a minute: %d, want 400", code)
		}
		// Only for the client that pushed it.
		_, m = par(t, s, "strict", clientSecret, form)
		other := s.url + "/authorize?" + url.Values{"client_id": {clientID}, "request_uri": {m["request_uri"].(string)}}.Encode()
		if code := refused(t, s, other); code != http.StatusBadRequest {
			t.Errorf("request_uri of another client: %d, want 400", code)
		}
		// A client that must push cannot send a plain request.
		plain := s.url + "/authorize?" + form.Encode()
		if code := refused(t, s, plain); code != http.StatusBadRequest {
			t.Errorf("plain request of a client that must push: %d, want 400", code)
		}

		// What the PAR endpoint refuses.
		for _, tc := range []struct {
			name, id, secret string
			change           url.Values
			status           int
			code             string
		}{
			{"no client authentication", "", "", nil, http.StatusUnauthorized, "invalid_client"},
			{"wrong secret", "strict", "wrong", nil, http.StatusUnauthorized, "invalid_client"},
			{"unregistered redirect_uri", "strict", clientSecret, url.Values{"redirect_uri": {"https://evil.example/cb"}}, http.StatusBadRequest, "invalid_request"},
			{"another client_id", "strict", clientSecret, url.Values{"client_id": {clientID}}, http.StatusBadRequest, "invalid_request"},
			{"request_uri pushed", "strict", clientSecret, url.Values{"request_uri": {"urn:x"}}, http.StatusBadRequest, "invalid_request"},
			{"request object", "strict", clientSecret, url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}}, http.StatusBadRequest, "request_not_supported"},
			{"implicit", "strict", clientSecret, url.Values{"response_type": {"token"}}, http.StatusBadRequest, "unsupported_response_type"},
			{"plain PKCE", "strict", clientSecret, url.Values{"code_challenge_method": {"plain"}}, http.StatusBadRequest, "invalid_request"},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for k, v := range tc.change {
				f[k] = v
			}
			if status, m := par(t, s, tc.id, tc.secret, f); status != tc.status || m["error"] != tc.code || m["request_uri"] != nil {
				t.Errorf("PAR with %s: %d %v, want %d %s", tc.name, status, m, tc.status, tc.code)
			}
		}
	})
}

// refused opens an authorization URL and returns the provider's status; it
// fails the test if the browser is sent to the client.
func refused(t *testing.T, s *stack, authURL string) int {
	t.Helper()
	b := s.browser()
	res, err := b.c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if loc, _ := res.Location(); loc != nil && strings.HasPrefix(loc.String(), s.rp.URL) {
		t.Errorf("%s redirected to the client: %s", authURL, loc)
	}
	// The person sees a page of Portvakt's, not the protocol's JSON.
	if ct := res.Header.Get("Content-Type"); res.StatusCode >= 400 && (!strings.HasPrefix(ct, "text/html") ||
		!strings.Contains(string(body), "<h1>The application&#39;s sign-in request cannot be used</h1>")) {
		t.Errorf("%s: %s page, want the hosted error page:\n%.400s", authURL, ct, body)
	}
	return res.StatusCode
}

// TestResourceIndicators covers RFC 8707: a resource the client is
// registered for becomes the access token's audience, may be narrowed at
// the token endpoint, and anything else is invalid_target.
func TestResourceIndicators(t *testing.T) {
	const api, other = "https://api.example.com/", "https://reports.example.com/"
	s := newStack(t, storetest.SQLite(), withClient("api-app", func(c *oidc.Client) {
		c.Audience = []string{api, other}
		c.JWTAccessTokens = true
	}))
	tok := flowFor(t, s, "api-app", url.Values{"resource": {api, other}}, "offline_access")
	if _, p := jwtParts(t, tok.AccessToken); !sameAud(p["aud"], api, other) {
		t.Errorf("aud = %v, want both resources", p["aud"])
	}
	// A refresh may narrow to one of them, not widen.
	status, m := s.postJSON("/oauth/token", "api-app", clientSecret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {other},
	})
	if status != http.StatusOK {
		t.Fatalf("refresh narrowed to one resource: %d %v", status, m)
	}
	if _, p := jwtParts(t, m["access_token"].(string)); !sameAud(p["aud"], other) {
		t.Errorf("aud after narrowing = %v, want %s", p["aud"], other)
	}
	status, m = s.postJSON("/oauth/token", "api-app", clientSecret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "resource": {"https://elsewhere.example/"},
	})
	if status != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Errorf("refresh with an unregistered resource: %d %v, want invalid_target", status, m)
	}
	// An unregistered resource at the authorization endpoint goes back to
	// the client as invalid_target.
	ctx := context.Background()
	conf := s.clientConfig(ctx, "api-app", clientSecret, "/callback", "openid")
	cb := s.browser().authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("resource", "https://elsewhere.example/")), true)
	if cb.Query().Get("error") != "invalid_target" {
		t.Errorf("authorization with an unregistered resource: %s, want error=invalid_target", cb)
	}
	cb = s.browser().authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("resource", "api#fragment")), true)
	if cb.Query().Get("error") != "invalid_target" {
		t.Errorf("authorization with a relative resource: %s, want error=invalid_target", cb)
	}
}

func sameAud(aud any, want ...string) bool {
	var got []string
	switch a := aud.(type) {
	case string:
		got = []string{a}
	case []any:
		for _, v := range a {
			s, _ := v.(string)
			got = append(got, s)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// TestPKCEVerifierChecks: a wrong verifier does not redeem the code, the
// right one still can; a verifier for a request without a challenge is a
// downgrade and refused.
func TestPKCEVerifierChecks(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	conf, _ := s.oauth2Config(ctx)
	v := oauth2.GenerateVerifier()
	cb := s.browser().authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), true)
	code := cb.Query().Get("code")
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthError(err) != "invalid_grant" {
		t.Errorf("wrong verifier: %v, want invalid_grant", err)
	}
	if _, err := conf.Exchange(ctx, code); oauthError(err) != "invalid_grant" {
		t.Errorf("no verifier: %v, want invalid_grant", err)
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
		t.Errorf("right verifier after wrong ones: %v", err)
	}
	cb = s.browser().authorize(conf.AuthCodeURL("s"), true)
	if _, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v)); oauthError(err) != "invalid_grant" {
		t.Errorf("verifier without a challenge: %v, want invalid_grant", err)
	}
}

// TestPrivateKeyJWTAtTheTokenEndpoint: a client that authenticates with a
// signed assertion gets a token once per assertion; a replay, and an
// assertion signed by another key, get invalid_client.
func TestPrivateKeyJWTAtTheTokenEndpoint(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	s := newStack(t, storetest.SQLite(), withClient("signer", func(c *oidc.Client) {
		c.AuthMethod, c.JWKS, c.GrantTypes, c.Scopes = "private_key_jwt", jwks, []string{"client_credentials"}, []string{"portvakt:users:read"}
	}))
	assertion := func(k *ecdsa.PrivateKey, aud string) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: "k1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: "signer", Subject: "signer", Audience: jwt.Audience{aud}, ID: rand.Text(),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"portvakt:users:read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	}
	a := assertion(key, s.url+"/oauth/token")
	status, m := s.postJSON("/oauth/token", "", "", form(a))
	if status != http.StatusOK || m["access_token"] == nil {
		t.Fatalf("client_credentials with private_key_jwt: %d %v", status, m)
	}
	if _, p := jwtParts(t, m["access_token"].(string)); p["client_id"] != "signer" {
		t.Errorf("access token client_id = %v, want signer", p["client_id"])
	}
	if status, m := s.postJSON("/oauth/token", "", "", form(a)); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("replayed assertion: %d %v, want 401 invalid_client", status, m)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if status, m := s.postJSON("/oauth/token", "", "", form(assertion(other, s.url))); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("assertion signed by another key: %d %v, want 401 invalid_client", status, m)
	}
	if status, m := s.postJSON("/oauth/token", "", "", form(assertion(key, "https://elsewhere.example"))); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("assertion for another audience: %d %v, want 401 invalid_client", status, m)
	}
	// A secret is not how this client authenticates.
	if status, m := s.postJSON("/oauth/token", "signer", clientSecret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("private_key_jwt client with a secret: %d %v, want 401 invalid_client", status, m)
	}
}

// TestTokenEndpointCORS: a browser app on another origin may call the
// token endpoint (preflight and the POST itself), without credentials.
func TestTokenEndpointCORS(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	const origin = "https://spa.example"
	pre, _ := http.NewRequest(http.MethodOptions, s.url+"/oauth/token", nil)
	pre.Header.Set("Origin", origin)
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v, want the origin and POST allowed", res.StatusCode, res.Header)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/oauth/token", strings.NewReader("grant_type=refresh_token&refresh_token=x&client_id=spa"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Access-Control-Allow-Origin") != origin || res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("POST from another origin: %d %v, want 400 (a bad refresh token) readable by the origin, without credentials", res.StatusCode, res.Header)
	}
}

// TestAuthorizeErrorPage: a request that cannot be answered at the
// application (an unknown client, an unregistered redirect URI) shows a
// page in the application's language, with the protocol error for its
// developers, and never redirects.
func TestAuthorizeErrorPage(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string
	}{
		{"unknown client", url.Values{"client_id": {"nobody"}, "response_type": {"code"}, "scope": {"openid"},
			"redirect_uri": {s.rp.URL + "/callback"}, "ui_locales": {"sv"}}, "Tjänstens inloggningsbegäran kan inte användas"},
		{"unregistered redirect URI", url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid"},
			"redirect_uri": {"https://evil.example/cb"}, "ui_locales": {"fi"}}, "Sovelluksen kirjautumispyyntöä ei voi käyttää"},
	} {
		res, err := s.browser().c.Get(s.url + "/authorize?" + tc.query.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<h1>"+tc.want+"</h1>") ||
			!strings.Contains(string(body), "invalid_request") || res.Header.Get("Location") != "" {
			t.Errorf("%s: %d, want 400 and the page in its language naming invalid_request:\n%.600s", tc.name, res.StatusCode, body)
		}
	}
}

// TestClientCredentialsNotInTheURL: a secret in the query string is never
// taken as authentication.
func TestClientCredentialsNotInTheURL(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	q := url.Values{"client_id": {backend}, "client_secret": {backendSecret}}.Encode()
	for _, tc := range []struct {
		path string
		body url.Values
	}{
		{"/oauth/token?" + q, url.Values{"grant_type": {"client_credentials"}}},
		{"/revoke?" + q, url.Values{"token": {"x"}}},
		{"/oauth/introspect?" + q, url.Values{"token": {"x"}}},
		{"/oauth/par?" + q, url.Values{"response_type": {"code"}}},
	} {
		res, err := http.PostForm(s.url+tc.path, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || strings.Contains(string(body), "access_token") || strings.Contains(string(body), "request_uri") {
			t.Errorf("POST %s with the secret in the URL: %d %s, want a refusal", tc.path, res.StatusCode, body)
		}
	}
}
