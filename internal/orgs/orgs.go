package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
)

// Errors.
var (
	// ErrNotFound means there is no such organization, role or membership.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the slug, external ID, domain or role is taken.
	ErrConflict = errors.New("already exists")
	// ErrStale means the organization changed after the version a change
	// was based on.
	ErrStale = errors.New("the organization changed since it was read")
)

// Status is whether an organization's people may use it.
type Status string

// Organization statuses.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Organization is a business customer or partner.
type Organization struct {
	ID   string
	Name string
	// Slug names the organization in URLs and the CLI: lower-case
	// letters, digits and dashes, unique.
	Slug string
	// ExternalID is the CRM's account ID; unique when set.
	ExternalID string
	// Domains are its verified email domains (lower case), each belonging
	// to one organization.
	Domains []string
	// Metadata is free-form JSON (an object) for the integrating systems.
	Metadata json.RawMessage
	Status   Status
	Settings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Settings are how an organization's people sign in and join.
type Settings struct {
	// SSOProvider is the upstream identity provider (its ID) the people of
	// the organization's domains sign in with: typing such an address on
	// the sign-in page leads there (home-realm discovery), and a password
	// is not asked.
	SSOProvider string `json:"sso_provider,omitempty"`
	// SSORoles are the roles someone who signs in through SSOProvider
	// joins the organization with, just in time.
	SSORoles []Grant `json:"sso_roles,omitempty"`

	// AutoJoin admits at once a person with a verified address in one of
	// the organization's domains who asks to join; otherwise the
	// organization's admins approve or decline the request.
	AutoJoin bool `json:"auto_join,omitempty"`
	// JoinRoles are the roles a person joins with by domain (admitted at
	// once or approved).
	JoinRoles []Grant `json:"join_roles,omitempty"`

	// The sign-in policy for the organization's people, applied when they
	// sign in to an application for the organization.
	//
	// RequireMFA asks for a second factor.
	RequireMFA bool `json:"require_mfa,omitempty"`
	// MinACR is the lowest level of assurance (a value of the
	// deployment's ladder), "" for any.
	MinACR string `json:"min_acr,omitempty"`
	// SignInMethods are the ways of signing in that count (see
	// SignInMethods); none means all.
	SignInMethods []string `json:"sign_in_methods,omitempty"`
}

// The ways of signing in an organization's policy can allow.
const (
	SignInPassword  = "password"   // a password
	SignInEmailCode = "email_code" // a code sent by email
	SignInPasskey   = "passkey"    // a passkey
	SignInFederated = "federated"  // any upstream identity provider, eID brokers included
	SignInEID       = "eid"        // an upstream provider marked as an identity-proofing source
)

// SignInMethods lists the ways of signing in, in the order shown.
var SignInMethods = []string{SignInPassword, SignInEmailCode, SignInPasskey, SignInFederated, SignInEID}

// signInWays are the ways of signing in each first-factor method of a
// session (an amr value) stands for. A sign-in through an eID broker
// records both fed and eid, so "federated" admits it too. Second factors
// (otp), user verification and the mfa marker stand for none: they add to
// a sign-in, they do not make one.
var signInWays = map[string]string{
	authn.MethodPassword:    SignInPassword,
	authn.MethodEmail:       SignInEmailCode,
	authn.MethodHardwareKey: SignInPasskey,
	authn.MethodSoftwareKey: SignInPasskey,
	authn.MethodFederated:   SignInFederated,
	authn.MethodEID:         SignInEID,
}

// HasPolicy reports whether the settings ask anything of how the
// organization's people sign in.
func (s Settings) HasPolicy() bool {
	return s.RequireMFA || s.MinACR != "" || len(s.SignInMethods) > 0
}

// AllowsSignIn reports whether a sign-in with the authentication methods
// amr (RFC 8176 values, as sessions record them) is one of the ways
// SignInMethods allows: one of its first factors must be. Without
// SignInMethods every way is.
func (s Settings) AllowsSignIn(amr []string) bool {
	if len(s.SignInMethods) == 0 {
		return true
	}
	for _, m := range amr {
		if way, ok := signInWays[m]; ok && slices.Contains(s.SignInMethods, way) {
			return true
		}
	}
	return false
}

// Subject is the organization's name in events.
func (o Organization) Subject() string { return "org:" + o.ID }

// Version names the state of an organization a change can be based on: it
// changes with every update.
func (o Organization) Version() string { return strconv.FormatInt(o.UpdatedAt.UnixMicro(), 36) }

// Role is a role an application declares: what it is called and the
// permissions it grants.
type Role struct {
	// App is the application (an OIDC client's ID, or a name several
	// clients share) the role belongs to.
	App  string
	Name string
	// Description says what the role is for (shown to organization
	// admins).
	Description string
	Permissions []string
	// Delegable lets organization admins grant the role to their people.
	Delegable bool
	CreatedAt time.Time
}

// Key is the role's name in grants and tokens' listings: app/name.
func (r Role) Key() string { return r.App + "/" + r.Name }

// Grant is a role given to a person.
type Grant struct {
	App  string `json:"app"`
	Role string `json:"role"`
}

// AdminApp and AdminRole name the built-in role of an organization's own
// admins, who manage its people on the hosted pages.
const (
	AdminApp  = "portvakt"
	AdminRole = "org_admin"
)

// Admin is the organization admin's grant.
var Admin = Grant{App: AdminApp, Role: AdminRole}

// Holds reports whether m includes role g.
func (m Membership) Holds(g Grant) bool { return slices.Contains(m.Roles, g) }

// Membership is a person in an organization, with the roles they hold
// there.
type Membership struct {
	OrgID     string
	UserID    string
	Roles     []Grant
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store keeps organizations, roles and memberships; each change is written
// with its events in one transaction.
type Store interface {
	CreateOrganization(ctx context.Context, o Organization, evs ...events.Event) error
	// UpdateOrganization replaces o (by ID), domains included. With prev
	// set, only if the stored organization was last updated at prev;
	// ErrStale otherwise (a lost update).
	UpdateOrganization(ctx context.Context, o Organization, prev time.Time, evs ...events.Event) error
	// DeleteOrganization removes the organization and its memberships, and
	// revokes (at the time given) the tokens issued in it.
	DeleteOrganization(ctx context.Context, id string, at time.Time, evs ...events.Event) error
	OrganizationByID(ctx context.Context, id string) (Organization, error)
	OrganizationBySlug(ctx context.Context, slug string) (Organization, error)
	OrganizationByExternalID(ctx context.Context, externalID string) (Organization, error)
	// OrganizationByDomain returns the organization that verified the
	// email domain.
	OrganizationByDomain(ctx context.Context, domain string) (Organization, error)
	// ListOrganizations returns up to limit organizations ordered by
	// slug, after the slug given ("" for the first page).
	ListOrganizations(ctx context.Context, after string, limit int) ([]Organization, error)

	CreateRole(ctx context.Context, r Role, evs ...events.Event) error
	DeleteRole(ctx context.Context, app, name string, evs ...events.Event) error
	// Roles returns the roles of app ("" for every application), ordered
	// by app and name.
	Roles(ctx context.Context, app string) ([]Role, error)

	// PutMembership adds the person to the organization or replaces the
	// roles they hold there.
	PutMembership(ctx context.Context, m Membership, evs ...events.Event) error
	// RemoveMembership takes the person out of the organization and
	// revokes (at the time given) their tokens issued in it: a leaver
	// loses access at once.
	RemoveMembership(ctx context.Context, orgID, userID string, at time.Time, evs ...events.Event) error
	Membership(ctx context.Context, orgID, userID string) (Membership, error)
	// Members returns up to limit memberships of the organization ordered
	// by user ID, after the one given.
	Members(ctx context.Context, orgID, after string, limit int) ([]Membership, error)
	// MembershipsOf returns the person's memberships, oldest first.
	MembershipsOf(ctx context.Context, userID string) ([]Membership, error)

	// PutUserRoles replaces the roles the person holds outside any
	// organization.
	PutUserRoles(ctx context.Context, userID string, roles []Grant, evs ...events.Event) error
	UserRoles(ctx context.Context, userID string) ([]Grant, error)
}

// FieldError is a problem with one field.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

var (
	slugPattern   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
	domainPattern = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Validate checks and normalizes an organization, reporting every problem.
func (o *Organization) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	o.Name = strings.TrimSpace(o.Name)
	if o.Name == "" || utf8.RuneCountInString(o.Name) > 200 || !utf8.ValidString(o.Name) {
		bad("name", "is required, at most 200 characters")
	}
	o.Slug = strings.TrimSpace(o.Slug)
	if !slugPattern.MatchString(o.Slug) {
		bad("slug", "%q is not 1 to 64 lower-case letters, digits and dashes (not at either end)", o.Slug)
	}
	o.ExternalID = strings.TrimSpace(o.ExternalID)
	if len(o.ExternalID) > 255 {
		bad("external_id", "is longer than 255 characters")
	}
	seen := map[string]bool{}
	for i, d := range o.Domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		o.Domains[i] = d
		switch {
		case !domainPattern.MatchString(d):
			bad("domains", "%q is not a domain name such as example.com", d)
		case seen[d]:
			bad("domains", "%q is given twice", d)
		}
		seen[d] = true
	}
	slices.Sort(o.Domains)
	if len(o.Metadata) == 0 {
		o.Metadata = json.RawMessage(`{}`)
	}
	var m map[string]any
	if len(o.Metadata) > 16<<10 || json.Unmarshal(o.Metadata, &m) != nil || m == nil {
		bad("metadata", "is not a JSON object of at most 16 KiB")
	}
	if o.Status == "" {
		o.Status = StatusActive
	}
	if o.SSOProvider != "" && len(o.Domains) == 0 {
		bad("sso_provider", "needs the organization's email domains (--domain): they are what leads people to it")
	}
	sortGrants(o.SSORoles)
	sortGrants(o.JoinRoles)
	if (o.AutoJoin || len(o.JoinRoles) > 0) && len(o.Domains) == 0 {
		bad("auto_join", "needs the organization's email domains (--domain): joining is by domain")
	}
	o.MinACR = strings.TrimSpace(o.MinACR)
	if len(o.MinACR) > 255 {
		bad("min_acr", "is longer than 255 characters")
	}
	seenMethod := map[string]bool{}
	for _, m := range o.SignInMethods {
		switch {
		case !slices.Contains(SignInMethods, m):
			bad("sign_in_methods", "%q is not one of %s", m, strings.Join(SignInMethods, ", "))
		case seenMethod[m]:
			bad("sign_in_methods", "%q is given twice", m)
		}
		seenMethod[m] = true
	}
	slices.SortFunc(o.SignInMethods, func(a, b string) int {
		return slices.Index(SignInMethods, a) - slices.Index(SignInMethods, b)
	})
	if o.Status != StatusActive && o.Status != StatusSuspended {
		bad("status", "%q is not active or suspended", o.Status)
	}
	return errors.Join(errs...)
}

// Validate checks a role, reporting every problem.
func (r *Role) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if r.App == AdminApp {
		bad("app", "%q is Portvakt's own; choose another application name", r.App)
	}
	if !namePattern.MatchString(r.App) {
		bad("app", "%q is not a name of lower-case letters, digits and _ . : - (up to 64, starting with a letter)", r.App)
	}
	if !namePattern.MatchString(r.Name) {
		bad("name", "%q is not a name of lower-case letters, digits and _ . : - (up to 64, starting with a letter)", r.Name)
	}
	r.Description = strings.TrimSpace(r.Description)
	if utf8.RuneCountInString(r.Description) > 500 {
		bad("description", "is longer than 500 characters")
	}
	seen := map[string]bool{}
	for _, p := range r.Permissions {
		if !namePattern.MatchString(p) {
			bad("permissions", "%q is not a permission name such as orders:create", p)
		}
		if seen[p] {
			bad("permissions", "%q is given twice", p)
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}
