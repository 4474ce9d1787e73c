package orgs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portvakt/portvakt/internal/events"
)

// Service changes organizations, roles and memberships, each change with
// its event: organization.created|updated|deleted, role.created|deleted,
// membership.added|roles_changed|removed, user.roles_changed.
type Service struct {
	Store Store
	// Levels are the deployment's levels of assurance (acr values), which
	// an organization's minimum must be one of; nil accepts any.
	Levels []string
	Now    func() time.Time
}

// validate checks o, and its minimum level against the deployment's.
func (s *Service) validate(o *Organization) error {
	err := o.Validate()
	if o.MinACR != "" && s.Levels != nil && !slices.Contains(s.Levels, o.MinACR) {
		err = errors.Join(err, FieldError{"min_acr", fmt.Sprintf("%q is not a level of assurance of this deployment (%s)", o.MinACR, strings.Join(s.Levels, ", "))})
	}
	return err
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) event(typ, subject, actor string, data map[string]any) (events.Event, error) {
	return events.New(typ, subject, actor, s.now(), data)
}

// CreateOrganization validates and stores a new organization.
func (s *Service) CreateOrganization(ctx context.Context, o Organization, actor string) (Organization, error) {
	if err := s.validate(&o); err != nil {
		return Organization{}, err
	}
	now := s.now()
	o.ID, o.CreatedAt, o.UpdatedAt = uuid.Must(uuid.NewV7()).String(), now, now
	ev, err := s.event("organization.created", o.Subject(), actor, orgData(o))
	if err != nil {
		return Organization{}, err
	}
	return o, s.Store.CreateOrganization(ctx, o, ev)
}

// orgData is what an organization's events say of it.
func orgData(o Organization) map[string]any {
	return map[string]any{"name": o.Name, "slug": o.Slug, "external_id": o.ExternalID, "domains": o.Domains, "status": o.Status,
		"sso_provider": o.SSOProvider, "auto_join": o.AutoJoin, "require_mfa": o.RequireMFA, "min_acr": o.MinACR, "sign_in_methods": o.SignInMethods}
}

// Change is an update of some of an organization's fields; nil leaves a
// field as it is.
type Change struct {
	Name       *string
	Slug       *string
	ExternalID *string
	Domains    *[]string
	Metadata   json.RawMessage
	Status     *Status
	// SSOProvider and SSORoles change the sign-in settings.
	SSOProvider *string
	SSORoles    *[]Grant
	// AutoJoin and JoinRoles change how people join by domain.
	AutoJoin  *bool
	JoinRoles *[]Grant
	// RequireMFA, MinACR and SignInMethods change the sign-in policy.
	RequireMFA    *bool
	MinACR        *string
	SignInMethods *[]string
	// IfVersion, when set, applies the change only to the organization at
	// that version (Organization.Version); ErrStale otherwise.
	IfVersion string
}

