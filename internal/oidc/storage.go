package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

// Clients is what the provider needs of the client registry.
type Clients interface {
	// LookupClient returns the client or an error wrapping ErrNotFound.
	LookupClient(ctx context.Context, id string) (Client, error)
	// CheckClientSecret authenticates a confidential client.
	CheckClientSecret(ctx context.Context, id, secret string) error
}

// Keys is what the provider needs of the signing keys.
type Keys interface {
	// Signer returns the active key for alg.
	Signer(ctx context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error)
	// PublicKeys returns every published key, for the JWKS.
	PublicKeys(ctx context.Context) ([]op.Key, error)
}

// Users is what the provider needs of the accounts.
type Users interface {
	UserByID(ctx context.Context, id string) (accounts.User, error)
}

// Lifetimes of what the provider issues when the client sets none.
const (
	authRequestTTL     = 30 * time.Minute
	codeTTL            = 60 * time.Second
	parTTL             = 60 * time.Second
	defaultAccessTTL   = 10 * time.Minute
	defaultRefreshTTL  = 30 * 24 * time.Hour
	defaultIDTokenAlgo = jose.RS256
)

// storage implements op.Storage (and client credentials) on Portvakt's
// stores.
type storage struct {
	grants  Store
	clients Clients
	keys    Keys
	users   Users
	ping    func(context.Context) error
	now     func() time.Time
}

var _ op.Storage = (*storage)(nil)

func (s *storage) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// errNotFound tells the framework a lookup found nothing.
type errNotFound struct{ error }

func (errNotFound) IsNotFound() {}

// CreateAuthRequest implements op.AuthStorage. The server's Authorize
// calls newAuthRequest itself, with the parameters the framework does not
// parse.
func (s *storage) CreateAuthRequest(ctx context.Context, r *zoidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.clients.LookupClient(ctx, r.ClientID)
	if err != nil {
		return nil, lookupErr(err)
	}
	return s.newAuthRequest(ctx, c, r, extraParams{}, false)
}

// extraParams are the authorization request parameters the framework does
// not parse.
type extraParams struct {
	claims       json.RawMessage
	resources    []string
	organization string
}

// newAuthRequest checks and stores an authorization request; a pushed one
// (RFC 9126) lives only until the browser brings it, a minute at most.
func (s *storage) newAuthRequest(ctx context.Context, c Client, r *zoidc.AuthRequest, extra extraParams, pushed bool) (*AuthRequest, error) {
	switch {
	case r.CodeChallenge != "" && r.CodeChallengeMethod != zoidc.CodeChallengeMethodS256:
		return nil, zoidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case r.CodeChallenge == "" && c.AuthMethod == string(zoidc.AuthMethodNone):
		return nil, zoidc.ErrInvalidRequest().WithDescription("public clients must use PKCE (code_challenge with S256)")
	}
	now := s.clock()
	ar := &AuthRequest{
		ID: newID(), ClientID: r.ClientID, Params: paramsFrom(r), CreatedAt: now, ExpiresAt: now.Add(authRequestTTL),
	}
	if pushed {
		ar.Params.Pushed, ar.ExpiresAt = true, now.Add(parTTL)
	}
	ar.Params.Claims, ar.Params.Audience, ar.Params.Organization = extra.claims, extra.resources, extra.organization
	// A client gets only the scopes it is registered for, standard ones
	// included; others are dropped, as RFC 6749 allows.
	var granted []string
	for _, sc := range ar.Params.Scopes {
		if slices.Contains(c.Scopes, sc) && !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	ar.Params.Scopes = granted
	if err := s.grants.CreateAuthRequest(ctx, *ar); err != nil {
		return nil, err
	}
	return ar, nil
}

// AuthRequestByID implements op.AuthStorage.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.grants.AuthRequestByID(ctx, id)
	if err != nil {
		return nil, lookupErr(err)
	}
	if !s.clock().Before(ar.ExpiresAt) || !ar.CodeUsedAt.IsZero() || ar.Params.Pushed {
		return nil, errNotFound{errors.New("authorization request expired")}
	}
	return &ar, nil
}

