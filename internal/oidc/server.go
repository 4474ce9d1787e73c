package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

// server is the framework's LegacyServer with the endpoints that issue and
// check tokens replaced by Portvakt's own, through the framework's
// op.Server extension points: the token endpoint (code, refresh and client
// credentials grants), userinfo, introspection and revocation, client
// authentication, and the authorization endpoint's handling of pushed
// requests, resource indicators and the claims parameter. The framework
// still parses and validates requests, routes them and writes responses
// and errors.
type server struct {
	*op.LegacyServer
	h *Handler
}

var _ op.ExtendedLegacyServer = (*server)(nil)

// requestURIPrefix starts every request_uri the PAR endpoint hands out
// (RFC 9126, section 2.2).
const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// VerifyAuthRequest resolves a pushed request (request_uri) into its
// parameters and refuses unpushed requests from clients that must push.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[zoidc.AuthRequest]) (*op.ClientRequest[zoidc.AuthRequest], error) {
	if uri := r.Form.Get("request_uri"); uri != "" {
		ar, c, err := s.h.pushedRequest(ctx, r.Form.Get("client_id"), uri)
		if err != nil {
			return nil, err
		}
		r.Data = authRequestOf(ar)
		return &op.ClientRequest[zoidc.AuthRequest]{Request: r, Client: opClient{c: c}}, nil
	}
	// What the framework's own VerifyAuthRequest does, less what Portvakt
	// does not offer (request objects, refused in Authorize), with one
	// look-up of the client.
	if r.Data.ClientID == "" {
		return nil, zoidc.ErrInvalidRequest().WithDescription("auth request is missing client_id")
	}
	c, err := s.h.cfg.Clients.LookupClient(ctx, r.Data.ClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, zoidc.ErrInvalidRequest().WithDescription("unknown client_id")
	case err != nil:
		return nil, zoidc.DefaultToServerError(err, "unable to retrieve client by id")
	case c.RequirePAR:
		return nil, zoidc.ErrInvalidRequest().WithDescription("this client must push its authorization requests to the PAR endpoint first (RFC 9126)")
	}
	return &op.ClientRequest[zoidc.AuthRequest]{Request: r, Client: opClient{c: c}}, nil
}

// Authorize stores the request (or takes over the pushed one) and sends
// the browser to the sign-in hand-off.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[zoidc.AuthRequest]) (*op.Redirect, error) {
	if _, err := op.ValidateAuthReqIDTokenHint(ctx, r.Data.IDTokenHint, s.Provider().IDTokenHintVerifier(ctx)); err != nil {
		return nil, err
	}
	if r.Data.RequestParam != "" {
		return nil, zoidc.ErrRequestNotSupported()
	}
	c := r.Client.(opClient).c
	if uri := r.Form.Get("request_uri"); uri != "" {
		id, err := s.h.activatePushed(ctx, strings.TrimPrefix(uri, requestURIPrefix))
		if err != nil {
			return nil, err
		}
		return op.NewRedirect(loginURL(id)), nil
	}
	extra, err := s.h.extraParams(c, r.Form)
	if err != nil {
		return op.TryErrorRedirect(ctx, r.Data, err, s.Provider().Encoder(), nil)
	}
	ar, err := s.h.storage.newAuthRequest(ctx, c, r.Data, extra, false)
	if err != nil {
		return op.TryErrorRedirect(ctx, r.Data, zoidc.DefaultToServerError(err, "unable to save the authorization request"), s.Provider().Encoder(), nil)
	}
	return op.NewRedirect(loginURL(ar.ID)), nil
}

// VerifyClient authenticates the client at the token and revocation
// endpoints.
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	// Credentials belong in the header or the body, never in the URL
	// (RFC 6749, section 2.3.1), where logs and histories keep them.
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("client_assertion") {
		return nil, zoidc.ErrInvalidRequest().WithDescription("client credentials must not be sent in the URL")
	}
	c, err := s.h.authenticateClient(ctx, r.Header, r.Form)
	if err != nil {
		return nil, err
	}
	if err := publicClientGrant(c, r.Form.Get("grant_type")); err != nil {
		return nil, err
	}
	return opClient{c: c}, nil
}

