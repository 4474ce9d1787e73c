package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authenticateClient checks a request's client credentials: a secret in
// the Authorization header or the form, or for a public client its
// client_id alone.
func (h *Handler) authenticateClient(ctx context.Context, header http.Header, form url.Values) (Client, error) {
	invalid := op.NewStatusError(zoidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
	id, secret, basic := (&http.Request{Header: header}).BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || form.Has("client_secret") {
			return Client{}, invalid
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return Client{}, invalid
	}
	c, err := h.cfg.Clients.LookupClient(ctx, id)
	if errors.Is(err, ErrNotFound) {
		_ = h.cfg.Clients.CheckClientSecret(ctx, id, secret) // the same cost as a wrong secret
		return Client{}, invalid
	}
	if err != nil {
		return Client{}, err
	}
	if c.AuthMethod == string(zoidc.AuthMethodNone) {
		if secret != "" {
			return Client{}, invalid
		}
		return c, nil
	}
	if err := h.cfg.Clients.CheckClientSecret(ctx, id, secret); err != nil {
		return Client{}, invalid
	}
	return c, nil
}
