package clients

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// publicJWKS is a set with one public Ed25519 key (RFC 8037, appendix A).
const publicJWKS = `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
	"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`

// privateJWKS returns a set holding a private key.
func privateJWKS(t *testing.T) json.RawMessage {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "oops"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// webClient is a valid confidential web client.
func webClient() Client {
	return Client{
		ID: "shop", Name: "Shop", Type: TypeConfidential,
		RedirectURIs: []string{"https://shop.example.com/callback"}, Scopes: []string{"openid", "profile"},
	}
}

// nativeClient is a valid public native client.
func nativeClient() Client {
	return Client{
		ID: "app", Name: "App", Type: TypePublic, ApplicationType: ApplicationTypeNative,
		GrantTypes:   []GrantType{GrantAuthorizationCode, GrantRefreshToken},
		RedirectURIs: []string{"http://127.0.0.1/callback"}, Scopes: []string{"openid", "offline_access"},
	}
}

// fieldsOf returns the fields of the FieldErrors in err, sorted, and fails
// the test if err holds anything else.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var fe FieldError
		if !errors.As(e, &fe) || !errors.Is(e, ErrInvalid) {
			t.Errorf("got error %v (%T), want a FieldError", e, e)
			continue
		}
		out = append(out, fe.Field)
	}
	slices.Sort(out)
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		base func() Client
		mod  func(c *Client)
		want []string // fields with problems; none for a valid client
		msg  string   // a part of the message, if given
	}{
		{"confidential web", webClient, func(*Client) {}, nil, ""},
		{"public native", nativeClient, func(*Client) {}, nil, ""},
		{"public single-page app", webClient, func(c *Client) { c.Type = TypePublic }, nil, ""},
		{"web on localhost and loopback", webClient, func(c *Client) {
			c.RedirectURIs = []string{"http://localhost:3000/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb"}
		}, nil, ""},
		{"native private-use scheme and https", nativeClient, func(c *Client) {
			c.RedirectURIs = []string{"com.example.app:/oauth2redirect", "https://app.example.com/native", "http://[::1]/cb"}
		}, nil, ""},
		{"client credentials without redirect URIs", webClient, func(c *Client) {
			c.GrantTypes, c.RedirectURIs, c.Scopes = []GrantType{GrantClientCredentials}, nil, []string{"portvakt:users:read"}
		}, nil, ""},
		{"private_key_jwt with jwks", webClient, func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, json.RawMessage(publicJWKS)
		}, nil, ""},
		{"private_key_jwt with jwks_uri", webClient, func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = AuthPrivateKeyJWT, "https://shop.example.com/jwks.json"
		}, nil, ""},
		{"every token setting", webClient, func(c *Client) {
			c.IDTokenAlg, c.AccessTokenFormat, c.AccessTokenAudience = AlgES256, TokenFormatOpaque, []string{"https://api.example.com"}
			c.AccessTokenLifetime, c.IDTokenLifetime, c.RefreshTokenLifetime = time.Minute, 24*time.Hour, 365*24*time.Hour
			c.SubjectType, c.RequirePAR, c.FirstParty = SubjectPairwise, true, true
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://shop.example.com/bc-logout", true
			c.PostLogoutRedirectURIs = []string{"https://shop.example.com/"}
		}, nil, ""},
		{"an application shared with other clients", webClient, func(c *Client) { c.App = "portal" }, nil, ""},
		{"releasing verified attributes", webClient, func(c *Client) { c.ReleaseVerified = []string{"legal_name", "birthdate", "national_id"} }, nil, ""},
		{"back-channel logout on loopback", webClient, func(c *Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9000/logout" }, nil, ""},
		{"pairwise with a sector", webClient, func(c *Client) {
			c.SubjectType, c.SectorIdentifier = SubjectPairwise, "example.com"
			c.RedirectURIs = append(c.RedirectURIs, "https://other.example.org/cb")
		}, nil, ""},

		{"no name", webClient, func(c *Client) { c.Name = "  " }, []string{"name"}, ""},
		{"control character in name", webClient, func(c *Client) { c.Name = "Shop\x00" }, []string{"name"}, ""},
		{"long name", webClient, func(c *Client) { c.Name = strings.Repeat("å", 201) }, []string{"name"}, ""},
		{"bad ID", webClient, func(c *Client) { c.ID = "-rf" }, []string{"id"}, ""},
		{"unknown type", webClient, func(c *Client) { c.Type = "secret" }, []string{"type"}, ""},
		{"unknown application type", webClient, func(c *Client) { c.ApplicationType = "spa" }, []string{"application_type"}, ""},
		{"confidential native", nativeClient, func(c *Client) {
			c.Type, c.TokenEndpointAuthMethod = TypeConfidential, AuthClientSecretBasic
		}, []string{"application_type"}, "public"},
		{"implicit grant", webClient, func(c *Client) { c.GrantTypes = []GrantType{"implicit"} },
			[]string{"grant_types"}, `unsupported grant type "implicit"; supported: authorization_code, refresh_token, client_credentials`},
		{"password grant", webClient, func(c *Client) { c.GrantTypes = []GrantType{GrantAuthorizationCode, "password"} },
			[]string{"grant_types"}, "unsupported grant type"},
		{"refresh without code", webClient, func(c *Client) {
			c.GrantTypes, c.RedirectURIs = []GrantType{GrantRefreshToken, GrantClientCredentials}, nil
		}, []string{"grant_types"}, ""},
		{"public client credentials", nativeClient, func(c *Client) {
			c.GrantTypes = append(c.GrantTypes, GrantClientCredentials)
		}, []string{"grant_types"}, "confidential"},
		{"public with a secret", nativeClient, func(c *Client) { c.TokenEndpointAuthMethod = AuthClientSecretBasic }, []string{"token_endpoint_auth_method"}, ""},
		{"public with private_key_jwt", nativeClient, func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, json.RawMessage(publicJWKS)
		}, []string{"token_endpoint_auth_method"}, ""},
		{"confidential with none", webClient, func(c *Client) { c.TokenEndpointAuthMethod = AuthNone }, []string{"token_endpoint_auth_method"}, ""},
		{"unknown auth method", webClient, func(c *Client) { c.TokenEndpointAuthMethod = "tls_client_auth" }, []string{"token_endpoint_auth_method"}, ""},
		{"private_key_jwt without keys", webClient, func(c *Client) { c.TokenEndpointAuthMethod = AuthPrivateKeyJWT }, []string{"jwks"}, "jwks_uri"},
		{"jwks and jwks_uri", webClient, func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI = AuthPrivateKeyJWT, json.RawMessage(publicJWKS), "https://shop.example.com/jwks"
		}, []string{"jwks"}, ""},
		{"jwks not JSON", webClient, func(c *Client) { c.JWKS = json.RawMessage(`{"keys": [`) }, []string{"jwks"}, ""},
		{"jwks without keys", webClient, func(c *Client) { c.JWKS = json.RawMessage(`{"keys": []}`) }, []string{"jwks"}, ""},
		{"jwks with a symmetric key", webClient, func(c *Client) {
			c.JWKS = json.RawMessage(`{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}`)
		}, []string{"jwks"}, ""},
		{"jwks_uri over http", webClient, func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = AuthPrivateKeyJWT, "http://shop.example.com/jwks"
		}, []string{"jwks_uri"}, ""},
		{"relative redirect URI", webClient, func(c *Client) { c.RedirectURIs = []string{"/callback"} }, []string{"redirect_uris"}, ""},
		{"empty redirect URI", webClient, func(c *Client) { c.RedirectURIs = []string{""} }, []string{"redirect_uris"}, ""},
		{"fragment", webClient, func(c *Client) { c.RedirectURIs = []string{"https://shop.example.com/cb#x"} }, []string{"redirect_uris"}, "fragment"},
		{"empty fragment", webClient, func(c *Client) { c.RedirectURIs = []string{"https://shop.example.com/cb#"} }, []string{"redirect_uris"}, ""},
		{"http for web", webClient, func(c *Client) { c.RedirectURIs = []string{"http://shop.example.com/cb"} }, []string{"redirect_uris"}, "https"},
		{"http on a look-alike of localhost", webClient, func(c *Client) {
			c.RedirectURIs = []string{"http://localhost.evil.example/cb"}
		}, []string{"redirect_uris"}, ""},
		{"http for native off loopback", nativeClient, func(c *Client) { c.RedirectURIs = []string{"http://app.example.com/cb"} }, []string{"redirect_uris"}, ""},
		{"custom scheme for web", webClient, func(c *Client) { c.RedirectURIs = []string{"com.example.app:/cb"} }, []string{"redirect_uris"}, "native"},
		{"javascript scheme", nativeClient, func(c *Client) { c.RedirectURIs = []string{"javascript:alert(1)"} }, []string{"redirect_uris"}, ""},
		{"scheme without a dot", nativeClient, func(c *Client) { c.RedirectURIs = []string{"myapp:/cb"} }, []string{"redirect_uris"}, "com.example.app"},
		{"userinfo", webClient, func(c *Client) { c.RedirectURIs = []string{"https://good.example@evil.example/"} }, []string{"redirect_uris"}, ""},
		{"space", webClient, func(c *Client) { c.RedirectURIs = []string{"https://shop.example.com/a b"} }, []string{"redirect_uris"}, ""},
		{"non-ASCII", webClient, func(c *Client) { c.RedirectURIs = []string{"https://shop.example.com/å"} }, []string{"redirect_uris"}, ""},
		{"no host", webClient, func(c *Client) { c.RedirectURIs = []string{"https:///cb"} }, []string{"redirect_uris"}, ""},
		{"long URI", webClient, func(c *Client) {
			c.RedirectURIs = []string{"https://shop.example.com/" + strings.Repeat("a", 2000)}
		}, []string{"redirect_uris"}, ""},
		{"code without redirect URIs", webClient, func(c *Client) { c.RedirectURIs = nil }, []string{"redirect_uris"}, ""},
		{"http post-logout URI", webClient, func(c *Client) {
			c.PostLogoutRedirectURIs = []string{"http://shop.example.com/"}
		}, []string{"post_logout_redirect_uris"}, ""},
		{"unknown scope", webClient, func(c *Client) { c.Scopes = []string{"openid", "admin"} }, []string{"scopes"}, `"admin"`},
		{"bare API prefix", webClient, func(c *Client) { c.Scopes = []string{"portvakt:"} }, []string{"scopes"}, ""},
		{"scope with a space", webClient, func(c *Client) { c.Scopes = []string{"portvakt:a b"} }, []string{"scopes"}, ""},
		{"offline_access without refresh_token", webClient, func(c *Client) { c.Scopes = []string{"openid", "offline_access"} }, []string{"scopes"}, ""},
		{"unknown ID token alg", webClient, func(c *Client) { c.IDTokenAlg = "HS256" }, []string{"id_token_alg"}, ""},
		{"unknown token format", webClient, func(c *Client) { c.AccessTokenFormat = "jwe" }, []string{"access_token_format"}, ""},
		{"audience with a space", webClient, func(c *Client) { c.AccessTokenAudience = []string{"my api"} }, []string{"access_token_audience"}, ""},
		{"short access token", webClient, func(c *Client) { c.AccessTokenLifetime = 30 * time.Second }, []string{"access_token_lifetime"}, ""},
		{"long ID token", webClient, func(c *Client) { c.IDTokenLifetime = 25 * time.Hour }, []string{"id_token_lifetime"}, ""},
		{"fractional lifetime", webClient, func(c *Client) { c.AccessTokenLifetime = 90*time.Second + time.Millisecond }, []string{"access_token_lifetime"}, ""},
		{"long refresh token", webClient, func(c *Client) { c.RefreshTokenLifetime = 400 * 24 * time.Hour }, []string{"refresh_token_lifetime"}, ""},
		{"unknown subject type", webClient, func(c *Client) { c.SubjectType = "secret" }, []string{"subject_type"}, ""},
		{"pairwise over several hosts", webClient, func(c *Client) {
			c.SubjectType = SubjectPairwise
			c.RedirectURIs = append(c.RedirectURIs, "https://other.example.org/cb")
		}, []string{"sector_identifier"}, "other.example.org, shop.example.com"},
		{"sector without pairwise", webClient, func(c *Client) { c.SectorIdentifier = "example.com" }, []string{"sector_identifier"}, ""},
		{"bad sector", webClient, func(c *Client) {
			c.SubjectType, c.SectorIdentifier = SubjectPairwise, "https://example.com/"
		}, []string{"sector_identifier"}, ""},
		{"http back-channel logout", webClient, func(c *Client) { c.BackchannelLogoutURI = "http://shop.example.com/logout" }, []string{"backchannel_logout_uri"}, ""},
		{"unknown organization mode", webClient, func(c *Client) { c.Organizations = "sometimes" }, []string{"organizations"}, "not optional, required or off"},
		{"http initiate login URI", webClient, func(c *Client) { c.InitiateLoginURI = "http://shop.example.com/start" }, []string{"initiate_login_uri"}, "must use https"},
		{"relative initiate login URI", webClient, func(c *Client) { c.InitiateLoginURI = "/start" }, []string{"initiate_login_uri"}, ""},
		{"back-channel session without URI", webClient, func(c *Client) { c.BackchannelLogoutSessionRequired = true }, []string{"backchannel_logout_session_required"}, ""},
		{"a bad application name", webClient, func(c *Client) { c.App = "Portal App" }, []string{"app"}, `"Portal App" is not an application name`},
		{"unknown verified attribute", webClient, func(c *Client) { c.ReleaseVerified = []string{"legal_name", "ssn"} },
			[]string{"release_verified"}, `"ssn" is not a verified attribute; use legal_name, birthdate, national_id`},
		{"verified attributes without sign-in", webClient, func(c *Client) {
			c.GrantTypes, c.RedirectURIs, c.Scopes = []GrantType{GrantClientCredentials}, nil, []string{"portvakt:users:read"}
			c.ReleaseVerified = []string{"birthdate"}
		}, []string{"release_verified"}, "authorization_code"},
		{"verified attributes without openid", webClient, func(c *Client) {
			c.Scopes, c.ReleaseVerified = []string{"profile"}, []string{"birthdate"}
		}, []string{"release_verified"}, "openid"},
		{"consents without sign-in", webClient, func(c *Client) {
			c.GrantTypes, c.RedirectURIs, c.Scopes = []GrantType{GrantClientCredentials}, nil, []string{"portvakt:users:read"}
			c.ReleaseConsents = true
		}, []string{"release_consents"}, "the consents claim goes in ID tokens and userinfo"},
		{"every problem at once", webClient, func(c *Client) {
			c.Name, c.GrantTypes, c.RedirectURIs, c.Scopes = "", []GrantType{"password"}, []string{"http://evil.example/"}, []string{"everything"}
		}, []string{"grant_types", "name", "redirect_uris", "scopes"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.base()
			tc.mod(&c)
			err := c.Validate(DefaultScopes())
			if got := fieldsOf(t, err); !slices.Equal(got, tc.want) {
				t.Fatalf("Validate: got problems in %v, want %v; error: %v", got, tc.want, err)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Validate: got %q, want it to mention %q", err, tc.msg)
			}
		})
	}

	t.Run("private key in jwks", func(t *testing.T) {
		c := webClient()
		c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, privateJWKS(t)
		err := c.Validate(DefaultScopes())
		if got := fieldsOf(t, err); !slices.Equal(got, []string{"jwks"}) || !strings.Contains(err.Error(), "public") {
			t.Errorf("Validate with a private key: got %v, want a jwks problem saying to give public keys", err)
		}
	})
}

