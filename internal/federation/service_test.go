package federation_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/federation/fedtest"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/storetest"
)

const redirect = "http://localhost/login/idp/callback"

type fixture struct {
	m   *fedtest.OP
	svc *federation.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := storetest.Open(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	master, _ := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	kr, err := keyring.Open(t.Context(), st, keyring.MasterKeys{Current: master}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{m: fedtest.Start(t), svc: &federation.Service{Store: st, Cipher: kr}}
	cfg := f.m.Config()
	if _, err := f.svc.Create(t.Context(), federation.Provider{ID: "mock", Name: "Mock", Issuer: f.m.Issuer(), ClientID: cfg.ClientID,
		SecretPlain: cfg.ClientSecret, Scopes: []string{"openid", "email"}, TrustEmail: true}, "system:test"); err != nil {
		t.Fatal(err)
	}
	return f
}

// run begins a sign-in, lets the provider answer (adjusting the
// authorization request with edit) and finishes it.
func (f *fixture) run(t *testing.T, edit func(url.Values)) (federation.Claims, error) {
	t.Helper()
	to, sealed, err := f.svc.Begin(t.Context(), "mock", "flow1", redirect)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || !strings.HasPrefix(q.Get("state"), "flow1.") {
		t.Fatalf("authorization request %s lacks PKCE, nonce or the flow in its state", to)
	}
	if edit != nil {
		edit(q)
		u.RawQuery = q.Encode()
	}
	return f.svc.Finish(t.Context(), "flow1", sealed, answer(t, u.String()), redirect)
}

// answer sends an authorization request to the provider and returns the
// query it redirects back with.
func answer(t *testing.T, to string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := res.Location()
	if err != nil {
		t.Fatalf("the provider answered %d", res.StatusCode)
	}
	return back.Query()
}

func TestFinish(t *testing.T) {
	f := newFixture(t)
	f.m.QueueUser(&mockoidc.MockUser{Subject: "s-1", Email: "ada@example.com", EmailVerified: true})
	c, err := f.run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != "mock" || c.Subject != "s-1" || c.Email != "ada@example.com" || !c.EmailVerified {
		t.Errorf("claims = %+v", c)
	}
	// Attribute mapping: this provider keeps the given name elsewhere.
	f.m.Tamper = func(c jwt.MapClaims) { c["first_name"] = "Ada" }
	p, _ := f.svc.Store.ProviderByID(t.Context(), "mock")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.svc.Delete(t.Context(), "mock", "system:test"))
	p.ClaimMap, p.SecretPlain = map[string]string{"given_name": "first_name"}, f.m.Config().ClientSecret
	p.Secret = nil
	_, err = f.svc.Create(t.Context(), p, "system:test")
	must(err)
	f.m.QueueUser(&mockoidc.MockUser{Subject: "s-2", Email: "ada2@example.com", EmailVerified: true})
	c, err = f.run(t, nil)
	must(err)
	if c.GivenName != "Ada" || c.Subject != "s-2" {
		t.Errorf("mapped claims = %+v, want given_name from first_name", c)
	}
	p.ID, p.ClaimMap = "mapsub", map[string]string{"sub": "email"}
	if _, err := f.svc.Create(t.Context(), p, "system:test"); err == nil {
		t.Error("an OpenID provider's sub was mapped")
	}
}

func TestFinishRefuses(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(url.Values)
		tamper func(jwt.MapClaims)
		want   string
	}{
		{"state mismatch", func(q url.Values) { q.Set("state", "flow1.forged") }, nil, "state mismatch"},
		{"nonce mismatch", func(q url.Values) { q.Set("nonce", "another") }, nil, "nonce mismatch"},
		{"ID token for another audience", nil, func(c jwt.MapClaims) { c["aud"] = "someone-else" }, "audience"},
		{"ID token from another issuer", nil, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }, "different provider"},
		{"expired ID token", nil, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, "expired"},
		{"the wrong PKCE verifier", func(q url.Values) { q.Set("code_challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") }, nil, "code exchange"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.m.Tamper = tc.tamper
			_, err := f.run(t, tc.edit)
			if !errors.Is(err, federation.ErrUpstream) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrUpstream mentioning %q", err, tc.want)
			}
		})
	}
}

