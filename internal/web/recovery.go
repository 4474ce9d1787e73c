package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
)

func (h *Handler) showRecovery(w http.ResponseWriter, r *http.Request) {
	f, ok := h.flowFor(w, r, flows.Recovery, "/recovery")
	if !ok {
		return
	}
	p := h.newPage(w, r, f, "")
	p.Form["email"] = f.Email
	h.renderRecovery(w, r, p, http.StatusOK)
}

func (h *Handler) renderRecovery(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("recovery.title")
	p.Action = "/recovery?flow=" + p.Flow.ID
	p.Extra["login_url"] = "/login?" + returnQuery(p.Flow)
	h.render(w, r, status, "recovery", p)
}

func (h *Handler) submitRecovery(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Recovery, "/recovery")
	if !ok {
		return
	}
	ctx := r.Context()
	email := r.PostFormValue("email")
	p := h.newPage(w, r, f, "")
	p.Form["email"] = email
	checks := []check{{h.Limits.RecoveryIP, ipKey(r)}, {h.Limits.RecoveryAccount, accountKey(email)}}
	if wait := h.wait(ctx, checks...); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	err := h.Accounts.RequestReset(ctx, email)
	var fe accounts.FieldError
	if errors.As(err, &fe) {
		h.fieldErrors(p, err)
		h.renderRecovery(w, r, p, http.StatusBadRequest)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.count(ctx, checks...)
	h.Wake()
	if _, err := h.Flows.Update(ctx, flows.Recovery, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State, f.Email = flows.StateSent, email
		return f, nil
	}); err != nil {
		h.fail(w, r, err)
		return
	}
	p.Title = p.T("recovery.sent.title")
	p.Heading = p.T("recovery.sent.title")
	p.Text = p.TF("recovery.sent.text", "Email", email)
	p.LinkURL, p.LinkText = "/login?"+returnQuery(f), p.T("common.back_to_login")
	h.render(w, r, http.StatusOK, "message", p)
}

func (h *Handler) showReset(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	p := h.newPage(w, r, flows.Flow{}, "")
	u, err := h.Accounts.CheckReset(r.Context(), token)
	if errors.Is(err, accounts.ErrTokenInvalid) || errors.Is(err, accounts.ErrNotFound) {
		h.message(w, r, p, http.StatusGone, "reset.invalid.title", "reset.invalid.text", "/recovery", "recovery.submit")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Form["email"] = u.Email
	h.renderReset(w, r, p, token, http.StatusOK)
}

func (h *Handler) renderReset(w http.ResponseWriter, r *http.Request, p *page, token string, status int) {
	p.Title = p.T("reset.title")
	p.Action = "/reset"
	p.Extra["token"] = token
	p.Extra["min_length"] = strconv.Itoa(h.MinPasswordLength)
	h.render(w, r, status, "reset", p)
}

func (h *Handler) submitReset(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ctx := r.Context()
	token, password := r.PostFormValue("token"), r.PostFormValue("password")
	p := h.newPage(w, r, flows.Flow{}, "")
	u, err := h.Accounts.ResetPassword(ctx, token, password)
	switch {
	case errors.Is(err, accounts.ErrTokenInvalid), errors.Is(err, accounts.ErrNotFound):
		h.message(w, r, p, http.StatusGone, "reset.invalid.title", "reset.invalid.text", "/recovery", "recovery.submit")
		return
	case err != nil:
		if h.fieldErrors(p, err) {
			if u, err := h.Accounts.CheckReset(ctx, token); err == nil {
				p.Form["email"] = u.Email
			}
			h.renderReset(w, r, p, token, http.StatusBadRequest)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.Wake()
	// Every session of the user ended with the change; clear this cookie too.
	_ = h.Sessions.End(ctx, w, r)
	_ = h.Limits.LoginAccount.Reset(ctx, u.EmailNormalized)
	h.message(w, r, p, http.StatusOK, "reset.done.title", "reset.done.text", "/login", "login.submit")
}
