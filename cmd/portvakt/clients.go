package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/orgs"
)

func newClientCmd(e env) *cobra.Command {
	cmd := groupCmd("client", "Register and manage OAuth 2 and OpenID Connect clients")
	cmd.AddCommand(newClientCreateCmd(e), newClientListCmd(e), newClientGetCmd(e),
		newClientUpdateCmd(e), newClientDeleteCmd(e), newClientRotateSecretCmd(e))
	return cmd
}

// clientFieldFlags names the flag that sets each field of a client, so that
// a validation error can name both.
var clientFieldFlags = map[string]string{
	"name":                                "--name",
	"type":                                "--type",
	"application_type":                    "--application-type",
	"grant_types":                         "--grant-type",
	"redirect_uris":                       "--redirect-uri",
	"post_logout_redirect_uris":           "--post-logout-redirect-uri",
	"scopes":                              "--scope",
	"first_party":                         "--first-party",
	"token_endpoint_auth_method":          "--token-endpoint-auth-method",
	"jwks":                                "--jwks-file",
	"jwks_uri":                            "--jwks-uri",
	"id_token_alg":                        "--id-token-alg",
	"access_token_format":                 "--access-token-format",
	"access_token_audience":               "--audience",
	"access_token_lifetime":               "--access-token-lifetime",
	"id_token_lifetime":                   "--id-token-lifetime",
	"refresh_token_lifetime":              "--refresh-token-lifetime",
	"subject_type":                        "--subject-type",
	"sector_identifier":                   "--sector-identifier",
	"require_par":                         "--require-par",
	"min_acr":                             "--min-acr",
	"require_mfa":                         "--require-mfa",
	"release_verified":                    "--release-verified",
	"release_consents":                    "--release-consents",
	"app":                                 "--app",
	"backchannel_logout_uri":              "--backchannel-logout-uri",
	"backchannel_logout_session_required": "--backchannel-logout-session-required",
	"initiate_login_uri":                  "--initiate-login-uri",
	"organizations":                       "--organizations",
	"organization":                        "--organization",
	"overlap":                             "--overlap",
}

