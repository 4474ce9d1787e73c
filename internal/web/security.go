package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/session"
)

// The account's sign-in methods: set up and remove an authenticator app,
// make new recovery codes. Each change needs a recent sign-in.

// showMFASetup lets the person choose a second factor to set up; with
// required=1 it says that the service requires one.
func (h *Handler) showMFASetup(w http.ResponseWriter, r *http.Request) {
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	if h.Authn.Policy == authn.PolicyOff {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	next := nextPage(r)
	sum, err := h.Authn.Summarize(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if sum.HasSecondFactor() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p := h.accountPage(w, r, u)
	p.Title = p.T("mfa_setup.title")
	if r.URL.Query().Get("required") == "1" {
		p.Notice = p.T("mfa_setup.required")
	}
	p.PasskeysOn = h.passkeysOn()
	back := url.Values{"return_to": {next}}.Encode()
	p.Extra["totp_url"] = "/account/totp?" + back
	p.Extra["passkey_url"] = "/account/passkeys/new?" + back
	h.render(w, r, http.StatusOK, "mfa_setup", p)
}

func (h *Handler) showTOTP(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.recentlySignedIn(w, r, thisPage(r))
	if !ok {
		return
	}
	ctx := r.Context()
	sum, err := h.Authn.Summarize(ctx, u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if sum.TOTP != nil || sum.Off {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	e, err := h.Authn.BeginTOTP(u.ID, u.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.renderTOTP(w, r, h.accountPage(w, r, u), e, http.StatusOK)
}

func (h *Handler) renderTOTP(w http.ResponseWriter, r *http.Request, p *page, e authn.Enrolment, status int) {
	p.Title = p.T("totp.title")
	p.Action = "/account/totp"
	p.QR = template.URL(e.QR) // a PNG rendered here, not input
	p.Extra["secret"] = e.Secret
	p.Extra["sealed"] = e.Sealed
	p.Extra["return_to"] = nextPage(r)
	h.render(w, r, status, "totp", p)
}

func (h *Handler) submitTOTP(w http.ResponseWriter, r *http.Request) {
	u, s, ok := h.postedChange(w, r, "/account/totp")
	if !ok {
		return
	}
	ctx := r.Context()
	sealed, code, name := r.PostFormValue("sealed"), r.PostFormValue("code"), truncate(r.PostFormValue("name"), 64)
	limit := check{h.Limits.SecondFactor, u.ID}
	if wait := h.wait(ctx, limit); wait > 0 {
		h.throttled(w, r, h.accountPage(w, r, u), wait)
		return
	}
	factor, err := h.Authn.ConfirmTOTP(ctx, u.ID, sealed, code, name)
	switch {
	case errors.Is(err, authn.ErrWrongCode):
		h.count(ctx, limit)
		e, rerr := h.Authn.ReopenTOTP(ctx, u.ID, sealed)
		if rerr != nil {
			h.fail(w, r, rerr)
			return
		}
		p := h.accountPage(w, r, u)
		p.Form["name"] = name
		p.Errors["code"] = p.T("totp.wrong_code")
		h.renderTOTP(w, r, p, e, http.StatusUnprocessableEntity)
		return
	case errors.Is(err, authn.ErrNotFound):
		// A form from another browser's enrolment or tampered with.
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return
	case errors.Is(err, authn.ErrAlreadyEnrolled), errors.Is(err, authn.ErrPolicyOff):
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.Wake()
	h.upgradeSession(w, r, s, factor)
	h.showNewRecoveryCodes(w, r, u, "totp.done")
}

func (h *Handler) submitRemoveTOTP(w http.ResponseWriter, r *http.Request) {
	h.removeFactor(w, r, "totp_removed", func(sum authn.Summary) string {
		if sum.TOTP == nil {
			return ""
		}
		return sum.TOTP.ID
	})
}

// removeFactor removes the signed-in person's factor that pick names in
// their summary ("" for none: nothing to do) and shows the account page
// with the done notice. Only their own factors can be named at all.
func (h *Handler) removeFactor(w http.ResponseWriter, r *http.Request, done string, pick func(authn.Summary) string) {
	_, s, ok := h.postedChange(w, r, "/account")
	if !ok {
		return
	}
	ctx := r.Context()
	sum, err := h.Authn.Summarize(ctx, s.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if id := pick(sum); id != "" {
		if err := h.Authn.RemoveFactor(ctx, s.UserID, id, "user:"+s.UserID); err != nil && !errors.Is(err, authn.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
		h.Wake()
	}
	http.Redirect(w, r, "/account?done="+done, http.StatusSeeOther)
}

// postedChange checks a form that changes the person's sign-in methods:
// the CSRF token, and a sign-in recent enough (else back to back after
// signing in again). It reports false when it has answered.
func (h *Handler) postedChange(w http.ResponseWriter, r *http.Request, back string) (accounts.User, session.Session, bool) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return accounts.User{}, session.Session{}, false
	}
	return h.recentlySignedIn(w, r, back)
}

func (h *Handler) submitRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	u, _, ok := h.postedChange(w, r, "/account")
	if !ok {
		return
	}
	h.showNewRecoveryCodes(w, r, u, "recovery_codes.regenerated")
}

// showNewRecoveryCodes makes a new set of recovery codes and shows it, the
// only time the codes are ever shown.
func (h *Handler) showNewRecoveryCodes(w http.ResponseWriter, r *http.Request, u accounts.User, notice string) {
	codes, err := h.Authn.RegenerateRecoveryCodes(r.Context(), u.ID)
	if errors.Is(err, authn.ErrNoAuthenticator) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.accountPage(w, r, u)
	p.Title = p.T("recovery_codes.title")
	p.Notice = p.T(notice)
	p.Items = codes
	p.Extra["return_to"] = nextPage(r)
	// The codes must not linger in caches or history.
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, "recovery_codes", p)
}

// accountPage is a page about the signed-in user u.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, u accounts.User) *page {
	p := h.newPage(w, r, flows.Flow{}, u.Locale)
	p.User = u
	return p
}

// securityExtras adds the sign-in methods to the account page.
func (h *Handler) securityExtras(r *http.Request, p *page) error {
	sum, err := h.Authn.Summarize(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	if sum.TOTP != nil {
		p.Extra["totp"] = sum.TOTP.Name
		if p.Extra["totp"] == "" {
			p.Extra["totp"] = p.T("totp.default_name")
		}
		p.Extra["totp_since"] = sum.TOTP.CreatedAt.Format("2006-01-02")
	}
	p.PasskeysOn = h.passkeysOn()
	if p.User.PasswordHash != "" {
		p.Extra["has_password"] = "1"
	}
	if h.Connections != nil {
		p.Extra["applications"] = "1"
	}
	if sum.Off {
		p.Extra["mfa_off"] = "1"
	}
	for _, f := range sum.Passkeys {
		v := passkeyView{ID: f.ID, Name: f.Name, Created: f.CreatedAt.Format("2006-01-02"), LastUsed: f.LastUsedAt.Format("2006-01-02")}
		if v.Name == "" {
			v.Name = p.T("passkey.default_name")
		}
		p.Passkeys = append(p.Passkeys, v)
	}
	if sum.HasSecondFactor() {
		p.Extra["recovery_left"] = strconv.Itoa(sum.RecoveryCodesLeft)
	}
	if h.Federation != nil {
		ids, err := h.Federation.Store.Identities(r.Context(), p.User.ID)
		if err != nil {
			return err
		}
		providers, err := h.Federation.Store.ListProviders(r.Context())
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, pr := range providers {
			names[pr.ID] = pr.Name
		}
		linked := map[string]bool{}
		for _, id := range ids {
			name := names[id.ProviderID]
			if name == "" {
				name = id.ProviderID
			}
			linked[id.ProviderID] = true
			p.Identities = append(p.Identities, identityView{Provider: id.ProviderID, ProviderName: name, Subject: id.Subject, Email: id.Email})
		}
		for _, pr := range providers {
			if !linked[pr.ID] {
				p.Providers = append(p.Providers, newProviderButton(pr))
			}
		}
	}
	if h.Orgs != nil {
		ms, err := h.Orgs.Store.MembershipsOf(r.Context(), p.User.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			o, err := h.Orgs.Store.OrganizationByID(r.Context(), m.OrgID)
			if err != nil {
				return err
			}
			opt := OrgOption{ID: o.ID, Name: o.Name}
			if m.Holds(orgs.Admin) && o.Status == orgs.StatusActive {
				opt.Manage = "/org/" + url.PathEscape(o.ID)
			}
			p.Orgs = append(p.Orgs, opt)
		}
	}
	doneMessage(r, p)
	return nil
}

// accountDone are the account page's messages after a change (?done=…):
// a notice, or an alert for what did not happen.
var accountDone = map[string]struct {
	message string
	alert   bool
}{
	"org_handed_over":    {"org.done.handed_over", false},
	"org_joined":         {"account.done.org_joined", false},
	"org_left":           {"account.done.org_left", false},
	"sessions_ended":     {"account.done.sessions_ended", false},
	"org_last_admin":     {"account.done.org_last_admin", true},
	"org_join_requested": {"account.done.org_join_requested", false},
	"profile_saved":      {"account.done.profile_saved", false},
	"profile_confirmed":  {"account.done.profile_confirmed", false},
	"email_changed":      {"account.done.email_changed", false},
	"password_changed":   {"account.done.password_changed", false},
	"identity_linked":    {"upstream.linked", false},
	"identity_taken":     {"upstream.taken", true},
	"identity_unlinked":  {"upstream.unlinked", false},
	"identity_last":      {"upstream.last_method", true},
	"totp_removed":       {"totp.removed", false},
	"passkey_added":      {"passkey.added", false},
	"passkey_removed":    {"passkey.removed", false},
	"deletion_cancelled": {"account.done.deletion_cancelled", false},
	"consent_given":      {"privacy.done.given", false},
	"consent_withdrawn":  {"privacy.done.withdrawn", false},
	"consent_changed":    {"privacy.done.changed", true},
	"consent_required":   {"privacy.done.required", true},
}
