package clients

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// Type says whether a client can keep a secret (RFC 6749, section 2.1).
type Type string

// Client types.
const (
	// TypeConfidential is a client that runs on a server and can keep a
	// secret or a private key.
	TypeConfidential Type = "confidential"
	// TypePublic is a client that runs on the user's device (a native app,
	// a single-page app) and cannot keep a secret.
	TypePublic Type = "public"
)

// ApplicationType is the kind of application, as OpenID Connect Dynamic
// Client Registration's application_type. It decides which redirect URIs
// are allowed and how they are matched.
type ApplicationType string

// Application types.
const (
	// ApplicationTypeWeb is a web application (a server or a single-page
	// app): https redirect URIs, matched exactly.
	ApplicationTypeWeb ApplicationType = "web"
	// ApplicationTypeNative is an app installed on a device: loopback http
	// redirect URIs on any port (RFC 8252), private-use URI schemes, https.
	ApplicationTypeNative ApplicationType = "native"
)

// GrantType is an OAuth 2 grant type, by its protocol name.
type GrantType string

// Supported grant types. The implicit and password grants are not offered
// (OAuth 2.0 Security Best Current Practice).
const (
	GrantAuthorizationCode GrantType = "authorization_code"
	GrantRefreshToken      GrantType = "refresh_token"
	GrantClientCredentials GrantType = "client_credentials"
)

