package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/federation"
)

func newIdpCmd(e env) *cobra.Command {
	cmd := groupCmd("idp", "Manage upstream identity providers (\"Continue with …\")")
	cmd.AddCommand(newIdpCreateCmd(e), newIdpListCmd(e), newIdpDeleteCmd(e))
	return cmd
}

func idpService(cmd *cobra.Command, e env) (*app, *federation.Service, error) {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return nil, nil, err
	}
	return a, &federation.Service{Store: a.store, Cipher: a.keyring, Now: a.now}, nil
}

// idpOut is a provider as the CLI prints it; the secret never.
type idpOut struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Issuer     string            `json:"issuer"`
	ClientID   string            `json:"client_id"`
	HasSecret  bool              `json:"has_secret"`
	Scopes     []string          `json:"scopes"`
	Kind       string            `json:"kind"`
	TrustEmail bool              `json:"trust_email"`
	Proofing   bool              `json:"proofing"`
	ACRMap     map[string]string `json:"acr_map,omitempty"`
	federation.Options
	CreatedAt time.Time `json:"created_at"`
}

func idpView(p federation.Provider) idpOut {
	return idpOut{ID: p.ID, Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, HasSecret: len(p.Secret) > 0,
		Scopes: p.Scopes, Kind: p.Kind, TrustEmail: p.TrustEmail, Proofing: p.Proofing, ACRMap: p.ACRMap, Options: p.Options, CreatedAt: p.CreatedAt}
}

