package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/flows"
)

func (h *Handler) showRegistration(w http.ResponseWriter, r *http.Request) {
	f, ok := h.flowFor(w, r, flows.Registration, "/registration")
	if !ok {
		return
	}
	p := h.newPage(w, r, f, "")
	p.Form["email"], p.Form["given_name"], p.Form["family_name"] = f.Email, f.GivenName, f.FamilyName
	h.renderRegistration(w, r, p, http.StatusOK)
}

func (h *Handler) renderRegistration(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Title = p.T("registration.title")
	p.Action = "/registration?flow=" + p.Flow.ID
	p.Extra["login_url"] = "/login?" + returnQuery(p.Flow)
	p.Extra["min_length"] = strconv.Itoa(h.MinPasswordLength)
	h.consentFields(p, h.Consents.ForRegistration())
	for _, f := range h.RegistrationFields {
		p.Extra["require_"+f] = "1"
	}
	h.providerButtons(r.Context(), p)
	h.render(w, r, status, "registration", p)
}

func (h *Handler) submitRegistration(w http.ResponseWriter, r *http.Request) {
	f, ok := h.postedFlow(w, r, flows.Registration, "/registration")
	if !ok {
		return
	}
	ctx := r.Context()
	in := accounts.Registration{
		Email:      r.PostFormValue("email"),
		Password:   r.PostFormValue("password"),
		GivenName:  r.PostFormValue("given_name"),
		FamilyName: r.PostFormValue("family_name"),
		Phone:      r.PostFormValue("phone"),
	}
	p := h.newPage(w, r, f, "")
	in.Locale = p.Lang
	p.Form["email"], p.Form["given_name"], p.Form["family_name"], p.Form["phone"] = in.Email, in.GivenName, in.FamilyName, in.Phone
	for _, field := range h.RegistrationFields {
		if strings.TrimSpace(p.Form[field]) == "" {
			p.Errors[field] = p.T("field." + field + ".required")
		}
	}
	receipts, err := h.registrationConsents(r, p, consents.Via{Channel: consents.ChannelRegistration})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.Consents = receipts
	checks := []check{{h.Limits.Register, ipKey(r)}}
	if wait := h.wait(ctx, checks...); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	if in.Password == "" {
		p.Errors["password"] = p.T("field.password.required")
	}
	if p.HasErrors() {
		// Nothing is registered; the other fields' problems are shown too.
		trial := accounts.User{Email: in.Email, GivenName: in.GivenName, FamilyName: in.FamilyName, Phone: strings.ReplaceAll(in.Phone, " ", "")}
		h.fieldErrors(p, trial.Validate())
		p.Alert = p.T("form.has_errors")
		h.renderRegistration(w, r, p, http.StatusBadRequest)
		return
	}
	res, err := h.Accounts.Register(ctx, in)
	if err != nil || p.HasErrors() {
		if err == nil || h.fieldErrors(p, err) {
			p.Alert = p.T("form.has_errors")
			h.renderRegistration(w, r, p, http.StatusBadRequest)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.count(ctx, checks...)
	h.Wake()
	// The same next step whether the address was new or taken.
	if _, err := h.Flows.Update(ctx, flows.Registration, f.ID, func(f flows.Flow) (flows.Flow, error) {
		f.State, f.Email = flows.StateDone, in.Email
		return f, nil
	}); err != nil && !errors.Is(err, flows.ErrExpired) {
		h.fail(w, r, err)
		return
	}
	v, err := h.Flows.Start(ctx, flows.Verification, flows.Flow{
		ReturnTo: f.ReturnTo, UILocales: f.UILocales, Email: in.Email, UserID: res.User.ID, SignInOnVerify: !res.Existing,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/verification?"+url.Values{"flow": {v.ID}}.Encode(), http.StatusSeeOther)
}
