package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
)

// Progressive profiling: a registration through an upstream provider
// completes only when the fields the deployment (RegistrationFields) and
// the provider (its required fields) need are known and the required
// purposes (Consents) are accepted; the optional ones are offered on the
// same page. The person is asked only for what the provider did not send;
// the upstream identity waits, sealed, in the sign-in flow.

// missingFields are the required fields c lacks, in a fixed order.
func (h *Handler) missingFields(r *http.Request, c federation.Claims) []string {
	need := slices.Clone(h.RegistrationFields)
	if p, err := h.Federation.Store.ProviderByID(r.Context(), c.Provider); err == nil {
		need = append(need, p.RequiredFields...)
	}
	have := map[string]string{"given_name": c.GivenName, "family_name": c.FamilyName, "phone": c.Phone}
	var out []string
	for _, f := range federation.ProfileFields {
		if slices.Contains(need, f) && strings.TrimSpace(have[f]) == "" {
			out = append(out, f)
		}
	}
	return out
}

// askProfile keeps c in the flow and sends the person to the page that
// asks for what is missing.
func (h *Handler) askProfile(w http.ResponseWriter, r *http.Request, f flows.Flow, c federation.Claims) {
	raw, _ := json.Marshal(c)
	sealed, err := h.Federation.Cipher.Encrypt(raw, []byte("idp-profile:"+f.ID))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.Flows.Update(r.Context(), flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.PendingProfile = base64.RawURLEncoding.EncodeToString(sealed)
		return f, nil
	}); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login/idp/profile?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
}

// pendingProfile returns the flow of the request and its waiting upstream
// identity, or answers with the "start over" page.
func (h *Handler) pendingProfile(w http.ResponseWriter, r *http.Request) (flows.Flow, federation.Claims, bool) {
	var c federation.Claims
	f, err := h.Flows.Get(r.Context(), flows.Login, r.URL.Query().Get("flow"))
	if err == nil && h.Federation != nil && f.PendingProfile != "" && h.bound(r, f) {
		ct, derr := base64.RawURLEncoding.DecodeString(f.PendingProfile)
		raw, derr2 := h.Federation.Cipher.Decrypt(r.Context(), ct, []byte("idp-profile:"+f.ID))
		if derr == nil && derr2 == nil && json.Unmarshal(raw, &c) == nil {
			return f, c, true
		}
	}
	if err != nil && !errors.Is(err, flows.ErrNotFound) && !errors.Is(err, flows.ErrExpired) {
		h.fail(w, r, err)
		return f, c, false
	}
	p := h.newPage(w, r, f, "")
	h.message(w, r, p, http.StatusGone, "error.flow_expired.title", "error.flow_expired.text", "/login?"+returnQuery(f), "common.start_over")
	return f, c, false
}

func (h *Handler) showCompleteProfile(w http.ResponseWriter, r *http.Request) {
	f, c, ok := h.pendingProfile(w, r)
	if !ok {
		return
	}
	p := h.newPage(w, r, f, c.Locale)
	p.Form["given_name"], p.Form["family_name"] = c.GivenName, c.FamilyName
	h.renderCompleteProfile(w, r, p, c, h.missingFields(r, c), http.StatusOK)
}

// renderCompleteProfile shows the profile step asking for the missing
// fields of c.
func (h *Handler) renderCompleteProfile(w http.ResponseWriter, r *http.Request, p *page, c federation.Claims, missing []string, status int) {
	p.Title = p.T("profile.title")
	p.Action = "/login/idp/profile?flow=" + url.QueryEscape(p.Flow.ID)
	p.Extra["email"] = c.Email
	h.consentFields(p, h.Consents.ForRegistration())
	for _, f := range missing {
		p.Extra["ask_"+f] = "1"
	}
	h.render(w, r, status, "complete_profile", p)
}

func (h *Handler) submitCompleteProfile(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	f, c, ok := h.pendingProfile(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	p := h.newPage(w, r, f, c.Locale)
	missing := h.missingFields(r, c)
	for _, field := range missing {
		v := strings.TrimSpace(r.PostFormValue(field))
		p.Form[field] = v
		if v == "" {
			p.Errors[field] = p.T("field." + field + ".required")
		}
		switch field {
		case "given_name":
			c.GivenName = v
		case "family_name":
			c.FamilyName = v
		case "phone":
			c.Phone = strings.ReplaceAll(v, " ", "")
		}
	}
	receipts, err := h.registrationConsents(r, p, consents.Via{Channel: consents.ChannelUpstreamRegistration})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c.Asked = missing
	// The account's own checks (lengths, phone form) before anything is
	// taken out of the flow.
	trial := accounts.User{Email: c.Email, GivenName: c.GivenName, FamilyName: c.FamilyName, Phone: c.Phone}
	if err := trial.Validate(); err != nil {
		h.fieldErrors(p, err)
	}
	if p.HasErrors() {
		p.Alert = p.T("form.has_errors")
		h.renderCompleteProfile(w, r, p, c, missing, http.StatusBadRequest)
		return
	}
	// An answer counts once.
	f, err = h.Flows.Update(ctx, flows.Login, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.PendingProfile = ""
		return f, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.registerUpstream(w, r, f, c, receipts)
}