func TestProviderValidateAndSecret(t *testing.T) {
	f := newFixture(t)
	for _, p := range []federation.Provider{
		{ID: "Bad ID", Name: "x", Issuer: "https://id.example.com", ClientID: "c"},
		{ID: "plain", Name: "x", Issuer: "http://id.example.com", ClientID: "c"},
		{ID: "noclient", Name: "x", Issuer: "https://id.example.com"},
		{ID: "query", Name: "x", Issuer: "https://id.example.com/?a=1", ClientID: "c"},
	} {
		if _, err := f.svc.Create(t.Context(), p, "system:test"); err == nil {
			t.Errorf("provider %+v accepted", p)
		}
	}
	if _, err := f.svc.Create(t.Context(), federation.Provider{ID: "mock", Name: "Again", Issuer: "https://id.example.com", ClientID: "c"}, "system:test"); !errors.Is(err, federation.ErrConflict) {
		t.Errorf("a second provider with the same ID = %v, want ErrConflict", err)
	}
	p, err := f.svc.Store.ProviderByID(t.Context(), "mock")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Secret) == 0 || bytes.Contains(p.Secret, []byte(f.m.Config().ClientSecret)) {
		t.Error("the client secret is not stored encrypted")
	}
}

// TestOAuth2Provider: a provider without ID tokens, read through its
// userinfo endpoint with the fields mapped to claims.
func TestOAuth2Provider(t *testing.T) {
	f := newFixture(t)
	cfg := f.m.Config()
	if _, err := f.svc.Create(t.Context(), federation.Provider{
		ID: "plain", Name: "Plain OAuth", Kind: federation.KindOAuth2, ClientID: cfg.ClientID, SecretPlain: cfg.ClientSecret,
		AuthURL: f.m.AuthorizationEndpoint(), TokenURL: f.m.TokenEndpoint(), UserinfoURL: f.m.UserinfoEndpoint(),
		Scopes: []string{"openid", "email", "profile"}, ClaimMap: map[string]string{"given_name": "preferred_username"},
	}, "system:test"); err != nil {
		t.Fatal(err)
	}
	f.m.QueueUser(&mockoidc.MockUser{Subject: "u-77", Email: "plain@example.com", EmailVerified: true, PreferredUsername: "Plainly"})
	to, sealed, err := f.svc.Begin(t.Context(), "plain", "flow2", redirect)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if u.Query().Get("nonce") != "" || u.Query().Get("code_challenge_method") != "S256" {
		t.Errorf("an OAuth 2 request %s: want PKCE and no nonce", to)
	}
	claims, err := f.svc.Finish(t.Context(), "flow2", sealed, answer(t, to), redirect)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "u-77" || claims.Email != "plain@example.com" || claims.GivenName != "Plainly" || claims.EmailVerified {
		t.Errorf("claims %+v: want the mapped fields, and the address not verified (not trusted)", claims)
	}
	for _, bad := range []federation.Provider{
		{ID: "x", Name: "x", Kind: federation.KindOAuth2, ClientID: "c", AuthURL: "https://a.example", TokenURL: "http://t.example", UserinfoURL: "https://u.example"},
		{ID: "y", Name: "y", Kind: federation.KindOAuth2, ClientID: "c", AuthURL: "https://a.example", TokenURL: "https://t.example", UserinfoURL: "https://u.example", ClaimMap: map[string]string{"shoe_size": "x"}},
		{ID: "z", Name: "z", Kind: "saml", ClientID: "c"},
	} {
		if _, err := f.svc.Create(t.Context(), bad, "system:test"); err == nil {
			t.Errorf("provider %+v accepted", bad)
		}
	}
}

// signIn runs a sign-in with provider id through the mock provider,
// taking its answer from the redirect or, for form_post, from the posted
// form.
func (f *fixture) signIn(t *testing.T, id string) (federation.Claims, url.Values, error) {
	t.Helper()
	to, sealed, err := f.svc.Begin(t.Context(), id, "flow9", redirect)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := url.Parse(to)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var back url.Values
	if loc, err := res.Location(); err == nil {
		back = loc.Query()
	} else {
		page, _ := io.ReadAll(res.Body)
		posted, ok := fedtest.ReadPosted(string(page))
		if !ok || posted.Action != redirect {
			t.Fatalf("the provider answered %d %s", res.StatusCode, page)
		}
		back = posted.Fields
	}
	claims, err := f.svc.Finish(t.Context(), "flow9", sealed, back, redirect)
	return claims, req.Query(), err
}

