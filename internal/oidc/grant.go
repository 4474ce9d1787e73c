package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

// Errors of the grant store.
var (
	// ErrNotFound means no such authorization request or token.
	ErrNotFound = errors.New("not found")
	// ErrCodeReused means an authorization code was presented a second time;
	// every token issued for it has been revoked.
	ErrCodeReused = errors.New("authorization code reused")
	// ErrRefreshReused means a refresh token was presented after it had been
	// rotated (or revoked); its whole family has been revoked.
	ErrRefreshReused = errors.New("refresh token reused")
)

// Params are the parameters of an authorization request that Portvakt keeps
// between the request and the token exchange.
type Params struct {
	Scopes              []string `json:"scopes"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	RedirectURI         string   `json:"redirect_uri"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              *uint    `json:"max_age,omitempty"`
	UILocales           []string `json:"ui_locales,omitempty"`
	LoginHint           string   `json:"login_hint,omitempty"`
	ACRValues           []string `json:"acr_values,omitempty"`
	// Audience are the resources asked for (RFC 8707).
	Audience []string `json:"audience,omitempty"`
	// Claims is the claims request parameter (OpenID Connect Core,
	// section 5.5), as JSON.
	Claims json.RawMessage `json:"claims,omitempty"`
	// Pushed marks a request pushed to the PAR endpoint (RFC 9126) that
	// the browser has not yet brought to the authorization endpoint.
	Pushed bool `json:"pushed,omitempty"`
	// Organization is the organization the client asked for (its ID, slug
	// or ext:<external ID>); once the person is signed in, the ID of the
	// one the grant is made in.
	Organization string `json:"organization,omitempty"`
}

// AuthRequest is an authorization request on its way from the client's
// redirect to the code exchange.
type AuthRequest struct {
	ID       string
	ClientID string
	Params   Params
	// Set when the person has signed in.
	UserID    string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
	// SignedIn is set when the person has signed in for this request.
	SignedIn bool
	// CodeHash is the SHA-256 of the issued code; CodeUsedAt when it was
	// exchanged (a second exchange revokes the tokens of the first).
	CodeHash   string
	CodeUsedAt time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// TokenKind is what a stored token is.
type TokenKind string

// Token kinds.
const (
	// KindRefresh is a refresh token: opaque, stored as a digest.
	KindRefresh TokenKind = "refresh"
	// KindAccess is an access token that is looked up (opaque ones, and the
	// record of JWT access tokens issued in a user grant).
	KindAccess TokenKind = "access"
)

// Token is an issued token, as recorded.
type Token struct {
	ID   string
	Kind TokenKind
	// FamilyID groups every token that descends from one grant (one
	// authorization code, through all its refreshes).
	FamilyID  string
	Hash      string
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
	// Claims is the claims request parameter of the grant, for userinfo.
	Claims json.RawMessage
	// OrgID is the organization the grant was made in ("" for none): its
	// tokens carry the person's roles there.
	OrgID     string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	RevokedAt time.Time
}

// Live reports whether the token may still be used at now.
func (t Token) Live(now time.Time) bool {
	return t.UsedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Consent is what a person allowed a third-party client: the scopes it may
// have again without asking.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Covers reports whether the consent includes every one of scopes.
func (c Consent) Covers(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// Store keeps authorization requests, tokens and consents.
type Store interface {
	CreateAuthRequest(ctx context.Context, ar AuthRequest) error
	// AuthRequestByID returns the request or ErrNotFound.
	AuthRequestByID(ctx context.Context, id string) (AuthRequest, error)
	// UpdateAuthRequest applies fn atomically.
	UpdateAuthRequest(ctx context.Context, id string, fn func(AuthRequest) (AuthRequest, error)) (AuthRequest, error)
	// RedeemCode finds the request whose code digest is codeHash and, in
	// one transaction, has issue check it and make the tokens to record,
	// marks the code used at now, and records the tokens with their
	// events; an error from issue leaves everything as it was. A code used
	// before instead revokes every token of the family named by the
	// request's ID, writes reuse's events, and returns ErrCodeReused; an
	// unknown code is ErrNotFound.
	RedeemCode(ctx context.Context, codeHash string, now time.Time, issue func(AuthRequest) ([]Token, []events.Event, error), reuse func(AuthRequest) []events.Event) (AuthRequest, error)
	// SaveGrantTokens records issued tokens with their events.
	SaveGrantTokens(ctx context.Context, ts []Token, evs ...events.Event) error
	// GrantTokenByHash returns the token whose digest is hash, or
	// ErrNotFound.
	GrantTokenByHash(ctx context.Context, hash string) (Token, error)
	// GrantTokenDenied returns the token with ID id and whether that ID is
	// on the deny-list, in one read; ErrNotFound if there is no such token.
	GrantTokenDenied(ctx context.Context, id string) (Token, bool, error)
	// GrantTokenWithUser is GrantTokenDenied with the token's user, in one
	// read; ErrNotFound if there is no such token or user.
	GrantTokenWithUser(ctx context.Context, id string) (Token, bool, accounts.User, error)
	// RotateRefresh exchanges the live refresh token with digest hash for
	// the tokens next returns, in one transaction. A token already used or
	// revoked revokes its whole family, writes reuseEvents and returns
	// ErrRefreshReused.
	RotateRefresh(ctx context.Context, hash string, now time.Time, next func(old Token) ([]Token, []events.Event, error), reuseEvents func(old Token) []events.Event) ([]Token, error)
	// RevokeFamily revokes every token of a family.
	RevokeFamily(ctx context.Context, familyID string, now time.Time, evs ...events.Event) error
	// RevokeJTI puts a JWT access token on the deny-list until it expires.
	RevokeJTI(ctx context.Context, jti string, expires time.Time, evs ...events.Event) error
	// JTIRevoked reports whether a JWT access token was revoked.
	JTIRevoked(ctx context.Context, jti string) (bool, error)
	// ConsentFor returns the user's consent for the client, or ErrNotFound.
	ConsentFor(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent stores c with its events. It replaces the scopes of an
	// earlier consent of the user for the client and keeps its CreatedAt.
	SaveConsent(ctx context.Context, c Consent, evs ...events.Event) error
	// DeleteConsent withdraws the user's consent for the client, writing
	// evs; ErrNotFound if there is none.
	DeleteConsent(ctx context.Context, userID, clientID string, evs ...events.Event) error
}

// digest is the stored form of a high-entropy secret (codes, refresh and
// opaque access tokens): a SHA-256, compared by exact match. A slow hash
// adds nothing for 256-bit random values.
func digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newSecret returns a 256-bit random value, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newID returns a 128-bit random identifier, hex.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
