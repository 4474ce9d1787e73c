package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/web"
)

// Organizations: a client's tokens carry the organization a person signs
// in to it for, with their roles there in the client's application
// (Client.App, or its ID) and the permissions those grant — org_id,
// org_name, roles, permissions — in ID tokens, JWT access tokens,
// userinfo and introspection. The client names the organization with the
// authorization parameter organization (its ID, slug or ext:<external
// ID>); without one, a person in one organization is signed in for it,
// and one in several picks on a page. Outside any organization, tokens
// carry the roles the person holds for the application on their own.

// Organizations is what the provider needs of organizations.
type Organizations interface {
	// Contexts returns the active organizations userID belongs to, with
	// what they hold there for app.
	Contexts(ctx context.Context, userID, app string) ([]orgs.Context, error)
	// PersonalContext returns what userID holds for app outside any
	// organization.
	PersonalContext(ctx context.Context, userID, app string) (orgs.Context, error)
	// Find returns the organization named by its ID, slug or
	// ext:<external ID>.
	Find(ctx context.Context, ref string) (orgs.Organization, error)
}

// A client's organization modes (Client.Organizations); "" is optional.
const (
	orgModeRequired = "required"
	orgModeOff      = "off"
)

// errNotMember means the person is not (or no longer) a member of the
// organization a grant is for.
var errNotMember = errors.New("the person is not a member of the organization")

func (c Client) app() string {
	if c.App != "" {
		return c.App
	}
	return c.ID
}

// orgContext returns what userID holds for client c in orgID ("" for
// outside any organization); errNotMember if they no longer belong there.
func (h *Handler) orgContext(ctx context.Context, c Client, userID, orgID string) (orgs.Context, error) {
	if h.cfg.Organizations == nil || userID == "" {
		return orgs.Context{}, nil
	}
	if orgID == "" {
		return h.cfg.Organizations.PersonalContext(ctx, userID, c.app())
	}
	cs, err := h.cfg.Organizations.Contexts(ctx, userID, c.app())
	if err != nil {
		return orgs.Context{}, err
	}
	for _, oc := range cs {
		if oc.OrgID == orgID {
			return oc, nil
		}
	}
	return orgs.Context{}, errNotMember
}

// orgClaims are a context's claims: org_id and org_name in an
// organization, roles and permissions when there are any.
func orgClaims(oc orgs.Context) map[string]any {
	out := map[string]any{}
	if oc.OrgID != "" {
		out["org_id"], out["org_name"] = oc.OrgID, oc.OrgName
		out["roles"] = oc.Roles
	} else if len(oc.Roles) > 0 {
		out["roles"] = oc.Roles
	}
	if len(oc.Permissions) > 0 {
		out["permissions"] = oc.Permissions
	}
	return out
}

// pickOrganization settles the organization of the request for the
// signed-in person: the one the client named (if they belong to it), their
// only one, or the one they pick on the organization page. It reports
// whether the request may go on; otherwise it has answered.
func (h *Handler) pickOrganization(w http.ResponseWriter, r *http.Request, c Client, ar AuthRequest, s session.Session) (AuthRequest, bool) {
	if h.cfg.Organizations == nil {
		return ar, true
	}
	if c.Organizations == orgModeOff {
		// A consumer application: never for an organization, whatever
		// the request asked.
		if ar.Params.Organization != "" {
			return h.setOrganization(w, r, ar, "")
		}
		return ar, true
	}
	ctx := r.Context()
	cs, err := h.cfg.Organizations.Contexts(ctx, s.UserID, c.app())
	if err != nil {
		h.fail(w, r, err)
		return ar, false
	}
	member := func(id string) bool {
		return slices.ContainsFunc(cs, func(oc orgs.Context) bool { return oc.OrgID == id })
	}
	want := ar.Params.Organization
	switch {
	case want != "" && member(want):
		return ar, true
	case want != "":
		o, err := h.cfg.Organizations.Find(ctx, want)
		if err != nil && !errors.Is(err, orgs.ErrNotFound) {
			h.fail(w, r, err)
			return ar, false
		}
		if err != nil || !member(o.ID) {
			// The same answer for an organization that does not exist and
			// one the person is not in.
			h.cfg.Logger.InfoContext(ctx, "not a member of the organization asked for", "client_id", c.ID, "user", s.UserID)
			op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrAccessDenied().WithDescription("the user is not a member of the organization"), h.provider)
			return ar, false
		}
		return h.setOrganization(w, r, ar, o.ID)
	case len(cs) == 0 && c.Organizations == orgModeRequired:
		h.cfg.Logger.InfoContext(ctx, "not a member of any organization, which the client requires", "client_id", c.ID, "user", s.UserID)
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrAccessDenied().WithDescription("the application is for members of an organization"), h.provider)
		return ar, false
	case len(cs) == 0:
		return ar, true
	case len(cs) == 1:
		return h.setOrganization(w, r, ar, cs[0].OrgID)
	case has(ar.Params.Prompt, "none"):
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrInteractionRequired().WithDescription("the user must choose an organization"), h.provider)
		return ar, false
	}
	http.Redirect(w, r, "/authorize/organization?"+url.Values{"id": {ar.ID}}.Encode(), http.StatusSeeOther)
	return ar, false
}

