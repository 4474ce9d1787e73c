package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
)

// The OAuth error codes the tests expect.
const (
	invalidClient  = string(zoidc.InvalidClient)
	invalidRequest = string(zoidc.InvalidRequest)
	serverError    = string(zoidc.ServerError)
)

const (
	testIssuer   = "https://id.example.com"
	testTokenURL = testIssuer + "/oauth/token"
)

// authClients is a client registry for the authenticator's tests.
type authClients map[string]authClient

type authClient struct {
	c      Client
	secret string
}

func (cs authClients) LookupClient(_ context.Context, id string) (Client, error) {
	e, ok := cs[id]
	if !ok {
		return Client{}, ErrNotFound
	}
	return e.c, nil
}

func (cs authClients) CheckClientSecret(_ context.Context, id, secret string) error {
	e := cs[id]
	if e.secret == "" || subtle.ConstantTimeCompare([]byte(e.secret), []byte(secret)) != 1 {
		return errors.New("invalid client")
	}
	return nil
}

// memAssertions is an AssertionStore in memory.
type memAssertions struct {
	mu   sync.Mutex
	seen map[[2]string]time.Time
}

func (m *memAssertions) UseClientAssertion(_ context.Context, clientID, jti string, expires, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[[2]string]time.Time{}
	}
	k := [2]string{clientID, jti}
	if exp, ok := m.seen[k]; ok && exp.After(now) {
		return fmt.Errorf("%s/%s: %w", clientID, jti, ErrAssertionReplayed)
	}
	m.seen[k] = expires
	return nil
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var authBase = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// signingKey is a client's private key.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// public is the key's public JWK, as a client registers it.
func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign makes a compact JWS of claims with k; an empty kid leaves kid out
// of the header.
func (k signingKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if k.kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts.WithType("JWT"))
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newSigningKey makes a key for alg.
func newSigningKey(t testing.TB, kid string, alg jose.SignatureAlgorithm) signingKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: alg, priv: priv}
}

