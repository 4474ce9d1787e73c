package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/orgs"
)

// Delegated administration: a member who holds the organization admin role
// (orgs.Admin) manages their own organization on /org/{id}: its people,
// the roles they hold (only delegable roles the admin holds too), removing
// leavers (their tokens for it are revoked at once), and handing the admin
// role over. Every route answers 404 to anyone else — a member who is not
// an admin, an admin of another organization, or for an organization that
// does not exist — so nothing tells them apart.

// EventTimes tells when something last happened to someone (their last
// sign-in, for the organization page).
type EventTimes interface {
	LastEventAt(ctx context.Context, subject, typ string) (time.Time, error)
}

// orgMember is a member as the organization page shows them.
type orgMember struct {
	UserID string
	Email  string
	Name   string
	Since  string
	// LastSignIn is the date of their last sign-in, "" if unknown.
	LastSignIn string
	Admin      bool
	Self       bool
	// Roles are the roles the admin may give or take, with whether the
	// member holds them; Others are the ones they hold that the admin
	// cannot change.
	Roles  []orgRoleChoice
	Others []string

	// ProfileConfirmed is the date they last confirmed their profile, ""
	// if never; Stale marks a profile that may be out of date.
	ProfileConfirmed string
	Stale            bool
}

// orgRoleChoice is a role the admin may give: app/role, its description,
// and whether the member holds it.
type orgRoleChoice struct {
	Key, Name, Description string
	Held                   bool
}

// orgAdmin returns the organization of the path and the signed-in admin's
// own membership there, or answers (sign-in, or 404) and reports false.
func (h *Handler) orgAdmin(w http.ResponseWriter, r *http.Request) (orgs.Organization, orgs.Membership, accounts.User, bool) {
	if h.Orgs == nil {
		http.NotFound(w, r)
		return orgs.Organization{}, orgs.Membership{}, accounts.User{}, false
	}
	u, ok := h.signedIn(w, r)
	if !ok {
		return orgs.Organization{}, orgs.Membership{}, u, false
	}
	ctx := r.Context()
	o, err := h.Orgs.Store.OrganizationByID(ctx, r.PathValue("org"))
	var m orgs.Membership
	if err == nil {
		m, err = h.Orgs.Store.Membership(ctx, o.ID, u.ID)
	}
	switch {
	case err != nil && !errors.Is(err, orgs.ErrNotFound):
		h.fail(w, r, err)
	case err != nil || !m.Holds(orgs.Admin) || o.Status != orgs.StatusActive:
		h.notFound(w, r, u)
	default:
		return o, m, u, true
	}
	return o, m, u, false
}

// notFound is the page for what does not exist, or is not the person's.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, u accounts.User) {
	p := h.newPage(w, r, flows.Flow{}, u.Locale)
	h.message(w, r, p, http.StatusNotFound, "error.not_found.title", "error.not_found.text", "/account", "common.back_to_account")
}

// delegable are the roles admin may give and take in the organization:
// delegable roles they hold themselves.
func (h *Handler) delegable(r *http.Request, admin orgs.Membership) ([]orgs.Role, error) {
	all, err := h.Orgs.Store.Roles(r.Context(), "")
	if err != nil {
		return nil, err
	}
	var out []orgs.Role
	for _, role := range all {
		if role.Delegable && admin.Holds(orgs.Grant{App: role.App, Role: role.Name}) {
			out = append(out, role)
		}
	}
	return out, nil
}

func (h *Handler) showOrg(w http.ResponseWriter, r *http.Request) {
	o, admin, u, ok := h.orgAdmin(w, r)
	if !ok {
		return
	}
	p := h.accountPage(w, r, u)
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"roles", "removed", "handed_over", "last_admin", "invited", "resent", "revoked", "invitation_used",
		"join_approved", "join_declined", "join_decided"}, done) {
		p.Notice = p.T("org.done." + done)
	}
	h.renderOrg(w, r, p, o, admin, u, http.StatusOK)
}

