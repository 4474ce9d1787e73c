package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/orgs"
)

func newOrgCmd(e env) *cobra.Command {
	cmd := groupCmd("org", "Manage organizations (business customers and partners) and their members")
	member := groupCmd("member", "Manage the people of an organization and their roles")
	member.AddCommand(newOrgMemberAddCmd(e), newOrgMemberRemoveCmd(e), newOrgMemberListCmd(e))
	cmd.AddCommand(newOrgCreateCmd(e), newOrgGetCmd(e), newOrgListCmd(e), newOrgUpdateCmd(e), newOrgDeleteCmd(e), member,
		newOrgInviteCmd(e), newOrgInvitationCmd(e), newOrgJoinRequestCmd(e))
	return cmd
}

func newRoleCmd(e env) *cobra.Command {
	cmd := groupCmd("role", "Manage the roles applications declare and the permissions they grant")
	cmd.AddCommand(newRoleCreateCmd(e), newRoleListCmd(e), newRoleDeleteCmd(e))
	return cmd
}

// withOrgs runs fn with the organizations service (and the app, for users).
func withOrgs(cmd *cobra.Command, e env, fn func(a *app, svc *orgs.Service) error) error {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a, newOrgsService(a))
}

// newOrgsService is the organizations service, holding organizations'
// minimum levels to the deployment's ladder (checked when the
// configuration was loaded).
func newOrgsService(a *app) *orgs.Service {
	ladder, _ := authn.ParseLadder(a.cfg.LoALadder)
	return &orgs.Service{Store: a.store, Levels: ladder.ACRs(), Now: a.now}
}

