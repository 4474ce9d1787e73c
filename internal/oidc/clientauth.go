package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// This file authenticates clients at the token, introspection and
// revocation endpoints: client_secret_basic, client_secret_post,
// private_key_jwt (RFC 7523, OpenID Connect Core section 9) and none.

// Client authentication methods, as clients register them (RFC 7591).
const (
	authSecretBasic   = string(zoidc.AuthMethodBasic)
	authSecretPost    = string(zoidc.AuthMethodPost)
	authPrivateKeyJWT = string(zoidc.AuthMethodPrivateKeyJWT)
	authNone          = string(zoidc.AuthMethodNone)

	// assertionTypeJWT is the client_assertion_type of private_key_jwt.
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Limits on client assertions and the key sets they are checked against.
const (
	// assertionLeeway is the clock skew allowed on exp, nbf and iat.
	assertionLeeway = 30 * time.Second
	// maxAssertionLifetime is how far ahead exp may be: an assertion is
	// made for one request, and a long-lived one is a bearer secret.
	maxAssertionLifetime = 10 * time.Minute
	// maxAssertionSize bounds the client_assertion parameter, in bytes.
	maxAssertionSize = 16 << 10
	// maxJTISize bounds the jti claim, in bytes: it becomes a database key.
	maxJTISize = 256

	// jwksTTL is how long keys fetched from a client's jwks_uri are used
	// before they are fetched again.
	jwksTTL = 5 * time.Minute
	// jwksMinInterval is the shortest time between two fetches of one
	// client's jwks_uri, failed ones included: an assertion with an unknown
	// kid makes Portvakt fetch again, but no more often than this.
	jwksMinInterval = 10 * time.Second
	// jwksTimeout bounds one fetch.
	jwksTimeout = 5 * time.Second
	// maxJWKSSize bounds a fetched key set, in bytes.
	maxJWKSSize = 64 << 10
)

// assertionAlgs are the signature algorithms a client assertion may use:
// asymmetric ones only, so a public key can never serve as an HMAC secret,
// and never none.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// ErrAssertionReplayed means a client assertion with the same client and
// jti was used before and has not expired.
var ErrAssertionReplayed = errors.New("client assertion already used")

// AssertionStore remembers which client assertions were used, so that
// none is accepted twice.
type AssertionStore interface {
	// UseClientAssertion records that client clientID used the assertion
	// jti, which stays recorded until expires. If (clientID, jti) is
	// already recorded with an expiry after now, it records nothing and
	// returns an error wrapping ErrAssertionReplayed. Two concurrent calls
	// with the same clientID and jti never both succeed.
	UseClientAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) error
}

// clientAuth authenticates clients.
type clientAuth struct {
	clients    Clients
	assertions AssertionStore
	// issuer and tokenURL (the token endpoint's absolute URL) are the
	// audiences a client assertion may name.
	issuer   string
	tokenURL string
	// http fetches clients' jwks_uri; it never follows redirects.
	http *http.Client
	now  func() time.Time
	keys *jwksCache
	// fetchTimeout bounds one fetch of a jwks_uri (jwksTimeout).
	fetchTimeout time.Duration
}

// newClientAuth returns an authenticator for clients registered in
// clients, recording used assertions in assertions. A nil hc means
// http.DefaultTransport; a nil now means time.Now.
func newClientAuth(clients Clients, assertions AssertionStore, issuer, tokenURL string, hc *http.Client, now func() time.Time) *clientAuth {
	var c http.Client
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if now == nil {
		now = time.Now
	}
	return &clientAuth{
		clients: clients, assertions: assertions, issuer: issuer, tokenURL: tokenURL,
		http: &c, now: now, keys: &jwksCache{entries: map[string]*jwksEntry{}}, fetchTimeout: jwksTimeout,
	}
}

// errAuthFailed is the one answer to every failure that depends on the
// client's record: an unknown client, a wrong secret, a method other than
// the registered one, a signature by none of its keys. It never tells
// whether the client exists; parent says what happened, for the log.
func errAuthFailed(parent error) error {
	return zoidc.ErrInvalidClient().WithDescription("client authentication failed").WithParent(parent)
}