// UpdateOrganization applies c to the organization with id. Its event names
// the changed fields with their old and new values; nothing changed writes
// nothing.
func (s *Service) UpdateOrganization(ctx context.Context, id string, c Change, actor string) (Organization, error) {
	old, err := s.Store.OrganizationByID(ctx, id)
	if err != nil {
		return Organization{}, err
	}
	if c.IfVersion != "" && c.IfVersion != old.Version() {
		return Organization{}, ErrStale
	}
	o := old
	o.Domains = slices.Clone(old.Domains)
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&o.Name, c.Name)
	set(&o.Slug, c.Slug)
	set(&o.ExternalID, c.ExternalID)
	if c.Domains != nil {
		o.Domains = slices.Clone(*c.Domains)
	}
	if c.Metadata != nil {
		o.Metadata = c.Metadata
	}
	if c.Status != nil {
		o.Status = *c.Status
	}
	if c.SSOProvider != nil {
		o.SSOProvider = *c.SSOProvider
	}
	if c.SSORoles != nil {
		o.SSORoles = slices.Clone(*c.SSORoles)
	}
	if c.AutoJoin != nil {
		o.AutoJoin = *c.AutoJoin
	}
	if c.JoinRoles != nil {
		o.JoinRoles = slices.Clone(*c.JoinRoles)
	}
	if c.RequireMFA != nil {
		o.RequireMFA = *c.RequireMFA
	}
	set(&o.MinACR, c.MinACR)
	if c.SignInMethods != nil {
		o.SignInMethods = slices.Clone(*c.SignInMethods)
	}
	if err := s.validate(&o); err != nil {
		return Organization{}, err
	}
	changes := map[string]any{}
	diff := func(field string, was, is any, same bool) {
		if !same {
			changes[field] = map[string]any{"old": was, "new": is}
		}
	}
	diff("name", old.Name, o.Name, old.Name == o.Name)
	diff("slug", old.Slug, o.Slug, old.Slug == o.Slug)
	diff("external_id", old.ExternalID, o.ExternalID, old.ExternalID == o.ExternalID)
	diff("domains", old.Domains, o.Domains, slices.Equal(old.Domains, o.Domains))
	diff("metadata", json.RawMessage(old.Metadata), json.RawMessage(o.Metadata), jsonEqual(old.Metadata, o.Metadata))
	diff("status", old.Status, o.Status, old.Status == o.Status)
	diff("sso_provider", old.SSOProvider, o.SSOProvider, old.SSOProvider == o.SSOProvider)
	diff("sso_roles", grantNames(old.SSORoles), grantNames(o.SSORoles), slices.Equal(old.SSORoles, o.SSORoles))
	diff("auto_join", old.AutoJoin, o.AutoJoin, old.AutoJoin == o.AutoJoin)
	diff("join_roles", grantNames(old.JoinRoles), grantNames(o.JoinRoles), slices.Equal(old.JoinRoles, o.JoinRoles))
	diff("require_mfa", old.RequireMFA, o.RequireMFA, old.RequireMFA == o.RequireMFA)
	diff("min_acr", old.MinACR, o.MinACR, old.MinACR == o.MinACR)
	diff("sign_in_methods", old.SignInMethods, o.SignInMethods, slices.Equal(old.SignInMethods, o.SignInMethods))
	if len(changes) == 0 {
		return old, nil
	}
	o.UpdatedAt = s.now()
	ev, err := s.event("organization.updated", o.Subject(), actor, map[string]any{"changes": changes})
	if err != nil {
		return Organization{}, err
	}
	return o, s.Store.UpdateOrganization(ctx, o, old.UpdatedAt, ev)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// DeleteOrganization removes an organization; its people stay, outside it.
func (s *Service) DeleteOrganization(ctx context.Context, id, actor string) error {
	o, err := s.Store.OrganizationByID(ctx, id)
	if err != nil {
		return err
	}
	ev, err := s.event("organization.deleted", o.Subject(), actor, orgData(o))
	if err != nil {
		return err
	}
	return s.Store.DeleteOrganization(ctx, id, s.now(), ev)
}

// Find returns the organization named by ref: its ID, slug or external ID
// (as ext:<id>).
func (s *Service) Find(ctx context.Context, ref string) (Organization, error) {
	if ext, ok := strings.CutPrefix(ref, "ext:"); ok {
		return s.Store.OrganizationByExternalID(ctx, ext)
	}
	if _, err := uuid.Parse(ref); err == nil {
		return s.Store.OrganizationByID(ctx, ref)
	}
	return s.Store.OrganizationBySlug(ctx, ref)
}

// CreateRole declares a role of an application.
func (s *Service) CreateRole(ctx context.Context, r Role, actor string) (Role, error) {
	if err := r.Validate(); err != nil {
		return Role{}, err
	}
	r.CreatedAt = s.now()
	ev, err := s.event("role.created", "role:"+r.Key(), actor, map[string]any{"permissions": r.Permissions, "delegable": r.Delegable})
	if err != nil {
		return Role{}, err
	}
	return r, s.Store.CreateRole(ctx, r, ev)
}

// DeleteRole removes a role; whoever held it loses it.
func (s *Service) DeleteRole(ctx context.Context, app, name, actor string) error {
	if app == AdminApp {
		return FieldError{"app", fmt.Sprintf("%s/%s is built in and cannot be deleted", app, name)}
	}
	ev, err := s.event("role.deleted", "role:"+app+"/"+name, actor, nil)
	if err != nil {
		return err
	}
	return s.Store.DeleteRole(ctx, app, name, ev)
}

// ParseGrants reads roles written app/role (or role alone, of app).
func ParseGrants(app string, refs []string) ([]Grant, error) {
	var out []Grant
	for _, ref := range refs {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			continue
		}
		g := Grant{App: app, Role: ref}
		if a, r, ok := strings.Cut(ref, "/"); ok {
			g = Grant{App: a, Role: r}
		}
		if g.App == "" || g.Role == "" {
			return nil, FieldError{"roles", fmt.Sprintf("%q is not app/role", ref)}
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	sortGrants(out)
	return out, nil
}

func sortGrants(gs []Grant) {
	slices.SortFunc(gs, func(a, b Grant) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		return strings.Compare(a.Role, b.Role)
	})
}

// grantNames are grants as app/role, for events.
func grantNames(gs []Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.App + "/" + g.Role
	}
	return out
}

