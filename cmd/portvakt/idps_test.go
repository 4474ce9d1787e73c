package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

func TestIdpCommands(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
	var google map[string]any
	r := mustRun(t, dir, env, "idp", "create", "--preset", "google", "--client-id", "1234.apps.googleusercontent.com", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &google); err != nil {
		t.Fatalf("idp create --json printed %q", r.stdout)
	}
	if google["id"] != "google" || google["issuer"] != "https://accounts.google.com" || google["trust_email"] != true || google["has_secret"] != false {
		t.Errorf("the Google preset: %v", google)
	}
	ms := mustRun(t, dir, env, "idp", "create", "--preset", "microsoft", "--tenant", "contoso.onmicrosoft.com", "--client-id", "abc", "--json")
	if !strings.Contains(ms.stdout, `"issuer":"https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"`) || !strings.Contains(ms.stdout, `"trust_email":false`) {
		t.Errorf("the Microsoft preset: %s", ms.stdout)
	}
	common := mustRun(t, dir, env, "idp", "create", "--preset", "microsoft", "--id", "ms-any", "--tenant", "organizations",
		"--allowed-tenant", "9188040d-6c67-4c5b-b112-36a304b66dad", "--client-id", "abc", "--json")
	for _, want := range []string{`"issuer":"https://login.microsoftonline.com/organizations/v2.0"`, `"tenant_issuer":"https://login.microsoftonline.com/{tenantid}/v2.0"`,
		`"tenants":["9188040d-6c67-4c5b-b112-36a304b66dad"]`, `"brand":"microsoft"`} {
		if !strings.Contains(common.stdout, want) {
			t.Errorf("a multi-tenant Microsoft preset lacks %s: %s", want, common.stdout)
		}
	}
	gh := mustRun(t, dir, env, "idp", "create", "--preset", "github", "--client-id", "Iv1.abc", "--require-field", "given_name", "--json")
	for _, want := range []string{`"kind":"oauth2"`, `"emails_url":"https://api.github.com/user/emails"`, `"scopes":["read:user","user:email"]`, `"required_fields":["given_name"]`} {
		if !strings.Contains(gh.stdout, want) {
			t.Errorf("the GitHub preset lacks %s: %s", want, gh.stdout)
		}
	}
	fb := mustRun(t, dir, env, "idp", "create", "--preset", "facebook", "--client-id", "123", "--json")
	if !strings.Contains(fb.stdout, `"trust_email":false`) || !strings.Contains(fb.stdout, `"brand":"facebook"`) {
		t.Errorf("the Facebook preset: %s", fb.stdout)
	}
	apple := runWithStdin(t, dir, env, testAppleKey(t), "idp", "create", "--preset", "apple", "--client-id", "com.example.web",
		"--apple-team-id", "TEAM123456", "--apple-key-id", "KEY1234567", "--client-secret-stdin", "--json")
	for _, want := range []string{`"response_mode":"form_post"`, `"apple_team_id":"TEAM123456"`, `"has_secret":true`, `"scopes":["openid","email","name"]`} {
		if apple.code != 0 || !strings.Contains(apple.stdout, want) {
			t.Errorf("the Apple preset lacks %s: %d %s %s", want, apple.code, apple.stdout, apple.stderr)
		}
	}
	if strings.Contains(apple.stdout+apple.stderr, "PRIVATE KEY") {
		t.Error("the Apple key was printed")
	}
	eid := mustRun(t, dir, env, "idp", "create", "--id", "bankid", "--name", "BankID", "--issuer-url", "https://broker.example.com",
		"--client-id", "portvakt", "--proofing", "--acr-map", "http://eidas.europa.eu/LoA/high=urn:portvakt:loa:high", "--json")
	if !strings.Contains(eid.stdout, `"proofing":true`) || !strings.Contains(eid.stdout, `"http://eidas.europa.eu/LoA/high":"urn:portvakt:loa:high"`) {
		t.Errorf("an eID broker: %s", eid.stdout)
	}
	plain := mustRun(t, dir, env, "idp", "create", "--id", "plain", "--name", "Plain", "--kind", "oauth2", "--client-id", "x",
		"--auth-url", "https://plain.example/authorize", "--token-url", "https://plain.example/token",
		"--userinfo-url", "https://api.plain.example/me?fields=id,email", "--map-claim", "sub=id", "--json")
	if !strings.Contains(plain.stdout, `"kind":"oauth2"`) {
		t.Errorf("an OAuth 2 provider: %s", plain.stdout)
	}
	list := mustRun(t, dir, env, "idp", "list")
	for _, want := range []string{"google", "microsoft", "bankid", "https://broker.example.com"} {
		if !strings.Contains(list.stdout, want) {
			t.Errorf("idp list lacks %s:\n%s", want, list.stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"idp", "create", "--preset", "google", "--client-id", "x"}, "already exists"},
		{[]string{"idp", "create", "--preset", "microsoft", "--client-id", "x"}, "needs a tenant"},
		{[]string{"idp", "create", "--preset", "microsoft", "--tenant", "a/b", "--client-id", "x"}, "not a tenant ID"},
		{[]string{"idp", "create", "--preset", "google", "--id", "g2", "--allowed-tenant", "x", "--client-id", "x"}, "tenants (--allowed-tenant)"},
		{[]string{"idp", "create", "--preset", "apple", "--client-id", "x", "--apple-team-id", "T"}, "give the key's .p8 file"},
		{[]string{"idp", "create", "--preset", "github", "--id", "gh2", "--client-id", "x", "--require-field", "shoe_size"}, "required_fields (--require-field)"},
		{[]string{"idp", "create", "--preset", "google", "--id", "g3", "--client-id", "x", "--brand", "myspace"}, "brand (--brand)"},
		{[]string{"idp", "create", "--preset", "myspace", "--client-id", "x"}, "known are google"},
		{[]string{"idp", "create", "--id", "plain", "--name", "Plain", "--issuer-url", "http://id.example.com", "--client-id", "x"}, "issuer (--issuer-url): must be https"},
		{[]string{"idp", "create", "--id", "Bad", "--name", "x", "--issuer-url", "https://id.example.com", "--client-id", "x"}, "id (--id)"},
		{[]string{"idp", "create", "--id", "m", "--name", "x", "--issuer-url", "https://id.example.com", "--client-id", "x", "--acr-map", "a=b"}, "add --proofing"},
		{[]string{"idp", "create", "--id", "m", "--name", "x", "--issuer-url", "https://id.example.com", "--client-id", "x", "--proofing", "--acr-map", "nonsense"}, "upstream-acr=our-acr"},
		{[]string{"idp", "create", "--id", "o2", "--name", "x", "--kind", "oauth2", "--client-id", "x", "--auth-url", "https://a.example"}, "token_url (--token-url)"},
		{[]string{"idp", "create", "--id", "o3", "--name", "x", "--kind", "oauth2", "--client-id", "x", "--auth-url", "https://a.example",
			"--token-url", "https://t.example", "--userinfo-url", "https://u.example", "--map-claim", "shoe=size"}, "claim_map (--map-claim)"},
		{[]string{"idp", "delete", "google"}, "--yes"},
		{[]string{"idp", "delete", "nobody", "--yes"}, "no such identity provider"},
	} {
		r := runPortvakt(t, dir, env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("portvakt %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	mustRun(t, dir, env, "idp", "delete", "google", "--yes")
	if list := mustRun(t, dir, env, "idp", "list", "--json"); strings.Contains(list.stdout, `"id":"google"`) {
		t.Errorf("google still listed after delete:\n%s", list.stdout)
	}
}

// testAppleKey is a new P-256 key as Apple hands it out: a PKCS #8 PEM.
func testAppleKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
