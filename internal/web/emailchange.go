package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
)

// Changing the email address (/account/email). The person, signed in
// recently, types the new address; nothing changes until they give the
// code mailed there (on this page, in an email_change flow) or open its
// link (/account/email/confirm). The page answers the same whether or not
// the address belongs to another account: that account's owner is told
// instead, and no code comes. Once it has changed, the old address gets an
// undo link (/account/email/undo) that restores it, ends every session and
// leads to choosing a new password.

func (h *Handler) showEmailChange(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.recentlySignedIn(w, r, thisPage(r))
	if !ok {
		return
	}
	p := h.accountPage(w, r, u)
	if id := r.URL.Query().Get("flow"); id != "" {
		f, err := h.Flows.Get(r.Context(), flows.EmailChange, id)
		switch {
		case err == nil && f.UserID == u.ID && f.State != flows.StateDone:
			p.Flow = f
			h.renderEmailCode(w, r, p, http.StatusOK)
			return
		case err != nil && !errors.Is(err, flows.ErrNotFound) && !errors.Is(err, flows.ErrExpired):
			h.fail(w, r, err)
			return
		}
		// Over, expired or not this person's: the form, afresh.
	}
	h.renderEmailChange(w, r, p, http.StatusOK)
}

// renderEmailChange shows the form that asks for the new address.
func (h *Handler) renderEmailChange(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("email_change.title")
	p.Action = "/account/email"
	h.render(w, r, status, "email_change", p)
}

// renderEmailCode shows the form that asks for the code sent to the new
// address of the flow p.Flow.
func (h *Handler) renderEmailCode(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("email_change.title")
	p.Action = "/account/email/code?" + url.Values{"flow": {p.Flow.ID}}.Encode()
	p.Extra["code_step"] = "1"
	h.render(w, r, status, "email_change", p)
}