func TestValidateReleaseVerifiedDedupes(t *testing.T) {
	c := webClient()
	c.ReleaseVerified = []string{"national_id", "birthdate", "national_id"}
	if err := c.Validate(DefaultScopes()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"national_id", "birthdate"}; !slices.Equal(c.ReleaseVerified, want) {
		t.Errorf("ReleaseVerified = %v, want %v", c.ReleaseVerified, want)
	}
}

func TestValidateDefaults(t *testing.T) {
	for _, tc := range []struct {
		typ        Type
		wantMethod AuthMethod
	}{{TypeConfidential, AuthClientSecretBasic}, {TypePublic, AuthNone}} {
		c := Client{ID: "x", Name: "X", Type: tc.typ, RedirectURIs: []string{"https://x.example/cb"}}
		if err := c.Validate(DefaultScopes()); err != nil {
			t.Fatalf("Validate %s: %v", tc.typ, err)
		}
		want := Client{
			ID: "x", Name: "X", Type: tc.typ, ApplicationType: ApplicationTypeWeb,
			GrantTypes: []GrantType{GrantAuthorizationCode}, RedirectURIs: []string{"https://x.example/cb"}, Scopes: []string{"openid"},
			TokenEndpointAuthMethod: tc.wantMethod, IDTokenAlg: AlgRS256, AccessTokenFormat: TokenFormatJWT,
			AccessTokenLifetime: 10 * time.Minute, IDTokenLifetime: 10 * time.Minute, RefreshTokenLifetime: 30 * 24 * time.Hour,
			SubjectType: SubjectPublic, Organizations: OrgOptional,
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("%s client after Validate (-want +got):\n%s", tc.typ, diff)
		}
	}
}