// jwksOf is the public key set of keys, as JSON.
func jwksOf(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var jtiCounter atomic.Int64

// claimsFor is a valid assertion of client id at now.
func claimsFor(id string, now time.Time) map[string]any {
	return map[string]any{
		"iss": id, "sub": id, "aud": testTokenURL,
		"exp": now.Add(2 * time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprintf("jti-%d", jtiCounter.Add(1)),
	}
}

func with(claims map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// authFixture is an authenticator with one client of each method.
type authFixture struct {
	auth    *clientAuth
	clock   *testClock
	clients authClients
	keys    map[jose.SignatureAlgorithm]signingKey
	store   *memAssertions
}

// Keys are slow to make; the tests share them.
var (
	fixtureKeysOnce sync.Once
	fixtureKeys     map[jose.SignatureAlgorithm]signingKey
)

func sharedKeys(t testing.TB) map[jose.SignatureAlgorithm]signingKey {
	fixtureKeysOnce.Do(func() {
		fixtureKeys = map[jose.SignatureAlgorithm]signingKey{}
		for _, alg := range assertionAlgs {
			fixtureKeys[alg] = newSigningKey(t, "k-"+strings.ToLower(string(alg)), alg)
		}
	})
	return fixtureKeys
}

const (
	basicID     = "web shop:1"
	basicSecret = "s3cr+t/%=é"
	postID      = "poster"
	postSecret  = "post-secret"
	jwtID       = "signer"
	publicID    = "spa"
)

func newAuthFixture(t testing.TB) *authFixture {
	keys := sharedKeys(t)
	var all []signingKey
	for _, alg := range assertionAlgs {
		all = append(all, keys[alg])
	}
	f := &authFixture{
		clock: &testClock{t: authBase},
		keys:  keys,
		store: &memAssertions{},
		clients: authClients{
			basicID:  {c: Client{ID: basicID, AuthMethod: authSecretBasic}, secret: basicSecret},
			postID:   {c: Client{ID: postID, AuthMethod: authSecretPost}, secret: postSecret},
			jwtID:    {c: Client{ID: jwtID, AuthMethod: authPrivateKeyJWT, JWKS: jwksOf(t, all...)}},
			publicID: {c: Client{ID: publicID, AuthMethod: authNone}},
		},
	}
	f.auth = newClientAuth(f.clients, f.store, testIssuer, testTokenURL, nil, f.clock.now)
	return f
}

func basicHeader(id, secret string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	return h
}

func assertionForm(assertion string, kv ...string) url.Values {
	v := url.Values{"client_assertion_type": {assertionTypeJWT}, "client_assertion": {assertion}}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestAuthenticateSucceeds(t *testing.T) {
	f := newAuthFixture(t)
	now := f.clock.now()
	rs := f.keys[jose.RS256]
	noKid := f.keys[jose.ES256]
	noKid.kid = ""
	tests := []struct {
		name   string
		header http.Header
		form   url.Values
		want   string
	}{
		{"client_secret_basic", basicHeader(basicID, basicSecret), url.Values{}, basicID},
		{"client_secret_basic with the same client_id in the form", basicHeader(basicID, basicSecret), url.Values{"client_id": {basicID}}, basicID},
		{"client_secret_basic, lower-case scheme", http.Header{"Authorization": {"basic " + strings.TrimPrefix(basicHeader(basicID, basicSecret).Get("Authorization"), "Basic ")}}, url.Values{}, basicID},
		{"client_secret_post", nil, url.Values{"client_id": {postID}, "client_secret": {postSecret}}, postID},
		{"none", nil, url.Values{"client_id": {publicID}}, publicID},
		// Either way of sending a secret works for a client with a secret.
		{"client_secret_basic client sends it in the form", nil, url.Values{"client_id": {basicID}, "client_secret": {basicSecret}}, basicID},
		{"client_secret_post client sends it in the header", basicHeader(postID, postSecret), url.Values{}, postID},
		{"private_key_jwt without kid", nil, assertionForm(noKid.sign(t, claimsFor(jwtID, now))), jwtID},
		{"private_key_jwt with client_id", nil, assertionForm(rs.sign(t, claimsFor(jwtID, now)), "client_id", jwtID), jwtID},
		{"private_key_jwt, aud the issuer", nil, assertionForm(rs.sign(t, with(claimsFor(jwtID, now), "aud", testIssuer))), jwtID},
		{"private_key_jwt, aud a list with the token endpoint", nil, assertionForm(rs.sign(t, with(claimsFor(jwtID, now), "aud", []string{"https://other.example.com", testTokenURL}))), jwtID},
		{"private_key_jwt, expired within the leeway", nil, assertionForm(rs.sign(t, with(claimsFor(jwtID, now), "exp", now.Add(-10*time.Second).Unix()))), jwtID},
		{"private_key_jwt, nbf and iat within the leeway", nil, assertionForm(rs.sign(t, with(claimsFor(jwtID, now), "nbf", now.Add(20*time.Second).Unix(), "iat", now.Add(20*time.Second).Unix()))), jwtID},
		{"private_key_jwt, exp 10 minutes ahead", nil, assertionForm(rs.sign(t, with(claimsFor(jwtID, now), "exp", now.Add(maxAssertionLifetime).Unix()))), jwtID},
	}
	for _, alg := range assertionAlgs {
		tests = append(tests, struct {
			name   string
			header http.Header
			form   url.Values
			want   string
		}{"private_key_jwt " + string(alg), nil, assertionForm(f.keys[alg].sign(t, claimsFor(jwtID, now))), jwtID})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.auth.authenticate(t.Context(), tc.header, tc.form)
			if err != nil {
				t.Fatalf("authenticate: got %v, want client %q", err, tc.want)
			}
			if c.ID != tc.want {
				t.Errorf("authenticate: got client %q, want %q", c.ID, tc.want)
			}
		})
	}
}

// checkAuthErr checks that err is an OAuth error of type want whose
// description contains desc.
func checkAuthErr(t *testing.T, err error, want string, desc string) {
	t.Helper()
	var oe *zoidc.Error
	if !errors.As(err, &oe) {
		t.Fatalf("got %v, want an OAuth error %s", err, want)
	}
	if string(oe.ErrorType) != want || !strings.Contains(oe.Description, desc) {
		t.Errorf("got %s %q, want %s containing %q", oe.ErrorType, oe.Description, want, desc)
	}
}

func TestAuthenticateFails(t *testing.T) {
	f := newAuthFixture(t)
	now := f.clock.now()
	rs := f.keys[jose.RS256]
	valid := func() map[string]any { return claimsFor(jwtID, now) }
	other := newSigningKey(t, rs.kid, jose.RS256) // same kid, other key
	otherKid := newSigningKey(t, "unknown", jose.ES256)
	const failed = "client authentication failed"

	pub, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubPEM}, (&jose.SignerOptions{}).WithHeader("kid", rs.kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(valid())
	hsObj, err := hs.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	hsToken, _ := hsObj.CompactSerialize()

	enc := base64.RawURLEncoding.EncodeToString
	noneToken := enc([]byte(`{"alg":"none","kid":"`+rs.kid+`"}`)) + "." + enc(b) + "."

	// The RSA signature's last base64url character carries four spare
	// bits; setting one gives another string for the same bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	canonical := rs.sign(t, valid())
	last := strings.IndexByte(alphabet, canonical[len(canonical)-1])
	nonCanonical := canonical[:len(canonical)-1] + string(alphabet[last^1])

	tests := []struct {
		name   string
		header http.Header
		form   url.Values
		typ    string
		desc   string
	}{
		{"unknown client", basicHeader("nobody", basicSecret), url.Values{}, invalidClient, failed},
		{"wrong secret", basicHeader(basicID, "wrong"), url.Values{}, invalidClient, failed},
		{"unknown client, post", nil, url.Values{"client_id": {"nobody"}, "client_secret": {"x"}}, invalidClient, failed},
		{"unknown public client", nil, url.Values{"client_id": {"nobody"}}, invalidClient, failed},
		{"basic client sends only client_id", nil, url.Values{"client_id": {basicID}}, invalidClient, failed},
		{"private_key_jwt client sends a secret", basicHeader(jwtID, "anything"), url.Values{}, invalidClient, failed},
		{"private_key_jwt client sends only client_id", nil, url.Values{"client_id": {jwtID}}, invalidClient, failed},
		{"public client sends a secret", nil, url.Values{"client_id": {publicID}, "client_secret": {"x"}}, invalidClient, failed},
		{"public client sends an assertion", nil, assertionForm(rs.sign(t, claimsFor(publicID, now))), invalidClient, failed},
		{"secret client sends an assertion", nil, assertionForm(rs.sign(t, claimsFor(postID, now))), invalidClient, failed},
		{"unknown client's assertion", nil, assertionForm(rs.sign(t, claimsFor("nobody", now))), invalidClient, failed},
		{"no authentication", nil, url.Values{}, invalidClient, "no client authentication"},

		{"basic and post", basicHeader(basicID, basicSecret), url.Values{"client_id": {basicID}, "client_secret": {basicSecret}}, invalidRequest, "one client authentication method"},
		{"basic and assertion", basicHeader(basicID, basicSecret), assertionForm(rs.sign(t, valid())), invalidRequest, "one client authentication method"},
		{"post and assertion", nil, assertionForm(rs.sign(t, valid()), "client_secret", "x", "client_id", jwtID), invalidRequest, "one client authentication method"},
		{"client_id twice", nil, url.Values{"client_id": {publicID, publicID}}, invalidRequest, "more than once"},
		{"client_assertion twice", nil, url.Values{"client_assertion_type": {assertionTypeJWT}, "client_assertion": {"a", "b"}}, invalidRequest, "more than once"},
		{"two Authorization headers", http.Header{"Authorization": {"Basic eDp5", "Basic eDp5"}}, url.Values{}, invalidRequest, "more than once"},
		{"Basic not base64", http.Header{"Authorization": {"Basic !!!"}}, url.Values{}, invalidRequest, "malformed Basic"},
		{"Basic without colon", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("abc"))}}, url.Values{}, invalidRequest, "malformed Basic"},
		{"Basic with bad form encoding", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("a:%zz"))}}, url.Values{}, invalidRequest, "malformed Basic"},
		{"Basic and another client_id", basicHeader(basicID, basicSecret), url.Values{"client_id": {postID}}, invalidRequest, "client_id differs"},
		{"client_secret without client_id", nil, url.Values{"client_secret": {postSecret}}, invalidRequest, "needs client_id"},
		{"wrong client_assertion_type", nil, url.Values{"client_assertion_type": {"urn:x"}, "client_assertion": {rs.sign(t, valid())}}, invalidRequest, "client_assertion_type must be"},
		{"client_assertion_type alone", nil, url.Values{"client_assertion_type": {assertionTypeJWT}}, invalidRequest, "needs client_assertion"},

		{"wrong iss", nil, assertionForm(rs.sign(t, with(valid(), "iss", "someone"))), invalidClient, "iss and sub must both be the client ID"},
		{"wrong sub", nil, assertionForm(rs.sign(t, with(valid(), "sub", "someone"))), invalidClient, "iss and sub must both be the client ID"},
		{"iss and sub another client", nil, assertionForm(rs.sign(t, with(valid(), "iss", postID, "sub", postID))), invalidClient, failed},
		{"no iss", nil, assertionForm(rs.sign(t, with(valid(), "iss", nil))), invalidClient, "must have iss and sub"},
		{"client_id differs", nil, assertionForm(rs.sign(t, valid()), "client_id", postID), invalidClient, "client_id differs"},
		{"wrong aud", nil, assertionForm(rs.sign(t, with(valid(), "aud", "https://other.example.com/token"))), invalidClient, "aud must be"},
		{"aud the introspection endpoint", nil, assertionForm(rs.sign(t, with(valid(), "aud", testIssuer+"/oauth/introspect"))), invalidClient, "aud must be"},
		{"no aud", nil, assertionForm(rs.sign(t, with(valid(), "aud", nil))), invalidClient, "aud must be"},
		{"expired", nil, assertionForm(rs.sign(t, with(valid(), "exp", now.Add(-assertionLeeway).Unix()))), invalidClient, "expired"},
		{"no exp", nil, assertionForm(rs.sign(t, with(valid(), "exp", nil))), invalidClient, "must have exp"},
		{"too long-lived", nil, assertionForm(rs.sign(t, with(valid(), "exp", now.Add(maxAssertionLifetime+time.Second).Unix()))), invalidClient, "valid for too long"},
		{"nbf in the future", nil, assertionForm(rs.sign(t, with(valid(), "nbf", now.Add(time.Minute).Unix()))), invalidClient, "not valid yet"},
		{"iat in the future", nil, assertionForm(rs.sign(t, with(valid(), "iat", now.Add(time.Minute).Unix()))), invalidClient, "issued in the future"},
		{"no jti", nil, assertionForm(rs.sign(t, with(valid(), "jti", nil))), invalidClient, "must have jti"},
		{"jti too long", nil, assertionForm(rs.sign(t, with(valid(), "jti", strings.Repeat("j", maxJTISize+1)))), invalidClient, "jti is longer"},
		{"alg none", nil, assertionForm(noneToken), invalidClient, "not a compact JWT"},
		{"HS256 with the public key as secret", nil, assertionForm(hsToken), invalidClient, "not a compact JWT"},
		{"signed by an unknown key with a known kid", nil, assertionForm(other.sign(t, valid())), invalidClient, failed},
		{"signed by an unknown key", nil, assertionForm(otherKid.sign(t, valid())), invalidClient, failed},
		{"signed by an unknown key without kid", nil, assertionForm(signingKey{alg: jose.ES256, priv: otherKid.priv}.sign(t, valid())), invalidClient, failed},
		{"kid of a key of another type", nil, assertionForm(signingKey{kid: rs.kid, alg: jose.ES256, priv: f.keys[jose.ES256].priv}.sign(t, valid())), invalidClient, failed},
		{"signature in non-canonical base64url", nil, assertionForm(nonCanonical), invalidClient, "not a compact JWT"},
		{"not a JWT", nil, assertionForm("not.a.jwt"), invalidClient, "not a compact JWT"},
		{"too large", nil, assertionForm(strings.Repeat("a", maxAssertionSize+1)), invalidClient, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.auth.authenticate(t.Context(), tc.header, tc.form)
			if err == nil {
				t.Fatalf("authenticate: got client %q, want an error", c.ID)
			}
			checkAuthErr(t, err, tc.typ, tc.desc)
		})
	}

	t.Run("unknown client and wrong secret answer alike", func(t *testing.T) {
		_, unknown := f.auth.authenticate(t.Context(), basicHeader("nobody", basicSecret), url.Values{})
		_, wrong := f.auth.authenticate(t.Context(), basicHeader(basicID, "wrong"), url.Values{})
		var u, w *zoidc.Error
		if !errors.As(unknown, &u) || !errors.As(wrong, &w) {
			t.Fatalf("got %v and %v, want OAuth errors", unknown, wrong)
		}
		ju, _ := json.Marshal(u)
		jw, _ := json.Marshal(w)
		if string(ju) != string(jw) {
			t.Errorf("unknown client answers %s, wrong secret %s; want the same", ju, jw)
		}
	})
}