// SaveAuthCode implements op.AuthStorage. The code lives 60 seconds.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	_, err := s.grants.UpdateAuthRequest(ctx, id, func(ar AuthRequest) (AuthRequest, error) {
		ar.CodeHash, ar.ExpiresAt = digest(code), s.clock().Add(codeTTL)
		return ar, nil
	})
	return err
}

// DeleteAuthRequest implements op.AuthStorage. The request is kept until it
// expires, so that a reused code is recognised; retention deletes it.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// errServedElsewhere answers the framework's token calls: Portvakt's server
// (server.go) serves the token, userinfo, introspection and revocation
// endpoints itself, so the framework never reaches these.
var errServedElsewhere = errors.New("oidc: served by Portvakt's server, not the framework")

// AuthRequestByCode implements op.AuthStorage; see errServedElsewhere.
func (s *storage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errServedElsewhere
}

// CreateAccessToken implements op.AuthStorage; see errServedElsewhere.
func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errServedElsewhere
}

// CreateAccessAndRefreshTokens implements op.AuthStorage; see
// errServedElsewhere.
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errServedElsewhere
}

// TokenRequestByRefreshToken implements op.AuthStorage; see
// errServedElsewhere.
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errServedElsewhere
}

// TerminateSession implements op.AuthStorage. The framework's end_session
// endpoint, its only caller, is not mounted: Portvakt serves end_session
// itself (logout.go), since ending the browser's session needs its cookie.
func (s *storage) TerminateSession(context.Context, string, string) error {
	return errors.New("oidc: end_session is served by the handler, not the framework")
}

// RevokeToken implements op.AuthStorage; see errServedElsewhere.
func (s *storage) RevokeToken(context.Context, string, string, string) *zoidc.Error {
	return zoidc.ErrServerError().WithParent(errServedElsewhere)
}

// GetRefreshTokenInfo implements op.AuthStorage; see errServedElsewhere.
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", errServedElsewhere
}

// SigningKey implements op.AuthStorage: ID tokens are signed RS256.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.keys.Signer(ctx, defaultIDTokenAlgo)
}

// SignatureAlgorithms implements op.AuthStorage.
func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	var algs []jose.SignatureAlgorithm
	seen := map[jose.SignatureAlgorithm]bool{}
	for _, k := range keys {
		if !seen[k.Algorithm()] {
			seen[k.Algorithm()] = true
			algs = append(algs, k.Algorithm())
		}
	}
	return algs, nil
}

// KeySet implements op.AuthStorage.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.keys.PublicKeys(ctx) }

// GetClientByClientID implements op.OPStorage.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.clients.LookupClient(ctx, id)
	if err != nil {
		return nil, lookupErr(err)
	}
	return opClient{c: c}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	return s.clients.CheckClientSecret(ctx, id, secret)
}

// SetUserinfoFromScopes implements op.OPStorage; see errServedElsewhere.
func (s *storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return errServedElsewhere
}

// SetUserinfoFromToken implements op.OPStorage; see errServedElsewhere.
func (s *storage) SetUserinfoFromToken(context.Context, *zoidc.UserInfo, string, string, string) error {
	return errServedElsewhere
}

// SetIntrospectionFromToken implements op.OPStorage; see
// errServedElsewhere.
func (s *storage) SetIntrospectionFromToken(context.Context, *zoidc.IntrospectionResponse, string, string, string) error {
	return errServedElsewhere
}

// GetPrivateClaimsFromScopes implements op.OPStorage.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.OPStorage (private_key_jwt); not yet
// supported.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound{errors.New("client keys are not supported yet")}
}

// ValidateJWTProfileScopes implements op.OPStorage.
func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

// Health implements op.Storage.
func (s *storage) Health(ctx context.Context) error { return s.ping(ctx) }

func (s *storage) event(typ, subject string, data map[string]any) events.Event {
	e, _ := events.New(typ, subject, "system:oidc", s.clock(), data)
	return e
}

func lookupErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errNotFound{err}
	}
	return err
}