func (h *Handler) setOrganization(w http.ResponseWriter, r *http.Request, ar AuthRequest, orgID string) (AuthRequest, bool) {
	ar, err := h.cfg.Grants.UpdateAuthRequest(r.Context(), ar.ID, func(a AuthRequest) (AuthRequest, error) {
		a.Params.Organization = orgID
		return a, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return ar, false
	}
	return ar, true
}

// showOrganizations lets a person in several organizations pick the one
// to sign in to the application for.
func (h *Handler) showOrganizations(w http.ResponseWriter, r *http.Request) {
	ar, c, s, cs, ok := h.organizationRequest(w, r)
	if !ok {
		return
	}
	u, err := h.cfg.Users.UserByID(r.Context(), s.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	choice := web.OrgChoice{ClientName: c.displayName(), Email: u.Email, Action: "/authorize/organization?" + url.Values{"id": {ar.ID}}.Encode(),
		UILocales: strings.Join(ar.Params.UILocales, " "), UserLocale: u.Locale}
	for _, oc := range cs {
		choice.Organizations = append(choice.Organizations, web.OrgOption{ID: oc.OrgID, Name: oc.OrgName})
	}
	h.cfg.Pages.ShowOrganizations(w, r, choice)
}

// submitOrganization takes the person's pick and goes on with the request.
func (h *Handler) submitOrganization(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Pages.CheckForm(w, r) {
		return
	}
	ar, _, _, cs, ok := h.organizationRequest(w, r)
	if !ok {
		return
	}
	pick := r.PostFormValue("organization")
	if !slices.ContainsFunc(cs, func(oc orgs.Context) bool { return oc.OrgID == pick }) {
		// Not one of theirs (a forged form): ask again.
		http.Redirect(w, r, "/authorize/organization?"+url.Values{"id": {ar.ID}}.Encode(), http.StatusSeeOther)
		return
	}
	if _, ok := h.setOrganization(w, r, ar, pick); !ok {
		return
	}
	http.Redirect(w, r, callbackPath(ar), http.StatusSeeOther)
}

// organizationRequest is the live request of the organization page, for
// the signed-in person, with their organizations.
func (h *Handler) organizationRequest(w http.ResponseWriter, r *http.Request) (AuthRequest, Client, session.Session, []orgs.Context, bool) {
	ar, ok := h.liveRequest(w, r)
	if !ok {
		return ar, Client{}, session.Session{}, nil, false
	}
	s, ok := h.signedInFor(w, r, ar)
	if !ok {
		return ar, Client{}, s, nil, false
	}
	c, err := h.cfg.Clients.LookupClient(r.Context(), ar.ClientID)
	if err != nil {
		h.fail(w, r, err)
		return ar, c, s, nil, false
	}
	if h.cfg.Organizations == nil {
		http.Redirect(w, r, callbackPath(ar), http.StatusSeeOther)
		return ar, c, s, nil, false
	}
	cs, err := h.cfg.Organizations.Contexts(r.Context(), s.UserID, c.app())
	if err != nil {
		h.fail(w, r, err)
		return ar, c, s, nil, false
	}
	return ar, c, s, cs, true
}