// SupportedGrantTypes are the grant types a client may be allowed.
var SupportedGrantTypes = []GrantType{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

// AuthMethod is how a client authenticates at the token endpoint, by its
// protocol name (token_endpoint_auth_method).
type AuthMethod string

// Client authentication methods.
const (
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	AuthClientSecretPost  AuthMethod = "client_secret_post"
	// AuthPrivateKeyJWT is a JWT signed with a key from the client's JWKS
	// or JWKS URI (RFC 7523).
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	// AuthNone is for public clients, which prove themselves with PKCE.
	AuthNone AuthMethod = "none"
)

// Alg is a JWS signing algorithm for ID tokens.
type Alg string

// ID token signing algorithms.
const (
	AlgRS256 Alg = "RS256"
	AlgES256 Alg = "ES256"
	AlgEdDSA Alg = "EdDSA"
)

// TokenFormat is the form of the access tokens issued to a client.
type TokenFormat string

// Access token formats.
const (
	// TokenFormatJWT is a signed JWT (RFC 9068) that resource servers check
	// on their own.
	TokenFormatJWT TokenFormat = "jwt"
	// TokenFormatOpaque is a random reference that resource servers check
	// through introspection.
	TokenFormatOpaque TokenFormat = "opaque"
)

// SubjectType says how the sub claim is formed for a client (OpenID Connect
// Core, section 8).
type SubjectType string

// Subject types.
const (
	// SubjectPublic gives every client the same sub for a user.
	SubjectPublic SubjectType = "public"
	// SubjectPairwise gives each sector its own sub for a user, so that
	// clients of different sectors cannot correlate users.
	SubjectPairwise SubjectType = "pairwise"
)

// Defaults and bounds.
const (
	DefaultAccessTokenLifetime  = 10 * time.Minute
	DefaultIDTokenLifetime      = 10 * time.Minute
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	// DefaultSecretOverlap is how long the previous secret stays valid
	// after a rotation unless told otherwise.
	DefaultSecretOverlap = 24 * time.Hour
	// MaxSecretOverlap bounds the overlap of a rotation.
	MaxSecretOverlap = 30 * 24 * time.Hour

	minTokenLifetime        = time.Minute
	maxTokenLifetime        = 24 * time.Hour
	minRefreshTokenLifetime = 5 * time.Minute
	maxRefreshTokenLifetime = 365 * 24 * time.Hour
	maxURIs                 = 100
	maxURILength            = 2000
)

// Client is an application registered to sign users in through Portvakt
// or to call its APIs.
type Client struct {
	// ID is the client_id: random and URL-safe when Portvakt makes it.
	ID   string
	Name string
	Type Type
	// ApplicationType is web (default) or native.
	ApplicationType ApplicationType
	// GrantTypes are the grants the client may use; default
	// authorization_code.
	GrantTypes []GrantType
	// RedirectURIs are matched with MatchRedirectURI.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Scopes are the scopes the client may request; default openid for a
	// client with the authorization_code grant.
	Scopes []string
	// FirstParty clients belong to the business itself: users are not
	// asked to consent to them.
	FirstParty bool
	// TokenEndpointAuthMethod defaults to client_secret_basic for
	// confidential clients and none for public ones.
	TokenEndpointAuthMethod AuthMethod
	// JWKS is the client's public key set (JSON), for private_key_jwt.
	JWKS json.RawMessage
	// JWKSURI is where the client publishes its public keys, instead of
	// JWKS.
	JWKSURI string
	// IDTokenAlg signs the client's ID tokens; default RS256.
	IDTokenAlg Alg
	// AccessTokenFormat is jwt (default) or opaque.
	AccessTokenFormat TokenFormat
	// AccessTokenAudience is the aud of the client's access tokens, in
	// addition to what the requested resources imply.
	AccessTokenAudience  []string
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	// SubjectType is public (default) or pairwise.
	SubjectType SubjectType
	// SectorIdentifier is the host name that groups pairwise clients:
	// clients of one sector see the same sub. Empty means the host of the
	// redirect URIs (see Sector).
	SectorIdentifier string
	// RequirePAR makes the client push its authorization requests first
	// (RFC 9126).
	RequirePAR bool
	// MinACR is the lowest level of assurance (acr value) the client
	// accepts; a person below it is asked for more (step-up). Empty: no
	// minimum.
	MinACR string
	// RequireMFA makes everyone who signs in to the client use a second
	// factor; a person without one is guided to set one up.
	RequireMFA bool
	// ReleaseVerified names the verified attributes (VerifiableAttributes)
	// that the client receives in its ID tokens and from userinfo, as
	// verified_claims, for people an identity-proofing provider has
	// vouched for. Empty: none. The national identity number is
	// special-category personal data: only for an application with a
	// legal basis to process it.
	ReleaseVerified []string
	// ReleaseConsents gives the client the consents claim in its ID
	// tokens and from userinfo: the person's consents to the purposes
	// that concern it (granted, version, when).
	ReleaseConsents bool
	// App is the application whose roles the client's tokens carry: a name
	// several clients share (a web and a mobile client of one portal), or
	// "" for the client's own ID.
	App string
	// BackchannelLogoutURI receives logout tokens when a user's session
	// ends (OpenID Connect Back-Channel Logout).
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// Organization limits the client's use of the management API to one
	// organization (its ID): that organization, its members and its
	// invitations. "" for none.
	Organization string
	// Organizations is how the client is used in organizations (B2B):
	// OrgOptional, OrgRequired or OrgOff.
	Organizations OrgMode
	// InitiateLoginURI is where a person is sent to open the application
	// signed in (OpenID Connect Core, section 4, third-party-initiated
	// login): the application starts an authorization request from it.
	// Invitations lead there once accepted. "" for none.
	InitiateLoginURI string
	// SecretHash is the SHA-256 digest (hex) of the current secret; empty
	// for clients that authenticate without one. Only the Service sets it.
	SecretHash string
	// PreviousSecretHash is the digest of the secret replaced by the last
	// rotation; it is accepted until PreviousSecretExpiresAt.
	PreviousSecretHash      string
	PreviousSecretExpiresAt time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Subject is the client's name in events.
func (c Client) Subject() string { return "client:" + c.ID }

// UsesSecret reports whether the client authenticates with a secret.
func (c Client) UsesSecret() bool {
	return c.TokenEndpointAuthMethod == AuthClientSecretBasic || c.TokenEndpointAuthMethod == AuthClientSecretPost
}

// AllowsGrant reports whether the client may use grant g.
func (c Client) AllowsGrant(g GrantType) bool { return slices.Contains(c.GrantTypes, g) }

// AllowsScope reports whether the client may request scope.
func (c Client) AllowsScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// RequiresPKCE reports whether the client must send a PKCE code challenge
// (S256) with its authorization requests: public clients must.
func (c Client) RequiresPKCE() bool { return c.Type == TypePublic }

// ResponseTypes are the authorization response types the client may use:
// code, for clients with the authorization_code grant.
func (c Client) ResponseTypes() []string {
	if c.AllowsGrant(GrantAuthorizationCode) {
		return []string{"code"}
	}
	return nil
}

// Sector is the host name that pairwise subjects are computed for: the
// SectorIdentifier, or else the one host of the redirect URIs (for a
// private-use scheme, the scheme). It is empty when neither decides.
func (c Client) Sector() string {
	if c.SectorIdentifier != "" {
		return c.SectorIdentifier
	}
	if hosts := redirectHosts(c.RedirectURIs); len(hosts) == 1 {
		return hosts[0]
	}
	return ""
}

// clone returns a deep copy of c, so that an update function cannot change
// the original through shared slices.
func (c Client) clone() Client {
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.AccessTokenAudience = slices.Clone(c.AccessTokenAudience)
	c.ReleaseVerified = slices.Clone(c.ReleaseVerified)
	c.JWKS = bytes.Clone(c.JWKS)
	return c
}

// Sentinel errors of the domain.
var (
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound means there is no such client.
	ErrNotFound = errors.New("client not found")
	// ErrConflict means the client ID is taken.
	ErrConflict = errors.New("client ID already in use")
	// ErrInvalidClient is the one answer to a failed authentication,
	// whatever the reason: unknown client, wrong or expired secret, or a
	// client that has no secret.
	ErrInvalidClient = errors.New("invalid client or secret")
)

// FieldError is a validation failure of one field. Field and Code are
// stable identifiers (field names as in redirect_uris); Message is for
// developers and operators.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes every FieldError match ErrInvalid.
func (e FieldError) Unwrap() error { return ErrInvalid }

// VerifiableAttributes are the attributes an identity-proofing provider
// vouches for (legal name, date of birth, national identity number), by
// the names a client's ReleaseVerified lists them with.

// appName is what an application name (App) may look like: the same as
// the roles' application names.
var appName = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
var VerifiableAttributes = []string{"legal_name", "birthdate", "national_id"}

// StandardScopes are the OpenID Connect scopes Portvakt knows.
var StandardScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// ScopeSet says which scopes a client may be allowed: the listed names and
// any scope that starts with one of the prefixes.
type ScopeSet struct {
	Names    []string
	Prefixes []string
}

// DefaultScopes are the standard scopes and the API scopes "portvakt:…".
func DefaultScopes() ScopeSet {
	return ScopeSet{Names: slices.Clone(StandardScopes), Prefixes: []string{"portvakt:"}}
}

// IsZero reports whether the set is empty.
func (s ScopeSet) IsZero() bool { return len(s.Names) == 0 && len(s.Prefixes) == 0 }

// Allows reports whether scope is in the set. A prefixed scope needs
// something after its prefix.
func (s ScopeSet) Allows(scope string) bool {
	if !validScopeToken(scope) {
		return false
	}
	if slices.Contains(s.Names, scope) {
		return true
	}
	for _, p := range s.Prefixes {
		if rest, ok := strings.CutPrefix(scope, p); ok && rest != "" {
			return true
		}
	}
	return false
}

func (s ScopeSet) String() string {
	out := slices.Clone(s.Names)
	for _, p := range s.Prefixes {
		out = append(out, p+"…")
	}
	return strings.Join(out, ", ")
}

// validScopeToken checks scope-token of RFC 6749, section 3.3.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a new client ID: 24 characters from [A-Za-z0-9], about 142
// random bits. (No '-' or '_': an ID that began with '-' would read as a
// flag on the command line.)
func NewID() string {
	out := make([]byte, 0, 24)
	buf := make([]byte, 32)
	for len(out) < 24 {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			// 248 = 4·62: rejecting the rest keeps every character
			// equally likely.
			if b < 248 && len(out) < 24 {
				out = append(out, idAlphabet[b%62])
			}
		}
	}
	return string(out)
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)
	sectorPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// applyDefaults fills in the fields left empty.
func (c *Client) applyDefaults() {
	if c.ApplicationType == "" {
		c.ApplicationType = ApplicationTypeWeb
	}
	if c.TokenEndpointAuthMethod == "" {
		switch c.Type {
		case TypePublic:
			c.TokenEndpointAuthMethod = AuthNone
		case TypeConfidential:
			c.TokenEndpointAuthMethod = AuthClientSecretBasic
		}
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []GrantType{GrantAuthorizationCode}
	}
	if len(c.Scopes) == 0 && c.AllowsGrant(GrantAuthorizationCode) {
		c.Scopes = []string{"openid"}
	}
	if c.IDTokenAlg == "" {
		c.IDTokenAlg = AlgRS256
	}
	if c.AccessTokenFormat == "" {
		c.AccessTokenFormat = TokenFormatJWT
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if c.IDTokenLifetime == 0 {
		c.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if c.RefreshTokenLifetime == 0 {
		c.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if c.SubjectType == "" {
		c.SubjectType = SubjectPublic
	}
}

// Validate fills in defaults for the fields left empty, normalizes the
// lists (duplicates dropped, order kept) and checks the client's settings
// against known, the scopes clients may be allowed. It reports every
// problem at once, each as a FieldError. It does not look at the secret
// digests.
func (c *Client) Validate(known ScopeSet) error {
	c.applyDefaults()
	v := &validator{}
	if !idPattern.MatchString(c.ID) {
		v.add("id", "invalid", "%q is not 1 to 128 letters, digits and ._~- starting with a letter or digit", c.ID)
	}
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case c.Name == "":
		v.add("name", "required", "is required")
	case !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0:
		v.add("name", "invalid", "has control characters or is not valid UTF-8")
	case utf8.RuneCountInString(c.Name) > 200:
		v.add("name", "too_long", "is longer than 200 characters")
	}
	c.validateKind(v)
	c.validateGrants(v)
	c.validateAuth(v)
	c.validateURIs(v)
	c.validateScopes(v, known)
	c.validateTokens(v)
	c.validateSubject(v)
	c.validateRelease(v)
	if c.MinACR = strings.TrimSpace(c.MinACR); len(c.MinACR) > 255 || strings.ContainsFunc(c.MinACR, unicode.IsSpace) {
		v.add("min_acr", "invalid", "is not one acr value (no spaces, at most 255 characters)")
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(field, code, format string, args ...any) {
	v.errs = append(v.errs, FieldError{field, code, fmt.Sprintf(format, args...)})
}

func (c *Client) validateKind(v *validator) {
	switch c.Type {
	case TypeConfidential, TypePublic:
	default:
		v.add("type", "invalid", "%q is not confidential or public", c.Type)
	}
	switch c.ApplicationType {
	case ApplicationTypeWeb:
	case ApplicationTypeNative:
		// RFC 8252, section 8.5: a secret shipped inside an app is known to
		// everyone who has the app.
		if c.Type == TypeConfidential {
			v.add("application_type", "native_confidential", "a native app cannot keep a secret: register it as a public client")
		}
	default:
		v.add("application_type", "invalid", "%q is not web or native", c.ApplicationType)
	}
}

func (c *Client) validateGrants(v *validator) {
	c.GrantTypes = dedupe(c.GrantTypes)
	supported := make([]string, len(SupportedGrantTypes))
	for i, g := range SupportedGrantTypes {
		supported[i] = string(g)
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(SupportedGrantTypes, g) {
			v.add("grant_types", "unsupported", "unsupported grant type %q; supported: %s", g, strings.Join(supported, ", "))
		}
	}
	if c.AllowsGrant(GrantRefreshToken) && !c.AllowsGrant(GrantAuthorizationCode) {
		v.add("grant_types", "refresh_without_code", "refresh_token needs authorization_code: refresh tokens are issued with authorization codes")
	}
	if c.Type == TypePublic && c.AllowsGrant(GrantClientCredentials) {
		v.add("grant_types", "public_client_credentials", "client_credentials is only for confidential clients")
	}
}

func (c *Client) validateAuth(v *validator) {
	switch c.TokenEndpointAuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone:
	case "":
		// Left empty only when the type is unknown, which is reported.
	default:
		v.add("token_endpoint_auth_method", "invalid", "%q is not one of client_secret_basic, client_secret_post, private_key_jwt, none", c.TokenEndpointAuthMethod)
	}
	switch {
	case c.Type == TypePublic && c.TokenEndpointAuthMethod != AuthNone:
		v.add("token_endpoint_auth_method", "public_needs_none", "a public client cannot keep a secret or key: its method is none, not %s", c.TokenEndpointAuthMethod)
	case c.Type == TypeConfidential && c.TokenEndpointAuthMethod == AuthNone:
		v.add("token_endpoint_auth_method", "confidential_needs_auth", "a confidential client must authenticate: use client_secret_basic, client_secret_post or private_key_jwt")
	}
	if len(c.JWKS) == 0 {
		c.JWKS = nil
	}
	if c.JWKS != nil && c.JWKSURI != "" {
		v.add("jwks", "both", "give jwks or jwks_uri, not both")
	}
	if c.JWKS != nil {
		if msg := checkJWKS(c.JWKS); msg != "" {
			v.add("jwks", "invalid", "%s", msg)
		} else {
			var buf bytes.Buffer
			_ = json.Compact(&buf, c.JWKS)
			c.JWKS = buf.Bytes()
		}
	}
	if c.JWKSURI != "" {
		if code, msg := checkServerURI(c.JWKSURI); code != "" {
			v.add("jwks_uri", code, "%s", msg)
		}
	}
	if c.TokenEndpointAuthMethod == AuthPrivateKeyJWT && c.JWKS == nil && c.JWKSURI == "" {
		v.add("jwks", "required", "private_key_jwt needs the client's public keys: set jwks or jwks_uri")
	}
}

// checkJWKS checks a JSON Web Key Set of public keys and returns the
// problem, if any.
func checkJWKS(raw json.RawMessage) string {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Sprintf("is not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return "has no keys"
	}
	for i, k := range set.Keys {
		switch {
		case !k.Valid():
			return fmt.Sprintf("key %d (kid %q) is not a valid key", i+1, k.KeyID)
		case !k.IsPublic():
			return fmt.Sprintf("key %d (kid %q) is not a public key: give only public keys", i+1, k.KeyID)
		}
	}
	return ""
}

func (c *Client) validateURIs(v *validator) {
	for _, l := range []struct {
		field string
		uris  *[]string
	}{{"redirect_uris", &c.RedirectURIs}, {"post_logout_redirect_uris", &c.PostLogoutRedirectURIs}} {
		*l.uris = dedupe(*l.uris)
		if len(*l.uris) > maxURIs {
			v.add(l.field, "too_many", "has %d URIs, more than %d", len(*l.uris), maxURIs)
			continue
		}
		for _, u := range *l.uris {
			if code, msg := checkRedirectURI(u, c.ApplicationType); code != "" {
				v.add(l.field, code, "%s", msg)
			}
		}
	}
	if c.AllowsGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		v.add("redirect_uris", "required", "authorization_code needs at least one redirect URI")
	}
	if c.BackchannelLogoutURI != "" {
		if code, msg := checkServerURI(c.BackchannelLogoutURI); code != "" {
			v.add("backchannel_logout_uri", code, "%s", msg)
		}
	} else if c.BackchannelLogoutSessionRequired {
		v.add("backchannel_logout_session_required", "without_uri", "needs backchannel_logout_uri")
	}
	if c.InitiateLoginURI != "" {
		if code, msg := checkServerURI(c.InitiateLoginURI); code != "" {
			v.add("initiate_login_uri", code, "%s", msg)
		}
	}
}

func (c *Client) validateScopes(v *validator, known ScopeSet) {
	c.Scopes = dedupe(c.Scopes)
	for _, s := range c.Scopes {
		if !known.Allows(s) {
			v.add("scopes", "unknown", "unknown scope %q; allowed: %s", s, known)
		}
	}
	if c.AllowsScope("offline_access") && !c.AllowsGrant(GrantRefreshToken) {
		v.add("scopes", "offline_without_refresh", "offline_access needs the refresh_token grant")
	}
}

func (c *Client) validateTokens(v *validator) {
	switch c.IDTokenAlg {
	case AlgRS256, AlgES256, AlgEdDSA:
	default:
		v.add("id_token_alg", "invalid", "%q is not RS256, ES256 or EdDSA", c.IDTokenAlg)
	}
	switch c.AccessTokenFormat {
	case TokenFormatJWT, TokenFormatOpaque:
	default:
		v.add("access_token_format", "invalid", "%q is not jwt or opaque", c.AccessTokenFormat)
	}
	c.AccessTokenAudience = dedupe(c.AccessTokenAudience)
	for _, a := range c.AccessTokenAudience {
		switch {
		case a == "" || strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			v.add("access_token_audience", "invalid", "%q is empty or has spaces", a)
		case len(a) > 255:
			v.add("access_token_audience", "too_long", "%q is longer than 255 characters", a)
		}
	}
	for _, l := range []struct {
		field    string
		d        time.Duration
		min, max time.Duration
	}{
		{"access_token_lifetime", c.AccessTokenLifetime, minTokenLifetime, maxTokenLifetime},
		{"id_token_lifetime", c.IDTokenLifetime, minTokenLifetime, maxTokenLifetime},
		{"refresh_token_lifetime", c.RefreshTokenLifetime, minRefreshTokenLifetime, maxRefreshTokenLifetime},
	} {
		switch {
		case l.d < l.min || l.d > l.max:
			v.add(l.field, "out_of_range", "%v is not between %v and %v", l.d, l.min, l.max)
		case l.d%time.Second != 0:
			v.add(l.field, "invalid", "%v is not a whole number of seconds", l.d)
		}
	}
}

func (c *Client) validateSubject(v *validator) {
	switch c.SubjectType {
	case SubjectPublic:
		if c.SectorIdentifier != "" {
			v.add("sector_identifier", "without_pairwise", "is only used with subject_type pairwise")
		}
	case SubjectPairwise:
		switch hosts := redirectHosts(c.RedirectURIs); {
		case c.SectorIdentifier != "":
			if len(c.SectorIdentifier) > 253 || !sectorPattern.MatchString(c.SectorIdentifier) {
				v.add("sector_identifier", "invalid", "%q is not a lower-case host name such as example.com", c.SectorIdentifier)
			}
		case len(hosts) == 0:
			v.add("sector_identifier", "required", "pairwise subjects need a sector identifier when there are no redirect URIs")
		case len(hosts) > 1:
			v.add("sector_identifier", "required", "pairwise subjects need a sector identifier when the redirect URIs span several hosts (%s)", strings.Join(hosts, ", "))
		}
	default:
		v.add("subject_type", "invalid", "%q is not public or pairwise", c.SubjectType)
	}
}

// OrgMode is how a client is used in organizations.
type OrgMode string

// Organization modes.
const (
	// OrgOptional: a member of organizations signs in for one (the one the
	// request names, their only one, or the one they pick); others sign in
	// on their own.
	OrgOptional OrgMode = "optional"
	// OrgRequired: only members of an organization sign in; others are
	// refused (access_denied).
	OrgRequired OrgMode = "required"
	// OrgOff: a consumer application. Nobody is asked for an
	// organization and tokens carry none, only the roles people hold on
	// their own.
	OrgOff OrgMode = "off"
)

func (c *Client) validateRelease(v *validator) {
	switch c.Organizations {
	case "":
		c.Organizations = OrgOptional
	case OrgOptional, OrgRequired, OrgOff:
	default:
		v.add("organizations", "invalid", "%q is not optional, required or off", c.Organizations)
	}
	c.App = strings.TrimSpace(c.App)
	if c.App != "" && !appName.MatchString(c.App) {
		v.add("app", "invalid", "%q is not an application name of lower-case letters, digits and _ . : - (up to 64, starting with a letter)", c.App)
	}
	c.ReleaseVerified = dedupe(c.ReleaseVerified)
	for _, a := range c.ReleaseVerified {
		if !slices.Contains(VerifiableAttributes, a) {
			v.add("release_verified", "unknown", "%q is not a verified attribute; use %s", a, strings.Join(VerifiableAttributes, ", "))
		}
	}
	// Verified attributes are about a person: a client that never signs
	// anyone in has nowhere to receive them.
	if len(c.ReleaseVerified) > 0 && (!c.AllowsGrant(GrantAuthorizationCode) || !c.AllowsScope("openid")) {
		v.add("release_verified", "without_sign_in", "needs the authorization_code grant and the openid scope: verified attributes go in ID tokens and userinfo")
	}
	if c.ReleaseConsents && (!c.AllowsGrant(GrantAuthorizationCode) || !c.AllowsScope("openid")) {
		v.add("release_consents", "without_sign_in", "needs the authorization_code grant and the openid scope: the consents claim goes in ID tokens and userinfo")
	}
}

// dedupe drops repeated values, keeping the first; it returns nil for an
// empty list so that "none" has one form.
func dedupe[T comparable](vs []T) []T {
	var out []T
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
