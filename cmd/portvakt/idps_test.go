package main

import (
	"encoding/json"
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
		{[]string{"idp", "create", "--preset", "microsoft", "--client-id", "x"}, "needs --tenant"},
		{[]string{"idp", "create", "--preset", "microsoft", "--tenant", "common", "--client-id", "x"}, "not supported yet"},
		{[]string{"idp", "create", "--preset", "myspace", "--client-id", "x"}, "known presets"},
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
