package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"github.com/zitadel/schema"
	"golang.org/x/text/language"
)

// Pushed authorization requests (RFC 9126). A client posts its
// authorization request to /oauth/par, authenticated as at the token
// endpoint, and gets a request_uri that is good for one use within a
// minute; the browser then carries only client_id and request_uri, so
// nothing of the request can be read or changed on the way. A client
// registered with require_par may use no other way.

// errPushedUsed is a request_uri presented a second time.
var errPushedUsed = errors.New("the request_uri was already used")

// pushAuthorization serves the PAR endpoint.
func (h *Handler) pushAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		op.WriteError(w, r, zoidc.ErrInvalidRequest().WithDescription("the request body is not a form"), nil)
		return
	}
	ctx := r.Context()
	c, err := h.authenticateClient(ctx, r.Header, r.PostForm)
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	ar, err := h.pushed(ctx, c, r.PostForm)
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"request_uri": requestURIPrefix + ar.ID,
		"expires_in":  int(parTTL.Seconds()),
	})
}

// pushed checks a pushed request as the authorization endpoint would, and
// stores it.
func (h *Handler) pushed(ctx context.Context, c Client, form url.Values) (*AuthRequest, error) {
	switch {
	case form.Get("client_id") != "" && form.Get("client_id") != c.ID:
		return nil, zoidc.ErrInvalidRequest().WithDescription("client_id is not the authenticated client")
	case form.Has("request_uri"):
		return nil, zoidc.ErrInvalidRequest().WithDescription("request_uri cannot be pushed")
	case form.Has("request"):
		return nil, zoidc.ErrRequestNotSupported()
	}
	req := new(zoidc.AuthRequest)
	dec := schema.NewDecoder()
	dec.IgnoreUnknownKeys(true)
	if err := dec.Decode(req, form); err != nil {
		return nil, zoidc.ErrInvalidRequest().WithDescription("the authorization request cannot be read: %v", err)
	}
	req.ClientID = c.ID
	var err error
	switch {
	case req.RedirectURI == "":
		return nil, zoidc.ErrInvalidRequest().WithDescription("redirect_uri is required")
	case !c.allowsRedirect(req.RedirectURI):
		return nil, zoidc.ErrInvalidRequest().WithDescription("the redirect_uri is not registered for this client")
	case req.ResponseType != zoidc.ResponseTypeCode:
		return nil, &zoidc.Error{ErrorType: "unsupported_response_type", Description: "response_type must be code"}
	}
	oc := opClient{c: c}
	if req.MaxAge, err = op.ValidateAuthReqPrompt(req.Prompt, req.MaxAge); err != nil {
		return nil, err
	}
	if req.Scopes, err = op.ValidateAuthReqScopes(oc, req.Scopes); err != nil {
		return nil, err
	}
	if err := op.ValidateAuthReqCodeChallengeMethod(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return nil, err
	}
	extra, err := h.extraParams(c, form)
	if err != nil {
		return nil, err
	}
	return h.storage.newAuthRequest(ctx, c, req, extra, true)
}

// pushedRequest returns the pushed request a request_uri names, for the
// client that pushed it, while it is unused and unexpired.
func (h *Handler) pushedRequest(ctx context.Context, clientID, uri string) (AuthRequest, Client, error) {
	invalid := errInvalidRequestURI()
	id, ok := strings.CutPrefix(uri, requestURIPrefix)
	if !ok || clientID == "" {
		return AuthRequest{}, Client{}, invalid
	}
	ar, err := h.cfg.Grants.AuthRequestByID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return ar, Client{}, invalid
	case err != nil:
		return ar, Client{}, err
	case !ar.Params.Pushed || ar.ClientID != clientID || !h.now().Before(ar.ExpiresAt):
		return ar, Client{}, invalid
	}
	c, err := h.cfg.Clients.LookupClient(ctx, ar.ClientID)
	if err != nil {
		return ar, Client{}, invalid
	}
	return ar, c, nil
}

// activatePushed turns a pushed request into an ordinary one, once: its
// request_uri cannot be used again.
func (h *Handler) activatePushed(ctx context.Context, id string) (string, error) {
	now := h.storage.clock()
	_, err := h.cfg.Grants.UpdateAuthRequest(ctx, id, func(a AuthRequest) (AuthRequest, error) {
		if !a.Params.Pushed || !now.Before(a.ExpiresAt) {
			return a, errPushedUsed
		}
		a.Params.Pushed, a.CreatedAt, a.ExpiresAt = false, now, now.Add(authRequestTTL)
		return a, nil
	})
	if errors.Is(err, errPushedUsed) || errors.Is(err, ErrNotFound) {
		return "", errInvalidRequestURI()
	}
	return id, err
}

// authRequestOf rebuilds the framework's view of a stored request.
func authRequestOf(ar AuthRequest) *zoidc.AuthRequest {
	p := ar.Params
	r := &zoidc.AuthRequest{
		Scopes: p.Scopes, ResponseType: zoidc.ResponseType(p.ResponseType), ClientID: ar.ClientID, RedirectURI: p.RedirectURI,
		State: p.State, Nonce: p.Nonce, ResponseMode: zoidc.ResponseMode(p.ResponseMode), Prompt: p.Prompt, MaxAge: p.MaxAge,
		LoginHint: p.LoginHint, ACRValues: p.ACRValues, CodeChallenge: p.CodeChallenge,
		CodeChallengeMethod: zoidc.CodeChallengeMethod(p.CodeChallengeMethod),
	}
	for _, l := range p.UILocales {
		if t, err := language.Parse(l); err == nil {
			r.UILocales = append(r.UILocales, t)
		}
	}
	return r
}

// extraParams reads what the framework leaves unparsed: the claims
// parameter, resource indicators and the organization.
func (h *Handler) extraParams(c Client, form url.Values) (extraParams, error) {
	claims, err := parseClaimsParam(form.Get("claims"))
	if err != nil {
		return extraParams{}, err
	}
	res, err := requestedResources(form, c)
	if err != nil {
		return extraParams{}, err
	}
	org := strings.TrimSpace(form.Get("organization"))
	if len(org) > 300 {
		return extraParams{}, zoidc.ErrInvalidRequest().WithDescription("organization is longer than 300 characters")
	}
	return extraParams{claims: claims, resources: res, organization: org}, nil
}

// errInvalidRequestURI is OpenID Connect's error for a request_uri that
// cannot be used (Core, section 6.2).
func errInvalidRequestURI() *zoidc.Error {
	return &zoidc.Error{ErrorType: "invalid_request_uri", Description: "the request_uri is unknown, expired or already used"}
}
