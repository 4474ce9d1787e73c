package clients

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Launcher finds the applications people can be sent on to, signed in:
// the clients with an initiate login URI (OpenID Connect Core, section 4).
// Accepted invitations lead there.
type Launcher struct{ Store Store }

// InitiateLoginURI returns the client's initiate login URI, "" when it has
// none or there is no such client.
func (l Launcher) InitiateLoginURI(ctx context.Context, clientID string) (string, error) {
	c, err := l.Store.ClientByID(ctx, clientID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return c.InitiateLoginURI, err
}

// AppName returns the client's name for people (its ID when it has
// none), or false when there is no such client.
func (l Launcher) AppName(ctx context.Context, clientID string) (string, bool, error) {
	c, err := l.Store.ClientByID(ctx, clientID)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if c.Name == "" {
		return c.ID, true, nil
	}
	return c.Name, true, nil
}

// LaunchableApps returns the clients with an initiate login URI, ordered by
// name.
func (l Launcher) LaunchableApps(ctx context.Context) ([]Client, error) {
	const pageSize = 200
	var out []Client
	for after := ""; ; {
		page, err := l.Store.ListClients(ctx, after, pageSize)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if c.InitiateLoginURI != "" {
				out = append(out, c)
			}
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
