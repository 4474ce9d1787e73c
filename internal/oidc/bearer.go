package oidc

import (
	"context"
	"errors"
	"time"
)

// ErrInvalidBearer means a bearer token is not one this provider issued, or
// is no longer valid (expired, revoked, or its grant ended).
var ErrInvalidBearer = errors.New("the access token is not valid")

// Bearer is what a resource server of this deployment (the management API)
// learns of a valid access token.
type Bearer struct {
	// ClientID is the client the token was issued to.
	ClientID string
	// UserID is the person the token is for; "" for a client's own token
	// (client credentials).
	UserID    string
	Scopes    []string
	Audience  []string
	ExpiresAt time.Time
}

// VerifyBearer checks an access token as userinfo and introspection do: a
// JWT must verify and not be revoked, an opaque token must be live.
func (h *Handler) VerifyBearer(ctx context.Context, raw string) (Bearer, error) {
	t, _, err := h.liveToken(ctx, raw, false)
	if errors.Is(err, errTokenInvalid) {
		return Bearer{}, ErrInvalidBearer
	}
	if err != nil {
		return Bearer{}, err
	}
	return Bearer{ClientID: t.ClientID, UserID: t.UserID, Scopes: t.Scopes, Audience: t.Audience, ExpiresAt: t.ExpiresAt}, nil
}