// credentials is what a request carries to authenticate its client.
type credentials struct {
	method    string // one of the auth* constants
	clientID  string // from the Basic header or the client_id parameter
	secret    string
	assertion string
}

// authenticate checks the client credentials of a request (header for
// Basic, form for the rest) and returns the client. Failures are
// zoidc.ErrInvalidRequest (malformed, or more than one method) or
// zoidc.ErrInvalidClient; a failure of the stores is zoidc.ErrServerError.
func (a *clientAuth) authenticate(ctx context.Context, header http.Header, form url.Values) (Client, error) {
	cr, err := readCredentials(header, form)
	if err != nil {
		return Client{}, err
	}
	switch cr.method {
	case authPrivateKeyJWT:
		return a.checkAssertion(ctx, cr.assertion, cr.clientID)
	case authSecretBasic, authSecretPost:
		return a.checkSecret(ctx, cr)
	default:
		return a.checkPublic(ctx, cr.clientID)
	}
}

// readCredentials finds the one authentication method a request uses.
func readCredentials(header http.Header, form url.Values) (credentials, error) {
	for _, p := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if len(form[p]) > 1 {
			return credentials{}, zoidc.ErrInvalidRequest().WithDescription("%s is given more than once", p)
		}
	}
	if len(header.Values("Authorization")) > 1 {
		return credentials{}, zoidc.ErrInvalidRequest().WithDescription("the Authorization header is given more than once")
	}
	var used []string
	var cr credentials
	formID := form.Get("client_id")
	if auth := header.Get("Authorization"); auth != "" {
		scheme, value, _ := strings.Cut(auth, " ")
		if strings.EqualFold(scheme, "Basic") {
			id, secret, err := parseBasic(strings.TrimSpace(value))
			if err != nil {
				return credentials{}, err
			}
			used = append(used, authSecretBasic)
			cr = credentials{method: authSecretBasic, clientID: id, secret: secret}
		}
	}
	if secret := form.Get("client_secret"); secret != "" {
		used = append(used, authSecretPost)
		cr = credentials{method: authSecretPost, clientID: formID, secret: secret}
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		used = append(used, authPrivateKeyJWT)
		cr = credentials{method: authPrivateKeyJWT, clientID: formID, assertion: form.Get("client_assertion")}
	}
	switch len(used) {
	case 0:
		if formID == "" {
			return credentials{}, zoidc.ErrInvalidClient().WithDescription("the request carries no client authentication")
		}
		return credentials{method: authNone, clientID: formID}, nil
	case 1:
	default:
		return credentials{}, zoidc.ErrInvalidRequest().WithDescription("use one client authentication method, not %s", strings.Join(used, " and "))
	}
	switch cr.method {
	case authSecretBasic:
		if formID != "" && formID != cr.clientID {
			return credentials{}, zoidc.ErrInvalidRequest().WithDescription("client_id differs from the client in the Authorization header")
		}
	case authSecretPost:
		if cr.clientID == "" {
			return credentials{}, zoidc.ErrInvalidRequest().WithDescription("client_secret needs client_id")
		}
	case authPrivateKeyJWT:
		switch {
		case form.Get("client_assertion_type") != assertionTypeJWT:
			return credentials{}, zoidc.ErrInvalidRequest().WithDescription("client_assertion_type must be %s", assertionTypeJWT)
		case cr.assertion == "":
			return credentials{}, zoidc.ErrInvalidRequest().WithDescription("client_assertion_type needs client_assertion")
		}
	}
	return cr, nil
}

// parseBasic reads Basic credentials: base64 of the client ID and secret,
// each form-urlencoded, joined by a colon (RFC 6749 section 2.3.1).
func parseBasic(value string) (id, secret string, err error) {
	malformed := zoidc.ErrInvalidRequest().WithDescription("malformed Basic credentials: base64 of the form-urlencoded client_id and client_secret joined by a colon")
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", "", malformed
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", malformed
	}
	if id, err = url.QueryUnescape(rawID); err != nil || id == "" {
		return "", "", malformed
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", malformed
	}
	return id, secret, nil
}