// TestMultiTenant: a provider for any tenant (Microsoft's common
// endpoint) checks each ID token's issuer against the token's own tenant.
func TestMultiTenant(t *testing.T) {
	f := newFixture(t)
	cfg := f.m.Config()
	iss := f.m.Issuer()
	p := federation.Provider{ID: "ms", Name: "Microsoft", Issuer: iss, ClientID: cfg.ClientID, SecretPlain: cfg.ClientSecret,
		Scopes: []string{"openid", "email"}, Options: federation.Options{TenantIssuer: iss + "/{tenantid}/v2.0", Tenants: []string{"t-1", "t-3"}}}
	if _, err := f.svc.Create(t.Context(), p, "system:test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tid     any
		iss     string
		want    string
		subject string
	}{
		{"its own tenant", "t-1", iss + "/t-1/v2.0", "", "t-1/s-1"},
		{"another allowed tenant", "t-3", iss + "/t-3/v2.0", "", "t-3/s-1"},
		{"another tenant's issuer", "t-1", iss + "/t-3/v2.0", "is not tenant t-1's", ""},
		{"the template itself", "t-1", iss + "/{tenantid}/v2.0", "is not tenant t-1's", ""},
		{"no tenant", nil, iss + "/t-1/v2.0", "names no tenant", ""},
		{"a tenant not allowed", "t-2", iss + "/t-2/v2.0", "not allowed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.m.Tamper = func(c jwt.MapClaims) {
				c["iss"] = tc.iss
				if tc.tid != nil {
					c["tid"] = tc.tid
				}
			}
			f.m.QueueUser(&mockoidc.MockUser{Subject: "s-1", Email: "ada@contoso.example"})
			c, _, err := f.signIn(t, "ms")
			switch {
			case tc.want == "" && (err != nil || c.Subject != tc.subject):
				t.Errorf("claims %+v, %v; want subject %s", c, err, tc.subject)
			case tc.want != "" && (!errors.Is(err, federation.ErrUpstream) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want ErrUpstream mentioning %q", err, tc.want)
			}
		})
	}
}

// TestApple: the answer is posted back (form_post), the client secret is
// a JWT signed with the team's key, and the name comes beside the answer
// on the first sign-in only.
func TestApple(t *testing.T) {
	f := newFixture(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	p, err := federation.Preset("apple", "")
	if err != nil {
		t.Fatal(err)
	}
	p.Issuer, p.ClientID, p.AppleTeamID, p.AppleKeyID = f.m.Issuer(), f.m.Config().ClientID, "TEAM123456", "KEY1234567"
	p.SecretPlain = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	p.Scopes = []string{"openid", "email", "profile"} // the mock knows no "name" scope
	if _, err := f.svc.Create(t.Context(), p, "system:test"); err != nil {
		t.Fatal(err)
	}
	f.m.AppleKey, f.m.AppleTeam, f.m.FormPost = &key.PublicKey, "TEAM123456", true
	f.m.PostUser = `{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"someone-else@example.com"}`
	f.m.QueueUser(&mockoidc.MockUser{Subject: "001234.abcd", Email: "ada@privaterelay.example", EmailVerified: true})
	c, req, err := f.signIn(t, "apple")
	if err != nil {
		t.Fatal(err)
	}
	if req.Get("response_mode") != "form_post" {
		t.Errorf("the authorization request asked %v", req)
	}
	if c.Subject != "001234.abcd" || c.Email != "ada@privaterelay.example" || !c.EmailVerified || c.GivenName != "Ada" || c.FamilyName != "Lovelace" {
		t.Errorf("claims %+v: want the ID token's address and the posted name", c)
	}
	// Later sign-ins come without the name.
	f.m.PostUser = ""
	f.m.QueueUser(&mockoidc.MockUser{Subject: "001234.abcd", Email: "ada@privaterelay.example", EmailVerified: true})
	if c, _, err = f.signIn(t, "apple"); err != nil || c.GivenName != "" {
		t.Errorf("a later sign-in = %+v, %v", c, err)
	}
	// A secret signed by another key is refused at the token endpoint.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.m.AppleKey = &other.PublicKey
	f.m.QueueUser(&mockoidc.MockUser{Subject: "001234.abcd", Email: "ada@privaterelay.example"})
	if _, _, err := f.signIn(t, "apple"); !errors.Is(err, federation.ErrUpstream) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("a secret signed by another key = %v", err)
	}
	p.ID, p.SecretPlain = "apple2", "not a key"
	var fe federation.FieldError
	if _, err := f.svc.Create(t.Context(), p, "system:test"); !errors.As(err, &fe) || fe.Field != "secret" {
		t.Errorf("an Apple provider without a key = %v", err)
	}
}

