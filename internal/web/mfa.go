package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/session"
)

// bindingTTL is how long the browser has to give the second factor.
const bindingTTL = 15 * time.Minute

func (h *Handler) bindingCookieName() string {
	if h.secure() {
		return "__Host-portvakt_mfa"
	}
	return "portvakt_mfa"
}

// askSecondFactor moves a sign-in to its second step: userID proved
// methods; now this browser (and only this one, by a cookie) is asked for
// a code.
func (h *Handler) askSecondFactor(w http.ResponseWriter, r *http.Request, f flows.Flow, userID string, methods []string) {
	value := h.bindBrowser(w)
	_, err := h.Flows.Update(r.Context(), flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State, f.UserID, f.Methods, f.Binding, f.Attempts = flows.StateSecondFactor, userID, methods, bindingDigest(value), 0
		return f, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login/second-factor?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
}

// bindBrowser sets a fresh binding cookie (valid bindingTTL) and returns
// its value; the flow keeps its digest.
func (h *Handler) bindBrowser(w http.ResponseWriter) string {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	value := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name: h.bindingCookieName(), Value: value, Path: "/", MaxAge: int(bindingTTL.Seconds()),
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
	return value
}

func bindingDigest(v string) string {
	sum := sha256.Sum256([]byte("mfa-binding:" + v))
	return hex.EncodeToString(sum[:])
}

// bound reports whether the browser holds the cookie of f's first step.
func (h *Handler) bound(r *http.Request, f flows.Flow) bool {
	c, err := r.Cookie(h.bindingCookieName())
	if err != nil || c.Value == "" || f.Binding == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(bindingDigest(c.Value)), []byte(f.Binding)) == 1
}

// secondFactorFlow returns the sign-in waiting for a second factor in this
// browser, or answers with the "start over" page.
func (h *Handler) secondFactorFlow(w http.ResponseWriter, r *http.Request, f flows.Flow) bool {
	if f.State == flows.StateSecondFactor && f.UserID != "" && h.bound(r, f) {
		return true
	}
	p := h.newPage(w, r, f, "")
	h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", "/login?"+returnQuery(f), "common.start_over")
	return false
}

func (h *Handler) showSecondFactor(w http.ResponseWriter, r *http.Request) {
	f, err := h.Flows.Get(r.Context(), flows.Login, r.URL.Query().Get("flow"))
	if err != nil && !errors.Is(err, flows.ErrNotFound) && !errors.Is(err, flows.ErrExpired) {
		h.fail(w, r, err)
		return
	}
	if !h.secondFactorFlow(w, r, f) {
		return
	}
	h.renderSecondFactor(w, r, h.newPage(w, r, f, ""), r.URL.Query().Get("method"), http.StatusOK)
}

