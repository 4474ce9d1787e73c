package federation_test

import (
	"bytes"
	"errors"
	"net/http"
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