// TestEmailsEndpoint: a GitHub-like provider's primary verified address
// is read from its emails endpoint with the access token.
func TestEmailsEndpoint(t *testing.T) {
	f := newFixture(t)
	cfg := f.m.Config()
	var list string
	emails := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The token must be the provider's: its userinfo accepts it.
		req, _ := http.NewRequest(http.MethodGet, f.m.UserinfoEndpoint(), nil)
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		res.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, list)
	}))
	t.Cleanup(emails.Close)
	p, _ := federation.Preset("github", "")
	p.ClientID, p.SecretPlain = cfg.ClientID, cfg.ClientSecret
	p.AuthURL, p.TokenURL, p.UserinfoURL, p.EmailsURL = f.m.AuthorizationEndpoint(), f.m.TokenEndpoint(), f.m.UserinfoEndpoint(), emails.URL+"/user/emails"
	p.ClaimMap = map[string]string{"sub": "sub"}
	p.Scopes = []string{"openid", "email"} // the mock knows no GitHub scopes
	if _, err := f.svc.Create(t.Context(), p, "system:test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		list     string
		email    string
		verified bool
	}{
		{`[{"email":"old@example.com","primary":false,"verified":true},{"email":"ada@example.com","primary":true,"verified":true}]`, "ada@example.com", true},
		{`[{"email":"ada@example.com","primary":true,"verified":false}]`, "public@example.com", false},
	} {
		list = tc.list
		f.m.QueueUser(&mockoidc.MockUser{Subject: "gh-1", Email: "public@example.com", EmailVerified: true})
		c, req, err := f.signIn(t, "github")
		if err != nil {
			t.Fatal(err)
		}
		if req.Get("nonce") != "" {
			t.Errorf("the authorization request asked %v", req)
		}
		if c.Subject != "gh-1" || c.Email != tc.email || c.EmailVerified != tc.verified {
			t.Errorf("with %s: claims %+v, want %s verified=%v", tc.list, c, tc.email, tc.verified)
		}
	}
}

// TestPut: the configuration file's providers are applied at every start;
// an unchanged one writes nothing, a changed one is replaced in place.
func TestPut(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	p, _ := federation.Preset("google", "")
	p.ClientID, p.SecretPlain = "cid", "first-secret"
	for i, tc := range []struct {
		edit    func(*federation.Provider)
		changed bool
	}{
		{func(*federation.Provider) {}, true},
		{func(*federation.Provider) {}, false},
		{func(p *federation.Provider) { p.Name = "Google Workspace" }, true},
		{func(p *federation.Provider) { p.SecretPlain = "second-secret" }, true},
		{func(p *federation.Provider) { p.Scopes = append([]string(nil), p.Scopes...) }, false},
	} {
		tc.edit(&p)
		changed, err := f.svc.Put(ctx, p, "system:config")
		if err != nil || changed != tc.changed {
			t.Errorf("Put #%d = %v, %v; want changed=%v", i, changed, err, tc.changed)
		}
	}
	got, err := f.svc.Store.ProviderByID(ctx, "google")
	if err != nil || got.Name != "Google Workspace" || bytes.Contains(got.Secret, []byte("second-secret")) {
		t.Fatalf("the stored provider %+v, %v", got, err)
	}
	secret, err := f.svc.Cipher.Decrypt(ctx, got.Secret, []byte("idp-secret:google"))
	if err != nil || string(secret) != "second-secret" {
		t.Errorf("the stored secret = %q, %v", secret, err)
	}
	if _, err := f.svc.Put(ctx, federation.Provider{ID: "bad id"}, "system:config"); err == nil {
		t.Error("an invalid provider was put")
	}
}
