package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/request"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/throttle"
)

// Limits are the throttles of the pages.
type Limits struct {
	// LoginIP and LoginAccount slow down password guessing from one
	// address and against one account.
	LoginIP, LoginAccount *throttle.Limiter
	// Register limits account creation per address.
	Register *throttle.Limiter
	// Recovery limits reset mails per address and per account.
	RecoveryIP, RecoveryAccount *throttle.Limiter
	// Verify limits code guesses and resends per account.
	Verify *throttle.Limiter
	// SecondFactor limits authenticator-app and recovery code guesses per
	// account.
	SecondFactor *throttle.Limiter
	// EmailChange limits requests to change the address (each mails a
	// code to an address the person types) per account.
	EmailChange *throttle.Limiter
}

// Handler serves the hosted pages.
type Handler struct {
	Catalog  *i18n.Catalog
	Accounts *accounts.Service
	// Privacy gives people a copy of their data and deletes their
	// accounts ("Your data"); nil offers neither.
	Privacy *privacy.Service
	// Federation signs people in with upstream identity providers; nil
	// offers none.
	Federation *federation.Service
	// Orgs are the organizations their own admins manage here
	// (delegated administration); nil offers none.
	Orgs *orgs.Service
	// EventTimes shows organization admins their members' last sign-in;
	// nil leaves it out.
	EventTimes EventTimes
	// Invitations are accepted on /invitation; nil offers none.
	Invitations *orgs.Invitations
	// Apps are the applications an invitation can send people on to; nil
	// offers none.
	Apps Apps
	// Joins lets people join organizations by their address's domain;
	// nil offers none.
	Joins *orgs.Joins
	// Connections are the applications people have let into their
	// account, for its connected applications page; nil offers none.
	Connections Connections
	// Places names the approximate place of a session's address; nil
	// shows none.
	Places Places
	// Authn checks second factors and levels of assurance.
	Authn    *authn.Service
	Flows    *flows.Service
	Sessions *session.Manager
	Limits   Limits
	Brand    Branding
	Issuer   *url.URL
	Logger   *slog.Logger
	// Wake nudges the background workers after a change that sends mail.
	Wake func()
	// ThemeDir, if set, overrides embedded templates file by file.
	ThemeDir fs.FS
	// EmailCodes offers sign-in by a one-time code sent by mail.
	EmailCodes bool
	// MinPasswordLength is shown in the "too short" message.
	MinPasswordLength int
	// RegistrationFields must be known before a registration completes
	// (given_name, family_name, phone): asked on the registration form,
	// and after an upstream sign-in that did not send them.
	RegistrationFields []string
	// Consents are the purposes people agree to (terms, marketing, …) and
	// their receipts: asked at registration, at a sign-in when a required
	// one has a new version, and kept on the privacy page. Nil asks none.
	Consents *consents.Service
	// AppNames names applications on the pages; nil names none.
	AppNames AppNames
	// Now is the clock (default time.Now).
	Now func() time.Time

	tmpl *templates
	// stops are the pages passed between signing in and going on
	// (stops.go), in order.
	stops []stop
}