// orgOut is an organization as the commands print it.
type orgOut struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Slug        string          `json:"slug"`
	ExternalID  string          `json:"external_id,omitempty"`
	Domains     []string        `json:"domains"`
	Metadata    json.RawMessage `json:"metadata"`
	Status      orgs.Status     `json:"status"`
	SSOProvider string          `json:"sso_provider,omitempty"`
	SSORoles    []string        `json:"sso_roles,omitempty"`
	// Joining by domain.
	AutoJoin  bool     `json:"auto_join"`
	JoinRoles []string `json:"join_roles,omitempty"`
	// The sign-in policy.
	RequireMFA    bool      `json:"require_mfa"`
	MinACR        string    `json:"min_acr,omitempty"`
	SignInMethods []string  `json:"sign_in_methods,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func orgView(o orgs.Organization) orgOut {
	d := o.Domains
	if d == nil {
		d = []string{}
	}
	return orgOut{ID: o.ID, Name: o.Name, Slug: o.Slug, ExternalID: o.ExternalID, Domains: d, Metadata: o.Metadata,
		Status: o.Status, SSOProvider: o.SSOProvider, SSORoles: grantList(o.SSORoles),
		AutoJoin: o.AutoJoin, JoinRoles: grantList(o.JoinRoles), RequireMFA: o.RequireMFA, MinACR: o.MinACR, SignInMethods: o.SignInMethods,
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func printOrg(e env, o orgs.Organization, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(orgView(o))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nName\t%s\nSlug\t%s\nExternal ID\t%s\nDomains\t%s\nStatus\t%s\nMetadata\t%s\n",
		o.ID, o.Name, o.Slug, o.ExternalID, strings.Join(o.Domains, ", "), o.Status, o.Metadata)
	if o.SSOProvider != "" {
		fmt.Fprintf(tw, "SSO provider\t%s\nSSO roles\t%s\n", o.SSOProvider, strings.Join(grantList(o.SSORoles), ", "))
	}
	join := "admins approve requests"
	if o.AutoJoin {
		join = "admitted at once"
	}
	fmt.Fprintf(tw, "Joining by domain\t%s; roles: %s\n", join, orNone(grantList(o.JoinRoles)))
	fmt.Fprintf(tw, "Second factor required\t%t\nMinimum level\t%s\nSign-in methods\t%s\n",
		o.RequireMFA, orAny(o.MinACR), orAny(strings.Join(o.SignInMethods, ", ")))
	return tw.Flush()
}

// orgFieldFlags names the flag that sets each organization field.
var orgFieldFlags = map[string]string{
	"name": "--name", "slug": "--slug", "external_id": "--external-id", "domains": "--domain", "metadata": "--metadata",
	"status": "--status", "app": "--app", "description": "--description", "permissions": "--permission", "roles": "--role",
	"email": "EMAIL", "return_to": "--return-to", "client_id": "--client", "locked_fields": "--lock", "sso_provider": "--sso-provider",
	"auto_join": "--auto-join", "join_roles": "--join-role", "min_acr": "--min-acr", "sign_in_methods": "--sign-in-method",
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// policyFlags are the flags of an organization's joining and sign-in
// settings, shared by create and update.
type policyFlags struct {
	autoJoin, requireMFA bool
	joinRoles, methods   []string
	minACR               string
}

func (p *policyFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&p.autoJoin, "auto-join", false, "admit people with a verified address in the organization's domains at once when they ask to join (otherwise its admins approve each request)")
	fl.StringSliceVar(&p.joinRoles, "join-role", nil, "a role (app/role) people who join by domain get; repeat for more")
	fl.BoolVar(&p.requireMFA, "require-mfa", false, "its people must use a second factor to sign in to applications for the organization")
	fl.StringVar(&p.minACR, "min-acr", "", "the lowest level of assurance (an acr value of loa_ladder) for signing in to applications for the organization")
	fl.StringSliceVar(&p.methods, "sign-in-method", nil, "a way of signing in that counts for the organization: "+strings.Join(orgs.SignInMethods, ", ")+"; repeat for more (none given: all)")
}

// change sets in c what the command line set.
func (p *policyFlags) change(set func(string) bool, c *orgs.Change) error {
	if set("auto-join") {
		c.AutoJoin = &p.autoJoin
	}
	if set("join-role") {
		grants, err := orgs.ParseGrants("", nonEmpty(p.joinRoles))
		if err != nil {
			return orgProblem(err, "")
		}
		c.JoinRoles = &grants
	}
	if set("require-mfa") {
		c.RequireMFA = &p.requireMFA
	}
	if set("min-acr") {
		c.MinACR = &p.minACR
	}
	if set("sign-in-method") {
		m := nonEmpty(p.methods)
		c.SignInMethods = &m
	}
	return nil
}

// nonEmpty drops empty values, so that --flag ” clears a list.
func nonEmpty(list []string) []string {
	out := []string{}
	for _, x := range list {
		if strings.TrimSpace(x) != "" {
			out = append(out, strings.TrimSpace(x))
		}
	}
	return out
}

// orgProblem turns the organizations' errors into messages that name the
// flag or the thing not found.
func orgProblem(err error, what string) error {
	var fe orgs.FieldError
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		return usageError{fmt.Errorf("%s: %w", what, err)}
	case errors.Is(err, orgs.ErrConflict):
		return usageError{fmt.Errorf("%s: %w", what, err)}
	case errors.As(err, &fe):
		return usageError{errors.New(problems(err, orgFieldFlags, func(err error) (string, string, bool) {
			var fe orgs.FieldError
			ok := errors.As(err, &fe)
			return fe.Field, fe.Message, ok
		}))}
	}
	return err
}

const orgRefHelp = "ORG is the organization's ID, its slug, or ext:<external ID> (the CRM's ID)."

func newOrgCreateCmd(e env) *cobra.Command {
	var o orgs.Organization
	var metadata string
	var ssoRoles []string
	var policy policyFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an organization",
		Long: `Create an organization: a business customer or partner whose people sign
in here. --slug names it in URLs and commands; --external-id is the CRM's
ID for it; --domain (repeat) are its verified email domains, each
belonging to one organization.