func (h *Handler) renderSecondFactor(w http.ResponseWriter, r *http.Request, p *page, method string, status int) {
	sum, err := h.Authn.Summarize(r.Context(), p.Flow.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hasPasskey := len(sum.Passkeys) > 0 && h.passkeysOn()
	switch {
	case method == "recovery":
	case method == "passkey" && hasPasskey, method != "passkey" && sum.TOTP == nil && hasPasskey:
		method = "passkey"
	default:
		method = "totp"
	}
	if hasPasskey {
		if err := h.offerPasskeyAssertion(r, p); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	p.Title = p.T("second_factor.title")
	p.Action = "/login/second-factor?flow=" + url.QueryEscape(p.Flow.ID)
	p.Extra["method"] = method
	link := func(m string) string {
		return "/login/second-factor?" + url.Values{"flow": {p.Flow.ID}, "method": {m}}.Encode()
	}
	if sum.TOTP != nil && method != "totp" {
		p.Extra["totp_url"] = link("totp")
	}
	if hasPasskey && method != "passkey" {
		p.Extra["passkey_url"] = link("passkey")
	}
	if method != "recovery" {
		p.Extra["recovery_url"] = link("recovery")
	}
	if p.Flow.ACR != "" && len(p.Flow.Methods) > 0 && !slices.Contains(p.Flow.Methods, authn.MethodOTP) && p.Notice == "" && p.Alert == "" {
		p.Notice = p.T("second_factor.step_up")
	}
	h.render(w, r, status, "second_factor", p)
}

func (h *Handler) submitSecondFactor(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Login, "/login")
	if !ok || !h.secondFactorFlow(w, r, f) {
		return
	}
	ctx := r.Context()
	method, code := r.PostFormValue("method"), r.PostFormValue("code")
	limit := check{h.Limits.SecondFactor, f.UserID}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, h.newPage(w, r, f, ""), wait)
		return
	}
	var err error
	var used string
	proved := []string{authn.MethodOTP}
	switch method {
	case "recovery":
		used = "recovery_code"
		_, err = h.Authn.UseRecoveryCode(ctx, f.UserID, code)
	case "passkey":
		used = "passkey"
		var sealed string
		if sealed, err = h.takeChallenge(r, f); err == nil {
			proved, err = h.Authn.FinishPasskeyAssertion(ctx, f.UserID, sealed, []byte(r.PostFormValue("credential")))
		}
		if errors.Is(err, authn.ErrPasskey) {
			h.Logger.InfoContext(ctx, "passkey refused at the second step", "reason", err)
			err = authn.ErrWrongCode
		}
	default:
		method, used = "totp", "totp"
		err = h.Authn.VerifyTOTP(ctx, f.UserID, code)
	}
	if errors.Is(err, authn.ErrWrongCode) {
		h.count(ctx, limit)
		h.wrongSecondFactor(w, r, f, method)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.Limits.SecondFactor.Reset(ctx, f.UserID); err != nil {
		h.Logger.ErrorContext(ctx, "throttle reset", "error", err)
	}
	methods := authn.AMR(append(slices.Clone(f.Methods), proved...))
	h.startSession(w, r, f, methods, used)
}

