package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdpConfigFile: providers in the config file are checked with the
// rest of the configuration and applied at start, once.
func TestIdpConfigFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "google.secret")
	if err := os.WriteFile(secret, []byte("goog-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apple := filepath.Join(dir, "apple.p8")
	if err := os.WriteFile(apple, []byte(testAppleKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "portvakt.yaml")
	write := func(name string) {
		body := `identity_providers:
  - id: google
    preset: google
    name: ` + name + `
    client_id: 1234.apps.googleusercontent.com
    client_secret_file: ` + secret + `
  - preset: apple
    client_id: com.example.web
    apple_team_id: TEAM123456
    apple_key_id: KEY1234567
    apple_private_key_file: ` + apple + `
  - id: bankid
    name: BankID
    issuer: https://broker.example.com
    client_id: portvakt
    client_secret: inline-s3cret
    proofing: true
    acr_map:
      http://eidas.europa.eu/LoA/high: urn:portvakt:loa:high
    required_fields: [phone]
`
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Google")
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=info", "PORTVAKT_CONFIG="+conf)
	check := mustRun(t, dir, env, "config", "check")
	if strings.Contains(check.stdout+check.stderr, "s3cret") {
		t.Errorf("config check printed a secret:\n%s%s", check.stdout, check.stderr)
	}
	for round, name := range []string{"Google", "Google", "Google Workspace"} {
		write(name)
		s := startServe(t, dir, env)
		s.waitReady(20 * time.Second)
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.done
		applied := strings.Count(s.stderr.String()+s.stdout.String(), "identity provider applied from the config file")
		if want := []int{3, 0, 1}[round]; applied != want {
			t.Errorf("start %d applied %d providers, want %d:\n%s", round, applied, want, s.stderr.String())
		}
		if strings.Contains(s.stderr.String()+s.stdout.String(), "s3cret") {
			t.Error("serve logged a secret")
		}
	}
	list := mustRun(t, dir, env, "idp", "list", "--json")
	for _, want := range []string{`"name":"Google Workspace"`, `"response_mode":"form_post"`, `"apple_team_id":"TEAM123456"`, `"proofing":true`, `"required_fields":["phone"]`} {
		if !strings.Contains(list.stdout, want) {
			t.Errorf("idp list lacks %s:\n%s", want, list.stdout)
		}
	}
}

func TestIdpConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "identity_providers:\n  - id: g\n    preset: google\n    client_id: x\n    clientsecret: y\n", "identity_providers[0]: unknown settings clientsecret"},
		{"unknown preset", "identity_providers:\n  - preset: myspace\n    client_id: x\n", "known are google"},
		{"twice", "identity_providers:\n  - preset: google\n    client_id: x\n  - preset: google\n    client_id: y\n", `the id "google" is given twice`},
		{"no client", "identity_providers:\n  - preset: google\n", "identity_providers[0] (google): client_id: is required"},
		{"acr without proofing", "identity_providers:\n  - id: b\n    name: B\n    issuer: https://b.example\n    client_id: x\n    acr_map:\n      a: b\n", "set proofing: true"},
		{"missing secret file", "identity_providers:\n  - preset: google\n    client_id: x\n    client_secret_file: /nonexistent/secret\n", "secret file"},
		{"Apple without its key", "identity_providers:\n  - preset: apple\n    client_id: x\n    apple_team_id: T\n    apple_key_id: K\n", "apple_private_key_file"},
		{"not a list", "identity_providers: google\n", "a list of providers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTestFile(t, "portvakt.yaml", tc.yaml)
			_, err := loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": file})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
