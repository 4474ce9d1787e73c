package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
)

// Connected applications (/account/applications): the applications the
// person let into their account — those they allowed on the consent page,
// and those that hold a refresh token for them (first-party applications
// ask no consent) — with what each may do, since when, and when it last
// got tokens. "Revoke access" takes it all back: the tokens, the
// remembered consent (so the application asks again), and its sessions,
// through back-channel logout.

// Connections are the applications people have let into their accounts.
type Connections interface {
	// ConnectedApps returns the applications userID has let in, ordered
	// by name.
	ConnectedApps(ctx context.Context, userID string) ([]ConnectedApp, error)
	// RevokeApp takes back all that userID let clientID have: its tokens
	// and the remembered consent, with an event. Nothing to take back is
	// no error.
	RevokeApp(ctx context.Context, userID, clientID string) error
}

// ConnectedApp is an application a person has let into their account.
type ConnectedApp struct {
	ClientID string
	Name     string
	// Scopes are what it may do: OAuth scope values, and
	// verified:<attribute> for the verified attributes it receives.
	Scopes []string
	// Since is when it was first let in; LastUsed when it last got tokens
	// (at a sign-in or a refresh); either zero when not known.
	Since, LastUsed time.Time
}

// appView is a connected application as the page shows it.
type appView struct {
	Name, Since, LastUsed string
	Allowed               []string
	// RevokeURL is where its "Revoke access" form posts.
	RevokeURL string
}

func (h *Handler) showApplications(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	p := h.accountPage(w, r, u)
	apps, err := h.connectedApps(r.Context(), u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, a := range apps {
		v := appView{Name: a.Name, Allowed: scopeItems(p, a.Scopes),
			RevokeURL: "/account/applications/" + url.PathEscape(a.ClientID) + "/revoke"}
		if !a.Since.IsZero() {
			v.Since = a.Since.UTC().Format("2006-01-02")
		}
		if !a.LastUsed.IsZero() {
			v.LastUsed = a.LastUsed.UTC().Format("2006-01-02")
		}
		p.Apps = append(p.Apps, v)
	}
	if r.URL.Query().Get("done") == "revoked" {
		p.Notice = p.T("applications.revoked")
	}
	p.Title = p.T("applications.title")
	h.render(w, r, http.StatusOK, "applications", p)
}

func (h *Handler) connectedApps(ctx context.Context, u accounts.User) ([]ConnectedApp, error) {
	if h.Connections == nil {
		return nil, nil
	}
	return h.Connections.ConnectedApps(ctx, u.ID)
}

// submitRevokeApplication takes back an application's access. An
// application the person has not let in (another person's, or none) is
// not found.
func (h *Handler) submitRevokeApplication(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	apps, err := h.connectedApps(ctx, u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("client")
	if !slices.ContainsFunc(apps, func(a ConnectedApp) bool { return a.ClientID == id }) {
		h.notFound(w, r, u)
		return
	}
	if err := h.Connections.RevokeApp(ctx, u.ID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	http.Redirect(w, r, "/account/applications?"+url.Values{"done": {"revoked"}}.Encode(), http.StatusSeeOther)
}
