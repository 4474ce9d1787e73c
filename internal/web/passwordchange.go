package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/session"
)

// Changing the password (/account/password). Whoever has a password gives
// it; whoever has none (they sign in with an identity provider or a
// passkey) must have signed in recently, and may then set one. A wrong
// current password counts against the account's and the address's
// sign-in throttles, so that a signed-in browser is no way around them.
// The change ends every other session (each with session.ended, which
// tells their applications) and gives this browser a new session ID.

func (h *Handler) showPasswordChange(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.passwordChanger(w, r, thisPage(r))
	if !ok {
		return
	}
	h.renderPasswordChange(w, r, h.accountPage(w, r, u), http.StatusOK)
}

// passwordChanger is the signed-in person who may change their password
// here: anyone with a password, anyone else only after a recent sign-in.
func (h *Handler) passwordChanger(w http.ResponseWriter, r *http.Request, back string) (accounts.User, session.Session, bool) {
	u, s, ok := h.signedInSession(w, r)
	if !ok {
		return u, s, false
	}
	if u.PasswordHash == "" && !h.recent(s) {
		h.signInAgain(w, r, u, back)
		return u, s, false
	}
	return u, s, true
}

func (h *Handler) renderPasswordChange(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("password_change.set_title")
	if p.User.PasswordHash != "" {
		p.Title = p.T("password_change.title")
		p.Extra["has_password"] = "1"
	}
	p.Action = "/account/password"
	p.Extra["min_length"] = strconv.Itoa(h.MinPasswordLength)
	h.render(w, r, status, "password_change", p)
}

func (h *Handler) submitPasswordChange(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	u, cur, ok := h.passwordChanger(w, r, "/account/password")
	if !ok {
		return
	}
	ctx := r.Context()
	p := h.accountPage(w, r, u)
	checks := []check{{h.Limits.LoginIP, ipKey(r)}, {h.Limits.LoginAccount, u.EmailNormalized}}
	if wait := h.wait(ctx, checks...); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	list, err := h.Sessions.Store.SessionsOf(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var ended []string
	for _, s := range list {
		if s.IDHash != cur.IDHash {
			ended = append(ended, s.Subject())
		}
	}
	_, err = h.Accounts.ChangePassword(ctx, u.ID, accounts.PasswordChange{
		Current: r.PostFormValue("current_password"), New: r.PostFormValue("password"), Keep: cur.IDHash, Ended: ended,
	})
	switch {
	case errors.Is(err, accounts.ErrWrongPassword):
		h.count(ctx, checks...)
		p.Errors["current_password"] = p.T("password_change.wrong_current")
		h.renderPasswordChange(w, r, p, http.StatusUnauthorized)
		return
	case errors.Is(err, accounts.ErrStale):
		p.Alert = p.T("password_change.stale")
		h.renderPasswordChange(w, r, p, http.StatusConflict)
		return
	case err != nil:
		if h.fieldErrors(p, err) {
			h.renderPasswordChange(w, r, p, http.StatusBadRequest)
			return
		}
		h.fail(w, r, err)
		return
	}
	if err := h.Limits.LoginAccount.Reset(ctx, u.EmailNormalized); err != nil {
		h.Logger.ErrorContext(ctx, "throttle reset", "error", err)
	}
	h.Wake()
	// A new ID for this browser's session, as at a sign-in; the old one
	// ends with it.
	if _, err := h.Sessions.Start(ctx, w, r, u.ID, cur.Methods, cur.ACR); err != nil {
		h.Logger.WarnContext(ctx, "session rotation after a password change", "error", err)
	}
	http.Redirect(w, r, "/account?done=password_changed", http.StatusSeeOther)
}