// clientFlags are the flags that set a client's fields, shared by create
// and update.
type clientFlags struct {
	name, typ, appType, authMethod, jwksFile, jwksURI, idTokenAlg string
	tokenFormat, subjectType, sector, backchannelURI, minACR, app string
	initiateLoginURI, orgMode, orgRef                             string
	grants, redirects, postLogout, scopes, audience, release      []string
	firstParty, requirePAR, requireMFA, backchannelSession        bool
	releaseConsents                                               bool
	accessTTL, idTTL, refreshTTL                                  time.Duration
	// jwks is the content of --jwks-file, read by load.
	jwks json.RawMessage
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "the name users see")
	fs.StringVar(&f.typ, "type", "", "confidential (runs on a server) or public (runs on the user's device)")
	fs.StringVar(&f.appType, "application-type", "", "web (default) or native")
	fs.StringArrayVar(&f.grants, "grant-type", nil, "allowed grant: authorization_code (default), refresh_token, client_credentials; repeat or separate with commas")
	fs.StringArrayVar(&f.redirects, "redirect-uri", nil, "redirect URI, matched exactly; repeat for more")
	fs.StringArrayVar(&f.postLogout, "post-logout-redirect-uri", nil, "where to send users after logout; repeat for more")
	fs.StringArrayVar(&f.scopes, "scope", nil, "allowed scope: openid (default), profile, email, address, phone, offline_access, portvakt:…; repeat or separate with spaces or commas")
	fs.BoolVar(&f.firstParty, "first-party", false, "the business's own app: users are not asked for consent")
	fs.StringVar(&f.authMethod, "token-endpoint-auth-method", "", "client_secret_basic (default for confidential), client_secret_post, private_key_jwt, none (public)")
	fs.StringVar(&f.jwksFile, "jwks-file", "", "file with the client's public JSON Web Key Set for private_key_jwt (- for standard input)")
	fs.StringVar(&f.jwksURI, "jwks-uri", "", "https URL of the client's public JSON Web Key Set for private_key_jwt")
	fs.StringVar(&f.idTokenAlg, "id-token-alg", "", "ID token signing algorithm: RS256 (default), ES256, EdDSA")
	fs.StringVar(&f.tokenFormat, "access-token-format", "", "jwt (default) or opaque")
	fs.StringArrayVar(&f.audience, "audience", nil, "audience (aud) of the access tokens; repeat for more")
	fs.DurationVar(&f.accessTTL, "access-token-lifetime", 0, "access token lifetime, 1m to 24h (default 10m)")
	fs.DurationVar(&f.idTTL, "id-token-lifetime", 0, "ID token lifetime, 1m to 24h (default 10m)")
	fs.DurationVar(&f.refreshTTL, "refresh-token-lifetime", 0, "refresh token lifetime, 5m to 8760h (default 720h)")
	fs.StringVar(&f.subjectType, "subject-type", "", "public (default: one sub for all clients) or pairwise (one per sector)")
	fs.StringVar(&f.sector, "sector-identifier", "", "host name whose clients share pairwise subs (default: the redirect URIs' host)")
	fs.BoolVar(&f.requirePAR, "require-par", false, "require pushed authorization requests (RFC 9126)")
	fs.BoolVar(&f.requireMFA, "require-mfa", false, "everyone signing in to the application uses a second factor; people without one set one up first")
	fs.StringVar(&f.minACR, "min-acr", "", "lowest level of assurance the application accepts, e.g. urn:portvakt:loa:substantial; people below it are asked for a second factor")
	fs.StringArrayVar(&f.release, "release-verified", nil, "verified attributes the application receives as verified_claims: legal_name, birthdate, national_id (special-category data: only with a legal basis); repeat or separate with commas")
	fs.BoolVar(&f.releaseConsents, "release-consents", false, "the application receives the consents claim in ID tokens and from userinfo: the person's consents to the purposes that concern it (see docs/consents.md)")
	fs.StringVar(&f.app, "app", "", "the application whose roles the tokens carry (see portvakt role); clients of one application share it (default: the client ID)")
	fs.StringVar(&f.backchannelURI, "backchannel-logout-uri", "", "https URL that receives back-channel logout tokens")
	fs.BoolVar(&f.backchannelSession, "backchannel-logout-session-required", false, "logout tokens must carry the session ID (sid)")
	fs.StringVar(&f.orgMode, "organizations", "", "how the application is used in organizations: optional (default: members sign in for one, others on their own), required (only members of an organization), off (a consumer application: no organization chooser, none in its tokens)")
	fs.StringVar(&f.orgRef, "organization", "", "limits the client's use of the management API to one organization (its ID, slug or ext:<external ID>; '' for none): that organization, its members and its invitations")
	fs.StringVar(&f.initiateLoginURI, "initiate-login-uri", "", "https URL that opens the application signed in (it starts an authorization request; OpenID Connect third-party-initiated login); invitations can send people there")
}

// load reads what the flags point to (the key set file), before anything
// is opened.
func (f *clientFlags) load(fs *pflag.FlagSet, stdin io.Reader) error {
	if !fs.Changed("jwks-file") || f.jwksFile == "" {
		return nil
	}
	b, err := readJWKSFile(f.jwksFile, stdin)
	if err != nil {
		return usageError{err}
	}
	f.jwks = b
	return nil
}