// Init parses the templates; a missing or broken one is an error.
func (h *Handler) Init() error {
	t, err := parseTemplates(h.ThemeDir)
	if err != nil {
		return err
	}
	h.tmpl = t
	if h.Accounts != nil && h.Accounts.ProfileMaxAge > 0 {
		h.addStop(h.profileStop())
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	if h.Wake == nil {
		h.Wake = func() {}
	}
	h.addStop(stop{Name: "consents", EveryRequest: true, Pending: h.consentsPending})
	return nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Mount adds the pages' routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.showHome)
	mux.HandleFunc("GET /login", h.showLogin)
	mux.HandleFunc("POST /login", h.submitLogin)
	mux.HandleFunc("POST /login/passkey", h.submitPasskeyLogin)
	mux.HandleFunc("POST /login/idp/{id}", h.startUpstream)
	mux.HandleFunc("GET /login/idp/callback", h.upstreamCallback)
	mux.HandleFunc("POST /login/idp/callback", h.upstreamPosted)
	mux.HandleFunc("GET /login/idp/profile", h.showCompleteProfile)
	mux.HandleFunc("POST /login/idp/profile", h.submitCompleteProfile)
	mux.HandleFunc("GET /assets/autosubmit.js", h.serveAutosubmitJS)
	mux.HandleFunc("GET /invitation", h.showInvitation)
	mux.HandleFunc("POST /invitation/register", h.submitInvitationRegistration)
	mux.HandleFunc("POST /invitation/accept", h.submitInvitationAccept)
	mux.HandleFunc("GET /apps/{client}", h.openApp)
	mux.HandleFunc("GET /org/{org}", h.showOrg)
	mux.HandleFunc("POST /org/{org}/members/{user}/roles", h.submitOrgRoles)
	mux.HandleFunc("POST /org/{org}/members/{user}/remove", h.submitOrgRemove)
	mux.HandleFunc("POST /org/{org}/members/{user}/admin", h.submitOrgHandOver)
	mux.HandleFunc("POST /org/{org}/invitations", h.submitOrgInvite)
	mux.HandleFunc("POST /org/{org}/invitations/{invitation}/{action}", h.submitOrgInvitation)
	mux.HandleFunc("POST /org/{org}/join-requests/{request}/{action}", h.submitOrgJoinRequest)
	mux.HandleFunc("POST /account/organizations/{org}/join", h.submitJoin)
	mux.HandleFunc("POST /account/organizations/{org}/leave", h.submitLeave)
	mux.HandleFunc("POST /account/sessions/{id}/end", h.submitEndSessions)
	mux.HandleFunc("POST /account/sessions/end-others", h.submitEndSessions)
	mux.HandleFunc("POST /account/identities/unlink", h.submitUnlink)
	mux.HandleFunc("POST /account/identities/link/{id}", h.startLink)
	mux.HandleFunc("GET /login/code", h.showLoginCode)
	mux.HandleFunc("POST /login/code", h.submitLoginCode)
	mux.HandleFunc("GET /login/second-factor", h.showSecondFactor)
	mux.HandleFunc("POST /login/second-factor", h.submitSecondFactor)
	mux.HandleFunc("GET /registration", h.showRegistration)
	mux.HandleFunc("POST /registration", h.submitRegistration)
	mux.HandleFunc("GET /verification", h.showVerification)
	mux.HandleFunc("POST /verification", h.submitVerification)
	mux.HandleFunc("GET /verify", h.verifyLink)
	mux.HandleFunc("GET /recovery", h.showRecovery)
	mux.HandleFunc("POST /recovery", h.submitRecovery)
	mux.HandleFunc("GET /reset", h.showReset)
	mux.HandleFunc("POST /reset", h.submitReset)
	mux.HandleFunc("POST /logout", h.submitLogout)
	mux.HandleFunc("GET /logged-out", h.showLoggedOut)
	mux.HandleFunc("GET /account", h.showAccount)
	mux.HandleFunc("POST /account/verify-email", h.submitVerifyEmail)
	mux.HandleFunc("GET /account/data", h.showData)
	mux.HandleFunc("GET /account/data/view", h.showDataView)
	mux.HandleFunc("POST /account/data/export", h.submitExport)
	mux.HandleFunc("POST /account/data/delete", h.submitDelete)
	mux.HandleFunc("GET /account/deleted", h.showDeleted)
	mux.HandleFunc("GET /account/deletion-cancelled", h.showDeletionCancelled)
	mux.HandleFunc("GET /account/email", h.showEmailChange)
	mux.HandleFunc("POST /account/email", h.submitEmailChange)
	mux.HandleFunc("POST /account/email/code", h.submitEmailCode)
	mux.HandleFunc("GET /account/email/confirm", h.showEmailConfirm)
	mux.HandleFunc("POST /account/email/confirm", h.submitEmailConfirm)
	mux.HandleFunc("GET /account/email/undo", h.showEmailUndo)
	mux.HandleFunc("POST /account/email/undo", h.submitEmailUndo)
	mux.HandleFunc("GET /account/password", h.showPasswordChange)
	mux.HandleFunc("POST /account/password", h.submitPasswordChange)
	mux.HandleFunc("GET /account/applications", h.showApplications)
	mux.HandleFunc("POST /account/applications/{client}/revoke", h.submitRevokeApplication)
	mux.HandleFunc("GET /consent/update", h.showConsentUpdate)
	mux.HandleFunc("POST /consent/update", h.submitConsentUpdate)
	mux.HandleFunc("GET /account/privacy", h.showPrivacy)
	mux.HandleFunc("POST /account/privacy/{purpose}/{action}", h.submitPrivacy)
	mux.HandleFunc("GET /account/profile", h.showProfile)
	mux.HandleFunc("POST /account/profile", h.submitProfile)
	mux.HandleFunc("GET /account/confirm-profile", h.showConfirmProfile)
	mux.HandleFunc("POST /account/confirm-profile", h.submitConfirmProfile)
	mux.HandleFunc("GET /account/confirm-profile/edit", h.showConfirmProfileEdit)
	mux.HandleFunc("POST /account/confirm-profile/edit", h.submitConfirmProfileEdit)
	mux.HandleFunc("GET /account/mfa", h.showMFASetup)
	mux.HandleFunc("GET /account/totp", h.showTOTP)
	mux.HandleFunc("POST /account/totp", h.submitTOTP)
	mux.HandleFunc("POST /account/totp/remove", h.submitRemoveTOTP)
	mux.HandleFunc("POST /account/recovery-codes", h.submitRecoveryCodes)
	mux.HandleFunc("GET /account/passkeys/new", h.showNewPasskey)
	mux.HandleFunc("POST /account/passkeys", h.submitNewPasskey)
	mux.HandleFunc("POST /account/passkeys/{id}/remove", h.submitRemovePasskey)
	mux.HandleFunc("GET /assets/webauthn.js", h.serveWebAuthnJS)
	mux.HandleFunc("GET /assets/portvakt.css", h.serveCSS)
	mux.HandleFunc("GET /assets/brand.css", h.serveBrandCSS)
}

func (h *Handler) showHome(w http.ResponseWriter, r *http.Request) {
	if _, ok, err := h.Sessions.Current(r.Context(), r); err == nil && ok {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeReturn accepts only a local path, so that return_to cannot send the
// browser to another site (open redirect).
func safeReturn(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || strings.ContainsAny(s, "\r\n") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return s
}

// flowFor returns the live flow named by ?flow=, or starts one and
// redirects to it. It reports false when it has answered.
func (h *Handler) flowFor(w http.ResponseWriter, r *http.Request, kind flows.Kind, path string) (flows.Flow, bool) {
	id := r.URL.Query().Get("flow")
	if id != "" {
		f, err := h.Flows.Get(r.Context(), kind, id)
		if err == nil {
			return f, true
		}
		if !errors.Is(err, flows.ErrNotFound) && !errors.Is(err, flows.ErrExpired) {
			h.fail(w, r, err)
			return f, false
		}
		// An expired or unknown flow: start afresh, keeping what it was for.
	}
	q := r.URL.Query()
	f, err := h.Flows.Start(r.Context(), kind, flows.Flow{
		ReturnTo:   safeReturn(q.Get("return_to")),
		UILocales:  truncate(q.Get("ui_locales"), 64),
		Email:      truncate(q.Get("login_hint"), 254),
		GivenName:  truncate(q.Get("given_name"), 200),
		FamilyName: truncate(q.Get("family_name"), 200),
		ACR:        truncate(q.Get("acr"), 200),
		MFA:        q.Get("mfa") == "1",
		Org:        truncate(q.Get("org"), 64),
	})
	if err != nil {
		h.fail(w, r, err)
		return f, false
	}
	nq := url.Values{"flow": {f.ID}}
	if l := q.Get("lang"); l != "" {
		nq.Set("lang", l)
	}
	http.Redirect(w, r, path+"?"+nq.Encode(), http.StatusSeeOther)
	return f, false
}

// postedFlow checks CSRF and returns the flow a form was posted to. It
// reports false when it has answered.
func (h *Handler) postedFlow(w http.ResponseWriter, r *http.Request, kind flows.Kind, path string) (flows.Flow, bool) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return flows.Flow{}, false
	}
	f, err := h.Flows.Get(r.Context(), kind, r.URL.Query().Get("flow"))
	switch {
	case errors.Is(err, flows.ErrNotFound), errors.Is(err, flows.ErrExpired):
		p := h.newPage(w, r, flows.Flow{}, "")
		h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", path, "common.start_over")
		return f, false
	case err != nil:
		h.fail(w, r, err)
		return f, false
	}
	return f, true
}

// showError renders the error page with a translated message.
func (h *Handler) showError(w http.ResponseWriter, r *http.Request, status int, id string) {
	p := h.newPage(w, r, flows.Flow{}, "")
	p.Title = p.T("error.title")
	p.Heading = p.T("error.title")
	p.Text = p.T(id)
	h.render(w, r, status, "error", p)
}

// fail logs an internal error with the request ID and shows a generic page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Logger.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "error", err)
	h.showError(w, r, http.StatusInternalServerError, "error.internal")
}

