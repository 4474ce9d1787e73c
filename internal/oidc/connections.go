package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/web"
)

// Connected applications: what a person let each client have — a
// remembered consent (third-party clients), live refresh tokens (any
// client, first-party ones included) — for their account page, and taking
// it all back. A revocation revokes the client's tokens for the person
// (JWT access tokens go on the deny-list until they expire), forgets the
// consent, so that the consent page comes back, and ends codes not yet
// exchanged, in one transaction with oidc.grant_revoked; the back-channel
// logout consumer then ends the client's sessions of the person.

// UserGrant is what a person let one client have.
type UserGrant struct {
	ClientID string
	// Consent is the remembered consent; nil when there is none.
	Consent *Consent
	// TokenScopes are the scopes of the live refresh tokens.
	TokenScopes []string
	// FirstGrantAt is when the oldest grant (token family) with a live
	// refresh token began; zero without one.
	FirstGrantAt time.Time
	// LastTokenAt is when the client last got a token for the person.
	LastTokenAt time.Time
}

// ConnectionStore is what connected applications need from storage.
type ConnectionStore interface {
	// UserGrants returns what userID let each client have at now — the
	// remembered consent, the live refresh tokens — in client order;
	// clients with neither are left out.
	UserGrants(ctx context.Context, userID string, now time.Time) ([]UserGrant, error)
	// RevokeUserGrant takes back, at now, all that userID let clientID
	// have: every token not yet revoked (access tokens' IDs on the
	// deny-list until they expire), the remembered consent, and the codes
	// not yet exchanged; with evs, in one transaction. When there was
	// nothing to take back it writes nothing and reports false.
	RevokeUserGrant(ctx context.Context, userID, clientID string, now time.Time, evs ...events.Event) (bool, error)
}

// Connections tells people which applications they let into their
// account, and takes an application's access back. It implements
// web.Connections.
type Connections struct {
	Store   ConnectionStore
	Clients Clients
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ web.Connections = (*Connections)(nil)

func (c *Connections) now() time.Time {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// ConnectedApps implements web.Connections. A client deleted since is
// left out: it can use nothing any more.
func (c *Connections) ConnectedApps(ctx context.Context, userID string) ([]web.ConnectedApp, error) {
	grants, err := c.Store.UserGrants(ctx, userID, c.now())
	if err != nil {
		return nil, err
	}
	var out []web.ConnectedApp
	for _, g := range grants {
		cl, err := c.Clients.LookupClient(ctx, g.ClientID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up client %s: %w", g.ClientID, err)
		}
		app := web.ConnectedApp{ClientID: cl.ID, Name: cl.displayName(), Since: g.FirstGrantAt, LastUsed: g.LastTokenAt}
		if g.Consent != nil {
			app.Scopes = slices.Clone(g.Consent.Scopes)
			if app.Since.IsZero() || g.Consent.CreatedAt.Before(app.Since) {
				app.Since = g.Consent.CreatedAt
			}
		}
		for _, s := range g.TokenScopes {
			if !slices.Contains(app.Scopes, s) {
				app.Scopes = append(app.Scopes, s)
			}
		}
		out = append(out, app)
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// RevokeApp implements web.Connections, writing oidc.grant_revoked by the
// person.
func (c *Connections) RevokeApp(ctx context.Context, userID, clientID string) error {
	now := c.now()
	ev, err := events.New("oidc.grant_revoked", "user:"+userID, "user:"+userID, now, map[string]any{"client_id": clientID})
	if err != nil {
		return err
	}
	if _, err := c.Store.RevokeUserGrant(ctx, userID, clientID, now, ev); err != nil {
		return fmt.Errorf("revoke %s's grant to %s: %w", userID, clientID, err)
	}
	return nil
}