func (h *Handler) submitEmailChange(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.postedChange(w, r, "/account/email")
	if !ok {
		return
	}
	ctx := r.Context()
	email := strings.TrimSpace(r.PostFormValue("email"))
	p := h.accountPage(w, r, u)
	p.Form["email"] = email
	limit := check{h.Limits.EmailChange, u.ID}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	if err := h.Accounts.RequestEmailChange(ctx, u.ID, email); err != nil {
		if h.fieldErrors(p, err) {
			h.renderEmailChange(w, r, p, http.StatusBadRequest)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.count(ctx, limit)
	h.Wake()
	f, err := h.Flows.Start(ctx, flows.EmailChange, flows.Flow{UserID: u.ID, Email: email})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/email?"+url.Values{"flow": {f.ID}}.Encode(), http.StatusSeeOther)
}

// submitEmailCode takes the code mailed to the new address.
func (h *Handler) submitEmailCode(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f, err := h.Flows.Get(ctx, flows.EmailChange, r.URL.Query().Get("flow"))
	switch {
	case err == nil && f.UserID == u.ID && f.State != flows.StateDone:
	case err == nil, errors.Is(err, flows.ErrNotFound), errors.Is(err, flows.ErrExpired):
		h.message(w, r, h.accountPage(w, r, u), http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", "/account/email", "common.start_over")
		return
	default:
		h.fail(w, r, err)
		return
	}
	p := h.accountPage(w, r, u)
	p.Flow = f
	limit := check{h.Limits.Verify, u.ID}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	if f.Attempts >= maxCodeAttempts {
		p.Alert = p.T("email_change.too_many")
		h.renderEmailCode(w, r, p, http.StatusTooManyRequests)
		return
	}
	code := r.PostFormValue("code")
	p.Form["code"] = code
	_, err = h.Accounts.ConfirmEmailChangeCode(ctx, u.ID, code)
	switch {
	case errors.Is(err, accounts.ErrTokenInvalid):
		h.count(ctx, limit)
		if p.Flow, err = h.Flows.Update(ctx, flows.EmailChange, f.ID, func(f flows.Flow) (flows.Flow, error) {
			f.Attempts++
			return f, nil
		}); err != nil {
			h.fail(w, r, err)
			return
		}
		p.Errors["code"] = p.T("verification.wrong_code")
		h.renderEmailCode(w, r, p, http.StatusBadRequest)
		return
	case errors.Is(err, accounts.ErrConflict):
		h.endFlow(r, f)
		p.Flow = flows.Flow{}
		p.Alert = p.T("email_change.taken")
		h.renderEmailChange(w, r, p, http.StatusConflict)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	if err := h.Limits.Verify.Reset(ctx, u.ID); err != nil {
		h.Logger.ErrorContext(ctx, "throttle reset", "error", err)
	}
	h.endFlow(r, f)
	h.Wake()
	http.Redirect(w, r, "/account?done=email_changed", http.StatusSeeOther)
}

// endFlow marks an email change flow done, so that its page is not shown
// again; a failure only leaves it to expire.
func (h *Handler) endFlow(r *http.Request, f flows.Flow) {
	if _, err := h.Flows.Update(r.Context(), f.Kind, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State = flows.StateDone
		return f, nil
	}); err != nil {
		h.Logger.WarnContext(r.Context(), "finish flow", "error", err)
	}
}

// showEmailConfirm shows what the link mailed to a new address does, with
// a button that does it: opening a link (as mail scanners do) changes
// nothing. It names only the new address.
func (h *Handler) showEmailConfirm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	u, addr, err := h.Accounts.CheckEmailChange(r.Context(), token)
	if h.badLink(w, r, err, "email_confirm.invalid.title", "email_confirm.invalid.text", "/account/email", "email_change.start") {
		return
	}
	p := h.newPage(w, r, flows.Flow{}, u.Locale)
	p.Title = p.T("email_confirm.title")
	p.Heading = p.T("email_confirm.title")
	p.Text = p.TF("email_confirm.text", "Email", addr)
	p.Action = "/account/email/confirm"
	p.Extra["token"] = token
	p.Extra["submit"] = p.T("email_confirm.submit")
	h.render(w, r, http.StatusOK, "confirm_link", p)
}

func (h *Handler) submitEmailConfirm(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	u, err := h.Accounts.ConfirmEmailChangeLink(r.Context(), r.PostFormValue("token"))
	if errors.Is(err, accounts.ErrConflict) {
		h.message(w, r, h.newPage(w, r, flows.Flow{}, ""), http.StatusConflict, "email_confirm.taken.title", "email_change.taken", "/account/email", "email_change.start")
		return
	}
	if h.badLink(w, r, err, "email_confirm.invalid.title", "email_confirm.invalid.text", "/account/email", "email_change.start") {
		return
	}
	h.Wake()
	p := h.newPage(w, r, flows.Flow{}, u.Locale)
	p.Title = p.T("email_confirm.done.title")
	p.Heading = p.Title
	p.Text = p.TF("email_confirm.done.text", "Email", u.Email)
	p.LinkURL, p.LinkText = "/account", p.T("common.back_to_account")
	h.render(w, r, http.StatusOK, "message", p)
}

// showEmailUndo shows what the undo link mailed to a replaced address
// does, with a button that does it.
func (h *Handler) showEmailUndo(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	u, old, err := h.Accounts.CheckEmailUndo(r.Context(), token)
	if h.badLink(w, r, err, "email_undo.invalid.title", "email_undo.invalid.text", "/recovery", "recovery.submit") {
		return
	}
	p := h.newPage(w, r, flows.Flow{}, u.Locale)
	p.Title = p.T("email_undo.title")
	p.Heading = p.T("email_undo.title")
	p.Text = p.TF("email_undo.text", "Email", old)
	p.Items = []string{p.TF("email_undo.step_address", "Email", old), p.T("email_undo.step_sign_out"), p.T("email_undo.step_password")}
	p.Action = "/account/email/undo"
	p.Extra["token"] = token
	p.Extra["submit"] = p.T("email_undo.submit")
	h.render(w, r, http.StatusOK, "confirm_link", p)
}

// submitEmailUndo restores the replaced address, ends every session of
// the account (this browser's too) and shows the form for a new password,
// with a reset link made for it: the undo link proved the mailbox as a
// reset link would.
func (h *Handler) submitEmailUndo(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ctx := r.Context()
	token := r.PostFormValue("token")
	u, _, err := h.Accounts.CheckEmailUndo(ctx, token)
	if h.badLink(w, r, err, "email_undo.invalid.title", "email_undo.invalid.text", "/recovery", "recovery.submit") {
		return
	}
	list, err := h.Sessions.Store.SessionsOf(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ended := make([]string, 0, len(list))
	for _, s := range list {
		ended = append(ended, s.Subject())
	}
	cur, signedIn, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	restored, err := h.Accounts.UndoEmailChange(ctx, token, ended)
	if errors.Is(err, accounts.ErrConflict) {
		h.message(w, r, h.newPage(w, r, flows.Flow{}, u.Locale), http.StatusConflict, "email_undo.taken.title", "email_undo.taken.text", "/recovery", "recovery.submit")
		return
	}
	if h.badLink(w, r, err, "email_undo.invalid.title", "email_undo.invalid.text", "/recovery", "recovery.submit") {
		return
	}
	h.Wake()
	if signedIn && cur.UserID == u.ID {
		// Its session ended with the others; the cookie goes too.
		_ = h.Sessions.End(ctx, w, r)
	}
	_, link, err := h.Accounts.IssueReset(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(w, r, flows.Flow{}, restored.Locale)
	p.Notice = p.TF("email_undo.done", "Email", restored.Email)
	p.Form["email"] = restored.Email
	h.renderReset(w, r, p, link, http.StatusOK)
}

// badLink answers a mailed link that is unknown, used or expired (err is
// ErrTokenInvalid or ErrNotFound) with a page that says so, and any other
// error as a failure; it reports whether it has answered.
func (h *Handler) badLink(w http.ResponseWriter, r *http.Request, err error, title, text, link, linkText string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, accounts.ErrTokenInvalid), errors.Is(err, accounts.ErrNotFound):
		h.message(w, r, h.newPage(w, r, flows.Flow{}, ""), http.StatusGone, title, text, link, linkText)
	default:
		h.fail(w, r, err)
	}
	return true
}