// wrongSecondFactor shows the code page again, or after too many wrong
// codes ends the sign-in.
func (h *Handler) wrongSecondFactor(w http.ResponseWriter, r *http.Request, f flows.Flow, method string) {
	f, err := h.Flows.Update(r.Context(), flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.Attempts++
		if f.Attempts >= maxCodeAttempts {
			f.State, f.Binding = flows.StateDone, ""
		}
		return f, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(w, r, f, "")
	if f.State == flows.StateDone {
		h.message(w, r, p, http.StatusUnauthorized, "second_factor.too_many.title", "second_factor.too_many.text", "/login?"+returnQuery(f), "common.start_over")
		return
	}
	if method == "passkey" {
		p.Alert = p.T("passkey.failed")
	} else {
		p.Errors["code"] = p.T("second_factor.wrong_" + method)
	}
	h.renderSecondFactor(w, r, p, method, http.StatusUnauthorized)
}

// startSession signs the flow's user in with methods, ends the flow and
// sends the browser on.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, f flows.Flow, methods []string, how string) {
	ctx := r.Context()
	h.linkPending(ctx, f, f.UserID)
	ev, err := events.New("user.login_succeeded", "user:"+f.UserID, "user:"+f.UserID, h.now(), map[string]any{"method": how, "amr": methods})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Signing in keeps an account whose deletion the person asked for.
	if h.cancelDeletion(r, f.UserID) {
		f.ReturnTo = keptURL(returnTo(f))
	}
	// An identity-proofing provider's level holds for the session too.
	acr := h.Authn.Levels().Highest(h.Authn.LevelOf(methods), f.Proofed)
	if _, err := h.Sessions.Start(ctx, w, r, f.UserID, methods, acr, ev); err != nil {
		h.fail(w, r, err)
		return
	}
	next, err := h.nextStop(ctx, f.UserID, "", returnTo(f))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f.ReturnTo = next
	if f.State == flows.StateSecondFactor {
		http.SetCookie(w, &http.Cookie{Name: h.bindingCookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
		h.finish(w, r, f)
		return
	}
	http.Redirect(w, r, returnTo(f), http.StatusSeeOther)
}

// stepUp answers a sign-in page opened for an application that wants a
// higher level (f.ACR) than the browser's session has: the person gives
// only the factor that is missing. It reports false when there is nothing
// to step up (no session, or it is high enough), leaving the page to show
// the usual form.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, f flows.Flow) bool {
	if f.ACR == "" && !f.MFA {
		return false
	}
	ctx := r.Context()
	s, ok, err := h.Sessions.Current(ctx, r)
	if err != nil || !ok {
		return false
	}
	levelOK := f.ACR == "" || h.Authn.Meets(s.ACR, f.ACR)
	mfaOK := !f.MFA || slices.Contains(s.Methods, authn.MethodMFA)
	if levelOK && mfaOK {
		return false
	}
	if levelOK {
		// Only a second factor is missing: give it, or set one up.
		has, err := h.Authn.HasSecondFactor(ctx, s.UserID)
		switch {
		case err != nil:
			h.fail(w, r, err)
		case has:
			h.askSecondFactor(w, r, f, s.UserID, s.Methods)
		default:
			http.Redirect(w, r, mfaSetupURL(returnTo(f)), http.StatusSeeOther)
		}
		return true
	}
	reach, err := h.Authn.ReachableLevel(ctx, s.UserID, s.Methods)
	if err != nil {
		h.fail(w, r, err)
		return true
	}
	if !h.Authn.Meets(reach, f.ACR) {
		// The person cannot reach the level here: the application hears
		// so (unmet_authentication_requirements) when the browser returns.
		http.Redirect(w, r, returnTo(f), http.StatusSeeOther)
		return true
	}
	h.askSecondFactor(w, r, f, s.UserID, s.Methods)
	return true
}

// recentAuth is how long after signing in a person may change their
// sign-in methods without giving their password again.
const recentAuth = 15 * time.Minute

// recentlySignedIn is signedIn for changes to sign-in methods: the session
// must have authenticated within recentAuth, or the person signs in again
// and comes back to back.
func (h *Handler) recentlySignedIn(w http.ResponseWriter, r *http.Request, back string) (accounts.User, session.Session, bool) {
	u, s, ok := h.signedInSession(w, r)
	if !ok {
		return u, s, false
	}
	if !h.recent(s) {
		h.signInAgain(w, r, u, back)
		return u, s, false
	}
	return u, s, true
}

// recent reports whether the session authenticated within recentAuth.
func (h *Handler) recent(s session.Session) bool { return h.now().Sub(s.AuthTime) <= recentAuth }

// signInAgain sends u to the sign-in page, to come back to back.
func (h *Handler) signInAgain(w http.ResponseWriter, r *http.Request, u accounts.User, back string) {
	q := url.Values{"return_to": {back}, "login_hint": {u.Email}}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
}

// thisPage is the request's path and query, to come back to after
// signing in again.
func thisPage(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.Path
	}
	return r.URL.Path + "?" + r.URL.RawQuery
}

// nextPage is where an account page goes on to: return_to from the query
// or the form, if it is a local path, else the account page.
func nextPage(r *http.Request) string {
	if next := safeReturn(r.URL.Query().Get("return_to")); next != "" {
		return next
	}
	if next := safeReturn(r.PostFormValue("return_to")); next != "" {
		return next
	}
	return "/account"
}

// mfaRequired reports whether a sign-in must include a second factor: the
// deployment requires one, or the application the flow is for does.
func (h *Handler) mfaRequired(f flows.Flow) bool {
	return f.MFA || h.Authn.Policy == authn.PolicyRequired
}

// mfaSetupURL is the page that guides a person to set up a second factor
// before going on to next.
func mfaSetupURL(next string) string {
	return "/account/mfa?" + url.Values{"return_to": {next}, "required": {"1"}}.Encode()
}

// upgradeSession records in the browser's session that the person just
// proved another factor (by setting it up with a valid code or a new
// passkey): a new session with the combined methods, so that the
// application that required it does not ask again at once.
func (h *Handler) upgradeSession(w http.ResponseWriter, r *http.Request, s session.Session, f authn.Factor) {
	methods := authn.AMR(append(slices.Clone(s.Methods), authn.FactorMethods(f)...))
	if _, err := h.Sessions.Start(r.Context(), w, r, s.UserID, methods, h.Authn.LevelOf(methods)); err != nil {
		h.Logger.WarnContext(r.Context(), "session upgrade after enrolment", "error", err)
	}
}
