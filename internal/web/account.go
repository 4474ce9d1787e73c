package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/session"
)

func (h *Handler) showAccount(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok || !h.accountReady(w, r, u, "/account") {
		return
	}
	h.renderAccount(w, r, h.accountPage(w, r, u), http.StatusOK)
}

// renderAccount shows the account page p with all its sections.
func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("account.title")
	if err := h.securityExtras(r, p); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.joinExtras(r, p); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.sessionExtras(r, p); err != nil {
		h.fail(w, r, err)
		return
	}
	h.profileExtras(p)
	if h.Privacy != nil {
		p.Extra["data_on"] = "1"
	}
	if h.Consents != nil && len(h.Consents.Purposes) > 0 {
		p.Extra["privacy_url"] = "/account/privacy"
	}
	h.render(w, r, status, "account", p)
}

// submitVerifyEmail sends a new verification mail to the signed-in user and
// shows the code page.
func (h *Handler) submitVerifyEmail(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ctx := r.Context()
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	limit := check{h.Limits.Verify, u.ID}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, h.newPage(w, r, flows.Flow{}, u.Locale), wait)
		return
	}
	h.count(ctx, limit)
	if err := h.Accounts.RequestVerification(ctx, u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	f, err := h.Flows.Start(ctx, flows.Verification, flows.Flow{Email: u.Email, UserID: u.ID, ReturnTo: "/account"})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/verification?flow="+f.ID, http.StatusSeeOther)
}

// signedIn returns the signed-in user, or sends the browser to sign in and
// reports false.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (accounts.User, bool) {
	u, _, ok := h.signedInSession(w, r)
	return u, ok
}

// postedSignedIn checks a form posted by the signed-in person: the CSRF
// token, then the session. It reports false when it has answered.
func (h *Handler) postedSignedIn(w http.ResponseWriter, r *http.Request) (accounts.User, bool) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return accounts.User{}, false
	}
	return h.signedIn(w, r)
}

// signedInSession is signedIn with the session.
func (h *Handler) signedInSession(w http.ResponseWriter, r *http.Request) (accounts.User, session.Session, bool) {
	ctx := r.Context()
	s, ok, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return accounts.User{}, s, false
	}
	if !ok {
		back := "/account"
		if r.Method == http.MethodGet {
			back = thisPage(r)
		}
		http.Redirect(w, r, "/login?return_to="+url.QueryEscape(back), http.StatusSeeOther)
		return accounts.User{}, s, false
	}
	u, err := h.Accounts.Store.UserByID(ctx, s.UserID)
	if errors.Is(err, accounts.ErrNotFound) {
		_ = h.Sessions.End(ctx, w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return accounts.User{}, s, false
	}
	if err != nil {
		h.fail(w, r, err)
		return accounts.User{}, s, false
	}
	return u, s, true
}