// AddMember puts userID in the organization with roles, or, if they are a
// member already, gives them these roles instead of the ones they held.
func (s *Service) AddMember(ctx context.Context, orgID, userID string, roles []Grant, actor string) (Membership, error) {
	now := s.now()
	sortGrants(roles)
	m := Membership{OrgID: orgID, UserID: userID, Roles: roles, CreatedAt: now, UpdatedAt: now}
	old, err := s.Store.Membership(ctx, orgID, userID)
	var ev events.Event
	switch {
	case err == nil:
		if slices.Equal(old.Roles, roles) {
			return old, nil
		}
		m.CreatedAt = old.CreatedAt
		ev, err = s.event("membership.roles_changed", "org:"+orgID, actor, map[string]any{
			"user_id": userID, "old": grantNames(old.Roles), "new": grantNames(roles)})
	case errors.Is(err, ErrNotFound):
		ev, err = s.event("membership.added", "org:"+orgID, actor, map[string]any{"user_id": userID, "roles": grantNames(roles)})
	}
	if err != nil {
		return Membership{}, err
	}
	return m, s.Store.PutMembership(ctx, m, ev)
}

// RemoveMember takes userID out of the organization.
func (s *Service) RemoveMember(ctx context.Context, orgID, userID, actor string) error {
	m, err := s.Store.Membership(ctx, orgID, userID)
	if err != nil {
		return err
	}
	// The event has the time the tokens are revoked at: back-channel
	// logout finds the sessions to end by it.
	at := s.now()
	ev, err := events.New("membership.removed", "org:"+orgID, actor, at, map[string]any{"user_id": userID, "roles": grantNames(m.Roles)})
	if err != nil {
		return err
	}
	return s.Store.RemoveMembership(ctx, orgID, userID, at, ev)
}

// SetUserRoles gives userID these roles outside any organization, instead
// of the ones they held.
func (s *Service) SetUserRoles(ctx context.Context, userID string, roles []Grant, actor string) error {
	sortGrants(roles)
	old, err := s.Store.UserRoles(ctx, userID)
	if err != nil {
		return err
	}
	if slices.Equal(old, roles) {
		return nil
	}
	ev, err := s.event("user.roles_changed", "user:"+userID, actor, map[string]any{"old": grantNames(old), "new": grantNames(roles)})
	if err != nil {
		return err
	}
	return s.Store.PutUserRoles(ctx, userID, roles, ev)
}

// Context is what a person holds for an application: in an organization
// (OrgID set) or outside any — the roles' names and the permissions they
// grant, both sorted.
type Context struct {
	OrgID       string
	OrgName     string
	OrgSlug     string
	Roles       []string
	Permissions []string
}

// resolve gives the roles of app among grants, with their permissions.
func resolve(grants []Grant, app string, declared []Role) (roles, perms []string) {
	roles, perms = []string{}, []string{}
	for _, g := range grants {
		if g.App != app {
			continue
		}
		roles = append(roles, g.Role)
		for _, r := range declared {
			if r.Name == g.Role {
				for _, p := range r.Permissions {
					if !slices.Contains(perms, p) {
						perms = append(perms, p)
					}
				}
			}
		}
	}
	slices.Sort(roles)
	slices.Sort(perms)
	return roles, perms
}

// Contexts returns the active organizations userID belongs to, oldest
// membership first, each with what they hold there for app.
func (s *Service) Contexts(ctx context.Context, userID, app string) ([]Context, error) {
	ms, err := s.Store.MembershipsOf(ctx, userID)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	declared, err := s.Store.Roles(ctx, app)
	if err != nil {
		return nil, err
	}
	var out []Context
	for _, m := range ms {
		o, err := s.Store.OrganizationByID(ctx, m.OrgID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if o.Status != StatusActive {
			continue
		}
		roles, perms := resolve(m.Roles, app, declared)
		out = append(out, Context{OrgID: o.ID, OrgName: o.Name, OrgSlug: o.Slug, Roles: roles, Permissions: perms})
	}
	return out, nil
}

// PersonalContext returns what userID holds for app outside any
// organization.
func (s *Service) PersonalContext(ctx context.Context, userID, app string) (Context, error) {
	grants, err := s.Store.UserRoles(ctx, userID)
	if err != nil || !slices.ContainsFunc(grants, func(g Grant) bool { return g.App == app }) {
		// Most people hold none: one query on the token path.
		return Context{Roles: []string{}, Permissions: []string{}}, err
	}
	declared, err := s.Store.Roles(ctx, app)
	if err != nil {
		return Context{}, err
	}
	roles, perms := resolve(grants, app, declared)
	return Context{Roles: roles, Permissions: perms}, nil
}
