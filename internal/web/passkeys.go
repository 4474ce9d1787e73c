package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/flows"
)

// Passkeys (WebAuthn). The pages carry the ceremony's options in a form
// that /assets/webauthn.js completes with the browser's answer; without
// JavaScript the forms stay hidden and everything else works. A sign-in's
// challenge lives in its flow and is taken out when used, so an answer
// counts once.

func (h *Handler) passkeysOn() bool { return h.Authn != nil && h.Authn.WebAuthn != nil }

func (h *Handler) serveWebAuthnJS(w http.ResponseWriter, r *http.Request) {
	h.serveScript(w, r, "assets/webauthn.js")
}

func (h *Handler) serveAutosubmitJS(w http.ResponseWriter, r *http.Request) {
	h.serveScript(w, r, "assets/autosubmit.js")
}

// serveScript serves one of the pages' scripts from the binary.
func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assetFS.ReadFile(name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// offerPasskeyLogin puts a fresh passkey sign-in challenge in the login
// flow and its options on the page.
func (h *Handler) offerPasskeyLogin(r *http.Request, p *page) error {
	if !h.passkeysOn() || p.Flow.ID == "" {
		return nil
	}
	c, err := h.Authn.BeginPasskeyLogin()
	if err != nil {
		return err
	}
	p.Extra["passkey_action"] = "/login/passkey?flow=" + url.QueryEscape(p.Flow.ID)
	return h.holdChallenge(r, p, c)
}

// takeChallenge removes the flow's pending passkey challenge and returns
// it: a second answer to the same challenge finds none.
func (h *Handler) takeChallenge(r *http.Request, f flows.Flow) (string, error) {
	var sealed string
	_, err := h.Flows.Update(r.Context(), flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		sealed, f.Challenge = f.Challenge, ""
		return f, nil
	})
	return sealed, err
}

// submitPasskeyLogin signs in with a passkey (passwordless).
func (h *Handler) submitPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Login, "/login")
	if !ok {
		return
	}
	ctx := r.Context()
	limit := check{h.Limits.LoginIP, ipKey(r)}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, h.newPage(w, r, f, ""), wait)
		return
	}
	sealed, err := h.takeChallenge(r, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	userID, methods, err := h.Authn.FinishPasskeyLogin(ctx, sealed, []byte(r.PostFormValue("credential")))
	var u accounts.User
	if err == nil {
		u, err = h.Accounts.Store.UserByID(ctx, userID)
		if errors.Is(err, accounts.ErrNotFound) {
			err = authn.ErrPasskey
		}
	}
	switch {
	case errors.Is(err, authn.ErrPasskey):
		h.count(ctx, limit)
		h.Logger.InfoContext(ctx, "passkey sign-in refused", "reason", err)
		p := h.newPage(w, r, f, "")
		p.Alert = p.T("passkey.failed")
		h.renderLogin(w, r, p, http.StatusUnauthorized)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	if u.Status != accounts.StatusActive {
		p := h.newPage(w, r, f, "")
		p.Alert = p.T("login.disabled")
		h.renderLogin(w, r, p, http.StatusUnauthorized)
		return
	}
	f.UserID = u.ID
	h.startSession(w, r, f, authn.AMR(methods), "passkey")
}

// offerPasskeyAssertion puts a challenge for one of the person's passkeys
// in the second step's flow.
func (h *Handler) offerPasskeyAssertion(r *http.Request, p *page) error {
	if !h.passkeysOn() {
		return nil
	}
	c, err := h.Authn.BeginPasskeyAssertion(r.Context(), p.Flow.UserID)
	if errors.Is(err, authn.ErrNotFound) {
		return nil // no passkeys
	}
	if err != nil {
		return err
	}
	return h.holdChallenge(r, p, c)
}

// holdChallenge keeps a ceremony's challenge in the page's flow and puts
// its options on the page.
func (h *Handler) holdChallenge(r *http.Request, p *page, c authn.Ceremony) error {
	if _, err := h.Flows.Update(r.Context(), flows.Login, p.Flow.ID, func(f flows.Flow) (flows.Flow, error) {
		f.Challenge = c.Sealed
		return f, nil
	}); err != nil {
		return err
	}
	p.Extra["passkey_options"] = c.Options
	return nil
}

// showNewPasskey is the page that adds a passkey to the account; with
// offer=1 it is the "skip the password next time" step after
// registration, which the person may pass by.
func (h *Handler) showNewPasskey(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.recentlySignedIn(w, r, thisPage(r))
	if !ok {
		return
	}
	if !h.passkeysOn() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	h.renderNewPasskey(w, r, h.accountPage(w, r, u), http.StatusOK)
}

func (h *Handler) renderNewPasskey(w http.ResponseWriter, r *http.Request, p *page, status int) {
	c, err := h.Authn.BeginPasskeyRegistration(r.Context(), p.User.ID, p.User.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Title = p.T("passkey.add_title")
	p.Action = "/account/passkeys"
	if r.URL.Query().Get("offer") == "1" || r.PostFormValue("offer") == "1" {
		p.Title = p.T("passkey.offer_title")
		p.Extra["offer"] = "1"
	}
	p.Extra["return_to"] = nextPage(r)
	p.Extra["passkey_options"] = c.Options
	p.Extra["sealed"] = c.Sealed
	h.render(w, r, status, "passkey", p)
}

// submitNewPasskey stores the passkey the browser made.
func (h *Handler) submitNewPasskey(w http.ResponseWriter, r *http.Request) {
	u, s, ok := h.postedChange(w, r, "/account/passkeys/new")
	if !ok {
		return
	}
	if !h.passkeysOn() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	factor, err := h.Authn.FinishPasskeyRegistration(ctx, u.ID, truncate(r.PostFormValue("name"), 64), r.PostFormValue("sealed"), []byte(r.PostFormValue("credential")))
	if errors.Is(err, authn.ErrPasskey) {
		h.Logger.InfoContext(ctx, "passkey registration refused", "reason", err)
		p := h.accountPage(w, r, u)
		p.Alert = p.T("passkey.add_failed")
		h.renderNewPasskey(w, r, p, http.StatusUnprocessableEntity)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	h.upgradeSession(w, r, s, factor)
	next := nextPage(r)
	if next == "/account" {
		next = "/account?done=passkey_added"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// submitRemovePasskey removes one of the signed-in person's passkeys.
func (h *Handler) submitRemovePasskey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h.removeFactor(w, r, "passkey_removed", func(sum authn.Summary) string {
		// Only the person's own passkeys: anything else is simply not found.
		if slices.ContainsFunc(sum.Passkeys, func(f authn.Factor) bool { return f.ID == id }) {
			return id
		}
		return ""
	})
}