// apply sets the fields of c whose flags were given on the command line.
// A list flag replaces the whole list; an empty value ("") clears it.
func (f *clientFlags) apply(fs *pflag.FlagSet, c *clients.Client) {
	set := fs.Changed
	str := func(flag string, dst *string, v string) {
		if set(flag) {
			*dst = strings.TrimSpace(v)
		}
	}
	str("name", &c.Name, f.name)
	if set("application-type") {
		c.ApplicationType = clients.ApplicationType(strings.TrimSpace(f.appType))
	}
	if set("token-endpoint-auth-method") {
		c.TokenEndpointAuthMethod = clients.AuthMethod(strings.TrimSpace(f.authMethod))
	}
	if set("id-token-alg") {
		c.IDTokenAlg = clients.Alg(strings.TrimSpace(f.idTokenAlg))
	}
	if set("access-token-format") {
		c.AccessTokenFormat = clients.TokenFormat(strings.TrimSpace(f.tokenFormat))
	}
	if set("subject-type") {
		c.SubjectType = clients.SubjectType(strings.TrimSpace(f.subjectType))
	}
	str("sector-identifier", &c.SectorIdentifier, f.sector)
	str("min-acr", &c.MinACR, f.minACR)
	str("app", &c.App, f.app)
	str("backchannel-logout-uri", &c.BackchannelLogoutURI, f.backchannelURI)
	str("initiate-login-uri", &c.InitiateLoginURI, f.initiateLoginURI)
	if set("organizations") {
		c.Organizations = clients.OrgMode(strings.TrimSpace(f.orgMode))
	}
	str("organization", &c.Organization, f.orgRef)
	if set("grant-type") {
		c.GrantTypes = nil
		for _, g := range splitWords(f.grants) {
			c.GrantTypes = append(c.GrantTypes, clients.GrantType(g))
		}
	}
	if set("scope") {
		c.Scopes = splitWords(f.scopes)
	}
	if set("release-verified") {
		c.ReleaseVerified = splitWords(f.release)
	}
	list := func(flag string, dst *[]string, vs []string) {
		if set(flag) {
			*dst = nil
			for _, v := range vs {
				if v = strings.TrimSpace(v); v != "" {
					*dst = append(*dst, v)
				}
			}
		}
	}
	list("redirect-uri", &c.RedirectURIs, f.redirects)
	list("post-logout-redirect-uri", &c.PostLogoutRedirectURIs, f.postLogout)
	list("audience", &c.AccessTokenAudience, f.audience)
	for flag, p := range map[string]*bool{"first-party": &c.FirstParty, "require-par": &c.RequirePAR, "require-mfa": &c.RequireMFA,
		"backchannel-logout-session-required": &c.BackchannelLogoutSessionRequired, "release-consents": &c.ReleaseConsents} {
		if set(flag) {
			*p, _ = fs.GetBool(flag)
		}
	}
	for flag, p := range map[string]*time.Duration{"access-token-lifetime": &c.AccessTokenLifetime,
		"id-token-lifetime": &c.IDTokenLifetime, "refresh-token-lifetime": &c.RefreshTokenLifetime} {
		if set(flag) {
			*p, _ = fs.GetDuration(flag)
		}
	}
	// The keys come from a file or a URL: giving one drops the other.
	if set("jwks-uri") {
		c.JWKSURI = strings.TrimSpace(f.jwksURI)
		if !set("jwks-file") {
			c.JWKS = nil
		}
	}
	if set("jwks-file") {
		c.JWKS = f.jwks
		if !set("jwks-uri") {
			c.JWKSURI = ""
		}
	}
}

// splitWords splits flag values at commas and white space, for grant types
// and scopes, which contain neither.
func splitWords(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })...)
	}
	return out
}

// readJWKSFile reads a key set from path, or from stdin for "-".
func readJWKSFile(path string, stdin io.Reader) (json.RawMessage, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--jwks-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	return b, nil
}

// clientService opens the app and returns the client service on its store.
func clientService(cmd *cobra.Command, e env) (*app, *clients.Service, error) {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return nil, nil, err
	}
	return a, &clients.Service{Store: a.store, Now: a.now}, nil
}

