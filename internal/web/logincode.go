package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/flows"
)

// Sign-in by a one-time code sent by mail, where the deployment enables
// it (email_codes): the person gives their address, gets a 6-digit code
// valid ten minutes, and types it in. The page answers the same whether
// or not the address has an account.

func (h *Handler) showLoginCode(w http.ResponseWriter, r *http.Request) {
	if !h.EmailCodes {
		http.NotFound(w, r)
		return
	}
	f, ok := h.flowFor(w, r, flows.Login, "/login/code")
	if !ok {
		return
	}
	p := h.newPage(w, r, f, "")
	p.Form["email"] = f.Email
	h.renderLoginCode(w, r, p, http.StatusOK)
}

func (h *Handler) renderLoginCode(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("login_code.title")
	p.Action = "/login/code?flow=" + url.QueryEscape(p.Flow.ID)
	p.Extra["password_url"] = "/login?flow=" + url.QueryEscape(p.Flow.ID)
	if p.Flow.State == flows.StateSent {
		p.Extra["sent"] = "1"
	}
	h.render(w, r, status, "login_code", p)
}

func (h *Handler) submitLoginCode(w http.ResponseWriter, r *http.Request) {
	if !h.EmailCodes {
		http.NotFound(w, r)
		return
	}
	f, ok := h.postedFlow(w, r, flows.Login, "/login/code")
	if !ok {
		return
	}
	if r.PostFormValue("action") == "send" || f.State != flows.StateSent {
		h.sendLoginCode(w, r, f)
		return
	}
	ctx := r.Context()
	limit := check{h.Limits.Verify, "code:" + accountKey(f.Email)}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, h.newPage(w, r, f, ""), wait)
		return
	}
	u, err := h.Accounts.SignInWithCode(ctx, f.Email, r.PostFormValue("code"))
	if errors.Is(err, accounts.ErrTokenInvalid) {
		h.count(ctx, limit)
		f, err = h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
			f.Attempts++
			if f.Attempts >= maxCodeAttempts {
				f.State = flows.StateStarted // a new code is needed
				f.Attempts = 0
			}
			return f, nil
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		p := h.newPage(w, r, f, "")
		p.Form["email"] = f.Email
		if f.State == flows.StateSent {
			p.Errors["code"] = p.T("verification.wrong_code")
		} else {
			p.Alert = p.T("verification.too_many")
		}
		h.renderLoginCode(w, r, p, http.StatusUnauthorized)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.firstFactorDone(w, r, f, u.ID, []string{authn.MethodEmail}, "email_code")
}

// sendLoginCode mails a code to the address given, if it has an account.
func (h *Handler) sendLoginCode(w http.ResponseWriter, r *http.Request, f flows.Flow) {
	ctx := r.Context()
	email := truncate(r.PostFormValue("email"), 254)
	if email == "" {
		email = f.Email
	}
	page := func() *page {
		p := h.newPage(w, r, f, "")
		p.Form["email"] = email
		return p
	}
	norm, err := accounts.NormalizeEmail(email)
	if err != nil {
		p := page()
		p.Errors["email"] = p.T("field.email.invalid")
		h.renderLoginCode(w, r, p, http.StatusBadRequest)
		return
	}
	checks := []check{{h.Limits.RecoveryIP, ipKey(r)}, {h.Limits.RecoveryAccount, "code:" + norm}}
	if wait := h.wait(ctx, checks...); wait > 0 {
		h.throttled(w, r, page(), wait)
		return
	}
	h.count(ctx, checks...)
	if err := h.Accounts.RequestSignInCode(ctx, norm); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	f, err = h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State, f.Email, f.Attempts = flows.StateSent, norm, 0
		return f, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login/code?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
}