// checkSecret authenticates a client by its secret. An unknown client
// costs the same comparison as a known one.
func (a *clientAuth) checkSecret(ctx context.Context, cr credentials) (Client, error) {
	c, err := a.lookup(ctx, cr.clientID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			_ = a.clients.CheckClientSecret(ctx, cr.clientID, cr.secret)
			return Client{}, errAuthFailed(err)
		}
		return Client{}, err
	}
	if err := a.clients.CheckClientSecret(ctx, c.ID, cr.secret); err != nil {
		return Client{}, errAuthFailed(err)
	}
	// The method is checked after the secret, so that a wrong method costs
	// the same as a wrong secret. The two ways of sending a secret are one
	// method for this purpose: the secret is the same, and client libraries
	// (Go's x/oauth2 among them) try one and then the other.
	if c.AuthMethod != authSecretBasic && c.AuthMethod != authSecretPost {
		return Client{}, errAuthFailed(fmt.Errorf("client %q is registered for %s, not %s", c.ID, c.AuthMethod, cr.method))
	}
	return c, nil
}

// checkPublic identifies a public client, which has nothing to prove.
func (a *clientAuth) checkPublic(ctx context.Context, id string) (Client, error) {
	c, err := a.lookup(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Client{}, errAuthFailed(err)
		}
		return Client{}, err
	}
	if c.AuthMethod != authNone {
		return Client{}, errAuthFailed(fmt.Errorf("client %q is registered for %s, not none", c.ID, c.AuthMethod))
	}
	return c, nil
}

// lookup finds a client: an error wrapping ErrNotFound for an unknown one,
// zoidc.ErrServerError when the registry fails.
func (a *clientAuth) lookup(ctx context.Context, id string) (Client, error) {
	c, err := a.clients.LookupClient(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Client{}, fmt.Errorf("client %q: %w", id, ErrNotFound)
	case err != nil:
		return Client{}, zoidc.ErrServerError().WithParent(fmt.Errorf("look up client: %w", err))
	}
	return c, nil
}

// checkAssertion authenticates a client by a JWT it signed with one of
// its keys (private_key_jwt). formID is the client_id parameter, if any.
//
// The assertion's aud must name Portvakt's issuer or its token endpoint
// URL: OpenID Connect Core asks for the token endpoint, RFC 7523 allows
// either, and newer guidance prefers the issuer. The same assertion is
// accepted at the introspection and revocation endpoints; their own URLs
// are not accepted as aud, so that one audience list holds everywhere.
func (a *clientAuth) checkAssertion(ctx context.Context, assertion, formID string) (Client, error) {
	invalid := func(format string, args ...any) *zoidc.Error {
		return zoidc.ErrInvalidClient().WithDescription(format, args...)
	}
	if len(assertion) > maxAssertionSize {
		return Client{}, invalid("the client assertion is larger than %d bytes", maxAssertionSize)
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err == nil && !canonicalCompact(assertion) {
		err = errors.New("not in canonical base64url")
	}
	if err != nil {
		return Client{}, invalid("the client assertion is not a compact JWT signed with RS256, PS256, ES256, ES384 or EdDSA").WithParent(err)
	}
	// The claims are read before the signature is checked, so that they can
	// be judged without looking the client up; the signature is checked
	// over these same bytes below, before anything is trusted.
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return Client{}, invalid("the client assertion's claims cannot be read").WithParent(err)
	}
	now := a.now()
	if err := a.checkClaims(claims, formID, now); err != nil {
		return Client{}, err
	}
	c, err := a.lookup(ctx, claims.Subject)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Client{}, errAuthFailed(err)
		}
		return Client{}, err
	}
	if c.AuthMethod != authPrivateKeyJWT {
		return Client{}, errAuthFailed(fmt.Errorf("client %q is registered for %s, not private_key_jwt", c.ID, c.AuthMethod))
	}
	if err := a.verifySignature(ctx, c, tok, now); err != nil {
		return Client{}, errAuthFailed(err)
	}
	// The assertion stays recorded as long as it could still be accepted.
	expires := claims.Expiry.Time().Add(assertionLeeway)
	if err := a.assertions.UseClientAssertion(ctx, c.ID, claims.ID, expires, now); err != nil {
		if errors.Is(err, ErrAssertionReplayed) {
			return Client{}, invalid("the client assertion was already used: make a new one, with a new jti, for every request").WithParent(err)
		}
		return Client{}, zoidc.ErrServerError().WithParent(fmt.Errorf("record client assertion: %w", err))
	}
	return c, nil
}