// renderOrg shows the organization page: its people and their roles, the
// invite form, the pending invitations and the requests to join.
func (h *Handler) renderOrg(w http.ResponseWriter, r *http.Request, p *page, o orgs.Organization, admin orgs.Membership, u accounts.User, status int) {
	ctx := r.Context()
	roles, err := h.delegable(r, admin)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Title = o.Name
	p.Heading = o.Name
	p.Action = "/org/" + url.PathEscape(o.ID)
	// With ?stale=1 the list shows only the people whose profile may be
	// out of date; the count is of everyone.
	onlyStale := r.URL.Query().Get("stale") == "1"
	total, stale := 0, 0
	for after := ""; ; {
		page, err := h.Orgs.Store.Members(ctx, o.ID, after, 500)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, m := range page {
			mu, err := h.Accounts.Store.UserByID(ctx, m.UserID)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			om := orgMember{UserID: m.UserID, Email: mu.Email, Name: joinName(mu), Since: m.CreatedAt.In(time.UTC).Format("2006-01-02"),
				Admin: m.Holds(orgs.Admin), Self: m.UserID == u.ID, Stale: h.Accounts.ProfileStale(mu)}
			if !mu.ProfileConfirmedAt.IsZero() {
				om.ProfileConfirmed = mu.ProfileConfirmedAt.In(time.UTC).Format("2006-01-02")
			}
			total++
			if om.Stale {
				stale++
			} else if onlyStale {
				continue
			}
			if h.EventTimes != nil {
				last, err := h.EventTimes.LastEventAt(ctx, mu.Subject(), "user.login_succeeded")
				if err != nil {
					h.fail(w, r, err)
					return
				}
				if !last.IsZero() {
					om.LastSignIn = last.In(time.UTC).Format("2006-01-02")
				}
			}
			for _, role := range roles {
				g := orgs.Grant{App: role.App, Role: role.Name}
				om.Roles = append(om.Roles, orgRoleChoice{Key: g.App + "/" + g.Role, Name: role.Name, Description: role.Description, Held: m.Holds(g)})
			}
			for _, g := range m.Roles {
				if g != orgs.Admin && !slices.ContainsFunc(roles, func(r orgs.Role) bool { return r.App == g.App && r.Name == g.Role }) {
					om.Others = append(om.Others, g.App+"/"+g.Role)
				}
			}
			p.Members = append(p.Members, om)
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].UserID
	}
	if h.Accounts.ProfileMaxAge > 0 {
		p.Extra["freshness"] = "1"
		p.Extra["stale_count"] = p.TF("org.stale_count", "Count", stale, "Total", total)
		if onlyStale {
			p.Extra["stale_only"] = "1"
		}
		if stale > 0 || onlyStale {
			p.Extra["stale_filter"] = "1"
		}
	}
	if err := h.invitationExtras(r, p, o, roles); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.joinRequestExtras(r, p, o); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "org", p)
}

func joinName(u accounts.User) string {
	switch {
	case u.GivenName != "" && u.FamilyName != "":
		return u.GivenName + " " + u.FamilyName
	case u.GivenName != "":
		return u.GivenName
	}
	return u.FamilyName
}

// orgTarget is a posted change by an admin to one of their members: the
// organization, the admin's membership and the member's.
func (h *Handler) orgTarget(w http.ResponseWriter, r *http.Request) (orgs.Organization, orgs.Membership, orgs.Membership, accounts.User, bool) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return orgs.Organization{}, orgs.Membership{}, orgs.Membership{}, accounts.User{}, false
	}
	o, admin, u, ok := h.orgAdmin(w, r)
	if !ok {
		return o, admin, orgs.Membership{}, u, false
	}
	m, err := h.Orgs.Store.Membership(r.Context(), o.ID, r.PathValue("user"))
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		h.notFound(w, r, u)
		return o, admin, m, u, false
	case err != nil:
		h.fail(w, r, err)
		return o, admin, m, u, false
	}
	return o, admin, m, u, true
}

