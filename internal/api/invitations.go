package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/orgs"
)

// invitationOut is an invitation as the API shows it. Link is there only in
// the answer that created it by link (send_email false): it is not kept.
type invitationOut struct {
	ID             string     `json:"id"`
	OrganizationID string     `json:"organization_id"`
	Email          string     `json:"email"`
	GivenName      string     `json:"given_name"`
	FamilyName     string     `json:"family_name"`
	Phone          string     `json:"phone"`
	Locale         string     `json:"locale"`
	Roles          []string   `json:"roles"`
	LockedFields   []string   `json:"locked_fields"`
	ClientID       string     `json:"client_id"`
	Reference      string     `json:"reference"`
	Delivery       string     `json:"delivery"`
	Status         string     `json:"status"`
	Link           string     `json:"link,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	AcceptedAt     *time.Time `json:"accepted_at,omitempty"`
	AcceptedBy     string     `json:"accepted_by,omitempty"`
}

func invitationView(inv orgs.Invitation) invitationOut {
	roles := []string{}
	for _, g := range inv.Roles {
		roles = append(roles, g.App+"/"+g.Role)
	}
	out := invitationOut{ID: inv.ID, OrganizationID: inv.OrgID, Email: inv.Email, GivenName: inv.GivenName, FamilyName: inv.FamilyName,
		Phone: inv.Phone, Locale: inv.Locale, Roles: roles, LockedFields: append([]string{}, inv.LockedFields...), ClientID: inv.ClientID, Reference: inv.Reference, Delivery: inv.Delivery,
		Status: inv.Status, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, AcceptedBy: inv.AcceptedBy}
	if out.Delivery == "" {
		out.Delivery = orgs.DeliveryEmail
	}
	if !inv.AcceptedAt.IsZero() {
		t := inv.AcceptedAt
		out.AcceptedAt = &t
	}
	return out
}

type invitationIn struct {
	Email      string   `json:"email"`
	GivenName  string   `json:"given_name"`
	FamilyName string   `json:"family_name"`
	Phone      string   `json:"phone"`
	Locale     string   `json:"locale"`
	Roles      []string `json:"roles"`
	// LockedFields are pre-filled fields the person cannot change.
	LockedFields []string `json:"locked_fields"`
	// Organization is its ID, slug or ext:<external ID>.
	Organization string `json:"organization"`
	// CreateOrganization makes the organization when Organization names
	// none.
	CreateOrganization *orgIn `json:"create_organization"`
	ClientID           string `json:"client_id"`
	Reference          string `json:"reference"`
	// SendEmail false hands the link back instead of mailing it.
	SendEmail *bool `json:"send_email"`
}

// createInvitation: POST /api/v1/invitations, the CRM's "Invite" button.
func (h *Handler) createInvitation(w http.ResponseWriter, r *http.Request, c caller) {
	var in invitationIn
	body, done := h.readJSON(w, r, &in)
	if done {
		return
	}
	h.idempotent(w, r, c, body, func(w http.ResponseWriter) {
		ctx := r.Context()
		if in.Organization == "" {
			p := errInvalid
			p.fields = []fieldProblem{{"organization", "required", "is required: the organization's ID, slug or ext:<external ID>"}}
			h.problem(w, r, p)
			return
		}
		o, err := h.Orgs.Find(ctx, in.Organization)
		if err == nil && c.org != "" && o.ID != c.org {
			err = orgs.ErrNotFound
		}
		if c.org != "" && in.CreateOrganization != nil && errors.Is(err, orgs.ErrNotFound) {
			h.problem(w, r, errOrgLimited.with("A client limited to one organization cannot create organizations."))
			return
		}
		switch {
		case errors.Is(err, orgs.ErrNotFound) && in.CreateOrganization != nil:
			o, err = h.Orgs.CreateOrganization(ctx, orgs.Organization{Name: in.CreateOrganization.Name, Slug: in.CreateOrganization.Slug,
				ExternalID: in.CreateOrganization.ExternalID, Domains: in.CreateOrganization.Domains, Metadata: in.CreateOrganization.Metadata}, c.actor())
			if err != nil {
				h.invalid(w, r, prefixFields(err, "create_organization."), "Another organization has this slug, external ID or domain.")
				return
			}
			if !h.setExternalIDs(w, r, c, externalids.Organization, o.ID, in.CreateOrganization.ExternalIDs) {
				return
			}
		case errors.Is(err, orgs.ErrNotFound):
			h.problem(w, r, errNotFound.with("There is no organization with this ID, slug or external ID; send create_organization to make it."))
			return
		case err != nil:
			h.fail(w, r, err)
			return
		}
		roles, err := orgs.ParseGrants("", in.Roles)
		if err != nil {
			h.invalid(w, r, err, "")
			return
		}
		inv := orgs.Invitation{OrgID: o.ID, Email: in.Email, GivenName: strings.TrimSpace(in.GivenName), FamilyName: strings.TrimSpace(in.FamilyName),
			Phone: strings.ReplaceAll(in.Phone, " ", ""), Locale: in.Locale, Roles: roles, LockedFields: in.LockedFields, ClientID: in.ClientID, Reference: in.Reference}
		// The link is in the answer either way: mailed too (the default),
		// or for the caller to send itself (send_email false).
		mail := in.SendEmail == nil || *in.SendEmail
		inv, token, err := h.Invitations.InviteWithLink(ctx, inv, mail, c.actor())
		if err != nil {
			h.invalid(w, r, err, "")
			return
		}
		h.wake()
		out := invitationView(inv)
		if token != "" {
			link := *h.Issuer
			link.Path = strings.TrimSuffix(link.Path, "/") + "/invitation"
			link.RawQuery = url.Values{"token": {token}}.Encode()
			out.Link = link.String()
		}
		w.Header().Set("Location", "/api/v1/invitations/"+inv.ID)
		writeJSON(w, http.StatusCreated, out)
	})
}

// prefixFields names the fields of an organization's validation errors as
// those of the nested object.
func prefixFields(err error, prefix string) error {
	var out []error
	for _, e := range unjoin(err) {
		var fe orgs.FieldError
		if errors.As(e, &fe) {
			fe.Field = prefix + fe.Field
			e = fe
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func (h *Handler) invitation(w http.ResponseWriter, r *http.Request, c caller) (orgs.Invitation, bool) {
	inv, err := h.Invitations.Store.InvitationByID(r.Context(), r.PathValue("id"))
	if err == nil && c.org != "" && inv.OrgID != c.org {
		err = orgs.ErrNotFound
	}
	return inv, h.found(w, r, err, orgs.ErrNotFound, "There is no invitation with this ID.")
}

func (h *Handler) getInvitation(w http.ResponseWriter, r *http.Request, c caller) {
	inv, ok := h.invitation(w, r, c)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, invitationView(inv))
}

// revokeInvitation: POST /api/v1/invitations/{id}/revoke; the link stops
// working.
func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request, c caller) {
	inv, ok := h.invitation(w, r, c)
	if !ok {
		return
	}
	err := h.Invitations.Revoke(r.Context(), inv.OrgID, inv.ID, c.actor())
	switch {
	case errors.Is(err, orgs.ErrInvitationUsed):
		h.problem(w, r, errInvitationUsed)
		return
	case err != nil:
		h.invalid(w, r, err, "")
		return
	}
	inv, ok = h.invitation(w, r, c)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, invitationView(inv))
}