// canonicalCompact reports whether each part of a compact JWS is in
// canonical unpadded base64url. Lenient decoding would let the spare bits
// of the last character vary, giving many strings for one signed
// assertion; only the one its signer made is accepted.
func canonicalCompact(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(p); err != nil {
			return false
		}
	}
	return true
}

// checkClaims judges an assertion's claims at now. None of its answers
// depends on whether the client exists.
func (a *clientAuth) checkClaims(cl jwt.Claims, formID string, now time.Time) error {
	invalid := func(format string, args ...any) error {
		return zoidc.ErrInvalidClient().WithDescription(format, args...)
	}
	switch {
	case cl.Issuer == "" || cl.Subject == "":
		return invalid("the client assertion must have iss and sub, both the client ID")
	case cl.Issuer != cl.Subject:
		return invalid("the client assertion's iss and sub must both be the client ID")
	case formID != "" && formID != cl.Subject:
		return invalid("client_id differs from the client assertion's iss and sub")
	case !cl.Audience.Contains(a.issuer) && !cl.Audience.Contains(a.tokenURL):
		return invalid("the client assertion's aud must be the issuer (%s) or the token endpoint (%s)", a.issuer, a.tokenURL)
	case cl.Expiry == nil:
		return invalid("the client assertion must have exp")
	case !now.Before(cl.Expiry.Time().Add(assertionLeeway)):
		return invalid("the client assertion has expired")
	case cl.Expiry.Time().After(now.Add(maxAssertionLifetime)):
		return invalid("the client assertion is valid for too long: exp may be at most %v ahead", maxAssertionLifetime)
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(assertionLeeway)):
		return invalid("the client assertion is not valid yet (nbf)")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return invalid("the client assertion was issued in the future (iat)")
	case cl.ID == "":
		return invalid("the client assertion must have jti, unique for every assertion")
	case len(cl.ID) > maxJTISize:
		return invalid("the client assertion's jti is longer than %d bytes", maxJTISize)
	}
	return nil
}

// verifySignature checks that one of the client's keys signed tok. Keys
// from a jwks_uri are fetched again once when none of the cached ones
// fits, in case the client rotated them.
func (a *clientAuth) verifySignature(ctx context.Context, c Client, tok *jwt.JSONWebToken, now time.Time) error {
	if len(tok.Headers) != 1 {
		return errors.New("the assertion has more than one signature")
	}
	h := tok.Headers[0]
	keys, err := a.clientKeys(ctx, c, now, false)
	if err != nil {
		return err
	}
	if verifyWith(tok, h, keys) {
		return nil
	}
	if c.JWKSURI == "" {
		return fmt.Errorf("no key of client %q (kid %q, alg %s) verifies the assertion", c.ID, h.KeyID, h.Algorithm)
	}
	keys, err = a.clientKeys(ctx, c, now, true)
	if err != nil {
		return err
	}
	if verifyWith(tok, h, keys) {
		return nil
	}
	return fmt.Errorf("no key of client %q at its jwks_uri (kid %q, alg %s) verifies the assertion", c.ID, h.KeyID, h.Algorithm)
}

// verifyWith reports whether one of keys that fits the header verifies
// tok: the key with the header's kid if it has one, otherwise every key
// whose type and alg fit.
func verifyWith(tok *jwt.JSONWebToken, h jose.Header, keys []jose.JSONWebKey) bool {
	for _, k := range keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		if !keyFits(k, jose.SignatureAlgorithm(h.Algorithm)) {
			continue
		}
		if tok.Claims(k.Key) == nil {
			return true
		}
	}
	return false
}