// throttled shows the "too many attempts" page with Retry-After.
func (h *Handler) throttled(w http.ResponseWriter, r *http.Request, p *page, wait time.Duration) {
	secs := int(wait.Seconds())
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	minutes := (secs + 59) / 60
	p.Title = p.T("throttled.title")
	p.Heading = p.T("throttled.title")
	if secs < 60 {
		p.Text = p.TF("throttled.seconds", "Seconds", secs)
	} else {
		p.Text = p.TF("throttled.minutes", "Minutes", minutes)
	}
	p.LinkURL = r.URL.RequestURI()
	p.LinkText = p.T("common.try_again")
	h.render(w, r, http.StatusTooManyRequests, "message", p)
}

// message renders the message page.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, p *page, status int, title, text, link, linkText string) {
	p.Title = p.T(title)
	p.Heading = p.T(title)
	p.Text = p.T(text)
	p.LinkURL = link
	if linkText != "" {
		p.LinkText = p.T(linkText)
	}
	h.render(w, r, status, "message", p)
}

// wait returns the longest wait of several limiters' keys; errors count as
// no wait but are logged (throttling must not take sign-in down).
func (h *Handler) wait(ctx context.Context, checks ...check) time.Duration {
	var longest time.Duration
	for _, c := range checks {
		if c.l == nil {
			continue
		}
		d, err := c.l.Wait(ctx, c.key)
		if err != nil {
			h.Logger.ErrorContext(ctx, "throttle check", "error", err)
			continue
		}
		longest = max(longest, d)
	}
	return longest
}

// count records a failure (or an attempt) for each check.
func (h *Handler) count(ctx context.Context, checks ...check) {
	for _, c := range checks {
		if c.l == nil {
			continue
		}
		if err := c.l.Fail(ctx, c.key); err != nil {
			h.Logger.ErrorContext(ctx, "throttle count", "error", err)
		}
	}
}

type check struct {
	l   *throttle.Limiter
	key string
}

func ipKey(r *http.Request) string { return request.ClientIP(r.Context()).String() }

func accountKey(email string) string {
	if n, err := accounts.NormalizeEmail(email); err == nil {
		return n
	}
	return strings.ToLower(strings.TrimSpace(truncate(email, 254)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// fieldErrors translates validation failures into per-field messages.
func (h *Handler) fieldErrors(p *page, err error) bool {
	var found bool
	for _, e := range flatten(err) {
		var fe accounts.FieldError
		if errors.As(e, &fe) {
			if _, dup := p.Errors[fe.Field]; !dup {
				p.Errors[fe.Field] = p.TF("field."+fe.Field+"."+fe.Code, "Min", h.MinPasswordLength)
			}
			found = true
		}
	}
	return found
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