func TestValidateNormalizes(t *testing.T) {
	c := webClient()
	c.Name = "  Shop  "
	c.RedirectURIs = []string{"https://a.example/cb", "https://b.example/cb", "https://a.example/cb"}
	c.Scopes = []string{"openid", "openid"}
	c.AccessTokenAudience = []string{}
	c.JWKS = json.RawMessage(publicJWKS)
	c.SubjectType, c.SectorIdentifier = SubjectPairwise, "example.com"
	if err := c.Validate(DefaultScopes()); err != nil {
		t.Fatal(err)
	}
	if c.Name != "Shop" {
		t.Errorf("Name: got %q, want it trimmed", c.Name)
	}
	if want := []string{"https://a.example/cb", "https://b.example/cb"}; !slices.Equal(c.RedirectURIs, want) {
		t.Errorf("RedirectURIs: got %v, want %v", c.RedirectURIs, want)
	}
	if !slices.Equal(c.Scopes, []string{"openid"}) {
		t.Errorf("Scopes: got %v, want [openid]", c.Scopes)
	}
	if c.AccessTokenAudience != nil {
		t.Errorf("AccessTokenAudience: got %#v, want nil", c.AccessTokenAudience)
	}
	if strings.ContainsAny(string(c.JWKS), " \n\t") {
		t.Errorf("JWKS: got %s, want it compact", c.JWKS)
	}
}