// publicClientGrant refuses the client credentials grant to a public
// client, which has no credentials to prove.
func publicClientGrant(c Client, grantType string) error {
	if c.AuthMethod == string(zoidc.AuthMethodNone) && grantType == string(zoidc.GrantTypeClientCredentials) {
		return op.NewStatusError(zoidc.ErrInvalidClient().WithDescription("client_credentials needs an authenticated client"), http.StatusUnauthorized)
	}
	return nil
}

// tokenResponse is a token endpoint answer, never cached (RFC 6749,
// section 5.1).
func tokenResponse(body any) *op.Response {
	resp := op.NewResponse(body)
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Pragma", "no-cache")
	return resp
}

// CodeExchange serves the authorization code grant. In one transaction the
// code is checked (client, expiry, redirect URI, PKCE; a failed check
// leaves it unused), redeemed, and its tokens recorded: a second exchange
// of the same code fails and revokes what the first one issued.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[zoidc.AccessTokenRequest]) (*op.Response, error) {
	resp, err := s.h.exchangeCode(ctx, r.Client.(opClient).c, r.Form)
	if err != nil {
		return nil, err
	}
	return tokenResponse(resp), nil
}

// exchangeCode serves the authorization code grant for client c.
func (h *Handler) exchangeCode(ctx context.Context, c Client, form url.Values) (*zoidc.AccessTokenResponse, error) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		return nil, zoidc.ErrInvalidRequest().WithDescription("code missing")
	case redirectURI == "":
		return nil, zoidc.ErrInvalidRequest().WithDescription("redirect_uri missing")
	}
	now := h.storage.clock()
	var at Token
	var refresh, opaque string
	ar, err := h.cfg.Grants.RedeemCode(ctx, digest(code), now, func(ar AuthRequest) ([]Token, []events.Event, error) {
		switch {
		case ar.ClientID != c.ID:
			return nil, nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code was issued to another client")
		case !now.Before(ar.ExpiresAt):
			return nil, nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code has expired")
		case redirectURI != ar.Params.RedirectURI:
			return nil, nil, zoidc.ErrInvalidGrant().WithDescription("redirect_uri is not the one of the authorization request")
		}
		if err := checkPKCE(ar, verifier); err != nil {
			return nil, nil, err
		}
		aud, err := narrowResources(form, ar.Params.Audience, c)
		if err != nil {
			return nil, nil, err
		}
		var rt *Token
		at, rt, refresh, opaque = h.grantTokens(c, ar.ID, ar.UserID, ar.Params.Scopes, aud, ar.AuthTime, ar.AMR, ar.ACR, ar.SessionID, ar.Params.Claims, now)
		at.OrgID = ar.Params.Organization
		if rt != nil {
			rt.OrgID = at.OrgID
		}
		issued := []Token{at}
		if rt != nil {
			issued = append(issued, *rt)
		}
		ev := h.storage.event("oidc.token_issued", "user:"+ar.UserID, map[string]any{"client_id": c.ID, "grant": "authorization_code", "refresh": rt != nil})
		return issued, []events.Event{ev}, nil
	}, func(ar AuthRequest) []events.Event {
		return []events.Event{h.storage.event("oidc.code_reused", "user:"+ar.UserID, map[string]any{"client_id": ar.ClientID, "family": ar.ID})}
	})
	switch {
	case errors.Is(err, ErrCodeReused):
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code was already used; the tokens issued for it are revoked")
	case errors.Is(err, ErrNotFound):
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code is not valid")
	case err != nil:
		return nil, err
	}
	return h.respondTokens(ctx, c, at, opaque, refresh, idToken{nonce: ar.Params.Nonce}, now)
}