func newIdpCreateCmd(e env) *cobra.Command {
	var p federation.Provider
	var scopes, preset, tenant string
	var acrMap, claimMap []string
	var secretStdin, asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register an upstream OpenID provider",
		Long: `Register an upstream OpenID Connect provider. It shows as "Continue with
<name>" on the sign-in and registration pages. Portvakt reads its discovery
document from the issuer, runs the code flow with PKCE, state and nonce,
and checks the ID token (signature, issuer, audience, nonce). Register
Portvakt at the provider with the redirect URI <issuer>/login/idp/callback.

The client secret is read from standard input (--client-secret-stdin), so
that it stays out of shell history, and kept encrypted.

Examples:
  printf '%s' "$SECRET" | portvakt idp create --preset google \
    --client-id 1234.apps.googleusercontent.com --client-secret-stdin --json
  printf '%s' "$SECRET" | portvakt idp create --preset microsoft --tenant contoso.onmicrosoft.com \
    --client-id 00000000-0000-0000-0000-000000000000 --client-secret-stdin --json
  printf '%s' "$SECRET" | portvakt idp create --id acme --name "Acme ID" \
    --issuer-url https://id.acme.example --client-id portvakt --client-secret-stdin --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secretStdin {
				raw, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
				if err != nil || len(strings.TrimSpace(string(raw))) == 0 {
					return usageError{errors.New("--client-secret-stdin: nothing on standard input")}
				}
				p.SecretPlain = strings.TrimRight(string(raw), "\r\n")
			}
			if preset != "" {
				if err := applyPreset(cmd, &p, preset, tenant); err != nil {
					return err
				}
			}
			if preset == "" || cmd.Flags().Changed("scope") {
				p.Scopes = strings.Fields(strings.ReplaceAll(scopes, ",", " "))
			}
			var err error
			if p.ACRMap, err = pairs("--acr-map", acrMap, "upstream-acr=our-acr, e.g. http://eidas.europa.eu/LoA/substantial=urn:portvakt:loa:substantial"); err != nil {
				return err
			}
			mapped, err := pairs("--map-claim", claimMap, "claim=field, e.g. sub=id")
			if err != nil {
				return err
			}
			for k, v := range mapped {
				if p.ClaimMap == nil {
					p.ClaimMap = map[string]string{}
				}
				p.ClaimMap[k] = v
			}
			if p.AppleTeamID != "" && !strings.Contains(p.SecretPlain, "PRIVATE KEY") {
				return usageError{errors.New("--apple-team-id: give the key's .p8 file (PEM) on standard input with --client-secret-stdin")}
			}
			if len(p.ACRMap) > 0 && !p.Proofing {
				return usageError{errors.New("--acr-map is for identity-proofing providers: add --proofing")}
			}
			a, svc, err := idpService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			p, err = svc.Create(cmd.Context(), p, "system:cli")
			if err != nil {
				return idpProblem(err, p.ID)
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(idpView(p))
			}
			fmt.Fprintf(e.stdout, "Registered identity provider %s (%s).\nRedirect URI to register at the provider: <issuer>/login/idp/callback\n", p.ID, p.Name)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&p.ID, "id", "", "short name in URLs and events, e.g. google (lower-case letters, digits, dashes)")
	fl.StringVar(&p.Name, "name", "", "name on the button: Continue with <name>")
	fl.StringVar(&p.Issuer, "issuer-url", "", "the provider's issuer URL (https); --issuer is Portvakt's own")
	fl.StringVar(&p.ClientID, "client-id", "", "Portvakt's client ID at the provider")
	fl.BoolVar(&secretStdin, "client-secret-stdin", false, "read Portvakt's client secret at the provider from standard input")
	fl.StringVar(&scopes, "scope", "openid email profile", "scopes to ask for")
	fl.BoolVar(&p.TrustEmail, "trust-email", false, "take the provider's email_verified at its word for new accounts")
	fl.StringVar(&p.Kind, "kind", "oidc", "oidc (discovery, ID tokens) or oauth2 (a provider without ID tokens: give --auth-url, --token-url, --userinfo-url)")
	fl.StringVar(&p.AuthURL, "auth-url", "", "with --kind oauth2: the authorization endpoint")
	fl.StringVar(&p.TokenURL, "token-url", "", "with --kind oauth2: the token endpoint")
	fl.StringVar(&p.UserinfoURL, "userinfo-url", "", "with --kind oauth2: the endpoint that describes the person (JSON)")
	fl.StringArrayVar(&claimMap, "map-claim", nil, "claim=upstream-name: where the provider keeps email, email_verified, given_name, family_name, locale (and, for --kind oauth2, sub); repeat for more (default: the same names, and id for sub)")
	fl.StringVar(&preset, "preset", "", "fill in a known provider: google, microsoft (with --tenant), apple, github, facebook or linkedin; other flags still override")
	fl.StringVar(&tenant, "tenant", "", "with --preset microsoft: the Entra ID tenant (its ID or domain, e.g. contoso.onmicrosoft.com), or common, organizations or consumers for any tenant (each token's issuer checked against its own tenant)")
	fl.StringSliceVar(&p.Tenants, "allowed-tenant", nil, "with a multi-tenant Microsoft preset: accept only these tenant IDs (comma-separated or repeated)")
	fl.StringVar(&p.AppleTeamID, "apple-team-id", "", "with --preset apple: the Apple developer team ID; the client secret is then a JWT signed with the key (.p8 file on standard input)")
	fl.StringVar(&p.AppleKeyID, "apple-key-id", "", "with --preset apple: the ID of the Sign in with Apple key")
	fl.StringVar(&p.Brand, "brand", "", "style the button after a known provider: "+strings.Join(federation.Brands, ", ")+" (presets set it)")
	fl.StringVar(&p.ResponseMode, "response-mode", "", "form_post to have the provider post its answer back (presets set it where needed)")
	fl.StringVar(&p.EmailsURL, "emails-url", "", "with --kind oauth2: an endpoint listing the person's addresses with primary and verified flags (GitHub's); the primary verified one is taken")
	fl.StringSliceVar(&p.RequiredFields, "require-field", nil, "ask for these before a registration through the provider completes, if the provider did not send them: "+strings.Join(federation.ProfileFields, ", "))
	fl.BoolVar(&p.Proofing, "proofing", false, "an identity-proofing source (bank-ID or national eID broker): its attributes are kept as verified, its acr sets the level")
	fl.StringArrayVar(&acrMap, "acr-map", nil, "with --proofing: upstream-acr=our-acr, e.g. http://eidas.europa.eu/LoA/high=urn:portvakt:loa:high; repeat for more")
	fl.StringVar(&p.NationalIDClaim, "national-id-claim", "", "with --proofing: the claim with the national identity number (default national_id)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newIdpListCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List upstream identity providers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, svc, err := idpService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			ps, err := svc.Store.ListProviders(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, p := range ps {
					if err := enc.Encode(idpView(p)); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tISSUER\tTRUST EMAIL")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", p.ID, p.Name, p.Issuer, p.TrustEmail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	return cmd
}

func newIdpDeleteCmd(e env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an upstream identity provider",
		Long:  "Delete a provider and unlink every account linked through it. People who signed in only with it can no longer sign in. Pass --yes to confirm.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{errors.New("deleting a provider unlinks every account linked through it; pass --yes to confirm")}
			}
			a, svc, err := idpService(cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			if err := svc.Delete(cmd.Context(), args[0], "system:cli"); err != nil {
				return idpProblem(err, args[0])
			}
			fmt.Fprintf(e.stdout, "deleted identity provider %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func idpProblem(err error, id string) error {
	var fe federation.FieldError
	switch {
	case errors.Is(err, federation.ErrNotFound):
		return usageError{fmt.Errorf("no such identity provider: %q", id)}
	case errors.Is(err, federation.ErrConflict):
		return usageError{fmt.Errorf("an identity provider %q already exists", id)}
	case errors.As(err, &fe):
		return usageError{errors.New(problems(err, idpFieldFlags, func(err error) (string, string, bool) {
			var fe federation.FieldError
			ok := errors.As(err, &fe)
			return fe.Field, fe.Message, ok
		}))}
	}
	return err
}

// idpFieldFlags names the flag that sets each provider field.
var idpFieldFlags = map[string]string{
	"id": "--id", "name": "--name", "issuer": "--issuer-url", "client_id": "--client-id", "kind": "--kind",
	"auth_url": "--auth-url", "token_url": "--token-url", "userinfo_url": "--userinfo-url",
	"claim_map": "--map-claim", "acr_map": "--acr-map", "brand": "--brand", "response_mode": "--response-mode",
	"tenant_issuer": "--tenant", "tenants": "--allowed-tenant", "apple_team_id": "--apple-team-id", "emails_url": "--emails-url",
	"required_fields": "--require-field",
}

// applyPreset starts p from a known provider's settings, leaving the
// flags the operator set as they are.
func applyPreset(cmd *cobra.Command, p *federation.Provider, preset, tenant string) error {
	base, err := federation.Preset(preset, tenant)
	if err != nil {
		return usageError{fmt.Errorf("--preset %s: %w", preset, err)}
	}
	set := cmd.Flags().Changed
	fromPreset := func(flag string, dst, src any) {
		if set(flag) {
			return
		}
		switch d := dst.(type) {
		case *string:
			*d = *src.(*string)
		case *bool:
			*d = *src.(*bool)
		}
	}
	fromPreset("id", &p.ID, &base.ID)
	fromPreset("name", &p.Name, &base.Name)
	fromPreset("issuer-url", &p.Issuer, &base.Issuer)
	fromPreset("trust-email", &p.TrustEmail, &base.TrustEmail)
	fromPreset("kind", &p.Kind, &base.Kind)
	fromPreset("auth-url", &p.AuthURL, &base.AuthURL)
	fromPreset("token-url", &p.TokenURL, &base.TokenURL)
	fromPreset("userinfo-url", &p.UserinfoURL, &base.UserinfoURL)
	if p.Kind == "" {
		p.Kind = federation.KindOIDC
	}
	if p.ClaimMap == nil {
		p.ClaimMap = base.ClaimMap
	}
	given := p.Options
	p.Options = base.Options
	p.Tenants, p.AppleTeamID, p.AppleKeyID, p.RequiredFields = given.Tenants, given.AppleTeamID, given.AppleKeyID, given.RequiredFields
	for flag, v := range map[string][2]*string{"brand": {&p.Brand, &given.Brand}, "response-mode": {&p.ResponseMode, &given.ResponseMode},
		"emails-url": {&p.EmailsURL, &given.EmailsURL}} {
		if set(flag) {
			*v[0] = *v[1]
		}
	}
	if !set("scope") {
		p.Scopes = base.Scopes
	}
	return nil
}

// pairs reads repeated key=value flags into a map (nil for none).
func pairs(flag string, kvs []string, want string) (map[string]string, error) {
	var out map[string]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, usageError{fmt.Errorf("%s %q: want %s", flag, kv, want)}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}