func newClientCreateCmd(e env) *cobra.Command {
	var f clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client",
		Long: `Register an application as an OAuth 2 / OpenID Connect client and print its
client_id. A confidential client that authenticates with a secret
(client_secret_basic or client_secret_post) also gets its client_secret,
printed this once only: Portvakt keeps nothing but a digest of it.

Public clients (native and single-page apps) have no secret, authenticate
with "none" and must use PKCE. Redirect URIs are matched exactly; a native
app's loopback URI (http://127.0.0.1/callback, http://[::1]/callback) also
matches on any port.

What an identity-proofing provider (an eID) vouched for about a person —
legal name, date of birth, national identity number — reaches only an
application registered for it with --release-verified, in its ID tokens
and from userinfo as verified_claims. The national identity number is
special-category personal data: release it only to an application with a
legal basis to process it.

An application registered with --release-consents receives the consents
claim: the person's decisions on the purposes that concern it (terms,
marketing …; see docs/consents.md).

Examples:
  portvakt client create --name Webshop --type confidential \
    --redirect-uri https://shop.example.com/callback \
    --grant-type authorization_code,refresh_token --scope "openid profile email offline_access" --json
  portvakt client create --name "Desktop app" --type public --application-type native \
    --redirect-uri http://127.0.0.1/callback --scope openid --json
  portvakt client create --name "Nightly sync" --type confidential \
    --grant-type client_credentials --scope portvakt:users:read --json
  portvakt client create --name "Loan application" --type confidential \
    --redirect-uri https://loans.example.com/callback --scope openid \
    --release-verified legal_name,birthdate,national_id --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := strings.TrimSpace(f.typ)
			if t == "" {
				return usageError{errors.New("--type is required: confidential or public")}
			}
			if err := f.load(cmd.Flags(), e.stdin); err != nil {
				return err
			}
			c := clients.Client{Type: clients.Type(t)}
			f.apply(cmd.Flags(), &c)
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			if err := resolveClientOrg(cmd.Context(), a, &c); err != nil {
				return err
			}
			c, secret, err := svc.Create(cmd.Context(), c, "system:cli")
			if err != nil {
				return clientProblem(err, "")
			}
			if asJSON {
				return printClientJSON(e, c, secret)
			}
			fmt.Fprintf(e.stdout, "Created %s client %q.\n\nclient_id:     %s\n", c.Type, c.Name, c.ID)
			switch {
			case secret != "":
				fmt.Fprintf(e.stdout, "client_secret: %s\n\n", secret)
				printSecretShownOnce(e, c.ID)
			case c.Type == clients.TypePublic:
				fmt.Fprintf(e.stdout, "\nA public client has no secret: it must use PKCE (S256).\n")
			default:
				fmt.Fprintf(e.stdout, "\nThe client authenticates with %s: it has no secret.\n", c.TokenEndpointAuthMethod)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (with client_id and, if any, client_secret)")
	return cmd
}

func printSecretShownOnce(e env, id string) {
	fmt.Fprintf(e.stdout, "The client secret is shown only this once: store it now, in a secret manager.\n"+
		"Portvakt keeps only a digest of it. If it is lost, make a new one with\n"+
		"  portvakt client rotate-secret %s\n", id)
}

func newClientListCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Long:  "List clients in client_id order: a table, or with --json one JSON object a line.",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "CLIENT_ID\tTYPE\tAPPLICATION\tGRANTS\tNAME")
			}
			out := json.NewEncoder(e.stdout)
			for after := ""; ; {
				page, err := svc.List(cmd.Context(), after, 500)
				if err != nil {
					return err
				}
				for _, c := range page {
					if asJSON {
						if err := out.Encode(clientView(c, "")); err != nil {
							return err
						}
						continue
					}
					grants := make([]string, len(c.GrantTypes))
					for i, g := range c.GrantTypes {
						grants[i] = string(g)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Type, c.ApplicationType, strings.Join(grants, ","), c.Name)
				}
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].ID
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines")
	return cmd
}

func newClientGetCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show a client",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			c, err := svc.Get(cmd.Context(), args[0])
			if err != nil {
				return clientProblem(err, args[0])
			}
			return printClient(e, c, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// resolveClientOrg turns the organization a client is limited to, as
// given (ID, slug or ext:<external ID>), into its ID.
func resolveClientOrg(ctx context.Context, a *app, c *clients.Client) error {
	if c.Organization == "" {
		return nil
	}
	o, err := newOrgsService(a).Find(ctx, c.Organization)
	if errors.Is(err, orgs.ErrNotFound) {
		return usageError{fmt.Errorf("organization (--organization): no organization %q (see portvakt org list)", c.Organization)}
	}
	if err != nil {
		return err
	}
	c.Organization = o.ID
	return nil
}

func newClientUpdateCmd(e env) *cobra.Command {
	var f clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client's settings",
		Long: `Change a client's settings: only the fields whose flags are given change. A
list flag (--redirect-uri, --scope, …) replaces the whole list; give it as
'' to empty the list (--release-verified '' stops the release of verified
attributes). The type cannot be changed, nor the secret (see
rotate-secret).

Example:
  portvakt client update CLIENT_ID --redirect-uri https://shop.example.com/callback \
    --redirect-uri https://shop.example.com/callback2`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := false
			cmd.Flags().Visit(func(fl *pflag.Flag) { changed = changed || fl.Name != "json" })
			if !changed {
				return usageError{errors.New("nothing to change: give the flags of the fields to change")}
			}
			if err := f.load(cmd.Flags(), e.stdin); err != nil {
				return err
			}
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			c, err := svc.Update(cmd.Context(), args[0], func(c clients.Client) (clients.Client, error) {
				if cmd.Flags().Changed("type") {
					c.Type = clients.Type(strings.TrimSpace(f.typ))
				}
				f.apply(cmd.Flags(), &c)
				if cmd.Flags().Changed("organization") {
					if err := resolveClientOrg(cmd.Context(), a, &c); err != nil {
						return c, err
					}
				}
				return c, nil
			}, "system:cli")
			if err != nil {
				return clientProblem(err, args[0])
			}
			if err := printClient(e, c, asJSON); err != nil {
				return err
			}
			if c.UsesSecret() && c.SecretHash == "" && !asJSON {
				fmt.Fprintf(e.stdout, "\nThe client has no secret yet: make one with\n  portvakt client rotate-secret %s\n", c.ID)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newClientDeleteCmd(e env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client",
		Long:  "Delete a client. Its users can no longer sign in to it. It cannot be undone; pass --yes to confirm.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{errors.New("deleting a client cannot be undone; pass --yes to confirm")}
			}
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			c, err := svc.Get(cmd.Context(), args[0])
			if err != nil {
				return clientProblem(err, args[0])
			}
			if err := svc.Delete(cmd.Context(), c.ID, "system:cli"); err != nil {
				return clientProblem(err, args[0])
			}
			fmt.Fprintf(e.stdout, "deleted client %s (%s)\n", c.ID, c.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func newClientRotateSecretCmd(e env) *cobra.Command {
	var overlap time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give a client a new secret",
		Long: `Give a client a new secret, printed this once only. The secret it replaces
keeps working for --overlap (default 24h, at most 720h), so that the
client's deployments can switch over without downtime; --overlap 0 revokes
it at once (for a leaked secret). Only two secrets are ever valid: a secret
kept from an earlier rotation stops working.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, svc, err := clientService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			c, secret, err := svc.RotateSecret(cmd.Context(), args[0], overlap, "system:cli")
			if err != nil {
				return clientProblem(err, args[0])
			}
			var until *time.Time
			if c.PreviousSecretHash != "" {
				until = &c.PreviousSecretExpiresAt
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(struct {
					ClientID     string     `json:"client_id"`
					ClientSecret string     `json:"client_secret"`
					PreviousTill *time.Time `json:"previous_secret_valid_until"`
				}{c.ID, secret, until})
			}
			fmt.Fprintf(e.stdout, "New secret for client %s (%s).\n\nclient_secret: %s\n\n", c.ID, c.Name, secret)
			printSecretShownOnce(e, c.ID)
			if until != nil {
				fmt.Fprintf(e.stdout, "The previous secret keeps working until %s.\n", until.Format(time.RFC3339))
			} else {
				fmt.Fprintf(e.stdout, "The previous secret no longer works.\n")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&overlap, "overlap", clients.DefaultSecretOverlap, "how long the previous secret keeps working (0: revoke it now)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object with client_id and client_secret")
	return cmd
}

// clientProblem turns domain errors into clear command errors.
func clientProblem(err error, id string) error {
	switch {
	case errors.Is(err, clients.ErrNotFound):
		return usageError{fmt.Errorf("no such client: %q", id)}
	case errors.Is(err, clients.ErrConflict):
		return usageError{errors.New("a client with this client_id already exists")}
	case errors.Is(err, clients.ErrInvalid):
		return usageError{errors.New(fieldProblems(err))}
	}
	return err
}

// fieldProblems lists the FieldErrors in err on one line, each with the
// flag that sets the field: "redirect_uris (--redirect-uri): …; scopes
// (--scope): …".
func fieldProblems(err error) string {
	return problems(err, clientFieldFlags, func(err error) (string, string, bool) {
		var fe clients.FieldError
		ok := errors.As(err, &fe)
		return fe.Field, fe.Message, ok
	})
}

// problems lists the field errors joined in err on one line, each with
// the flag that sets its field (from flags); field reads one.
func problems(err error, flags map[string]string, field func(error) (name, msg string, ok bool)) string {
	var parts []string
	for _, err := range flattenErrors(err) {
		name, msg, ok := field(err)
		if !ok {
			parts = append(parts, err.Error())
			continue
		}
		if flag, ok := flags[name]; ok {
			name += " (" + flag + ")"
		}
		parts = append(parts, name+": "+msg)
	}
	return strings.Join(parts, "; ")
}

// clientOut is a client as the commands print it. Lifetimes are in
// seconds; the secret appears only when it was just made.
type clientOut struct {
	ClientID                         string          `json:"client_id"`
	ClientSecret                     string          `json:"client_secret,omitempty"`
	Name                             string          `json:"name"`
	Type                             string          `json:"type"`
	ApplicationType                  string          `json:"application_type"`
	GrantTypes                       []string        `json:"grant_types"`
	RedirectURIs                     []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs           []string        `json:"post_logout_redirect_uris"`
	Scopes                           []string        `json:"scopes"`
	FirstParty                       bool            `json:"first_party"`
	TokenEndpointAuthMethod          string          `json:"token_endpoint_auth_method"`
	JWKS                             json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                          string          `json:"jwks_uri,omitempty"`
	IDTokenAlg                       string          `json:"id_token_alg"`
	AccessTokenFormat                string          `json:"access_token_format"`
	AccessTokenAudience              []string        `json:"access_token_audience"`
	AccessTokenLifetimeSeconds       int64           `json:"access_token_lifetime_seconds"`
	IDTokenLifetimeSeconds           int64           `json:"id_token_lifetime_seconds"`
	RefreshTokenLifetimeSeconds      int64           `json:"refresh_token_lifetime_seconds"`
	SubjectType                      string          `json:"subject_type"`
	SectorIdentifier                 string          `json:"sector_identifier,omitempty"`
	RequirePAR                       bool            `json:"require_par"`
	MinACR                           string          `json:"min_acr,omitempty"`
	RequireMFA                       bool            `json:"require_mfa"`
	ReleaseVerified                  []string        `json:"release_verified"`
	ReleaseConsents                  bool            `json:"release_consents"`
	App                              string          `json:"app,omitempty"`
	BackchannelLogoutURI             string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool            `json:"backchannel_logout_session_required"`
	InitiateLoginURI                 string          `json:"initiate_login_uri,omitempty"`
	Organizations                    string          `json:"organizations"`
	Organization                     string          `json:"organization,omitempty"`
	HasSecret                        bool            `json:"has_secret"`
	PreviousSecretValidUntil         *time.Time      `json:"previous_secret_valid_until,omitempty"`
	CreatedAt                        time.Time       `json:"created_at"`
	UpdatedAt                        time.Time       `json:"updated_at"`
}

func clientView(c clients.Client, secret string) clientOut {
	orEmpty := func(vs []string) []string {
		if vs == nil {
			return []string{}
		}
		return vs
	}
	grants := []string{}
	for _, g := range c.GrantTypes {
		grants = append(grants, string(g))
	}
	out := clientOut{
		ClientID: c.ID, ClientSecret: secret, Name: c.Name, Type: string(c.Type), ApplicationType: string(c.ApplicationType),
		GrantTypes: grants, RedirectURIs: orEmpty(c.RedirectURIs), PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs),
		Scopes: orEmpty(c.Scopes), FirstParty: c.FirstParty, TokenEndpointAuthMethod: string(c.TokenEndpointAuthMethod),
		JWKS: c.JWKS, JWKSURI: c.JWKSURI, IDTokenAlg: string(c.IDTokenAlg), AccessTokenFormat: string(c.AccessTokenFormat),
		AccessTokenAudience:         orEmpty(c.AccessTokenAudience),
		AccessTokenLifetimeSeconds:  int64(c.AccessTokenLifetime / time.Second),
		IDTokenLifetimeSeconds:      int64(c.IDTokenLifetime / time.Second),
		RefreshTokenLifetimeSeconds: int64(c.RefreshTokenLifetime / time.Second),
		SubjectType:                 string(c.SubjectType), SectorIdentifier: c.SectorIdentifier, RequirePAR: c.RequirePAR, MinACR: c.MinACR, RequireMFA: c.RequireMFA,
		ReleaseVerified:      orEmpty(c.ReleaseVerified),
		ReleaseConsents:      c.ReleaseConsents,
		App:                  c.App,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		InitiateLoginURI: c.InitiateLoginURI, Organizations: string(c.Organizations), Organization: c.Organization,
		HasSecret: c.SecretHash != "", CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if c.PreviousSecretHash != "" {
		t := c.PreviousSecretExpiresAt
		out.PreviousSecretValidUntil = &t
	}
	return out
}

func printClientJSON(e env, c clients.Client, secret string) error {
	return json.NewEncoder(e.stdout).Encode(clientView(c, secret))
}

func printClient(e env, c clients.Client, asJSON bool) error {
	if asJSON {
		return printClientJSON(e, c, "")
	}
	v := clientView(c, "")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', 0)
	row := func(k string, val any) { fmt.Fprintf(tw, "%s:\t%v\n", k, val) }
	row("client_id", v.ClientID)
	row("name", v.Name)
	row("type", v.Type)
	row("application_type", v.ApplicationType)
	row("grant_types", strings.Join(v.GrantTypes, " "))
	row("redirect_uris", strings.Join(v.RedirectURIs, " "))
	row("post_logout_redirect_uris", strings.Join(v.PostLogoutRedirectURIs, " "))
	row("scopes", strings.Join(v.Scopes, " "))
	row("first_party", v.FirstParty)
	row("token_endpoint_auth_method", v.TokenEndpointAuthMethod)
	if v.JWKS != nil {
		row("jwks", string(v.JWKS))
	}
	if v.JWKSURI != "" {
		row("jwks_uri", v.JWKSURI)
	}
	row("id_token_alg", v.IDTokenAlg)
	row("access_token_format", v.AccessTokenFormat)
	row("access_token_audience", strings.Join(v.AccessTokenAudience, " "))
	row("access_token_lifetime", c.AccessTokenLifetime)
	row("id_token_lifetime", c.IDTokenLifetime)
	row("refresh_token_lifetime", c.RefreshTokenLifetime)
	row("subject_type", v.SubjectType)
	if v.SectorIdentifier != "" {
		row("sector_identifier", v.SectorIdentifier)
	}
	row("require_par", v.RequirePAR)
	if v.MinACR != "" {
		row("min_acr", v.MinACR)
	}
	row("require_mfa", v.RequireMFA)
	if v.App != "" {
		row("app", v.App)
	}
	if len(v.ReleaseVerified) > 0 {
		row("release_verified", strings.Join(v.ReleaseVerified, " "))
	}
	if v.ReleaseConsents {
		row("release_consents", v.ReleaseConsents)
	}
	if v.BackchannelLogoutURI != "" {
		row("backchannel_logout_uri", v.BackchannelLogoutURI)
		row("backchannel_logout_session_required", v.BackchannelLogoutSessionRequired)
	}
	if v.InitiateLoginURI != "" {
		row("initiate_login_uri", v.InitiateLoginURI)
	}
	row("organizations", v.Organizations)
	if v.Organization != "" {
		row("organization", v.Organization)
	}
	row("has_secret", v.HasSecret)
	if v.PreviousSecretValidUntil != nil {
		row("previous_secret_valid_until", v.PreviousSecretValidUntil.Format(time.RFC3339))
	}
	row("created_at", v.CreatedAt.Format(time.RFC3339))
	row("updated_at", v.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}
