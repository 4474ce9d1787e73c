package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/orgs"
)

// Invitations: the link in an invitation mail (/invitation?token=…) opens
// a registration form pre-filled with what the invitation says — the
// address fixed, since the link proves it; names and phone editable unless
// the invitation locked them (then they are owned by the CRM for the new
// account: accounts.Owners.Of) — or,
// for an address that has an account, asks its owner to sign in and join.
// Either way the person lands in the organization with the invited roles
// and goes on where the invitation says. A link that is unknown, used,
// revoked or expired gives a friendly page and creates nothing.

// openInvitation returns the invitation of the request's token and its
// organization, or answers with the "no longer valid" page.
func (h *Handler) openInvitation(w http.ResponseWriter, r *http.Request, token string) (orgs.Invitation, orgs.Organization, bool) {
	if h.Invitations == nil {
		http.NotFound(w, r)
		return orgs.Invitation{}, orgs.Organization{}, false
	}
	ctx := r.Context()
	inv, err := h.Invitations.Open(ctx, token)
	var o orgs.Organization
	if err == nil {
		o, err = h.Invitations.Store.OrganizationByID(ctx, inv.OrgID)
	}
	switch {
	case errors.Is(err, orgs.ErrNotFound) || errors.Is(err, orgs.ErrInvitationUsed):
		p := h.newPage(w, r, flows.Flow{}, inv.Locale)
		h.message(w, r, p, http.StatusGone, "invitation.invalid.title", "invitation.invalid.text", "/login", "common.back_to_login")
		return inv, o, false
	case err != nil:
		h.fail(w, r, err)
		return inv, o, false
	}
	return inv, o, true
}

func (h *Handler) showInvitation(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	inv, o, ok := h.openInvitation(w, r, token)
	if !ok {
		return
	}
	ctx := r.Context()
	p := h.invitationPage(w, r, inv, o, token)
	existing, err := h.Accounts.Store.UserByEmail(ctx, inv.Email)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		p.Form["given_name"], p.Form["family_name"], p.Form["phone"] = inv.GivenName, inv.FamilyName, inv.Phone
		h.renderInvitationForm(w, r, p, http.StatusOK)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	// The address has an account: its owner signs in and joins.
	s, signedIn, err := h.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Action = "/invitation/accept"
	if signedIn && s.UserID == existing.ID {
		p.Text = p.TF("invitation.join_text", "Organization", o.Name)
		p.Extra["join"] = "1"
	} else {
		p.Text = p.TF("invitation.sign_in_text", "Email", inv.Email)
		p.LinkURL = "/login?" + url.Values{"return_to": {"/invitation?token=" + url.QueryEscape(token)}}.Encode()
		p.LinkText = p.T("invitation.sign_in")
	}
	h.render(w, r, http.StatusOK, "invitation", p)
}

// invitationPage is the page of an invitation to organization o.
func (h *Handler) invitationPage(w http.ResponseWriter, r *http.Request, inv orgs.Invitation, o orgs.Organization, token string) *page {
	p := h.newPage(w, r, flows.Flow{}, inv.Locale)
	p.Title = p.TF("invitation.title", "Organization", o.Name)
	p.Heading = p.Title
	p.Extra["email"], p.Extra["token"] = inv.Email, token
	for _, f := range inv.LockedFields {
		p.Extra["locked_"+f] = "1"
	}
	return p
}

func (h *Handler) renderInvitationForm(w http.ResponseWriter, r *http.Request, p *page, status int) {
	p.Action = "/invitation/register"
	p.Text = p.TF("invitation.register_text", "Email", p.Extra["email"])
	p.Extra["register"] = "1"
	p.Extra["min_length"] = strconv.Itoa(h.MinPasswordLength)
	h.consentFields(p, h.Consents.ForRegistration())
	for _, f := range h.RegistrationFields {
		p.Extra["require_"+f] = "1"
	}
	h.render(w, r, status, "invitation", p)
}

