package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/clients"
)

// Apps are the applications people can be sent on to from here: clients
// with an initiate login URI (OpenID Connect Core, section 4).
type Apps interface {
	// LaunchableApps returns those clients, ordered by name.
	LaunchableApps(ctx context.Context) ([]clients.Client, error)
	// InitiateLoginURI returns the client's initiate login URI, "" when
	// it has none or does not exist.
	InitiateLoginURI(ctx context.Context, clientID string) (string, error)
}

// openApp sends the browser to an application's initiate login URI with
// this issuer (iss), so that the application starts signing the person
// in — at once, since they are signed in here. Only registered URIs are
// reached this way; any other client is not found.
func (h *Handler) openApp(w http.ResponseWriter, r *http.Request) {
	uri := ""
	if h.Apps != nil {
		var err error
		if uri, err = h.Apps.InitiateLoginURI(r.Context(), r.PathValue("client")); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	u, err := url.Parse(uri)
	if uri == "" || err != nil {
		h.notFound(w, r, accounts.User{})
		return
	}
	q := u.Query()
	q.Set("iss", h.Issuer.String())
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