func TestScopeSet(t *testing.T) {
	custom := ScopeSet{Names: []string{"openid"}, Prefixes: []string{"api:"}}
	for _, tc := range []struct {
		set   ScopeSet
		scope string
		want  bool
	}{
		{DefaultScopes(), "openid", true},
		{DefaultScopes(), "offline_access", true},
		{DefaultScopes(), "portvakt:users:write", true},
		{DefaultScopes(), "portvakt:", false},
		{DefaultScopes(), "Portvakt:users", false},
		{DefaultScopes(), "OPENID", false},
		{DefaultScopes(), "", false},
		{DefaultScopes(), "openid profile", false},
		{custom, "api:orders", true},
		{custom, "profile", false},
		{custom, "portvakt:users", false},
		{ScopeSet{}, "openid", false},
	} {
		if got := tc.set.Allows(tc.scope); got != tc.want {
			t.Errorf("%v.Allows(%q): got %v, want %v", tc.set, tc.scope, got, tc.want)
		}
	}
	c := webClient()
	c.Scopes = []string{"openid", "api:orders"}
	if err := c.Validate(custom); err != nil {
		t.Errorf("Validate with a custom scope set: %v", err)
	}
	c.Scopes = []string{"profile"}
	if got := fieldsOf(t, c.Validate(custom)); !slices.Equal(got, []string{"scopes"}) {
		t.Errorf("Validate profile against a set without it: got problems in %v, want scopes", got)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) != 24 || strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("NewID: got %q, want 24 characters of [A-Za-z0-9]", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		if !idPattern.MatchString(id) {
			t.Fatalf("NewID %q does not pass the ID check", id)
		}
	}
}

