package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The JWTs the provider issues, signed with go-jose: ID tokens (OpenID
// Connect Core, section 2) with the client's algorithm, RS256 by default,
// and access tokens per RFC 9068 (typ at+jwt, ES256).

const (
	// typeAccessToken is the JOSE typ of JWT access tokens (RFC 9068,
	// section 2.1).
	typeAccessToken = "at+jwt"
	// accessTokenAlg signs JWT access tokens: small and fast to sign and
	// verify.
	accessTokenAlg = jose.ES256
)

// verifyAlgs are the algorithms the provider signs with, and so the only
// ones it accepts back.
var verifyAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// minter signs and verifies the provider's tokens.
type minter struct {
	keys   Keys
	issuer string
	// pairwise keys the HMAC behind pairwise subjects.
	pairwise [32]byte
}

// sign signs claims with the active key for alg; typ is the JOSE header's
// typ ("" for none).
func (m *minter) sign(ctx context.Context, alg jose.SignatureAlgorithm, typ string, claims any) (string, error) {
	k, err := m.keys.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: string(alg)}}, opts)
	if err != nil {
		return "", fmt.Errorf("token signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}

// subject is the sub a client sees for a user: the user ID, or for a
// pairwise client a value of its sector (OpenID Connect Core, section 8.1)
// that other sectors cannot link to it.
func (m *minter) subject(c Client, userID string) string {
	if c.Sector == "" || userID == "" {
		return userID
	}
	mac := hmac.New(sha256.New, m.pairwise[:])
	mac.Write([]byte(c.Sector))
	mac.Write([]byte{0})
	mac.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// SubjectFunc returns the function that gives the sub a client knows a
// user by, with the pairwise key of Config.PairwiseKey.
func SubjectFunc(pairwiseKey [32]byte) func(c Client, userID string) string {
	return (&minter{pairwise: pairwiseKey}).subject
}

// idTokenAlg is the algorithm of the client's ID tokens.
func idTokenAlg(c Client) jose.SignatureAlgorithm {
	if c.IDTokenAlg == "" {
		return defaultIDTokenAlgo
	}
	return jose.SignatureAlgorithm(c.IDTokenAlg)
}

// idToken is what an ID token says beyond the standard claims.
type idToken struct {
	client      Client
	userID      string
	authTime    time.Time
	nonce       string
	acr         string
	amr         []string
	sessionID   string
	accessToken string
	// extra are further claims (from the claims request parameter).
	extra map[string]any
}

// signIDToken makes and signs an ID token.
func (m *minter) signIDToken(ctx context.Context, t idToken, now time.Time) (string, error) {
	alg := idTokenAlg(t.client)
	ttl := t.client.IDTokenLifetime
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	claims := make(map[string]any, len(t.extra)+12)
	for k, v := range t.extra {
		claims[k] = v
	}
	claims["iss"] = m.issuer
	claims["sub"] = m.subject(t.client, t.userID)
	claims["aud"] = t.client.ID
	claims["azp"] = t.client.ID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	if !t.authTime.IsZero() {
		claims["auth_time"] = t.authTime.Unix()
	}
	if t.nonce != "" {
		claims["nonce"] = t.nonce
	}
	if t.acr != "" {
		claims["acr"] = t.acr
	}
	if len(t.amr) > 0 {
		claims["amr"] = t.amr
	}
	if t.sessionID != "" {
		claims["sid"] = t.sessionID
	}
	if t.accessToken != "" {
		h, err := zoidc.ClaimHash(t.accessToken, alg)
		if err != nil {
			return "", err
		}
		claims["at_hash"] = h
	}
	return m.sign(ctx, alg, "JWT", claims)
}

// accessClaims are the claims of a JWT access token (RFC 9068, section 2.2).
type accessClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope,omitempty"`
	AuthTime int64            `json:"auth_time,omitempty"`
	ACR      string           `json:"acr,omitempty"`
	AMR      []string         `json:"amr,omitempty"`
	// The organization the token was issued in, and the roles and
	// permissions it carries.
	OrgID       string   `json:"org_id,omitempty"`
	OrgName     string   `json:"org_name,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

// signAccessToken signs t as an RFC 9068 access token for client c, with
// the organization claims org (orgClaims; nil for none).
func (m *minter) signAccessToken(ctx context.Context, c Client, t Token, org map[string]any) (string, error) {
	sub := t.ClientID // a client's own token (client credentials)
	if t.UserID != "" {
		sub = m.subject(c, t.UserID)
	}
	claims := accessClaims{
		Issuer: m.issuer, Subject: sub, Audience: jwt.Audience(t.Audience),
		Expiry: jwt.NewNumericDate(t.ExpiresAt), IssuedAt: jwt.NewNumericDate(t.CreatedAt),
		ID: t.ID, ClientID: t.ClientID, Scope: strings.Join(t.Scopes, " "), ACR: t.ACR, AMR: t.AMR,
	}
	if !t.AuthTime.IsZero() {
		claims.AuthTime = t.AuthTime.Unix()
	}
	claims.OrgID, _ = org["org_id"].(string)
	claims.OrgName, _ = org["org_name"].(string)
	claims.Roles, _ = org["roles"].([]string)
	claims.Permissions, _ = org["permissions"].([]string)
	return m.sign(ctx, accessTokenAlg, typeAccessToken, claims)
}

// errTokenInvalid is every reason an access token is not accepted.
var errTokenInvalid = errors.New("the access token is not valid")

// verifyAccessToken checks a JWT access token: signed by one of the
// provider's published keys, typ at+jwt, this issuer, not expired. It does
// not check revocation.
func (m *minter) verifyAccessToken(ctx context.Context, raw string, now time.Time) (accessClaims, error) {
	var claims accessClaims
	tok, err := jwt.ParseSigned(raw, verifyAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return claims, errTokenInvalid
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typeAccessToken) && !strings.EqualFold(typ, "application/"+typeAccessToken) {
		return claims, errTokenInvalid
	}
	keys, err := m.keys.PublicKeys(ctx)
	if err != nil {
		return claims, err
	}
	i := slices.IndexFunc(keys, func(k op.Key) bool { return k.ID() == h.KeyID && string(k.Algorithm()) == h.Algorithm })
	if i < 0 {
		return claims, errTokenInvalid
	}
	if err := tok.Claims(keys[i].Key(), &claims); err != nil {
		return claims, errTokenInvalid
	}
	if claims.Issuer != m.issuer || claims.ID == "" || claims.Expiry == nil || !now.Before(claims.Expiry.Time()) {
		return claims, errTokenInvalid
	}
	return claims, nil
}

// looksLikeJWT tells a JWT (three dot-separated parts) from an opaque
// token.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }
