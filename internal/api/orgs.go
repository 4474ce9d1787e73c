package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/orgs"
)

// orgOut is an organization as the API shows it.
type orgOut struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Slug       string          `json:"slug"`
	ExternalID string          `json:"external_id"`
	Domains    []string        `json:"domains"`
	Metadata   json.RawMessage `json:"metadata"`
	Status     string          `json:"status"`
	// ExternalIDs are the IDs of further source systems: source → ID.
	ExternalIDs map[string]string `json:"external_ids"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func orgView(o orgs.Organization) orgOut {
	d := o.Domains
	if d == nil {
		d = []string{}
	}
	meta := o.Metadata
	if len(meta) == 0 {
		meta = json.RawMessage(`{}`)
	}
	return orgOut{ID: o.ID, Name: o.Name, Slug: o.Slug, ExternalID: o.ExternalID, Domains: d, Metadata: meta,
		Status: string(o.Status), ExternalIDs: map[string]string{}, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

// orgsOut are the organizations as the API shows them, with their
// external IDs.
func (h *Handler) orgsOut(r *http.Request, list ...orgs.Organization) ([]orgOut, error) {
	out := make([]orgOut, 0, len(list))
	for _, o := range list {
		out = append(out, orgView(o))
	}
	err := h.withExternalIDs(r, externalids.Organization, len(out), func(i int) string { return out[i].ID },
		func(i int, m map[string]string) { out[i].ExternalIDs = m })
	return out, err
}

// writeOrg answers with o and its external IDs.
func (h *Handler) writeOrg(w http.ResponseWriter, r *http.Request, status int, o orgs.Organization) {
	out, err := h.orgsOut(r, o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(o.Version()))
	writeJSON(w, status, out[0])
}

// listOrgs: GET /api/v1/organizations?external_id=&limit=&cursor=, in slug
// order.
func (h *Handler) listOrgs(w http.ResponseWriter, r *http.Request, c caller) {
	after, limit, ok := h.pageParams(w, r)
	if !ok {
		return
	}
	if c.org != "" {
		// Its own, if it is on the page and fits the filter.
		out := []orgOut{}
		o, err := h.Orgs.Store.OrganizationByID(r.Context(), c.org)
		if err != nil && !errors.Is(err, orgs.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
		ext := r.URL.Query().Get("external_id")
		if err == nil && o.Slug > after && (ext == "" || ext == o.ExternalID) && r.URL.Query().Get("external_source") == "" {
			if out, err = h.orgsOut(r, o); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, page[orgOut]{Items: out})
		return
	}
	if src := r.URL.Query().Get("external_source"); src != "" {
		out := []orgOut{}
		if v := r.URL.Query().Get("external_id"); v != "" && h.ExternalIDs != nil {
			id, err := h.ExternalIDs.Store.FindExternal(r.Context(), externalids.Organization, src, v)
			if err != nil && !errors.Is(err, externalids.ErrNotFound) {
				h.fail(w, r, err)
				return
			}
			if err == nil {
				o, err := h.Orgs.Store.OrganizationByID(r.Context(), id)
				if err != nil && !errors.Is(err, orgs.ErrNotFound) {
					h.fail(w, r, err)
					return
				}
				if err == nil {
					if out, err = h.orgsOut(r, o); err != nil {
						h.fail(w, r, err)
						return
					}
				}
			}
		}
		writeJSON(w, http.StatusOK, page[orgOut]{Items: out})
		return
	}
	if ext := r.URL.Query().Get("external_id"); ext != "" {
		out := []orgOut{}
		o, err := h.Orgs.Store.OrganizationByExternalID(r.Context(), ext)
		switch {
		case err == nil:
			if out, err = h.orgsOut(r, o); err != nil {
				h.fail(w, r, err)
				return
			}
		case !errors.Is(err, orgs.ErrNotFound):
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, page[orgOut]{Items: out})
		return
	}
	list, err := h.Orgs.Store.ListOrganizations(r.Context(), after, limit+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.orgsOut(r, list...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageOf(out, limit, func(o orgOut) string { return o.Slug }))
}

type orgIn struct {
	Name       string          `json:"name"`
	Slug       string          `json:"slug"`
	ExternalID string          `json:"external_id"`
	Domains    []string        `json:"domains"`
	Metadata   json.RawMessage `json:"metadata"`
	// ExternalIDs are IDs of further source systems: source → ID.
	ExternalIDs map[string]*string `json:"external_ids"`
}

func (h *Handler) createOrg(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		h.problem(w, r, errOrgLimited)
		return
	}
	var in orgIn
	body, done := h.readJSON(w, r, &in)
	if done {
		return
	}
	h.idempotent(w, r, c, body, func(w http.ResponseWriter) {
		o, err := h.Orgs.CreateOrganization(r.Context(), orgs.Organization{Name: in.Name, Slug: in.Slug, ExternalID: in.ExternalID,
			Domains: in.Domains, Metadata: in.Metadata}, c.actor())
		if err != nil {
			h.invalid(w, r, err, "Another organization has this slug, external ID or domain.")
			return
		}
		if !h.setExternalIDs(w, r, c, externalids.Organization, o.ID, in.ExternalIDs) {
			return
		}
		w.Header().Set("Location", "/api/v1/organizations/"+o.ID)
		h.writeOrg(w, r, http.StatusCreated, o)
	})
}

// org reads the organization the path names (ID, slug or ext:<external
// ID>), or answers 404: also for another organization than the one the
// caller is limited to, so that it learns nothing of the others.
func (h *Handler) org(w http.ResponseWriter, r *http.Request, c caller) (orgs.Organization, bool) {
	o, err := h.Orgs.Find(r.Context(), r.PathValue("org"))
	if err == nil && c.org != "" && o.ID != c.org {
		err = orgs.ErrNotFound
	}
	return o, h.found(w, r, err, orgs.ErrNotFound, "There is no organization with this ID, slug or external ID.")
}

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request, c caller) {
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	h.writeOrg(w, r, http.StatusOK, o)
}

type orgPatch struct {
	Name       *string         `json:"name"`
	Slug       *string         `json:"slug"`
	ExternalID *string         `json:"external_id"`
	Domains    *[]string       `json:"domains"`
	Metadata   json.RawMessage `json:"metadata"`
	Status     *orgs.Status    `json:"status"`
	// ExternalIDs change IDs of further source systems; null removes one.
	ExternalIDs map[string]*string `json:"external_ids"`
}

func (h *Handler) patchOrg(w http.ResponseWriter, r *http.Request, c caller) {
	version, ok := h.ifMatch(w, r)
	if !ok {
		return
	}
	var in orgPatch
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	if in.Domains != nil && *in.Domains == nil {
		*in.Domains = []string{}
	}
	if version != "" && version != o.Version() {
		h.problem(w, r, errStale)
		return
	}
	if !h.setExternalIDs(w, r, c, externalids.Organization, o.ID, in.ExternalIDs) {
		return
	}
	o, err := h.Orgs.UpdateOrganization(r.Context(), o.ID, orgs.Change{Name: in.Name, Slug: in.Slug, ExternalID: in.ExternalID,
		Domains: in.Domains, Metadata: in.Metadata, Status: in.Status, IfVersion: version}, c.actor())
	if err != nil {
		h.invalid(w, r, err, "Another organization has this slug, external ID or domain.")
		return
	}
	h.writeOrg(w, r, http.StatusOK, o)
}

func (h *Handler) deleteOrg(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		h.problem(w, r, errOrgLimited)
		return
	}
	version, ok := h.ifMatch(w, r)
	if !ok {
		return
	}
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	if version != "" && version != o.Version() {
		h.problem(w, r, errStale)
		return
	}
	if err := h.Orgs.DeleteOrganization(r.Context(), o.ID, c.actor()); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// memberOut is a membership as the API shows it.
type memberOut struct {
	OrganizationID string    `json:"organization_id"`
	UserID         string    `json:"user_id"`
	Roles          []string  `json:"roles"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// How up to date the member's profile is, for the organization's
	// people to be kept right.
	freshnessOut
}

// memberView is the membership m of the user u.
func (h *Handler) memberView(m orgs.Membership, u accounts.User) memberOut {
	roles := []string{}
	for _, g := range m.Roles {
		roles = append(roles, g.App+"/"+g.Role)
	}
	return memberOut{OrganizationID: m.OrgID, UserID: m.UserID, Roles: roles, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		freshnessOut: h.freshness(u)}
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, c caller) {
	after, limit, ok := h.pageParams(w, r)
	if !ok {
		return
	}
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	ctx := r.Context()
	list, err := h.Orgs.Store.Members(ctx, o.ID, after, limit+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The same page of the members' accounts, in one read (both are in
	// user ID order after the cursor); one that joined in between is read
	// on its own, one deleted in between is left out.
	users, err := h.Accounts.Store.QueryUsers(ctx, accounts.Query{OrgID: o.ID, After: after, Limit: limit + 1})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	byID := make(map[string]accounts.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	// The page is cut from the memberships, so that one left out does not
	// end the paging.
	pg := pageOf(list, limit, func(m orgs.Membership) string { return m.UserID })
	out := make([]memberOut, 0, len(pg.Items))
	for _, m := range pg.Items {
		u, ok := byID[m.UserID]
		if !ok {
			u, err = h.Accounts.Store.UserByID(ctx, m.UserID)
			if errors.Is(err, accounts.ErrNotFound) {
				continue
			}
			if err != nil {
				h.fail(w, r, err)
				return
			}
		}
		out = append(out, h.memberView(m, u))
	}
	writeJSON(w, http.StatusOK, page[memberOut]{Items: out, NextCursor: pg.NextCursor})
}

func (h *Handler) getMember(w http.ResponseWriter, r *http.Request, c caller) {
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	m, err := h.Orgs.Store.Membership(r.Context(), o.ID, r.PathValue("user"))
	if !h.found(w, r, err, orgs.ErrNotFound, "The user is not a member of the organization.") {
		return
	}
	u, err := h.Accounts.Store.UserByID(r.Context(), m.UserID)
	if !h.found(w, r, err, accounts.ErrNotFound, "The user is not a member of the organization.") {
		return
	}
	writeJSON(w, http.StatusOK, h.memberView(m, u))
}

type memberIn struct {
	Roles []string `json:"roles"`
}

// putMember: PUT /api/v1/organizations/{org}/members/{user} adds the user
// with the roles, or replaces the roles of a member.
func (h *Handler) putMember(w http.ResponseWriter, r *http.Request, c caller) {
	var in memberIn
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	userID := r.PathValue("user")
	u, err := h.Accounts.Store.UserByID(r.Context(), userID)
	if !h.found(w, r, err, accounts.ErrNotFound, "There is no user with this ID.") {
		return
	}
	roles, err := orgs.ParseGrants("", in.Roles)
	if err != nil {
		h.invalid(w, r, err, "")
		return
	}
	if err := h.checkRoles(r, roles); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	_, existed := h.Orgs.Store.Membership(r.Context(), o.ID, userID)
	if c.org != "" && existed != nil {
		// Its people join by invitation: it changes members' roles only.
		h.problem(w, r, errNotFound.with("The user is not a member of the organization; invite them (POST /api/v1/invitations)."))
		return
	}
	m, err := h.Orgs.AddMember(r.Context(), o.ID, userID, roles, c.actor())
	if err != nil {
		h.invalid(w, r, err, "")
		return
	}
	status := http.StatusOK
	if errors.Is(existed, orgs.ErrNotFound) {
		status = http.StatusCreated
	}
	writeJSON(w, status, h.memberView(m, u))
}

// checkRoles reports roles no application declares, as field errors.
func (h *Handler) checkRoles(r *http.Request, roles []orgs.Grant) error {
	declared, err := h.Orgs.Store.Roles(r.Context(), "")
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range roles {
		if g == orgs.Admin {
			continue
		}
		found := false
		for _, d := range declared {
			if d.App == g.App && d.Name == g.Role {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, orgs.FieldError{Field: "roles", Message: g.App + "/" + g.Role + " is not a role any application declares"})
		}
	}
	return errors.Join(errs...)
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request, c caller) {
	o, ok := h.org(w, r, c)
	if !ok {
		return
	}
	if err := h.Orgs.RemoveMember(r.Context(), o.ID, r.PathValue("user"), c.actor()); !h.found(w, r, err, orgs.ErrNotFound, "The user is not a member of the organization.") {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
