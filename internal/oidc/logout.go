package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/web"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). A client
// sends the browser to /end_session; Portvakt ends the browser's session
// (and nothing else: tokens stay valid) and sends the browser back to the
// client's registered post_logout_redirect_uri, or shows its own
// signed-out page.
//
// The session ends at once only when the request carries a valid
// id_token_hint (signed by this provider; expired is fine, as section 2
// allows) for the person signed in. Otherwise a page asks first (section 2:
// the OP "MUST ask the End-User" then), so that a link on another site
// cannot sign people out. The browser goes back to the client only when
// every check passed (section 3): the hint, a client_id agreeing with it,
// and a post_logout_redirect_uri exactly as registered for that client.

// endSessionRequest is a logout request's parameters (section 2).
type endSessionRequest struct {
	idTokenHint           string
	clientID              string
	postLogoutRedirectURI string
	state                 string
	uiLocales             string
}

// logout is a checked logout request.
type logout struct {
	// client is the client that asked, if it is known.
	client *Client
	// subject is the person a valid id_token_hint names.
	subject string
	// redirect is where the browser goes afterwards: the
	// post_logout_redirect_uri with state, or "" for the signed-out page.
	redirect string
}

func (l logout) clientID() string {
	if l.client == nil {
		return ""
	}
	return l.client.ID
}

// endSession serves the end_session endpoint (GET and POST).
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	req := endSessionRequest{
		idTokenHint:           r.Form.Get("id_token_hint"),
		clientID:              r.Form.Get("client_id"),
		postLogoutRedirectURI: r.Form.Get("post_logout_redirect_uri"),
		state:                 r.Form.Get("state"),
		uiLocales:             r.Form.Get("ui_locales"),
	}
	l := h.checkLogout(ctx, req)
	s, signedIn, err := h.cfg.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case !signedIn:
		// Nothing to end, so nothing to ask.
	case l.subject != "" && l.subject == s.UserID:
		if err := h.endBrowserSession(ctx, w, r, s, l.clientID()); err != nil {
			h.fail(w, r, err)
			return
		}
	default:
		hidden := map[string]string{"client_id": l.clientID(), "ui_locales": req.uiLocales}
		if l.redirect != "" {
			hidden["post_logout_redirect_uri"], hidden["state"] = req.postLogoutRedirectURI, req.state
		}
		page := web.SignOut{Action: "/end_session/confirm", Hidden: hidden, UILocales: req.uiLocales}
		if l.client != nil {
			page.ClientName = l.client.displayName()
		}
		if u, err := h.cfg.Users.UserByID(ctx, s.UserID); err == nil {
			page.UserLocale = u.Locale
		}
		h.cfg.Pages.ShowSignOut(w, r, page)
		return
	}
	h.afterLogout(w, r, l.redirect, req.uiLocales)
}

// confirmEndSession signs the browser out after the person said yes on the
// sign-out page. The client and redirect URI it posts back are checked
// again.
func (h *Handler) confirmEndSession(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Pages.CheckForm(w, r) {
		return
	}
	ctx := r.Context()
	req := endSessionRequest{
		clientID:              r.PostFormValue("client_id"),
		postLogoutRedirectURI: r.PostFormValue("post_logout_redirect_uri"),
		state:                 r.PostFormValue("state"),
		uiLocales:             r.PostFormValue("ui_locales"),
	}
	l := h.checkLogout(ctx, req)
	s, signedIn, err := h.cfg.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if signedIn {
		if err := h.endBrowserSession(ctx, w, r, s, l.clientID()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.afterLogout(w, r, l.redirect, req.uiLocales)
}

// checkLogout checks a logout request (section 3). A failed check never
// stops the sign-out, only the redirect back to the client.
func (h *Handler) checkLogout(ctx context.Context, req endSessionRequest) logout {
	var l logout
	valid := true
	clientID := req.clientID
	if req.idTokenHint != "" {
		ctx := op.ContextWithIssuer(ctx, h.issuer())
		claims, err := op.VerifyIDTokenHint[*zoidc.IDTokenClaims](ctx, req.idTokenHint, h.provider.IDTokenHintVerifier(ctx))
		if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) {
			h.cfg.Logger.InfoContext(ctx, "end_session: id_token_hint refused", "error", err)
			valid = false
		} else {
			azp := claims.AuthorizedParty
			if azp == "" && len(claims.Audience) == 1 {
				azp = claims.Audience[0]
			}
			if clientID != "" && clientID != azp {
				// The hint is of another client than the one named.
				valid = false
			} else {
				clientID, l.subject = azp, claims.Subject
			}
		}
	}
	if clientID != "" {
		c, err := h.cfg.Clients.LookupClient(ctx, clientID)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				h.cfg.Logger.ErrorContext(ctx, "end_session: client lookup", "error", err)
			}
			valid = false
		} else {
			l.client = &c
		}
	}
	if req.postLogoutRedirectURI != "" {
		if l.client == nil || !slices.Contains(l.client.PostLogoutRedirectURIs, req.postLogoutRedirectURI) {
			valid = false
		} else {
			l.redirect = withState(req.postLogoutRedirectURI, req.state)
		}
	}
	if !valid {
		l.redirect = ""
	}
	return l
}

// endBrowserSession ends the browser's session and clears its cookie.
func (h *Handler) endBrowserSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s session.Session, clientID string) error {
	data := map[string]any{"session": s.Subject(), "via": "end_session"}
	if clientID != "" {
		data["client_id"] = clientID
	}
	ev, err := events.New("session.ended", "user:"+s.UserID, "user:"+s.UserID, h.now(), data)
	if err != nil {
		return err
	}
	return h.cfg.Sessions.End(ctx, w, r, ev)
}

// afterLogout sends the browser back to the client, or to the signed-out
// page in the client's language.
func (h *Handler) afterLogout(w http.ResponseWriter, r *http.Request, redirect, uiLocales string) {
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusSeeOther)
		return
	}
	to := "/logged-out"
	if uiLocales != "" {
		to += "?" + url.Values{"ui_locales": {uiLocales}}.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// withState adds state to a registered post-logout redirect URI, keeping
// its own query as registered.
func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + url.Values{"state": {state}}.Encode()
}

func (h *Handler) issuer() string { return strings.TrimSuffix(h.cfg.Issuer.String(), "/") }
