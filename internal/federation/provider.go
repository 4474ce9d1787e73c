package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
)

// Errors.
var (
	// ErrNotFound means there is no such provider or identity.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the ID (or the upstream account) is taken.
	ErrConflict = errors.New("already exists")
	// ErrLastMethod means removing the identity would leave the person
	// no way to sign in.
	ErrLastMethod = errors.New("the last way to sign in cannot be removed")
)

// Provider is an upstream OpenID provider.
type Provider struct {
	// ID names the provider in URLs, events (social:<id>) and the CLI.
	ID string
	// Name is shown on the button: "Continue with <Name>".
	Name string
	// Kind is oidc (default) or oauth2: a provider without ID tokens,
	// whose endpoints are given (AuthURL, TokenURL, UserinfoURL) and whose
	// userinfo answer ClaimMap maps to claims.
	Kind        string
	AuthURL     string
	TokenURL    string
	UserinfoURL string
	// ClaimMap maps a claim Portvakt uses (email, email_verified,
	// given_name, family_name, locale; and sub for OAuth 2) to the
	// provider's claim or field name: attribute mapping per provider.
	ClaimMap map[string]string
	// Issuer is the provider's issuer URL; its discovery document is read
	// from there.
	Issuer   string
	ClientID string
	// Secret is the client secret sealed by the keyring; SecretPlain is
	// only set on the way in.
	Secret      []byte
	SecretPlain string `json:"-"`
	// Scopes asked for, openid included.
	Scopes []string
	// TrustEmail takes the provider's email_verified at its word: a new
	// account's address then counts as verified.
	TrustEmail bool
	// Proofing marks an identity-proofing source (a bank-ID or national
	// eID broker): its sign-ins count as proofed identities, its acr
	// values map to levels of assurance through ACRMap, and the
	// attributes it sends are kept as verified.
	Proofing bool
	// ACRMap maps the provider's acr values to Portvakt's levels.
	ACRMap map[string]string
	// NationalIDClaim is the ID token claim with the national identity
	// number (default national_id).
	NationalIDClaim string
	Options
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Options are a provider's less common settings, stored together.
type Options struct {
	// Brand styles the button after a known provider (google, microsoft,
	// apple, github, facebook, linkedin); "" is a plain button.
	Brand string `json:"brand,omitempty"`
	// ResponseMode is "" (the answer in the query) or form_post (posted
	// back, as Apple does).
	ResponseMode string `json:"response_mode,omitempty"`
	// TenantIssuer makes a multi-tenant provider (Microsoft's common,
	// organizations or consumers endpoints): each ID token's issuer must be
	// this template with {tenantid} replaced by the token's tid claim.
	TenantIssuer string `json:"tenant_issuer,omitempty"`
	// Tenants, for a multi-tenant provider, are the tenant IDs accepted
	// (none: any).
	Tenants []string `json:"tenants,omitempty"`
	// AppleTeamID and AppleKeyID make the client secret a JWT signed
	// (ES256) with the private key kept as the secret, as Apple requires.
	AppleTeamID string `json:"apple_team_id,omitempty"`
	AppleKeyID  string `json:"apple_key_id,omitempty"`
	// EmailsURL lists the person's addresses with their primary and
	// verified flags (GitHub's /user/emails): the primary verified one
	// is taken.
	EmailsURL string `json:"emails_url,omitempty"`
	// RequiredFields must be known before a registration through this
	// provider completes (given_name, family_name, phone); the person is
	// asked for those the provider did not send.
	RequiredFields []string `json:"required_fields,omitempty"`
}

// Brands are the providers whose buttons have their own look.
var Brands = []string{"google", "microsoft", "apple", "github", "facebook", "linkedin"}

// ProfileFields are the fields a registration can require.
var ProfileFields = []string{"given_name", "family_name", "phone"}

// Identity is an upstream account linked to a user.
type Identity struct {
	ProviderID string
	Subject    string
	UserID     string
	// Email is what the provider said when it was linked (for the person
	// to recognise it).
	Email      string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Store keeps providers and identities.
type Store interface {
	CreateProvider(ctx context.Context, p Provider, evs ...events.Event) error
	// PutProvider creates the provider or replaces the one with its ID
	// (keeping its created time and its linked identities).
	PutProvider(ctx context.Context, p Provider, evs ...events.Event) error
	ProviderByID(ctx context.Context, id string) (Provider, error)
	ListProviders(ctx context.Context) ([]Provider, error)
	DeleteProvider(ctx context.Context, id string, evs ...events.Event) error

	// IdentityBySubject returns the identity of the provider's subject.
	IdentityBySubject(ctx context.Context, providerID, subject string) (Identity, error)
	// Identities returns the user's identities, oldest first.
	Identities(ctx context.Context, userID string) ([]Identity, error)
	// LinkIdentity stores id with its events; ErrConflict if the
	// upstream account is linked already.
	LinkIdentity(ctx context.Context, id Identity, evs ...events.Event) error
	// CreateUserWithIdentity stores a new user, its first identity and
	// the receipts of the consents given at registration (their IDs and
	// user set: consents.Stamp) with the events, in one transaction.
	CreateUserWithIdentity(ctx context.Context, u accounts.User, id Identity, receipts []consents.Receipt, evs ...events.Event) error
	// UnlinkIdentity removes the identity with its events, unless it is
	// the user's last way to sign in (no password, passkey or other
	// identity): then ErrLastMethod. ErrNotFound if it is not the user's.
	UnlinkIdentity(ctx context.Context, userID, providerID, subject string, evs ...events.Event) error
	// TouchIdentity records a sign-in with the identity.
	TouchIdentity(ctx context.Context, providerID, subject string, at time.Time) error
	// SaveProofing stores verified attributes (sealed) and the keyed hash
	// of a national identity number (if any) for userID, with the events;
	// ErrConflict if the number belongs to another user.
	SaveProofing(ctx context.Context, userID string, attrs []VerifiedAttribute, nationalIDDigest string, evs ...events.Event) error
	// UserByNationalID returns the user whose national identity number
	// has the keyed hash digest.
	UserByNationalID(ctx context.Context, digest string) (string, error)
	// VerifiedAttributes returns the verified attributes kept for userID
	// (still sealed), in name order; none for a person never proofed.
	VerifiedAttributes(ctx context.Context, userID string) ([]VerifiedAttribute, error)
}

// VerifiedAttribute is an attribute an identity-proofing provider vouched
// for, its value sealed by the keyring.
type VerifiedAttribute struct {
	Name       string
	Value      []byte
	Source     string
	VerifiedAt time.Time
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// FieldError is a problem with one field of a provider.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks a provider's settings, reporting every problem.
func (p *Provider) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Kind == "" {
		p.Kind = KindOIDC
	}
	switch p.Kind {
	case KindOIDC:
	case KindOAuth2:
		for field, v := range map[string]string{"auth_url": p.AuthURL, "token_url": p.TokenURL, "userinfo_url": p.UserinfoURL} {
			if msg := checkURL(v, field == "userinfo_url"); msg != "" {
				bad(field, "%s", msg)
			}
		}
	default:
		bad("kind", "%q is not oidc or oauth2", p.Kind)
	}
	for ours := range p.ClaimMap {
		switch {
		case !slices.Contains(mappable, ours):
			bad("claim_map", "%q is not one of %s", ours, strings.Join(mappable, ", "))
		case ours == "sub" && p.Kind == KindOIDC:
			bad("claim_map", "an OpenID provider's subject is its ID token's sub; it cannot be mapped")
		}
	}
	if !idPattern.MatchString(p.ID) {
		bad("id", "%q is not 1 to 40 lower-case letters, digits and dashes", p.ID)
	}
	if p.Name == "" || len(p.Name) > 60 {
		bad("name", "is required, at most 60 characters")
	}
	if p.Kind == KindOIDC {
		if msg := checkURL(p.Issuer, false); msg != "" {
			bad("issuer", "%s", msg)
		}
	}
	if strings.TrimSpace(p.ClientID) == "" {
		bad("client_id", "is required")
	}
	for up, ours := range p.ACRMap {
		if up == "" || ours == "" {
			bad("acr_map", "an empty acr value")
		}
	}
	if p.Brand != "" && !slices.Contains(Brands, p.Brand) {
		bad("brand", "%q is not one of %s", p.Brand, strings.Join(Brands, ", "))
	}
	switch p.ResponseMode {
	case "", "query", "form_post":
	default:
		bad("response_mode", "%q is not query or form_post", p.ResponseMode)
	}
	if p.TenantIssuer != "" {
		if p.Kind != KindOIDC || !strings.Contains(p.TenantIssuer, "{tenantid}") || checkURL(strings.ReplaceAll(p.TenantIssuer, "{tenantid}", "t"), false) != "" {
			bad("tenant_issuer", "%q is not an https issuer URL with {tenantid} in it, for an OpenID provider", p.TenantIssuer)
		}
	} else if len(p.Tenants) > 0 {
		bad("tenants", "only a multi-tenant provider (tenant_issuer) has tenants")
	}
	if (p.AppleTeamID == "") != (p.AppleKeyID == "") {
		bad("apple_team_id", "the team ID and the key ID go together")
	}
	if p.EmailsURL != "" {
		if msg := checkURL(p.EmailsURL, true); msg != "" {
			bad("emails_url", "%s", msg)
		}
	}
	for _, f := range p.RequiredFields {
		if !slices.Contains(ProfileFields, f) {
			bad("required_fields", "%q is not one of %s", f, strings.Join(ProfileFields, ", "))
		}
	}
	if p.Kind == KindOIDC && !slices.Contains(p.Scopes, "openid") {
		p.Scopes = append([]string{"openid"}, p.Scopes...)
	}
	return errors.Join(errs...)
}

// Provider kinds.
const (
	KindOIDC   = "oidc"
	KindOAuth2 = "oauth2"
)

// mappable are the claims an OAuth 2 provider's userinfo can be mapped to.
var mappable = []string{"sub", "email", "email_verified", "given_name", "family_name", "locale", "phone_number"}

// checkURL says what is wrong with an endpoint URL, or "". A query is
// allowed where withQuery says so (a userinfo URL may ask for fields).
func checkURL(s string, withQuery bool) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.RawQuery != "" && !withQuery) || u.Fragment != "":
		return fmt.Sprintf("%q is not an absolute URL without fragment (or query)", s)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return "must be https (http only on loopback, for tests)"
	}
	return ""
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