Example:
  portvakt org create --name "Acme Oy" --slug acme --external-id crm-1042 \
    --domain acme.example --metadata '{"segment":"enterprise"}' --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if metadata != "" {
				o.Metadata = json.RawMessage(metadata)
			}
			var err error
			if o.SSORoles, err = orgs.ParseGrants("", ssoRoles); err != nil {
				return orgProblem(err, "")
			}
			var c orgs.Change
			if err := policy.change(cmd.Flags().Changed, &c); err != nil {
				return err
			}
			o.AutoJoin, o.RequireMFA, o.MinACR = policy.autoJoin, policy.requireMFA, policy.minACR
			if c.JoinRoles != nil {
				o.JoinRoles = *c.JoinRoles
			}
			if c.SignInMethods != nil {
				o.SignInMethods = *c.SignInMethods
			}
			return withOrgs(cmd, e, func(a *app, svc *orgs.Service) error {
				if err := checkSSOProvider(cmd, a, o.SSOProvider); err != nil {
					return err
				}
				o, err := svc.CreateOrganization(cmd.Context(), o, "system:cli")
				if err != nil {
					return orgProblem(err, "an organization with that slug, external ID or domain")
				}
				return printOrg(e, o, asJSON)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "the organization's name")
	fl.StringVar(&o.Slug, "slug", "", "short name in URLs and commands: lower-case letters, digits and dashes")
	fl.StringVar(&o.ExternalID, "external-id", "", "the CRM's ID for the organization (unique)")
	fl.StringSliceVar(&o.Domains, "domain", nil, "a verified email domain of the organization; repeat for more")
	fl.StringVar(&metadata, "metadata", "", "a JSON object for the integrating systems")
	fl.StringVar(&o.SSOProvider, "sso-provider", "", "an upstream identity provider (portvakt idp) that the people of the organization's domains sign in with")
	fl.StringSliceVar(&ssoRoles, "sso-role", nil, "a role (app/role) people who sign in through --sso-provider join the organization with; repeat for more")
	policy.add(fl)
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// checkSSOProvider reports an organization's SSO provider that is not
// registered.
func checkSSOProvider(cmd *cobra.Command, a *app, id string) error {
	if id == "" {
		return nil
	}
	if _, err := a.store.ProviderByID(cmd.Context(), id); err != nil {
		return usageError{fmt.Errorf("sso_provider (--sso-provider): no identity provider %q (see portvakt idp list)", id)}
	}
	return nil
}

func newOrgGetCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get ORG",
		Short: "Show an organization",
		Long:  "Show an organization. " + orgRefHelp,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				o, err := svc.Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				return printOrg(e, o, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newOrgListCmd(e env) *cobra.Command {
	var asJSON bool
	var after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List organizations by slug",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usageError{fmt.Errorf("--limit %d is outside 1 to 1000", limit)}
			}
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				list, err := svc.Store.ListOrganizations(cmd.Context(), after, limit)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, o := range list {
						if err := enc.Encode(orgView(o)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SLUG\tNAME\tEXTERNAL ID\tDOMAINS\tSTATUS\tID")
				for _, o := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Slug, o.Name, o.ExternalID, strings.Join(o.Domains, ","), o.Status, o.ID)
				}
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print one JSON object a line")
	fl.StringVar(&after, "after", "", "start after this slug (the last one of the previous page)")
	fl.IntVar(&limit, "limit", 100, "at most this many")
	return cmd
}

func newOrgUpdateCmd(e env) *cobra.Command {
	var name, slug, externalID, metadata, status, ssoProvider string
	var domains, ssoRoles []string
	var policy policyFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update ORG",
		Short: "Change an organization",
		Long: "Change an organization's name, slug, external ID, domains (--domain replaces them all; --domain '' removes them), metadata or status (active, or suspended: its people cannot use it); how people join by domain (--auto-join, --join-role); " +
			"and its sign-in policy for applications used for it (--require-mfa, --min-acr, --sign-in-method; --sign-in-method '' allows all again). " +
			orgRefHelp + " The change is recorded in organization.updated with the old and new values.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c orgs.Change
			set := cmd.Flags().Changed
			if set("name") {
				c.Name = &name
			}
			if set("slug") {
				c.Slug = &slug
			}
			if set("external-id") {
				c.ExternalID = &externalID
			}
			if set("domain") {
				d := []string{}
				for _, x := range domains {
					if strings.TrimSpace(x) != "" {
						d = append(d, x)
					}
				}
				c.Domains = &d
			}
			if set("metadata") {
				c.Metadata = json.RawMessage(metadata)
			}
			if set("status") {
				st := orgs.Status(status)
				c.Status = &st
			}
			if set("sso-provider") {
				c.SSOProvider = &ssoProvider
			}
			if set("sso-role") {
				grants, err := orgs.ParseGrants("", ssoRoles)
				if err != nil {
					return orgProblem(err, "")
				}
				c.SSORoles = &grants
			}
			if err := policy.change(set, &c); err != nil {
				return err
			}
			return withOrgs(cmd, e, func(a *app, svc *orgs.Service) error {
				if err := checkSSOProvider(cmd, a, ssoProvider); err != nil {
					return err
				}
				o, err := svc.Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				o, err = svc.UpdateOrganization(cmd.Context(), o.ID, c, "system:cli")
				if err != nil {
					return orgProblem(err, "an organization with that slug, external ID or domain")
				}
				return printOrg(e, o, asJSON)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "new name")
	fl.StringVar(&slug, "slug", "", "new slug")
	fl.StringVar(&externalID, "external-id", "", "new external ID ('' removes it)")
	fl.StringSliceVar(&domains, "domain", nil, "the verified email domains, replacing the ones it has")
	fl.StringVar(&metadata, "metadata", "", "a JSON object replacing the metadata")
	fl.StringVar(&status, "status", "", "active or suspended")
	fl.StringVar(&ssoProvider, "sso-provider", "", "the upstream identity provider its people sign in with ('' for none)")
	fl.StringSliceVar(&ssoRoles, "sso-role", nil, "the roles people who sign in through it join with, replacing the ones set")
	policy.add(fl)
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newOrgDeleteCmd(e env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ORG",
		Short: "Delete an organization",
		Long:  "Delete an organization and its memberships; its people keep their accounts. Pass --yes to confirm. " + orgRefHelp,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{errors.New("deleting an organization removes its memberships; pass --yes to confirm")}
			}
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				o, err := svc.Find(cmd.Context(), args[0])
				if err == nil {
					err = svc.DeleteOrganization(cmd.Context(), o.ID, "system:cli")
				}
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				fmt.Fprintf(e.stdout, "deleted organization %s (%s)\n", o.Slug, o.ID)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

// withMember finds the organization and the person named by args.
func withMember(cmd *cobra.Command, e env, orgRef, userRef string, fn func(svc *orgs.Service, o orgs.Organization, u accounts.User) error) error {
	return withOrgs(cmd, e, func(a *app, svc *orgs.Service) error {
		o, err := svc.Find(cmd.Context(), orgRef)
		if err != nil {
			return orgProblem(err, "organization "+orgRef)
		}
		users, err := a.services()
		if err != nil {
			return err
		}
		u, err := users.accounts.Find(cmd.Context(), userRef)
		if err != nil {
			return userProblem(err)
		}
		return fn(svc, o, u)
	})
}

func newOrgMemberAddCmd(e env) *cobra.Command {
	var roles []string
	var appName string
	cmd := &cobra.Command{
		Use:   "add ORG USER",
		Short: "Add a person to an organization, or set their roles there",
		Long: `Add a person (USER: their ID or email address) to an organization with
the roles given; a member already gets these roles instead of the ones
they held. A role is app/role, or role alone with --app. ` + orgRefHelp + `

Example:
  portvakt org member add acme maria@acme.example --role portal/buyer --role portal/viewer`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			grants, err := orgs.ParseGrants(appName, roles)
			if err != nil {
				return orgProblem(err, "")
			}
			return withMember(cmd, e, args[0], args[1], func(svc *orgs.Service, o orgs.Organization, u accounts.User) error {
				m, err := svc.AddMember(cmd.Context(), o.ID, u.ID, grants, "system:cli")
				if err != nil {
					return orgProblem(err, "role")
				}
				fmt.Fprintf(e.stdout, "%s is a member of %s with roles: %s\n", u.Email, o.Slug, strings.Join(grantList(m.Roles), ", "))
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", nil, "a role, app/role; repeat for more")
	cmd.Flags().StringVar(&appName, "app", "", "the application of roles given without one")
	return cmd
}

func grantList(gs []orgs.Grant) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.App+"/"+g.Role)
	}
	return out
}

func newOrgMemberRemoveCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ORG USER",
		Short: "Take a person out of an organization",
		Long:  "Take a person (ID or email address) out of an organization, with the roles they held there. " + orgRefHelp,
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMember(cmd, e, args[0], args[1], func(svc *orgs.Service, o orgs.Organization, u accounts.User) error {
				if err := svc.RemoveMember(cmd.Context(), o.ID, u.ID, "system:cli"); err != nil {
					return orgProblem(err, u.Email+" in "+o.Slug)
				}
				fmt.Fprintf(e.stdout, "removed %s from %s\n", u.Email, o.Slug)
				return nil
			})
		},
	}
}

func newOrgMemberListCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list ORG",
		Short: "List an organization's people and their roles",
		Long: "List an organization's people, their roles, and when each last confirmed their profile (marked when it may be out of date, " +
			"see profile_freshness). " + orgRefHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOrgs(cmd, e, func(a *app, svc *orgs.Service) error {
				o, err := svc.Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				type memberOut struct {
					UserID    string    `json:"user_id"`
					Email     string    `json:"email"`
					Roles     []string  `json:"roles"`
					CreatedAt time.Time `json:"created_at"`
					// When the person last confirmed their profile (null
					// if never), and whether it may be out of date.
					ProfileConfirmedAt *time.Time `json:"profile_confirmed_at"`
					Stale              bool       `json:"stale"`
				}
				fresh := &accounts.Service{ProfileMaxAge: a.cfg.ProfileFreshness, Now: a.now}
				var out []memberOut
				for after := ""; ; {
					page, err := svc.Store.Members(cmd.Context(), o.ID, after, 500)
					if err != nil {
						return err
					}
					for _, m := range page {
						u, err := a.store.UserByID(cmd.Context(), m.UserID)
						if err != nil {
							return err
						}
						mo := memberOut{UserID: m.UserID, Email: u.Email, Roles: grantList(m.Roles), CreatedAt: m.CreatedAt, Stale: fresh.ProfileStale(u)}
						if c := u.ProfileConfirmedAt; !c.IsZero() {
							mo.ProfileConfirmedAt = &c
						}
						out = append(out, mo)
					}
					if len(page) < 500 {
						break
					}
					after = page[len(page)-1].UserID
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, m := range out {
						if err := enc.Encode(m); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "EMAIL\tROLES\tPROFILE CONFIRMED\tUSER ID")
				for _, m := range out {
					confirmed := "never"
					if m.ProfileConfirmedAt != nil {
						confirmed = m.ProfileConfirmedAt.Format("2006-01-02")
					}
					if m.Stale {
						confirmed += " (may be out of date)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Email, strings.Join(m.Roles, ","), confirmed, m.UserID)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	return cmd
}

// roleOut is a role as the commands print it.
type roleOut struct {
	App         string    `json:"app"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Permissions []string  `json:"permissions"`
	Delegable   bool      `json:"delegable"`
	CreatedAt   time.Time `json:"created_at"`
}

func roleView(r orgs.Role) roleOut {
	p := r.Permissions
	if p == nil {
		p = []string{}
	}
	return roleOut{App: r.App, Name: r.Name, Description: r.Description, Permissions: p, Delegable: r.Delegable, CreatedAt: r.CreatedAt}
}

func newRoleCreateCmd(e env) *cobra.Command {
	var r orgs.Role
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Declare a role of an application",
		Long: `Declare a role of an application and the permissions it grants. --app
is the application: an OIDC client's ID, or a name several clients share.
--delegable lets organization admins give the role to their people.

Example:
  portvakt role create --app portal --name buyer --permission orders:read \
    --permission orders:create --description "Places orders" --delegable --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				r, err := svc.CreateRole(cmd.Context(), r, "system:cli")
				if err != nil {
					return orgProblem(err, "role "+r.Key())
				}
				if asJSON {
					return json.NewEncoder(e.stdout).Encode(roleView(r))
				}
				fmt.Fprintf(e.stdout, "Declared role %s with permissions: %s\n", r.Key(), strings.Join(r.Permissions, ", "))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&r.App, "app", "", "the application the role belongs to")
	fl.StringVar(&r.Name, "name", "", "the role's name, e.g. buyer")
	fl.StringVar(&r.Description, "description", "", "what the role is for (shown to organization admins)")
	fl.StringSliceVar(&r.Permissions, "permission", nil, "a permission the role grants, e.g. orders:create; repeat for more")
	fl.BoolVar(&r.Delegable, "delegable", false, "organization admins may give this role to their people")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newRoleListCmd(e env) *cobra.Command {
	var appName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the applications' roles",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				list, err := svc.Store.Roles(cmd.Context(), appName)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, r := range list {
						if err := enc.Encode(roleView(r)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ROLE\tPERMISSIONS\tDELEGABLE\tDESCRIPTION")
				for _, r := range list {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.Key(), strings.Join(r.Permissions, ","), r.Delegable, r.Description)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "only this application's roles")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	return cmd
}

func newRoleDeleteCmd(e env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete APP/ROLE",
		Short: "Delete a role",
		Long:  "Delete a role; everyone who held it, in any organization, loses it. Pass --yes to confirm.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			appName, name, ok := strings.Cut(args[0], "/")
			if !ok || appName == "" || name == "" {
				return usageError{fmt.Errorf("%q is not APP/ROLE, e.g. portal/buyer", args[0])}
			}
			if !yes {
				return usageError{errors.New("deleting a role takes it from everyone who holds it; pass --yes to confirm")}
			}
			return withOrgs(cmd, e, func(_ *app, svc *orgs.Service) error {
				if err := svc.DeleteRole(cmd.Context(), appName, name, "system:cli"); err != nil {
					return orgProblem(err, "role "+args[0])
				}
				fmt.Fprintf(e.stdout, "deleted role %s\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

// withInvitations runs fn with the invitations service.
func withInvitations(cmd *cobra.Command, e env, fn func(svc *orgs.Invitations) error) error {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(&orgs.Invitations{Store: a.store, Apps: clients.Launcher{Store: a.store}, Cipher: a.keyring, TTL: a.cfg.InvitationTTL, Now: a.now})
}

// invitationOut is an invitation as the commands print it (never its
// token).
type invitationOut struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"org_id"`
	Email      string    `json:"email"`
	GivenName  string    `json:"given_name,omitempty"`
	FamilyName string    `json:"family_name,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	Locale     string    `json:"locale,omitempty"`
	Roles      []string  `json:"roles"`
	Locked     []string  `json:"locked_fields,omitempty"`
	ReturnTo   string    `json:"return_to,omitempty"`
	ClientID   string    `json:"client_id,omitempty"`
	Status     string    `json:"status"`
	InvitedBy  string    `json:"invited_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func invitationView(inv orgs.Invitation) invitationOut {
	return invitationOut{ID: inv.ID, OrgID: inv.OrgID, Email: inv.Email, GivenName: inv.GivenName, FamilyName: inv.FamilyName,
		Phone: inv.Phone, Locale: inv.Locale, Roles: grantList(inv.Roles), Locked: inv.LockedFields, ReturnTo: inv.ReturnTo, ClientID: inv.ClientID, Status: inv.Status,
		InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

func newOrgInviteCmd(e env) *cobra.Command {
	var inv orgs.Invitation
	var roles []string
	var appName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invite ORG EMAIL",
		Short: "Invite someone to an organization",
		Long: `Invite someone to an organization with roles. The running server mails
them a link (in --locale, default English) that opens a registration form
pre-filled with the names and phone given here, the address fixed; someone
with an account signs in and joins. --lock makes pre-filled fields
read-only on the form and owned by the CRM for that person afterwards. The link works once, until
invitation_ttl (default 7 days). Inviting an address again while its
invitation is pending replaces that invitation and sends it again. ` + orgRefHelp + `

Example:
  portvakt org invite acme maria@acme.example --given-name Maria --family-name Berg \
    --lock given_name,family_name --locale sv --role portal/buyer --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			grants, err := orgs.ParseGrants(appName, roles)
			if err != nil {
				return orgProblem(err, "")
			}
			inv.Email, inv.Roles = args[1], grants
			return withInvitations(cmd, e, func(svc *orgs.Invitations) error {
				o, err := (&orgs.Service{Store: svc.Store}).Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				inv.OrgID = o.ID
				inv, err = svc.Invite(cmd.Context(), inv, "system:cli")
				if err != nil {
					return orgProblem(err, "invitation")
				}
				if asJSON {
					return json.NewEncoder(e.stdout).Encode(invitationView(inv))
				}
				fmt.Fprintf(e.stdout, "Invited %s to %s (invitation %s, valid until %s). The server sends the mail.\n",
					inv.Email, o.Slug, inv.ID, inv.ExpiresAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&roles, "role", nil, "a role, app/role; repeat for more")
	fl.StringVar(&appName, "app", "", "the application of roles given without one")
	fl.StringVar(&inv.GivenName, "given-name", "", "pre-fills the registration form")
	fl.StringVar(&inv.FamilyName, "family-name", "", "pre-fills the registration form")
	fl.StringVar(&inv.Phone, "phone", "", "pre-fills the registration form (E.164, e.g. +46701234567)")
	fl.StringVar(&inv.Locale, "locale", "", "language of the mail and pages: en, sv or fi")
	fl.StringSliceVar(&inv.LockedFields, "lock", nil, "pre-filled fields the person cannot change, comma-separated: given_name, family_name, phone")
	fl.StringVar(&inv.ReturnTo, "return-to", "", "a path on this server to go to after joining (default the account page)")
	fl.StringVar(&inv.ClientID, "client", "", "the application (a client ID; the client needs --initiate-login-uri) to open after joining, before --return-to")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newOrgInvitationCmd(e env) *cobra.Command {
	cmd := groupCmd("invitation", "List, resend or withdraw an organization's invitations")
	var status string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List an organization's invitations, newest first",
		Long:  "List an organization's invitations, newest first. " + orgRefHelp,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInvitations(cmd, e, func(svc *orgs.Invitations) error {
				o, err := (&orgs.Service{Store: svc.Store}).Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				list, err := svc.Store.Invitations(cmd.Context(), o.ID, status)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, inv := range list {
						if err := enc.Encode(invitationView(inv)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "EMAIL\tSTATUS\tROLES\tEXPIRES\tID")
				for _, inv := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", inv.Email, inv.Status, strings.Join(grantList(inv.Roles), ","), inv.ExpiresAt.Format(time.RFC3339), inv.ID)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "only pending, accepted, revoked or expired ones")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	act := func(use, short, done string, do func(svc *orgs.Invitations, ctx *cobra.Command, orgID, id string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " ORG ID", Short: short, Args: exactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withInvitations(cmd, e, func(svc *orgs.Invitations) error {
					o, err := (&orgs.Service{Store: svc.Store}).Find(cmd.Context(), args[0])
					if err != nil {
						return orgProblem(err, "organization "+args[0])
					}
					if err := do(svc, cmd, o.ID, args[1]); err != nil {
						if errors.Is(err, orgs.ErrInvitationUsed) {
							return usageError{fmt.Errorf("invitation %s: %w (it was accepted, withdrawn or has expired)", args[1], err)}
						}
						return orgProblem(err, "invitation "+args[1])
					}
					fmt.Fprintf(e.stdout, "%s invitation %s\n", done, args[1])
					return nil
				})
			},
		}
	}
	cmd.AddCommand(list,
		act("resend", "Send a pending invitation again, with a new link and expiry", "resent", func(svc *orgs.Invitations, c *cobra.Command, orgID, id string) error {
			_, err := svc.Resend(c.Context(), orgID, id, "system:cli")
			return err
		}),
		act("revoke", "Withdraw a pending invitation: its link stops working", "withdrew", func(svc *orgs.Invitations, c *cobra.Command, orgID, id string) error {
			return svc.Revoke(c.Context(), orgID, id, "system:cli")
		}))
	return cmd
}

// withJoins runs fn with the joining-by-domain service.
func withJoins(cmd *cobra.Command, e env, fn func(svc *orgs.Joins) error) error {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(&orgs.Joins{Store: a.store, Emails: &accounts.Service{Store: a.store}, Now: a.now})
}

// joinRequestOut is a request to join as the commands print it.
type joinRequestOut struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	UserID    string     `json:"user_id"`
	Email     string     `json:"email"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
}

func joinRequestView(jr orgs.JoinRequest) joinRequestOut {
	out := joinRequestOut{ID: jr.ID, OrgID: jr.OrgID, UserID: jr.UserID, Email: jr.Email, Status: jr.Status, CreatedAt: jr.CreatedAt, DecidedBy: jr.DecidedBy}
	if !jr.DecidedAt.IsZero() {
		out.DecidedAt = &jr.DecidedAt
	}
	return out
}

func newOrgJoinRequestCmd(e env) *cobra.Command {
	cmd := groupCmd("join-request", "List, approve or decline requests to join an organization by domain")
	var status string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List the requests to join an organization, oldest first",
		Long: `List the requests to join an organization, oldest first. People whose
verified address is in one of the organization's domains ask to join on
their account page; unless the organization admits its domain
(--auto-join), its admins, or this command, approve or decline. ` + orgRefHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJoins(cmd, e, func(svc *orgs.Joins) error {
				o, err := (&orgs.Service{Store: svc.Store}).Find(cmd.Context(), args[0])
				if err != nil {
					return orgProblem(err, "organization "+args[0])
				}
				list, err := svc.Store.JoinRequests(cmd.Context(), o.ID, status)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, jr := range list {
						if err := enc.Encode(joinRequestView(jr)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "EMAIL\tSTATUS\tASKED\tID")
				for _, jr := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", jr.Email, jr.Status, jr.CreatedAt.Format(time.RFC3339), jr.ID)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "only pending, approved or declined ones")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	act := func(use, short, done string, do func(svc *orgs.Joins, c *cobra.Command, orgID, id string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " ORG ID", Short: short, Args: exactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withJoins(cmd, e, func(svc *orgs.Joins) error {
					o, err := (&orgs.Service{Store: svc.Store}).Find(cmd.Context(), args[0])
					if err != nil {
						return orgProblem(err, "organization "+args[0])
					}
					if err := do(svc, cmd, o.ID, args[1]); err != nil {
						if errors.Is(err, orgs.ErrJoinRequestDecided) {
							return usageError{fmt.Errorf("join request %s: %w", args[1], err)}
						}
						return orgProblem(err, "join request "+args[1])
					}
					fmt.Fprintf(e.stdout, "%s join request %s\n", done, args[1])
					return nil
				})
			},
		}
	}
	cmd.AddCommand(list,
		act("approve", "Approve a pending request: the person joins with the organization's join roles", "approved", func(svc *orgs.Joins, c *cobra.Command, orgID, id string) error {
			_, err := svc.Approve(c.Context(), orgID, id, "system:cli")
			return err
		}),
		act("decline", "Decline a pending request", "declined", func(svc *orgs.Joins, c *cobra.Command, orgID, id string) error {
			_, err := svc.Decline(c.Context(), orgID, id, "system:cli")
			return err
		}))
	return cmd
}
