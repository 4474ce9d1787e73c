package web

import (
	"net/http"

	"github.com/portvakt/portvakt/internal/flows"
)

// OrgChoice is what the organization page shows: the organizations a
// person can sign in to an application for.
type OrgChoice struct {
	ClientName    string
	Email         string
	Organizations []OrgOption
	// Action is where the form posts (path and query on this server); it
	// sends organization=<ID>.
	Action     string
	UILocales  string
	UserLocale string
}

// OrgOption is one organization to pick (or, on the account page, one
// the person belongs to, with Manage the link for its admins).
type OrgOption struct{ ID, Name, Manage string }

// ShowOrganizations asks a person in several organizations which one to
// sign in to the application for.
func (h *Handler) ShowOrganizations(w http.ResponseWriter, r *http.Request, c OrgChoice) {
	p := h.newPage(w, r, flows.Flow{UILocales: truncate(c.UILocales, 64)}, c.UserLocale)
	p.Title = p.T("organizations.title")
	p.Heading = p.T("organizations.title")
	p.Text = p.TF("organizations.text", "Client", c.ClientName)
	if c.Email != "" {
		p.Extra["signed_in_as"] = p.TF("consent.signed_in_as", "Email", c.Email)
	}
	p.Action = c.Action
	p.Orgs = c.Organizations
	h.render(w, r, http.StatusOK, "organizations", p)
}
