package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/flows"
)

// maxCodeAttempts is how many wrong codes one flow accepts: an email
// verification, or the second step of a sign-in.
const maxCodeAttempts = 5

func (h *Handler) showVerification(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	f, err := h.Flows.Get(r.Context(), flows.Verification, id)
	if err != nil {
		// A verification flow is only ever started by registration or the
		// account page; without one, offer to sign in.
		p := h.newPage(w, r, flows.Flow{}, "")
		h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "verification.expired", "/login", "login.submit")
		return
	}
	p := h.newPage(w, r, f, "")
	h.renderVerification(w, r, p, http.StatusOK)
}

func (h *Handler) renderVerification(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("verification.title")
	p.Action = "/verification?flow=" + p.Flow.ID
	h.render(w, r, status, "verification", p)
}

func (h *Handler) submitVerification(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Verification, "/login")
	if !ok {
		return
	}
	ctx := r.Context()
	p := h.newPage(w, r, f, "")
	limit := []check{{h.Limits.Verify, f.UserID}}
	if wait := h.wait(ctx, limit...); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	if f.State == flows.StateDone {
		h.finishVerification(w, r, f, false)
		return
	}
	if r.PostFormValue("action") == "resend" {
		h.count(ctx, limit...)
		if err := h.Accounts.RequestVerification(ctx, f.UserID); err != nil && !errors.Is(err, accounts.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
		h.Wake()
		p.Notice = p.T("verification.resent")
		h.renderVerification(w, r, p, http.StatusOK)
		return
	}
	if f.Attempts >= maxCodeAttempts {
		p.Alert = p.T("verification.too_many")
		h.renderVerification(w, r, p, http.StatusTooManyRequests)
		return
	}
	code := r.PostFormValue("code")
	p.Form["code"] = code
	u, err := h.Accounts.VerifyCode(ctx, f.UserID, code)
	if errors.Is(err, accounts.ErrTokenInvalid) {
		h.count(ctx, limit...)
		if f, err = h.Flows.Update(ctx, flows.Verification, f.ID, func(f flows.Flow) (flows.Flow, error) {
			f.Attempts++
			return f, nil
		}); err != nil {
			h.fail(w, r, err)
			return
		}
		p.Flow = f
		p.Errors["code"] = p.T("verification.wrong_code")
		h.renderVerification(w, r, p, http.StatusBadRequest)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_ = h.Limits.Verify.Reset(ctx, f.UserID)
	signIn := f.SignInOnVerify && u.Status == accounts.StatusActive
	h.finishVerification(w, r, f, signIn)
}

// finishVerification ends the flow, signing the new user in if the flow
// allows it, and continues where the person was going.
func (h *Handler) finishVerification(w http.ResponseWriter, r *http.Request, f flows.Flow, signIn bool) {
	ctx := r.Context()
	if signIn {
		if h.cancelDeletion(r, f.UserID) {
			f.ReturnTo = keptURL(returnTo(f))
		}
		ev, err := events.New("user.login_succeeded", "user:"+f.UserID, "user:"+f.UserID, h.now(), map[string]any{"method": "registration"})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if _, err := h.Sessions.Start(ctx, w, r, f.UserID, []string{authn.MethodPassword}, h.Authn.LevelOf([]string{authn.MethodPassword}), ev); err != nil {
			h.fail(w, r, err)
			return
		}
		if h.passkeysOn() {
			// "Skip the password next time": a passkey right away, or not now.
			f.ReturnTo = "/account/passkeys/new?" + url.Values{"offer": {"1"}, "return_to": {returnTo(f)}}.Encode()
		}
		h.finish(w, r, f)
		return
	}
	if _, err := h.Flows.Update(ctx, flows.Verification, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State = flows.StateDone
		return f, nil
	}); err != nil {
		h.Logger.WarnContext(ctx, "finish flow", "error", err)
	}
	p := h.newPage(w, r, f, "")
	h.message(w, r, p, http.StatusOK, "verified.title", "verified.text", "/account", "common.continue")
}

// verifyLink handles the link in the verification mail. Opening it is
// enough: verifying an address only proves that its mailbox was reached.
func (h *Handler) verifyLink(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(w, r, flows.Flow{}, "")
	_, err := h.Accounts.VerifyLink(r.Context(), r.URL.Query().Get("token"))
	switch {
	case errors.Is(err, accounts.ErrTokenInvalid), errors.Is(err, accounts.ErrNotFound):
		h.message(w, r, p, http.StatusGone, "verify_link.invalid.title", "verify_link.invalid.text", "/login", "login.submit")
	case err != nil:
		h.fail(w, r, err)
	default:
		h.message(w, r, p, http.StatusOK, "verified.title", "verified.text", "/account", "common.continue")
	}
}