// submitInvitationRegistration makes the invited person's account, with
// the address of the invitation, and lets them in.
func (h *Handler) submitInvitationRegistration(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	token := r.PostFormValue("token")
	inv, o, ok := h.openInvitation(w, r, token)
	if !ok {
		return
	}
	ctx := r.Context()
	p := h.invitationPage(w, r, inv, o, token)
	in := accounts.Registration{Email: inv.Email, Password: r.PostFormValue("password"), GivenName: r.PostFormValue("given_name"),
		FamilyName: r.PostFormValue("family_name"), Phone: r.PostFormValue("phone"), Locale: p.Lang}
	// Locked fields keep the invitation's values, whatever is posted.
	for _, f := range inv.LockedFields {
		switch f {
		case "given_name":
			in.GivenName = inv.GivenName
		case "family_name":
			in.FamilyName = inv.FamilyName
		case "phone":
			in.Phone = inv.Phone
		}
	}
	in.LockedFields = inv.LockedFields
	p.Form["given_name"], p.Form["family_name"], p.Form["phone"] = in.GivenName, in.FamilyName, in.Phone
	for _, field := range h.RegistrationFields {
		if strings.TrimSpace(p.Form[field]) == "" {
			p.Errors[field] = p.T("field." + field + ".required")
		}
	}
	if in.Password == "" {
		p.Errors["password"] = p.T("field.password.required")
	}
	receipts, err := h.registrationConsents(r, p, consents.Via{Channel: consents.ChannelInvitation})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.Consents = receipts
	if wait := h.wait(ctx, check{h.Limits.Register, ipKey(r)}); wait > 0 {
		h.throttled(w, r, p, wait)
		return
	}
	var u accounts.User
	if !p.HasErrors() {
		u, err = h.Accounts.RegisterInvited(ctx, in, inv.ID)
	}
	switch {
	case errors.Is(err, accounts.ErrConflict):
		// Registered a moment ago: the owner signs in and joins.
		http.Redirect(w, r, "/invitation?token="+url.QueryEscape(token), http.StatusSeeOther)
		return
	case err != nil && !h.fieldErrors(p, err):
		h.fail(w, r, err)
		return
	case err != nil || p.HasErrors():
		p.Alert = p.T("form.has_errors")
		h.renderInvitationForm(w, r, p, http.StatusBadRequest)
		return
	}
	h.count(ctx, check{h.Limits.Register, ipKey(r)})
	h.joinAndGo(w, r, token, u.ID, []string{authn.MethodPassword}, "invitation")
}

// submitInvitationAccept lets the signed-in owner of the invited address
// join.
func (h *Handler) submitInvitationAccept(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	token := r.PostFormValue("token")
	inv, _, ok := h.openInvitation(w, r, token)
	if !ok {
		return
	}
	u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	if norm, err := accounts.NormalizeEmail(u.Email); err != nil || norm != inv.Email {
		// Someone else's invitation: sign in as its addressee.
		http.Redirect(w, r, "/invitation?token="+url.QueryEscape(token), http.StatusSeeOther)
		return
	}
	if _, err := h.Invitations.Accept(r.Context(), token, u.ID); err != nil {
		h.invitationFailed(w, r, inv, err)
		return
	}
	h.Wake()
	http.Redirect(w, r, invitationNext(inv), http.StatusSeeOther)
}

// joinAndGo accepts the invitation for the new account and signs it in.
func (h *Handler) joinAndGo(w http.ResponseWriter, r *http.Request, token, userID string, methods []string, how string) {
	ctx := r.Context()
	inv, err := h.Invitations.Accept(ctx, token, userID)
	if err != nil {
		h.invitationFailed(w, r, inv, err)
		return
	}
	h.Wake()
	f, err := h.Flows.Start(ctx, flows.Login, flows.Flow{ReturnTo: invitationNext(inv), UILocales: inv.Locale})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.firstFactorDone(w, r, f, userID, methods, how)
}

func (h *Handler) invitationFailed(w http.ResponseWriter, r *http.Request, inv orgs.Invitation, err error) {
	if errors.Is(err, orgs.ErrInvitationUsed) || errors.Is(err, orgs.ErrNotFound) {
		p := h.newPage(w, r, flows.Flow{}, inv.Locale)
		h.message(w, r, p, http.StatusGone, "invitation.invalid.title", "invitation.invalid.text", "/login", "common.back_to_login")
		return
	}
	h.fail(w, r, err)
}

// invitationNext is where an accepted invitation leads: the application
// it names, its path on this server, or the account page.
func invitationNext(inv orgs.Invitation) string {
	if inv.ClientID != "" {
		return "/apps/" + url.PathEscape(inv.ClientID)
	}
	if next := safeReturn(inv.ReturnTo); next != "" {
		return next
	}
	return "/account?done=org_joined"
}