// submitOrgRoles gives a member exactly the delegable roles ticked, among
// those the admin may give; the roles the admin cannot give stay as they
// are.
func (h *Handler) submitOrgRoles(w http.ResponseWriter, r *http.Request) {
	o, admin, m, u, ok := h.orgTarget(w, r)
	if !ok {
		return
	}
	roles, err := h.delegable(r, admin)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ticked := r.PostForm["role"]
	var next []orgs.Grant
	for _, g := range m.Roles {
		if !slices.ContainsFunc(roles, func(r orgs.Role) bool { return r.App == g.App && r.Name == g.Role }) {
			next = append(next, g) // not the admin's to change
		}
	}
	for _, role := range roles {
		if slices.Contains(ticked, role.App+"/"+role.Name) {
			next = append(next, orgs.Grant{App: role.App, Role: role.Name})
		}
	}
	if _, err := h.Orgs.AddMember(r.Context(), o.ID, m.UserID, next, "user:"+u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done=roles", http.StatusSeeOther)
}

// submitOrgRemove takes a member out of the organization; their tokens for
// it stop working at once. An admin cannot remove the last admin.
func (h *Handler) submitOrgRemove(w http.ResponseWriter, r *http.Request) {
	o, _, m, u, ok := h.orgTarget(w, r)
	if !ok {
		return
	}
	if m.Holds(orgs.Admin) {
		if last, err := h.lastAdmin(r, o.ID); err != nil {
			h.fail(w, r, err)
			return
		} else if last {
			http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done=last_admin", http.StatusSeeOther)
			return
		}
	}
	if err := h.Orgs.RemoveMember(r.Context(), o.ID, m.UserID, "user:"+u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	if m.UserID == u.ID {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done=removed", http.StatusSeeOther)
}

// lastAdmin reports whether the organization has one admin only.
func (h *Handler) lastAdmin(r *http.Request, orgID string) (bool, error) {
	n := 0
	for after := ""; ; {
		page, err := h.Orgs.Store.Members(r.Context(), orgID, after, 500)
		if err != nil {
			return false, err
		}
		for _, m := range page {
			if m.Holds(orgs.Admin) {
				n++
			}
		}
		if len(page) < 500 {
			return n <= 1, nil
		}
		after = page[len(page)-1].UserID
	}
}

// submitOrgHandOver gives the admin role to a member and takes it from the
// admin who hands it over.
func (h *Handler) submitOrgHandOver(w http.ResponseWriter, r *http.Request) {
	o, admin, m, u, ok := h.orgTarget(w, r)
	if !ok {
		return
	}
	if m.UserID == u.ID {
		http.Redirect(w, r, "/org/"+url.PathEscape(o.ID), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	if !m.Holds(orgs.Admin) {
		if _, err := h.Orgs.AddMember(ctx, o.ID, m.UserID, append(slices.Clone(m.Roles), orgs.Admin), "user:"+u.ID); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	mine := slices.DeleteFunc(slices.Clone(admin.Roles), func(g orgs.Grant) bool { return g == orgs.Admin })
	if _, err := h.Orgs.AddMember(ctx, o.ID, u.ID, mine, "user:"+u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=org_handed_over", http.StatusSeeOther)
}

// orgInvitation is a pending invitation as the organization page shows it.
type orgInvitation struct {
	ID, Email, Roles, Expires string
}

// inviteApp is an application the invite form offers to land in.
type inviteApp struct {
	ID, Name string
	Selected bool
}

// invitationExtras adds the invite form and the pending invitations to
// the organization page.
func (h *Handler) invitationExtras(r *http.Request, p *page, o orgs.Organization, roles []orgs.Role) error {
	if h.Invitations == nil {
		return nil
	}
	p.Extra["invite"] = "1"
	for _, role := range roles {
		p.InviteRoles = append(p.InviteRoles, orgRoleChoice{Key: role.App + "/" + role.Name, Name: role.Name, Description: role.Description,
			Held: slices.Contains(r.PostForm["role"], role.App+"/"+role.Name)})
	}
	if h.Apps != nil {
		apps, err := h.Apps.LaunchableApps(r.Context())
		if err != nil {
			return err
		}
		for _, a := range apps {
			p.InviteApps = append(p.InviteApps, inviteApp{ID: a.ID, Name: a.Name, Selected: r.PostFormValue("client_id") == a.ID})
		}
	}
	pending, err := h.Invitations.Store.Invitations(r.Context(), o.ID, orgs.InvitationPending)
	if err != nil {
		return err
	}
	for _, inv := range pending {
		var names []string
		for _, g := range inv.Roles {
			names = append(names, g.Role)
		}
		p.Invitations = append(p.Invitations, orgInvitation{ID: inv.ID, Email: inv.Email, Roles: strings.Join(names, ", "),
			Expires: inv.ExpiresAt.In(time.UTC).Format("2006-01-02")})
	}
	return nil
}

// submitOrgInvite invites someone to the organization with delegable
// roles the admin holds.
func (h *Handler) submitOrgInvite(w http.ResponseWriter, r *http.Request) {
	o, admin, u, ok := h.postedInvitations(w, r)
	if !ok {
		return
	}
	roles, err := h.delegable(r, admin)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	inv := orgs.Invitation{OrgID: o.ID, Email: r.PostFormValue("email"), GivenName: strings.TrimSpace(r.PostFormValue("given_name")),
		FamilyName: strings.TrimSpace(r.PostFormValue("family_name")), Phone: strings.ReplaceAll(r.PostFormValue("phone"), " ", ""),
		Locale: r.PostFormValue("locale"), ClientID: r.PostFormValue("client_id")}
	for _, role := range roles {
		if slices.Contains(r.PostForm["role"], role.App+"/"+role.Name) {
			inv.Roles = append(inv.Roles, orgs.Grant{App: role.App, Role: role.Name})
		}
	}
	p := h.accountPage(w, r, u)
	trial := accounts.User{Email: inv.Email, GivenName: inv.GivenName, FamilyName: inv.FamilyName, Phone: inv.Phone}
	if err := trial.Validate(); err != nil {
		h.fieldErrors(p, err)
	}
	if _, ok := h.Catalog.Supported(inv.Locale); !ok {
		inv.Locale = p.Lang
	}
	if !p.HasErrors() {
		if _, err := h.Invitations.Invite(r.Context(), inv, "user:"+u.ID); err != nil {
			var fe orgs.FieldError
			if !errors.As(err, &fe) {
				h.fail(w, r, err)
				return
			}
			if fe.Field == "client_id" {
				p.Errors["client_id"] = p.T("org.invite.app.invalid")
			} else {
				p.Errors["email"] = p.T("field.email.invalid")
			}
		}
	}
	if p.HasErrors() {
		p.Form["email"], p.Form["given_name"], p.Form["family_name"], p.Form["phone"] = inv.Email, inv.GivenName, inv.FamilyName, inv.Phone
		p.Alert = p.T("form.has_errors")
		h.renderOrg(w, r, p, o, admin, u, http.StatusBadRequest)
		return
	}
	h.Wake()
	http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done=invited", http.StatusSeeOther)
}

// submitOrgInvitation resends or revokes one of the organization's pending
// invitations.
func (h *Handler) submitOrgInvitation(w http.ResponseWriter, r *http.Request) {
	o, _, u, ok := h.postedInvitations(w, r)
	if !ok {
		return
	}
	id, done := r.PathValue("invitation"), "resent"
	var err error
	switch action := r.PathValue("action"); {
	case action != "revoke" && action != "resend":
		h.notFound(w, r, u)
		return
	case action == "revoke":
		err, done = h.Invitations.Revoke(r.Context(), o.ID, id, "user:"+u.ID), "revoked"
	default:
		_, err = h.Invitations.Resend(r.Context(), o.ID, id, "user:"+u.ID)
	}
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		h.notFound(w, r, u)
		return
	case errors.Is(err, orgs.ErrInvitationUsed):
		done = "invitation_used"
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.Wake()
	http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done="+done, http.StatusSeeOther)
}

// postedInvitations is a posted change to the invitations of the admin's
// organization: the form token checked, the admin found.
func (h *Handler) postedInvitations(w http.ResponseWriter, r *http.Request) (orgs.Organization, orgs.Membership, accounts.User, bool) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return orgs.Organization{}, orgs.Membership{}, accounts.User{}, false
	}
	o, admin, u, ok := h.orgAdmin(w, r)
	if ok && h.Invitations == nil {
		h.notFound(w, r, u)
		return o, admin, u, false
	}
	return o, admin, u, ok
}