func TestAssertionReplay(t *testing.T) {
	f := newAuthFixture(t)
	tok := f.keys[jose.EdDSA].sign(t, claimsFor(jwtID, f.clock.now()))
	if _, err := f.auth.authenticate(t.Context(), nil, assertionForm(tok)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	f.clock.advance(time.Second)
	_, err := f.auth.authenticate(t.Context(), nil, assertionForm(tok))
	checkAuthErr(t, err, invalidClient, "already used")

	// A new assertion with the same jti is a replay too, until the first
	// one has expired.
	var cl map[string]any
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(b, &cl)
	again := f.keys[jose.ES256].sign(t, with(claimsFor(jwtID, f.clock.now()), "jti", cl["jti"]))
	_, err = f.auth.authenticate(t.Context(), nil, assertionForm(again))
	checkAuthErr(t, err, invalidClient, "already used")

	// The same jti from another client is another assertion.
	f.clients["signer2"] = authClient{c: Client{ID: "signer2", AuthMethod: authPrivateKeyJWT, JWKS: jwksOf(t, f.keys[jose.ES256])}}
	fromOther := f.keys[jose.ES256].sign(t, with(claimsFor("signer2", f.clock.now()), "jti", cl["jti"]))
	if _, err := f.auth.authenticate(t.Context(), nil, assertionForm(fromOther)); err != nil {
		t.Errorf("same jti from another client: %v", err)
	}
}

func TestAssertionKeysSkipped(t *testing.T) {
	f := newAuthFixture(t)
	now := f.clock.now()
	rs := f.keys[jose.RS256]
	// A private key and a symmetric key in the registered set are never
	// used, nor is an encryption key.
	private, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: rs.priv, KeyID: "private", Algorithm: "RS256"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"},
		{Key: f.keys[jose.ES256].priv.Public(), KeyID: "enc", Use: "enc"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.clients["odd"] = authClient{c: Client{ID: "odd", AuthMethod: authPrivateKeyJWT, JWKS: private}}
	for _, k := range []signingKey{
		{kid: "private", alg: jose.RS256, priv: rs.priv},
		{kid: "enc", alg: jose.ES256, priv: f.keys[jose.ES256].priv},
		{alg: jose.RS256, priv: rs.priv},
	} {
		_, err := f.auth.authenticate(t.Context(), nil, assertionForm(k.sign(t, claimsFor("odd", now))))
		checkAuthErr(t, err, invalidClient, "client authentication failed")
	}
}

// jwksServer serves a client's key set and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	jwks    []byte
	status  int
	fetches int
	handle  func(w http.ResponseWriter, r *http.Request) bool // handles the request when it returns true
}

func newJWKSServer(t *testing.T, jwks []byte) *jwksServer {
	s := &jwksServer{jwks: jwks, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.fetches++
		jwks, status, handle := s.jwks, s.status, s.handle
		s.mu.Unlock()
		if handle != nil && handle(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(jwks []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwks, s.status = jwks, status
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// uriFixture is an authenticator with one client whose keys are at srv.
func uriFixture(t *testing.T, srv *jwksServer) *authFixture {
	f := newAuthFixture(t)
	f.clients["rotating"] = authClient{c: Client{ID: "rotating", AuthMethod: authPrivateKeyJWT, JWKSURI: srv.URL + "/jwks"}}
	f.auth = newClientAuth(f.clients, f.store, testIssuer, testTokenURL, srv.Client(), f.clock.now)
	return f
}

func (f *authFixture) use(t *testing.T, k signingKey, id string) error {
	t.Helper()
	_, err := f.auth.authenticate(t.Context(), nil, assertionForm(k.sign(t, claimsFor(id, f.clock.now()))))
	return err
}

func TestAssertionKeyRotation(t *testing.T) {
	k1 := newSigningKey(t, "k1", jose.ES256)
	k2 := newSigningKey(t, "k2", jose.ES256)
	k3 := newSigningKey(t, "k3", jose.EdDSA)
	srv := newJWKSServer(t, jwksOf(t, k1))
	f := uriFixture(t, srv)

	step := func(name string, k signingKey, wantOK bool, wantFetches int) {
		t.Helper()
		err := f.use(t, k, "rotating")
		if (err == nil) != wantOK {
			t.Errorf("%s: got %v, want success %v", name, err, wantOK)
		}
		if got := srv.count(); got != wantFetches {
			t.Errorf("%s: got %d fetches of the key set, want %d", name, got, wantFetches)
		}
	}
	step("first use fetches", k1, true, 1)
	step("second use is cached", k1, true, 1)
	step("unknown key within the minimum interval", k2, false, 1)

	srv.set(jwksOf(t, k2), http.StatusOK)
	f.clock.advance(jwksMinInterval)
	step("rotated key makes one fetch", k2, true, 2)
	step("old key after rotation", k1, false, 2)

	srv.set(jwksOf(t, k2, k3), http.StatusOK)
	f.clock.advance(time.Second)
	step("another new key within the minimum interval", k3, false, 2)
	step("and again", k3, false, 2)
	f.clock.advance(jwksMinInterval)
	step("after the minimum interval", k3, true, 3)
	step("k2 still cached", k2, true, 3)

	f.clock.advance(jwksTTL)
	step("after the TTL the set is fetched again", k2, true, 4)

	// When the key set cannot be fetched, the keys fetched before stay.
	srv.set(nil, http.StatusInternalServerError)
	f.clock.advance(jwksTTL)
	step("stale keys while the jwks_uri fails", k3, true, 5)
}

func TestAssertionJWKSURIFailures(t *testing.T) {
	k := newSigningKey(t, "k", jose.EdDSA)

	t.Run("500", func(t *testing.T) {
		srv := newJWKSServer(t, nil)
		srv.set(nil, http.StatusInternalServerError)
		f := uriFixture(t, srv)
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
		if got := srv.count(); got != 1 {
			t.Errorf("got %d fetches of a failing key set, want 1 within %v", got, jwksMinInterval)
		}
		srv.set(jwksOf(t, k), http.StatusOK)
		f.clock.advance(jwksMinInterval)
		if err := f.use(t, k, "rotating"); err != nil {
			t.Errorf("after the key set recovered: %v", err)
		}
	})

	t.Run("huge", func(t *testing.T) {
		// A key set padded beyond the limit, valid JSON otherwise.
		var set map[string]any
		_ = json.Unmarshal(jwksOf(t, k), &set)
		set["padding"] = strings.Repeat("x", maxJWKSSize)
		huge, _ := json.Marshal(set)
		srv := newJWKSServer(t, huge)
		f := uriFixture(t, srv)
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
	})

	t.Run("slow", func(t *testing.T) {
		srv := newJWKSServer(t, jwksOf(t, k))
		release := make(chan struct{})
		defer close(release)
		srv.handle = func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return true
		}
		f := uriFixture(t, srv)
		f.auth.fetchTimeout = 200 * time.Millisecond
		start := time.Now()
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a slow key set held the request for %v", d)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		target := newJWKSServer(t, jwksOf(t, k))
		srv := newJWKSServer(t, nil)
		srv.handle = func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, target.URL+"/jwks", http.StatusFound)
			return true
		}
		f := uriFixture(t, srv)
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
		if got := target.count(); got != 0 {
			t.Errorf("the redirect was followed (%d fetches)", got)
		}
	})

	t.Run("not a key set", func(t *testing.T) {
		srv := newJWKSServer(t, []byte(`<html>`))
		f := uriFixture(t, srv)
		checkAuthErr(t, f.use(t, k, "rotating"), invalidClient, "client authentication failed")
	})

	t.Run("plain http off loopback", func(t *testing.T) {
		f := newAuthFixture(t)
		f.clients["far"] = authClient{c: Client{ID: "far", AuthMethod: authPrivateKeyJWT, JWKSURI: "http://keys.example.com/jwks"}}
		checkAuthErr(t, f.use(t, k, "far"), invalidClient, "client authentication failed")
	})
}

func TestAssertionStoreFailure(t *testing.T) {
	f := newAuthFixture(t)
	f.auth.assertions = failingAssertions{}
	checkAuthErr(t, f.use(t, f.keys[jose.ES384], jwtID), serverError, "")
}

type failingAssertions struct{}

func (failingAssertions) UseClientAssertion(context.Context, string, string, time.Time, time.Time) error {
	return errors.New("database unavailable")
}