// keyFits reports whether k may verify a signature made with alg.
func keyFits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch alg {
	case jose.RS256, jose.PS256:
		return keyType(k) == "RSA"
	case jose.ES256:
		return keyType(k) == "P-256"
	case jose.ES384:
		return keyType(k) == "P-384"
	case jose.EdDSA:
		return keyType(k) == "Ed25519"
	}
	return false
}

// clientKeys returns the client's public signing keys: its registered set,
// or the set at its jwks_uri (cached). refresh asks for a fetch even if
// the cache is fresh, which happens at most every jwksMinInterval.
func (a *clientAuth) clientKeys(ctx context.Context, c Client, now time.Time, refresh bool) ([]jose.JSONWebKey, error) {
	if c.JWKSURI == "" {
		if len(c.JWKS) == 0 {
			return nil, fmt.Errorf("client %q has no keys", c.ID)
		}
		return signingKeys(c.JWKS)
	}
	e := a.keys.entry(c.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.uri != c.JWKSURI {
		e.uri, e.keys, e.fetchedAt, e.triedAt = c.JWKSURI, nil, time.Time{}, time.Time{}
	}
	stale := e.fetchedAt.IsZero() || now.Sub(e.fetchedAt) >= jwksTTL
	if (stale || refresh) && (e.triedAt.IsZero() || now.Sub(e.triedAt) >= jwksMinInterval) {
		e.triedAt = now
		keys, err := a.fetchKeys(ctx, c.JWKSURI)
		if err != nil {
			// The keys fetched before, if any, stay in use until the
			// client's key set can be read again.
			if e.keys == nil {
				return nil, fmt.Errorf("client %q keys: %w", c.ID, err)
			}
		} else {
			e.keys, e.fetchedAt = keys, now
		}
	}
	if e.keys == nil {
		return nil, fmt.Errorf("client %q keys: its jwks_uri could not be read lately", c.ID)
	}
	return e.keys, nil
}

// fetchKeys reads a key set from a client's jwks_uri: https, or http on a
// loopback address, as client registration allows.
func (a *clientAuth) fetchKeys(ctx context.Context, rawURL string) ([]jose.JSONWebKey, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !loopbackHost(u.Hostname())) {
		return nil, fmt.Errorf("jwks_uri %q is neither https nor http on a loopback address", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, a.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks_uri: status %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks_uri: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("jwks_uri: the key set is larger than %d bytes", maxJWKSSize)
	}
	return signingKeys(body)
}

// signingKeys reads the public signing keys of a key set, skipping keys it
// cannot use: symmetric or private ones, keys for encryption, unknown
// types.
func signingKeys(raw []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, r := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") || keyType(k) == "" {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set has no public signing key")
	}
	return keys, nil
}

// keyType names the kind of a public key: RSA, P-256, P-384, Ed25519, or
// "" for others.
func keyType(k jose.JSONWebKey) string {
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return key.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return ""
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// jwksCache holds the keys fetched from clients' jwks_uri, by client ID.
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]*jwksEntry
}

// jwksEntry is one client's cached keys. Its mutex is held while they are
// fetched, so that concurrent requests wait for one fetch.
type jwksEntry struct {
	mu        sync.Mutex
	uri       string
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of the keys
	triedAt   time.Time // the last fetch, failed or not
}

func (c *jwksCache) entry(clientID string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[clientID]
	if !ok {
		e = &jwksEntry{}
		c.entries[clientID] = e
	}
	return e
}

// authenticateClient authenticates the client of a request at the token,
// PAR, introspection and revocation endpoints. A failed authentication
// answers 401, as RFC 6749 (section 5.2) asks.
func (h *Handler) authenticateClient(ctx context.Context, header http.Header, form url.Values) (Client, error) {
	c, err := h.auth.authenticate(ctx, header, form)
	var e *zoidc.Error
	if errors.As(err, &e) && e.ErrorType == zoidc.InvalidClient {
		if e.Parent != nil {
			h.cfg.Logger.InfoContext(ctx, "client authentication failed", "reason", e.Parent.Error())
		}
		return Client{}, op.NewStatusError(e, http.StatusUnauthorized)
	}
	return c, err
}
