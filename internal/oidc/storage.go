package oidc

import (
	"context"
	"errors"
	"fmt"
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

var (
	_ op.Storage                  = (*storage)(nil)
	_ op.ClientCredentialsStorage = (*storage)(nil)
)

func (s *storage) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// errNotFound tells the framework a lookup found nothing.
type errNotFound struct{ error }

func (errNotFound) IsNotFound() {}

// CreateAuthRequest implements op.AuthStorage.
func (s *storage) CreateAuthRequest(ctx context.Context, r *zoidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.clients.LookupClient(ctx, r.ClientID)
	if err != nil {
		return nil, lookupErr(err)
	}
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
	// A client gets only the scopes it is registered for, standard ones
	// included; others are dropped, as RFC 6749 allows.
	var granted []string
	for _, sc := range ar.Params.Scopes {
		if slices.Contains(c.Scopes, sc) {
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
	if !s.clock().Before(ar.ExpiresAt) || !ar.CodeUsedAt.IsZero() {
		return nil, errNotFound{errors.New("authorization request expired")}
	}
	return &ar, nil
}

// AuthRequestByCode implements op.AuthStorage. The code is redeemed here:
// a second exchange fails and revokes what the first one issued.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.clock()
	ar, err := s.grants.RedeemCode(ctx, digest(code), now, s.event("oidc.code_reused", "system:oidc", nil))
	if errors.Is(err, ErrCodeReused) {
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code was already used; the tokens issued for it are revoked")
	}
	if err != nil {
		return nil, lookupErr(err)
	}
	if !now.Before(ar.ExpiresAt) {
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code has expired")
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

// CreateAccessToken implements op.AuthStorage. Every access token is
// recorded: a code reuse revokes those of its grant, and introspection
// answers from the record (a client credentials token is its client's own,
// with no user and no family).
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	now := s.clock()
	var t Token
	var ev events.Event
	switch r := req.(type) {
	case *AuthRequest:
		c, err := s.clients.LookupClient(ctx, r.ClientID)
		if err != nil {
			return "", time.Time{}, err
		}
		t = s.accessToken(c, r.ID, r.UserID, r.ClientID, r.GetScopes(), r.GetAudience(), r.AuthTime, r.AMR, r.SessionID, now)
		ev = s.event("oidc.token_issued", "user:"+r.UserID, map[string]any{"client_id": r.ClientID, "grant": "authorization_code"})
	case *clientRequest:
		c, err := s.clients.LookupClient(ctx, r.clientID)
		if err != nil {
			return "", time.Time{}, err
		}
		t = s.accessToken(c, "", "", r.clientID, r.scopes, r.audience, time.Time{}, nil, "", now)
		ev = s.event("oidc.token_issued", "client:"+r.clientID, map[string]any{"client_id": r.clientID, "grant": "client_credentials"})
	default:
		return "", time.Time{}, fmt.Errorf("oidc: unexpected token request %T", req)
	}
	if err := s.grants.SaveGrantTokens(ctx, []Token{t}, ev); err != nil {
		return "", time.Time{}, err
	}
	return t.ID, t.ExpiresAt, nil
}

func (s *storage) accessToken(c Client, family, userID, clientID string, scopes, aud []string, authTime time.Time, amr []string, sid string, now time.Time) Token {
	ttl := c.AccessTokenLifetime
	if ttl <= 0 {
		ttl = defaultAccessTTL
	}
	return Token{
		ID: newID(), Kind: KindAccess, FamilyID: family, ClientID: clientID, UserID: userID, Scopes: scopes,
		Audience: aud, AuthTime: authTime, AMR: amr, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
}

func (s *storage) refreshToken(c Client, family string, at Token, now time.Time) (Token, string) {
	ttl := c.RefreshTokenLifetime
	if ttl <= 0 {
		ttl = defaultRefreshTTL
	}
	plain := newSecret()
	t := at
	t.ID, t.Kind, t.FamilyID, t.Hash, t.ExpiresAt = newID(), KindRefresh, family, digest(plain), now.Add(ttl)
	return t, plain
}

// CreateAccessAndRefreshTokens implements op.AuthStorage: on a code
// exchange it starts a token family; on a refresh it rotates the refresh
// token, and a reused one revokes the family.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	now := s.clock()
	switch r := req.(type) {
	case *AuthRequest:
		c, err := s.clients.LookupClient(ctx, r.ClientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		at := s.accessToken(c, r.ID, r.UserID, r.ClientID, r.GetScopes(), r.GetAudience(), r.AuthTime, r.AMR, r.SessionID, now)
		rt, plain := s.refreshToken(c, r.ID, at, now)
		ev := s.event("oidc.token_issued", "user:"+r.UserID, map[string]any{"client_id": r.ClientID, "grant": "authorization_code", "refresh": true})
		if err := s.grants.SaveGrantTokens(ctx, []Token{at, rt}, ev); err != nil {
			return "", "", time.Time{}, err
		}
		return at.ID, plain, at.ExpiresAt, nil
	case *refreshRequest:
		c, err := s.clients.LookupClient(ctx, r.t.ClientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		var plain string
		var at Token
		_, err = s.grants.RotateRefresh(ctx, digest(current), now,
			func(old Token) ([]Token, []events.Event, error) {
				at = s.accessToken(c, old.FamilyID, old.UserID, old.ClientID, r.scopes, old.Audience, old.AuthTime, old.AMR, old.SessionID, now)
				var rt Token
				rt, plain = s.refreshToken(c, old.FamilyID, at, now)
				// A refresh may narrow the access token's scopes; the new
				// refresh token keeps the grant's (RFC 6749, section 6).
				rt.Scopes = old.Scopes
				return []Token{at, rt}, []events.Event{s.event("oidc.token_refreshed", "user:"+old.UserID, map[string]any{"client_id": old.ClientID})}, nil
			},
			s.reuseEvents)
		if err != nil {
			return "", "", time.Time{}, refreshErr(err)
		}
		return at.ID, plain, at.ExpiresAt, nil
	}
	return "", "", time.Time{}, fmt.Errorf("oidc: unexpected token request %T", req)
}

func (s *storage) reuseEvents(old Token) []events.Event {
	return []events.Event{s.event("oidc.refresh_token_reused", "user:"+old.UserID, map[string]any{"client_id": old.ClientID, "family": old.FamilyID})}
}

func refreshErr(err error) error {
	if errors.Is(err, ErrRefreshReused) || errors.Is(err, ErrNotFound) {
		return op.ErrInvalidRefreshToken
	}
	return err
}

// TokenRequestByRefreshToken implements op.AuthStorage. Presenting a
// refresh token that was already rotated or revoked revokes its family.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.grants.GrantTokenByHash(ctx, digest(token))
	if err != nil || t.Kind != KindRefresh {
		return nil, op.ErrInvalidRefreshToken
	}
	now := s.clock()
	if !t.UsedAt.IsZero() || !t.RevokedAt.IsZero() {
		if err := s.grants.RevokeFamily(ctx, t.FamilyID, now, s.reuseEvents(t)...); err != nil {
			return nil, err
		}
		return nil, op.ErrInvalidRefreshToken
	}
	if !now.Before(t.ExpiresAt) {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession implements op.AuthStorage. The framework's end_session
// endpoint, its only caller, is not mounted: Portvakt serves end_session
// itself (logout.go), since ending the browser's session needs its cookie.
func (s *storage) TerminateSession(context.Context, string, string) error {
	return errors.New("oidc: end_session is served by the handler, not the framework")
}

// RevokeToken implements op.AuthStorage (RFC 7009): a refresh token revokes
// its family, so that neither it nor the access tokens of its grant work
// any more; an access token is denied until it expires. The framework
// passes a refresh token as presented, or the ID GetRefreshTokenInfo gave
// for it, or an access token's ID. A token of another client is refused
// and left alone; one this server does not know is "revoked" with nothing
// to do (section 2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *zoidc.Error {
	now := s.clock()
	t, err := s.grants.GrantTokenByHash(ctx, digest(tokenOrID))
	if errors.Is(err, ErrNotFound) {
		t, err = s.grants.GrantTokenByID(ctx, tokenOrID)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		// Nothing this server issued (or long expired): nothing to do.
		return nil
	case err != nil:
		return zoidc.ErrServerError()
	case t.ClientID != clientID:
		// RFC 6749, section 5.2: invalid_grant covers a token "issued to
		// another client". (invalid_client would say that the client's own
		// credentials were wrong.)
		return zoidc.ErrInvalidGrant().WithDescription("the token was not issued to this client")
	}
	subject := "user:" + t.UserID
	if t.UserID == "" {
		subject = "client:" + t.ClientID
	}
	ev := s.event("oidc.token_revoked", subject, map[string]any{"client_id": clientID, "kind": string(t.Kind)})
	if t.Kind == KindRefresh {
		err = s.grants.RevokeFamily(ctx, t.FamilyID, now, ev)
	} else {
		err = s.grants.RevokeJTI(ctx, t.ID, t.ExpiresAt, ev)
	}
	if err != nil {
		return zoidc.ErrServerError()
	}
	return nil
}

// GetRefreshTokenInfo implements op.AuthStorage.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := s.grants.GrantTokenByHash(ctx, digest(token))
	if err != nil || t.Kind != KindRefresh || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.UserID, t.ID, nil
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
	return opClient{c: c, loginURL: loginURL}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	return s.clients.CheckClientSecret(ctx, id, secret)
}

// SetUserinfoFromScopes implements op.OPStorage.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, info *zoidc.UserInfo, userID, _ string, scopes []string) error {
	u, err := s.users.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	userinfo(info, u, scopes)
	return nil
}

// SetUserinfoFromToken implements op.OPStorage: the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *zoidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if t.UserID == "" || t.UserID != subject {
		return errors.New("token has no user")
	}
	return s.SetUserinfoFromScopes(ctx, info, t.UserID, t.ClientID, t.Scopes)
}

func (s *storage) liveAccessToken(ctx context.Context, id string) (Token, error) {
	t, err := s.grants.GrantTokenByID(ctx, id)
	if err != nil || t.Kind != KindAccess || !t.Live(s.clock()) {
		return Token{}, errors.New("token is not active")
	}
	if denied, err := s.grants.JTIRevoked(ctx, id); err != nil || denied {
		return Token{}, errors.New("token is not active")
	}
	return t, nil
}

// SetIntrospectionFromToken implements op.OPStorage (RFC 7662). Only a
// live record makes a token active, and only with the subject it was
// issued to: what the framework decrypted or verified is not enough on its
// own (with its default crypto, which New replaces, random input decrypted
// to a token ID and a subject now and then).
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *zoidc.IntrospectionResponse, tokenID, subject, _ string) error {
	t, err := s.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	sub := t.UserID
	if sub == "" {
		sub = t.ClientID // a client's own token (client credentials)
	}
	if sub != subject {
		return errors.New("token is not active")
	}
	resp.Active, resp.Subject, resp.ClientID = true, sub, t.ClientID
	resp.Scope = t.Scopes
	resp.Audience = t.Audience
	resp.Expiration = zoidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = zoidc.FromTime(t.CreatedAt)
	resp.TokenType = zoidc.BearerToken
	return nil
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

// ClientCredentials implements op.ClientCredentialsStorage.
func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.clients.CheckClientSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return s.GetClientByClientID(ctx, id)
}

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage.
func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.clients.LookupClient(ctx, id)
	if err != nil {
		return nil, err
	}
	// Like a user grant, the client gets only the scopes it is registered
	// for; others are dropped.
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(c.Scopes, sc) && !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	return &clientRequest{clientID: id, audience: append([]string{id}, c.Audience...), scopes: granted}, nil
}

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
