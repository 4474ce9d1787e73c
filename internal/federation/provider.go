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
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

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
	// CreateUserWithIdentity stores a new user and its first identity in
	// one transaction.
	CreateUserWithIdentity(ctx context.Context, u accounts.User, id Identity, evs ...events.Event) error
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
	if !idPattern.MatchString(p.ID) {
		bad("id", "%q is not 1 to 40 lower-case letters, digits and dashes", p.ID)
	}
	if p.Name == "" || len(p.Name) > 60 {
		bad("name", "is required, at most 60 characters")
	}
	u, err := url.Parse(p.Issuer)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		bad("issuer", "%q is not an absolute URL without query or fragment", p.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		bad("issuer", "must be https (http only on loopback, for tests)")
	}
	if strings.TrimSpace(p.ClientID) == "" {
		bad("client_id", "is required")
	}
	for up, ours := range p.ACRMap {
		if up == "" || ours == "" {
			bad("acr_map", "an empty acr value")
		}
	}
	if !slices.Contains(p.Scopes, "openid") {
		p.Scopes = append([]string{"openid"}, p.Scopes...)
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
