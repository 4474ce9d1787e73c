package oidc

import (
	"net/url"
	"slices"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/clients"
)

// Client is a registered application as the provider sees it. The client
// registry (package clients) keeps the full record; the wiring converts.
type Client struct {
	ID                     string
	Name                   string // shown on the consent and sign-out pages
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Native apps get the RFC 8252 loopback port flexibility.
	Native bool
	// AuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none.
	AuthMethod string
	GrantTypes []string
	// Scopes are the scopes the client may ask for.
	Scopes []string
	// FirstParty clients skip the consent page.
	FirstParty bool
	// JWTAccessTokens makes access tokens JWTs; otherwise opaque.
	JWTAccessTokens      bool
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	// Audience is added to access tokens' aud.
	Audience []string
	// IDTokenAlg signs the client's ID tokens (and logout tokens): RS256
	// when empty, ES256 or EdDSA by choice.
	IDTokenAlg string
	// Sector, when set, makes sub pairwise: the same person has a
	// different sub in every sector (OpenID Connect Core, section 8.1).
	Sector string
	// RequirePAR refuses authorization requests that were not pushed
	// first (RFC 9126).
	RequirePAR bool
	// MinACR is the lowest level of assurance the client accepts.
	MinACR string
	// RequireMFA makes a second factor part of every sign-in to the client.
	RequireMFA bool
	// ReleaseVerified names the verified attributes (legal_name,
	// birthdate, national_id) the client receives as verified_claims.
	ReleaseVerified []string
	// ReleaseConsents gives the client the consents claim: the person's
	// consents to the purposes that concern it (consents.go).
	ReleaseConsents bool
	// App is the application whose roles the client's tokens carry ("":
	// the client's own ID).
	App string
	// Organizations is how the client is used in organizations:
	// "optional" (or ""), "required" or "off".
	Organizations string
	// JWKS is the client's public key set (JSON) and JWKSURI where it
	// publishes one: the keys of private_key_jwt.
	JWKS    []byte
	JWKSURI string
	// BackchannelLogoutURI receives logout tokens when a session the
	// client has tokens for ends; with BackchannelLogoutSessionRequired
	// they carry sid.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// displayName is the client's name for people: its registered name, or its
// ID when it has none.
func (c Client) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// allowsRedirect reports whether uri is one of the client's redirect URIs,
// by the client registry's rule (exact, with the loopback port free for
// native apps).
func (c Client) allowsRedirect(uri string) bool {
	app := clients.ApplicationTypeWeb
	if c.Native {
		app = clients.ApplicationTypeNative
	}
	return clients.MatchRedirectURI(c.RedirectURIs, uri, app)
}

// opClient is a Client as the provider framework's op.Client.
type opClient struct {
	c Client
}

var _ op.Client = opClient{}

func (c opClient) GetID() string                    { return c.c.ID }
func (c opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c opClient) LoginURL(id string) string        { return loginURL(id) }
func (c opClient) DevMode() bool                    { return false }
func (c opClient) ClockSkew() time.Duration         { return 0 }

// ApplicationType implements op.Client.
func (c opClient) ApplicationType() op.ApplicationType {
	if c.c.Native {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// AuthMethod implements op.Client.
func (c opClient) AuthMethod() zoidc.AuthMethod { return zoidc.AuthMethod(c.c.AuthMethod) }

// ResponseTypes implements op.Client: the code flow only (no implicit).
func (c opClient) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}

// GrantTypes implements op.Client.
func (c opClient) GrantTypes() []zoidc.GrantType {
	out := make([]zoidc.GrantType, len(c.c.GrantTypes))
	for i, g := range c.c.GrantTypes {
		out[i] = zoidc.GrantType(g)
	}
	return out
}

// AccessTokenType implements op.Client.
func (c opClient) AccessTokenType() op.AccessTokenType {
	if c.c.JWTAccessTokens {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}

// IDTokenLifetime implements op.Client.
func (c opClient) IDTokenLifetime() time.Duration {
	if c.c.IDTokenLifetime > 0 {
		return c.c.IDTokenLifetime
	}
	return 10 * time.Minute
}

// RestrictAdditionalIdTokenScopes implements op.Client: no custom scopes in
// ID tokens.
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func([]string) []string { return nil }
}

// RestrictAdditionalAccessTokenScopes implements op.Client.
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed implements op.Client.
func (c opClient) IsScopeAllowed(scope string) bool { return slices.Contains(c.c.Scopes, scope) }

// IDTokenUserinfoClaimsAssertion implements op.Client: claims go in the ID
// token only when no access token is issued; with the code flow, clients
// read them from userinfo (the certification profile expects that).
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }

// loginURL sends the browser to the sign-in handoff for an authorization
// request.
func loginURL(id string) string {
	return "/authorize/login?" + url.Values{"id": {id}}.Encode()
}