func TestClientHelpers(t *testing.T) {
	c := nativeClient()
	if err := c.Validate(DefaultScopes()); err != nil {
		t.Fatal(err)
	}
	if !c.RequiresPKCE() || c.UsesSecret() {
		t.Errorf("public client: RequiresPKCE %v, UsesSecret %v; want true, false", c.RequiresPKCE(), c.UsesSecret())
	}
	if !slices.Equal(c.ResponseTypes(), []string{"code"}) || !c.AllowsGrant(GrantRefreshToken) || c.AllowsGrant(GrantClientCredentials) {
		t.Errorf("grants: response types %v, refresh %v, client credentials %v", c.ResponseTypes(), c.AllowsGrant(GrantRefreshToken), c.AllowsGrant(GrantClientCredentials))
	}
	if !c.AllowsScope("openid") || c.AllowsScope("email") {
		t.Errorf("AllowsScope: got openid %v, email %v; want true, false", c.AllowsScope("openid"), c.AllowsScope("email"))
	}
	if c.Sector() != "127.0.0.1" {
		t.Errorf("Sector: got %q, want 127.0.0.1", c.Sector())
	}
	c.RedirectURIs = []string{"com.example.app:/cb"}
	if c.Sector() != "com.example.app" {
		t.Errorf("Sector of a private-use scheme: got %q, want com.example.app", c.Sector())
	}
	w := webClient()
	w.RedirectURIs = []string{"https://A.example/cb", "https://b.example/cb"}
	if w.Sector() != "" {
		t.Errorf("Sector over two hosts: got %q, want empty", w.Sector())
	}
	w.SectorIdentifier = "example"
	if w.Sector() != "example" || w.RequiresPKCE() {
		t.Errorf("Sector with an identifier: got %q, RequiresPKCE %v", w.Sector(), w.RequiresPKCE())
	}
	if w.Subject() != "client:shop" {
		t.Errorf("Subject: got %q", w.Subject())
	}
}