// checkPKCE holds the verifier to the request's challenge (RFC 7636). A
// verifier without a challenge is refused too: it means the challenge was
// lost on the way, a downgrade (RFC 9700, section 2.1.1).
func checkPKCE(ar AuthRequest, verifier string) error {
	switch {
	case ar.Params.CodeChallenge == "" && verifier != "":
		return zoidc.ErrInvalidGrant().WithDescription("code_verifier sent, but the authorization request had no code_challenge")
	case ar.Params.CodeChallenge == "":
		return nil
	case verifier == "":
		return zoidc.ErrInvalidGrant().WithDescription("code_verifier is required")
	}
	want := zoidc.NewSHACodeChallenge(verifier)
	if subtle.ConstantTimeCompare([]byte(want), []byte(ar.Params.CodeChallenge)) != 1 {
		return zoidc.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// grantTokens makes the records of a user grant's access token and, when
// offline access was granted, its refresh token, to be recorded together.
// It returns the plain refresh token, and for a client with opaque access
// tokens the plain access token (the record keeps only digests).
func (h *Handler) grantTokens(c Client, family, userID string, scopes, aud []string, authTime time.Time, amr []string, acr, sid string, claims json.RawMessage, now time.Time) (at Token, rt *Token, refresh, opaque string) {
	at = Token{
		ID: newID(), Kind: KindAccess, FamilyID: family, ClientID: c.ID, UserID: userID, Scopes: scopes,
		Audience: aud, AuthTime: authTime, AMR: amr, ACR: acr, SessionID: sid, Claims: claims,
		CreatedAt: now, ExpiresAt: now.Add(lifetime(c.AccessTokenLifetime, defaultAccessTTL)),
	}
	if !c.JWTAccessTokens {
		opaque = newSecret()
		at.Hash = digest(opaque)
	}
	if !slices.Contains(scopes, zoidc.ScopeOfflineAccess) || !slices.Contains(c.GrantTypes, string(zoidc.GrantTypeRefreshToken)) {
		return at, nil, "", opaque
	}
	refresh = newSecret()
	r := at
	r.ID, r.Kind, r.Hash = newID(), KindRefresh, digest(refresh)
	r.ExpiresAt = now.Add(lifetime(c.RefreshTokenLifetime, defaultRefreshTTL))
	return at, &r, refresh, opaque
}

func lifetime(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// respondTokens signs the access token (unless it is the opaque one given)
// and the ID token, and answers.
func (h *Handler) respondTokens(ctx context.Context, c Client, at Token, opaque, refresh string, id idToken, now time.Time) (*zoidc.AccessTokenResponse, error) {
	oc, err := h.orgContext(ctx, c, at.UserID, at.OrgID)
	if errors.Is(err, errNotMember) {
		return nil, zoidc.ErrInvalidGrant().WithDescription("the user is no longer a member of the organization")
	}
	if err != nil {
		return nil, err
	}
	org := orgClaims(oc)
	access := opaque
	if access == "" {
		if access, err = h.minter.signAccessToken(ctx, c, at, org); err != nil {
			return nil, err
		}
	}
	resp := &zoidc.AccessTokenResponse{
		AccessToken: access, TokenType: zoidc.BearerToken, RefreshToken: refresh,
		ExpiresIn: uint64(at.ExpiresAt.Sub(now).Seconds()), Scope: at.Scopes,
	}
	if slices.Contains(at.Scopes, zoidc.ScopeOpenID) && at.UserID != "" {
		id.client, id.userID, id.authTime, id.acr, id.amr, id.sessionID, id.accessToken = c, at.UserID, at.AuthTime, at.ACR, at.AMR, at.SessionID, access
		if names := requestedClaims(at.Claims, "id_token"); len(names) > 0 {
			u, err := h.cfg.Users.UserByID(ctx, at.UserID)
			if err != nil {
				return nil, err
			}
			id.extra = claimValues(u, names)
		}
		vc, err := h.verifiedClaims(ctx, c, at.UserID)
		if err != nil {
			return nil, err
		}
		cc, err := h.consentsClaim(ctx, c, at.UserID)
		if err != nil {
			return nil, err
		}
		if vc != nil || cc != nil || len(org) > 0 {
			if id.extra == nil {
				id.extra = map[string]any{}
			}
		}
		if vc != nil {
			id.extra["verified_claims"] = vc
		}
		if cc != nil {
			id.extra["consents"] = cc
		}
		for k, v := range org {
			id.extra[k] = v
		}
		if resp.IDToken, err = h.minter.signIDToken(ctx, id, now); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// issueAccessToken turns a client's own token into the access token: a
// JWT, or for clients with opaque tokens a random value whose digest is
// recorded (one write per token, which JWTs avoid).
func (h *Handler) issueAccessToken(ctx context.Context, c Client, at *Token) (string, error) {
	if c.JWTAccessTokens {
		return h.minter.signAccessToken(ctx, c, *at, nil)
	}
	plain := newSecret()
	rec := *at
	rec.Hash = digest(plain)
	if err := h.cfg.Grants.SaveGrantTokens(ctx, []Token{rec}); err != nil {
		return "", err
	}
	return plain, nil
}

// RefreshToken serves the refresh token grant with rotation: each refresh
// token works once, and presenting one again revokes its whole family.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[zoidc.RefreshTokenRequest]) (*op.Response, error) {
	resp, err := s.h.refresh(ctx, r.Client.(opClient).c, r.Form)
	if err != nil {
		return nil, err
	}
	return tokenResponse(resp), nil
}

// refresh serves the refresh token grant for client c.
func (h *Handler) refresh(ctx context.Context, c Client, form url.Values) (*zoidc.AccessTokenResponse, error) {
	if form.Get("refresh_token") == "" {
		return nil, zoidc.ErrInvalidRequest().WithDescription("refresh_token missing")
	}
	now := h.storage.clock()
	hash := digest(form.Get("refresh_token"))
	old, err := h.cfg.Grants.GrantTokenByHash(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && old.Kind != KindRefresh):
		return nil, zoidc.ErrInvalidGrant().WithDescription("the refresh token is not valid")
	case err != nil:
		return nil, err
	case old.ClientID != c.ID:
		return nil, zoidc.ErrInvalidGrant().WithDescription("the refresh token was issued to another client")
	}
	scopes := old.Scopes
	if asked := strings.Fields(form.Get("scope")); len(asked) > 0 {
		for _, sc := range asked {
			if !slices.Contains(old.Scopes, sc) {
				return nil, zoidc.ErrInvalidScope().WithDescription("scope %q was not granted", sc)
			}
		}
		scopes = asked
	}
	aud, err := narrowResources(form, old.Audience, c)
	if err != nil {
		return nil, err
	}
	if old.OrgID != "" {
		// A person who left the organization gets no new tokens for it.
		if _, err := h.orgContext(ctx, c, old.UserID, old.OrgID); errors.Is(err, errNotMember) {
			return nil, zoidc.ErrInvalidGrant().WithDescription("the user is no longer a member of the organization")
		} else if err != nil {
			return nil, err
		}
	}
	var at Token
	var plain, opaque string
	_, err = h.cfg.Grants.RotateRefresh(ctx, hash, now, func(old Token) ([]Token, []events.Event, error) {
		a, rt, p, o := h.grantTokens(c, old.FamilyID, old.UserID, old.Scopes, aud, old.AuthTime, old.AMR, old.ACR, old.SessionID, old.Claims, now)
		a.OrgID = old.OrgID
		if rt != nil {
			rt.OrgID = old.OrgID
		}
		// A refresh may narrow the access token's scopes; the new refresh
		// token keeps the grant's (RFC 6749, section 6).
		a.Scopes = scopes
		at, plain, opaque = a, p, o
		ts := []Token{a}
		if rt != nil {
			ts = append(ts, *rt)
		}
		return ts, []events.Event{h.storage.event("oidc.token_refreshed", "user:"+old.UserID, map[string]any{"client_id": old.ClientID})}, nil
	}, func(old Token) []events.Event {
		return []events.Event{h.storage.event("oidc.refresh_token_reused", "user:"+old.UserID, map[string]any{"client_id": old.ClientID, "family": old.FamilyID})}
	})
	switch {
	case errors.Is(err, ErrRefreshReused):
		return nil, zoidc.ErrInvalidGrant().WithDescription("the refresh token was already used; its grant is revoked")
	case errors.Is(err, ErrNotFound):
		return nil, zoidc.ErrInvalidGrant().WithDescription("the refresh token has expired")
	case err != nil:
		return nil, err
	}
	return h.respondTokens(ctx, c, at, opaque, plain, idToken{}, now)
}

// ClientCredentialsExchange serves the client credentials grant (when it
// is not served by Handler.token's shorter path).
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[zoidc.ClientCredentialsRequest]) (*op.Response, error) {
	resp, err := s.h.clientCredentials(ctx, r.Client.(opClient).c, r.Form)
	if err != nil {
		return nil, err
	}
	return tokenResponse(resp), nil
}

// clientCredentials issues a client its own access token. A JWT access
// token is signed and nothing is written: revoking one puts its jti on the
// deny-list.
func (h *Handler) clientCredentials(ctx context.Context, c Client, form url.Values) (*zoidc.AccessTokenResponse, error) {
	now := h.storage.clock()
	// Like a user grant, the client gets only the scopes it is registered
	// for; others are dropped.
	var scopes []string
	for _, sc := range strings.Fields(form.Get("scope")) {
		if slices.Contains(c.Scopes, sc) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	aud, err := requestedResources(form, c)
	if err != nil {
		return nil, err
	}
	if len(aud) == 0 {
		aud = defaultAudience(c)
	}
	at := Token{
		ID: newID(), Kind: KindAccess, ClientID: c.ID, Scopes: scopes, Audience: aud,
		CreatedAt: now, ExpiresAt: now.Add(lifetime(c.AccessTokenLifetime, defaultAccessTTL)),
	}
	access, err := h.issueAccessToken(ctx, c, &at)
	if err != nil {
		return nil, err
	}
	return &zoidc.AccessTokenResponse{
		AccessToken: access, TokenType: zoidc.BearerToken, ExpiresIn: uint64(at.ExpiresAt.Sub(now).Seconds()), Scope: scopes,
	}, nil
}

// token serves the token endpoint. The grants, which Portvakt implements
// whole, are answered here directly; other requests (an unknown or
// repeated grant_type, a method other than POST) go through the framework,
// which answers them with the right error.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || len(r.PostForm["grant_type"]) != 1 {
		h.routes.ServeHTTP(w, r)
		return
	}
	var grant func(context.Context, Client, url.Values) (*zoidc.AccessTokenResponse, error)
	switch zoidc.GrantType(r.PostForm.Get("grant_type")) {
	case zoidc.GrantTypeClientCredentials:
		grant = h.clientCredentials
	case zoidc.GrantTypeCode:
		grant = h.exchangeCode
	case zoidc.GrantTypeRefreshToken:
		grant = h.refresh
	default:
		h.routes.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	gt := r.PostForm.Get("grant_type")
	c, err := h.authenticateClient(ctx, r.Header, r.PostForm)
	if err == nil {
		err = publicClientGrant(c, gt)
	}
	if err == nil && !slices.Contains(c.GrantTypes, gt) {
		err = zoidc.ErrUnauthorizedClient().WithDescription("grant_type %q not allowed", gt)
	}
	var resp *zoidc.AccessTokenResponse
	if err == nil {
		resp, err = grant(ctx, c, r.PostForm)
	}
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(resp)
}

// defaultAudience is the aud of a client's access tokens when no resource
// was asked for: its configured audience, or else the client itself.
func defaultAudience(c Client) []string {
	if len(c.Audience) > 0 {
		return slices.Clone(c.Audience)
	}
	return []string{c.ID}
}

// requestedResources reads the resource parameters (RFC 8707): absolute
// URIs without a fragment, each one the client is registered for.
func requestedResources(form url.Values, c Client) ([]string, error) {
	var out []string
	for _, res := range form["resource"] {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") {
			return nil, errInvalidTarget().WithDescription("resource %q is not an absolute URI without a fragment", res)
		}
		if !slices.Contains(c.Audience, res) {
			return nil, errInvalidTarget().WithDescription("resource %q is not registered for this client", res)
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}

// narrowResources is the audience at the token endpoint: the resources
// asked for now, each of which the grant must include (RFC 8707, section
// 2.2), or else those of the grant, or else the client's default.
func narrowResources(form url.Values, granted []string, c Client) ([]string, error) {
	asked, err := requestedResources(form, c)
	if err != nil {
		return nil, err
	}
	for _, a := range asked {
		if len(granted) > 0 && !slices.Contains(granted, a) {
			return nil, errInvalidTarget().WithDescription("resource %q was not part of the authorization request", a)
		}
	}
	switch {
	case len(asked) > 0:
		return asked, nil
	case len(granted) > 0:
		return granted, nil
	}
	return defaultAudience(c), nil
}

// errInvalidTarget is RFC 8707's error for an unacceptable resource.
func errInvalidTarget() *zoidc.Error { return zoidc.ErrInvalidTarget() }

// liveToken resolves an access token (a JWT or an opaque one) to its
// record; refresh tokens are for the token endpoint alone. A JWT must
// verify and not be denied; a user grant's JWT also needs its live record
// (revoking the grant ends it), a client credentials JWT has none. With
// withUser, a JWT's user is read in the same query (for userinfo); the
// user is nil otherwise, and for opaque tokens.
func (h *Handler) liveToken(ctx context.Context, raw string, withUser bool) (Token, *accounts.User, error) {
	now := h.storage.clock()
	if !looksLikeJWT(raw) {
		t, err := h.cfg.Grants.GrantTokenByHash(ctx, digest(raw))
		if err != nil || t.Kind != KindAccess || !t.Live(now) {
			return Token{}, nil, errTokenInvalid
		}
		if denied, err := h.cfg.Grants.JTIRevoked(ctx, t.ID); err != nil || denied {
			return Token{}, nil, errTokenInvalid
		}
		return t, nil, nil
	}
	claims, err := h.minter.verifyAccessToken(ctx, raw, now)
	if err != nil {
		return Token{}, nil, errTokenInvalid
	}
	var t Token
	var u *accounts.User
	var denied bool
	if withUser {
		var user accounts.User
		t, denied, user, err = h.cfg.Grants.GrantTokenWithUser(ctx, claims.ID)
		u = &user
	} else {
		t, denied, err = h.cfg.Grants.GrantTokenDenied(ctx, claims.ID)
	}
	switch {
	case errors.Is(err, ErrNotFound) && claims.Subject == claims.ClientID:
		// A client credentials token: no record, only the deny-list.
		if denied, err := h.cfg.Grants.JTIRevoked(ctx, claims.ID); err != nil || denied {
			return Token{}, nil, errTokenInvalid
		}
		return Token{ID: claims.ID, Kind: KindAccess, ClientID: claims.ClientID, Scopes: strings.Fields(claims.Scope),
			Audience: claims.Audience, CreatedAt: claims.IssuedAt.Time(), ExpiresAt: claims.Expiry.Time()}, nil, nil
	case err != nil || denied || t.Kind != KindAccess || !t.Live(now) || t.ClientID != claims.ClientID:
		return Token{}, nil, errTokenInvalid
	}
	return t, u, nil
}

// Introspect serves RFC 7662. A client learns about a token only if it was
// issued to it or names it as audience; about anything else it hears
// "inactive", as it does of a token that is not valid.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	h := s.h
	caller, err := h.authenticateClient(ctx, r.Header, r.PostForm)
	if err != nil {
		return nil, err
	}
	inactive := op.NewResponse(&zoidc.IntrospectionResponse{})
	t, _, err := h.liveToken(ctx, r.Data.Token, false)
	if err != nil || (t.ClientID != caller.ID && !slices.Contains(t.Audience, caller.ID)) {
		return inactive, nil
	}
	sub := t.ClientID
	if t.UserID != "" {
		owner, err := h.cfg.Clients.LookupClient(ctx, t.ClientID)
		if err != nil {
			return inactive, nil
		}
		sub = h.minter.subject(owner, t.UserID)
	}
	resp := &zoidc.IntrospectionResponse{
		Active: true, Scope: t.Scopes, ClientID: t.ClientID, Subject: sub, Audience: t.Audience,
		Expiration: zoidc.FromTime(t.ExpiresAt), IssuedAt: zoidc.FromTime(t.CreatedAt), Issuer: h.minter.issuer,
		JWTID: t.ID, TokenType: zoidc.BearerToken,
	}
	if !t.AuthTime.IsZero() {
		resp.AuthTime = zoidc.FromTime(t.AuthTime)
	}
	resp.Claims = map[string]any{}
	// The resource server may want the level the person signed in at.
	if t.ACR != "" {
		resp.Claims["acr"] = t.ACR
	}
	if len(t.AMR) > 0 {
		resp.Claims["amr"] = t.AMR
	}
	if t.UserID != "" {
		// And the organization and roles, as they are now.
		owner, err := h.cfg.Clients.LookupClient(ctx, t.ClientID)
		if err != nil {
			return inactive, nil
		}
		oc, err := h.orgContext(ctx, owner, t.UserID, t.OrgID)
		if errors.Is(err, errNotMember) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		for k, v := range orgClaims(oc) {
			resp.Claims[k] = v
		}
	}
	return op.NewResponse(resp), nil
}

// UserInfo serves the userinfo endpoint: the claims the access token's
// scopes and the claims parameter allow, for a token of a user grant with
// openid.
func (s *server) UserInfo(ctx context.Context, r *op.Request[zoidc.UserInfoRequest]) (*op.Response, error) {
	h := s.h
	t, u, err := h.liveToken(ctx, r.Data.AccessToken, true)
	if err != nil || t.Kind != KindAccess {
		return nil, bearerError(errInvalidToken(), http.StatusUnauthorized)
	}
	if t.UserID == "" || !slices.Contains(t.Scopes, zoidc.ScopeOpenID) {
		return nil, bearerError(&zoidc.Error{ErrorType: "insufficient_scope", Description: "the access token does not carry the openid scope"}, http.StatusForbidden)
	}
	c, err := h.cfg.Clients.LookupClient(ctx, t.ClientID)
	if err != nil {
		return nil, bearerError(errInvalidToken(), http.StatusUnauthorized)
	}
	if u == nil { // an opaque token
		found, err := h.cfg.Users.UserByID(ctx, t.UserID)
		if err != nil {
			return nil, bearerError(errInvalidToken(), http.StatusUnauthorized)
		}
		u = &found
	}
	info := new(zoidc.UserInfo)
	userinfo(info, *u, t.Scopes)
	info.Subject = h.minter.subject(c, u.ID)
	for k, v := range claimValues(*u, requestedClaims(t.Claims, "userinfo")) {
		info.AppendClaims(k, v)
	}
	vc, err := h.verifiedClaims(ctx, c, u.ID)
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	if vc != nil {
		info.AppendClaims("verified_claims", vc)
	}
	cc, err := h.consentsClaim(ctx, c, u.ID)
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	if cc != nil {
		info.AppendClaims("consents", cc)
	}
	oc, err := h.orgContext(ctx, c, u.ID, t.OrgID)
	if errors.Is(err, errNotMember) {
		return nil, bearerError(errInvalidToken(), http.StatusUnauthorized)
	}
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	for k, v := range orgClaims(oc) {
		info.AppendClaims(k, v)
	}
	resp := op.NewResponse(info)
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

// bearerError is an error of a protected resource (RFC 6750, section 3).
func bearerError(e *zoidc.Error, status int) error {
	return op.NewStatusError(e, status)
}

func errInvalidToken() *zoidc.Error {
	return &zoidc.Error{ErrorType: "invalid_token", Description: "the access token is not valid"}
}

// Revocation serves RFC 7009. A refresh token revokes its grant; an access
// token is denied until it expires. A token of another client is refused
// and left alone; one this server does not know is "revoked" with nothing
// to do (section 2.2).
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[zoidc.RevocationRequest]) (*op.Response, error) {
	h := s.h
	c := r.Client.(opClient).c
	now := h.storage.clock()
	var t Token
	var err error
	if looksLikeJWT(r.Data.Token) {
		claims, verr := h.minter.verifyAccessToken(ctx, r.Data.Token, now)
		if verr != nil {
			return op.NewResponse(nil), nil // not ours, or expired: nothing to do
		}
		t = Token{ID: claims.ID, Kind: KindAccess, ClientID: claims.ClientID, ExpiresAt: claims.Expiry.Time()}
	} else if t, err = h.cfg.Grants.GrantTokenByHash(ctx, digest(r.Data.Token)); errors.Is(err, ErrNotFound) {
		return op.NewResponse(nil), nil
	} else if err != nil {
		return nil, op.RevocationError(zoidc.ErrServerError().WithParent(err))
	}
	if t.ClientID != c.ID {
		// RFC 6749, section 5.2: invalid_grant covers a token "issued to
		// another client".
		return nil, op.RevocationError(zoidc.ErrInvalidGrant().WithDescription("the token was not issued to this client"))
	}
	subject := "client:" + t.ClientID
	if t.UserID != "" {
		subject = "user:" + t.UserID
	}
	ev := h.storage.event("oidc.token_revoked", subject, map[string]any{"client_id": c.ID, "kind": string(t.Kind)})
	if t.Kind == KindRefresh {
		err = h.cfg.Grants.RevokeFamily(ctx, t.FamilyID, now, ev)
	} else {
		err = h.cfg.Grants.RevokeJTI(ctx, t.ID, t.ExpiresAt, ev)
	}
	if err != nil {
		return nil, op.RevocationError(zoidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}
