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

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request) {
	f, ok := h.flowFor(w, r, flows.Login, "/login")
	// A flow for an organization's policy asks for a new sign-in, not for
	// more on top of the one it did not allow.
	if !ok || (f.Org == "" && h.stepUp(w, r, f)) {
		return
	}
	p := h.newPage(w, r, f, "")
	p.Form["email"] = f.Email
	h.renderLogin(w, r, p, http.StatusOK)
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("login.title")
	p.Action = "/login?flow=" + p.Flow.ID
	p.Extra["register_url"] = "/registration?" + returnQuery(p.Flow)
	p.Extra["recovery_url"] = "/recovery?" + returnQuery(p.Flow)
	if h.EmailCodes {
		p.Extra["code_url"] = "/login/code?flow=" + url.QueryEscape(p.Flow.ID)
	}
	if p.Flow.PendingLink != "" && p.Notice == "" && p.Alert == "" {
		p.Notice = p.T("upstream.link_notice")
	}
	h.providerButtons(r.Context(), p)
	h.policyNotice(r.Context(), p)
	if err := h.offerPasskeyLogin(r, p); err != nil {
		// The password still works; passkeys wait for the next page.
		h.Logger.ErrorContext(r.Context(), "passkey sign-in challenge", "error", err)
	}
	h.render(w, r, status, "login", p)
}

func (h *Handler) submitLogin(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Login, "/login")
	if !ok {
		return
	}
	ctx := r.Context()
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	// The page is built only when it is shown: a successful sign-in is a
	// redirect, and the hot path should spend its time on the hash alone.
	page := func() *page {
		p := h.newPage(w, r, f, "")
		p.Form["email"] = email
		return p
	}
	checks := []check{{h.Limits.LoginIP, ipKey(r)}, {h.Limits.LoginAccount, accountKey(email)}}
	if wait := h.wait(ctx, checks...); wait > 0 {
		h.throttled(w, r, page(), wait)
		return
	}
	// An organization's own provider checks who its people are; not when
	// they come back from it to prove an account here is theirs.
	if email != "" && f.PendingLink == "" && h.homeRealm(w, r, f, email) {
		return
	}
	if email == "" || password == "" {
		p := page()
		if email == "" {
			p.Errors["email"] = p.T("field.email.required")
		}
		if password == "" {
			p.Errors["password"] = p.T("field.password.required")
		}
		h.renderLogin(w, r, p, http.StatusBadRequest)
		return
	}
	u, err := h.Accounts.Authenticate(ctx, email, password)
	switch {
	case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDisabled):
		h.count(ctx, checks...)
		p := page()
		p.Alert = p.T("login.failed")
		if errors.Is(err, accounts.ErrDisabled) {
			p.Alert = p.T("login.disabled")
		}
		h.renderLogin(w, r, p, http.StatusUnauthorized)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	if err := h.Limits.LoginAccount.Reset(ctx, accountKey(email)); err != nil {
		h.Logger.ErrorContext(ctx, "throttle reset", "error", err)
	}
	// A sign-in flow is not marked done: submitting it again is harmless,
	// and it expires on its own. That saves a write per sign-in.
	h.firstFactorDone(w, r, f, u.ID, []string{authn.MethodPassword}, "password")
}

// firstFactorDone goes on from a first factor proven for userID: to the
// second factor if the person has one, else signed in (and, when the
// policy wants a second factor they lack, on to setting one up).
func (h *Handler) firstFactorDone(w http.ResponseWriter, r *http.Request, f flows.Flow, userID string, methods []string, how string) {
	sum, err := h.Authn.Summarize(r.Context(), userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if sum.HasSecondFactor() {
		h.askSecondFactor(w, r, f, userID, methods)
		return
	}
	if h.mfaRequired(f) {
		// Signed in, but the next stop is setting up a second factor.
		f.ReturnTo = mfaSetupURL(returnTo(f))
	}
	f.UserID = userID
	h.startSession(w, r, f, methods, how)
}

// returnTo is where a finished flow sends the browser.
func returnTo(f flows.Flow) string {
	if f.ReturnTo != "" {
		return f.ReturnTo
	}
	return "/account"
}

// finish marks the flow done and sends the browser on.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, f flows.Flow) {
	if _, err := h.Flows.Update(r.Context(), f.Kind, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State = flows.StateDone
		return f, nil
	}); err != nil {
		h.Logger.WarnContext(r.Context(), "finish flow", "error", err)
	}
	http.Redirect(w, r, returnTo(f), http.StatusSeeOther)
}

// returnQuery carries a flow's purpose to a sibling flow's start.
func returnQuery(f flows.Flow) string {
	q := url.Values{}
	if f.ReturnTo != "" {
		q.Set("return_to", f.ReturnTo)
	}
	if f.UILocales != "" {
		q.Set("ui_locales", f.UILocales)
	}
	return q.Encode()
}

func (h *Handler) submitLogout(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ctx := r.Context()
	s, ok, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var evs []events.Event
	if ok {
		ev, err := events.New("session.ended", "user:"+s.UserID, "user:"+s.UserID, h.now(), map[string]any{"session": s.Subject()})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		evs = append(evs, ev)
	}
	if err := h.Sessions.End(ctx, w, r, evs...); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
}

// showLoggedOut says that the browser is signed out. ui_locales carries a
// relying party's language preference from RP-initiated logout.
func (h *Handler) showLoggedOut(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(r.URL.Query().Get("ui_locales"), 64)}, "")
	h.message(w, r, p, http.StatusOK, "logged_out.title", "logged_out.text", "/login", "login.submit")
}
