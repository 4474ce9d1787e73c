package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/portvakt/portvakt/internal/accounts"
)

// loadTestConfig loads the configuration from args and an environment map.
func loadTestConfig(t *testing.T, args []string, environ map[string]string) (Config, error) {
	t.Helper()
	fl := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return loadConfig(fl, func(k string) string { return environ[k] })
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadTestConfig(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"addr", c.Addr, "localhost:8080"},
		{"issuer", c.Issuer, "http://localhost:8080"},
		{"data_dir", c.DataDir, "portvakt-data"},
		{"database_url", string(c.DatabaseURL), "sqlite://portvakt-data/portvakt.db"},
		{"log_format", c.LogFormat, "json"},
		{"shutdown_timeout", c.ShutdownTimeout.String(), "15s"},
		{"profile_freshness", c.ProfileFreshness.String(), "8760h0m0s"},
		{"deletion_grace_period", c.DeletionGracePeriod.String(), "336h0m0s"},
		{"unverified_account_retention", c.UnverifiedAccountRetention.String(), "720h0m0s"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeTestFile(t, "portvakt.yaml", "addr: file:1\nissuer: https://file.example\nlog_level: warn\ndata_dir: from-file\n")
	env := map[string]string{
		"PORTVAKT_CONFIG":    file,
		"PORTVAKT_ADDR":      "env:2",
		"PORTVAKT_LOG_LEVEL": "error",
	}
	c, err := loadTestConfig(t, []string{"--addr", "flag:3"}, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"flag beats env and file", c.Addr, "flag:3"},
		{"env beats file", c.LogLevel, "error"},
		{"file beats default", c.Issuer, "https://file.example"},
		{"data dir from file moves the default database", string(c.DatabaseURL), "sqlite://from-file/portvakt.db"},
		{"default where nothing is set", c.LogFormat, "json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestConfigSecretsFromFiles(t *testing.T) {
	key := writeTestFile(t, "key", "  MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	c, err := loadTestConfig(t, nil, map[string]string{
		"PORTVAKT_MASTER_KEY_FILE":          key,
		"PORTVAKT_MASTER_KEY_PREVIOUS":      "a, b",
		"PORTVAKT_TRUSTED_PROXIES":          "10.0.0.0/8, 192.0.2.1",
		"PORTVAKT_NOT_A_SETTING_AT_ALL_XYZ": "ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.MasterKey) != "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" {
		t.Errorf("master key from file = %q, want the trimmed file content", string(c.MasterKey))
	}
	if len(c.MasterKeyPrevious) != 2 || c.MasterKeyPrevious[1] != "b" {
		t.Errorf("previous keys = %v, want [a b]", c.MasterKeyPrevious)
	}
	if p, err := c.proxies(); err != nil || len(p) != 2 || p[1].String() != "192.0.2.1/32" {
		t.Errorf("proxies = %v, %v; want two, the second 192.0.2.1/32", p, err)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := writeTestFile(t, "bad.yaml", "addr: [unclosed\n")
	unknown := writeTestFile(t, "unknown.yaml", "adr: localhost:1\n")
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		wants []string
	}{
		{"malformed file", nil, map[string]string{"PORTVAKT_CONFIG": bad}, []string{bad}},
		{"missing file", []string{"--config", "/does/not/exist.yaml"}, nil, []string{"/does/not/exist.yaml", "does not exist"}},
		{"unknown key", nil, map[string]string{"PORTVAKT_CONFIG": unknown}, []string{"unknown settings adr"}},
		{"all problems at once", []string{"--addr", "nonsense", "--log-level", "loud"}, nil,
			[]string{"addr (PORTVAKT_ADDR)", "log_level (PORTVAKT_LOG_LEVEL)"}},
		{"database scheme", nil, map[string]string{"PORTVAKT_DATABASE_URL": "mysql://x"}, []string{"database_url", `"mysql"`}},
		{"http issuer on a public host", []string{"--issuer", "http://id.example.com"}, nil, []string{"issuer", "https"}},
		{"issuer with query", []string{"--issuer", "https://id.example.com/?x=1"}, nil, []string{"issuer", "query"}},
		{"smtp scheme", nil, map[string]string{"PORTVAKT_SMTP_URL": "http://mail"}, []string{"smtp_url"}},
		{"mail from", nil, map[string]string{"PORTVAKT_MAIL_FROM": "not an address"}, []string{"mail_from"}},
		{"proxy", nil, map[string]string{"PORTVAKT_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"trusted_proxies"}},
		{"secret twice", nil, map[string]string{"PORTVAKT_MASTER_KEY": "x", "PORTVAKT_MASTER_KEY_FILE": "/y"}, []string{"not both"}},
		{"unreadable secret file", nil, map[string]string{"PORTVAKT_SMTP_URL_FILE": "/does/not/exist"}, []string{"PORTVAKT_SMTP_URL_FILE"}},
		{"shutdown timeout", []string{"--shutdown-timeout", "soon"}, nil, []string{"shutdown_timeout"}},
		{"mfa policy", nil, map[string]string{"PORTVAKT_MFA": "always"}, []string{"mfa (PORTVAKT_MFA)", "off, optional or required"}},
		{"ladder", nil, map[string]string{"PORTVAKT_LOA_LADDER": "low"}, []string{"loa_ladder"}},
		{"passkey models", nil, map[string]string{"PORTVAKT_PASSKEY_AAGUIDS": "not-hex"}, []string{"passkey_aaguids", "16 bytes in hex"}},
		{"registration fields", nil, map[string]string{"PORTVAKT_REGISTRATION_FIELDS": "given_name,shoe_size"}, []string{"registration_fields", `"shoe_size" is not one of`}},
		{"attribute owners", nil, map[string]string{"PORTVAKT_ATTRIBUTE_OWNERS": "email=crm,phone=erp"},
			[]string{"attribute_owners (PORTVAKT_ATTRIBUTE_OWNERS)", `unknown field "email"`, `phone: unknown owner "erp"`}},
		{"attribute owners not pairs", nil, map[string]string{"PORTVAKT_ATTRIBUTE_OWNERS": "phone"}, []string{"PORTVAKT_ATTRIBUTE_OWNERS", `"phone" is not key=value`}},
		{"terms", nil, map[string]string{"PORTVAKT_TERMS_URL": "http://example.com/terms"}, []string{"terms_url", "https URL"}},
		{"invitation lifetime", nil, map[string]string{"PORTVAKT_INVITATION_TTL": "10m"}, []string{"invitation_ttl", "outside 1h to 2160h"}},
		{"profile freshness negative", nil, map[string]string{"PORTVAKT_PROFILE_FRESHNESS": "-1h"}, []string{"profile_freshness (PORTVAKT_PROFILE_FRESHNESS)", "outside 0 (off) to 87600h"}},
		{"profile freshness too long", []string{"--profile-freshness", "100000h"}, nil, []string{"profile_freshness", "outside 0 (off)"}},
		{"profile freshness not a duration", nil, map[string]string{"PORTVAKT_PROFILE_FRESHNESS": "a year"}, []string{"profile_freshness"}},
		{"deletion grace period", nil, map[string]string{"PORTVAKT_DELETION_GRACE_PERIOD": "2200h"}, []string{"deletion_grace_period", "outside 0 to 2160h"}},
		{"negative grace period", []string{"--deletion-grace-period", "-1h"}, nil, []string{"deletion_grace_period"}},
		{"unverified retention", nil, map[string]string{"PORTVAKT_UNVERIFIED_ACCOUNT_RETENTION": "1h"}, []string{"unverified_account_retention", "shorter than 24h"}},
		{"geoip database missing", nil, map[string]string{"PORTVAKT_GEOIP_DATABASE": "/does/not/exist.mmdb"}, []string{"geoip_database (PORTVAKT_GEOIP_DATABASE)", `"/does/not/exist.mmdb" is not a file`}},
		{"geoip database a directory", []string{"--geoip-database", os.TempDir()}, nil, []string{"geoip_database (PORTVAKT_GEOIP_DATABASE)", "is not a file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTestConfig(t, tc.args, tc.env)
			if err == nil {
				t.Fatal("no error, want one")
			}
			if exitCode(err) != exitUsage {
				t.Errorf("exit code %d, want %d", exitCode(err), exitUsage)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigRedacted(t *testing.T) {
	c, err := loadTestConfig(t, nil, map[string]string{
		"PORTVAKT_DATABASE_URL": "postgres://app:hunter2@db.example/portvakt",
		"PORTVAKT_SMTP_URL":     "smtp://mailer:s3cret@mail.example:587",
		"PORTVAKT_MASTER_KEY":   "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	})
	if err != nil {
		t.Fatal(err)
	}
	m := c.redacted()
	for _, secret := range []string{"hunter2", "s3cret", "MDEyMzQ1"} {
		for k, v := range m {
			if s, ok := v.(string); ok && strings.Contains(s, secret) {
				t.Errorf("%s = %q shows a secret", k, s)
			}
		}
	}
	if got := m["database_url"]; got != "postgres://app:REDACTED@db.example/portvakt" {
		t.Errorf("database_url = %q, want the URL with the password redacted", got)
	}
}

func TestConfigAttributeOwners(t *testing.T) {
	file := writeTestFile(t, "portvakt.yaml", "attribute_owners:\n  given_name: crm\n  family_name: crm\n  phone: idp\n")
	c, err := loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"given_name": "crm", "family_name": "crm", "phone": "idp"}
	if diff := cmp.Diff(want, c.AttributeOwners); diff != "" {
		t.Errorf("attribute_owners from the file (-want +got):\n%s", diff)
	}
	c, err = loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": file, "PORTVAKT_ATTRIBUTE_OWNERS": "locale = idp"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AttributeOwners["locale"] != "idp" {
		t.Errorf("attribute_owners from the environment: got %v, want locale=idp", c.AttributeOwners)
	}
}

// TestConfigUserAttributes: labels, hints and self_service come from the
// file; an existing schema without them stays valid (hidden); every bad
// rule is reported at once, by attribute.
func TestConfigUserAttributes(t *testing.T) {
	good := writeTestFile(t, "portvakt.yaml", `user_attributes:
  customer_number: {type: string, pattern: "[0-9]{6}"}
  nickname:
    type: string
    self_service: edit
    label: {en: Nickname, sv: Smeknamn, fi: Lempinimi}
    hint: {en: What we call you}
  segment: {type: string, enum: [retail, business], self_service: show, label: {en: Segment}}
`)
	c, err := loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": good})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]accounts.AttributeRule{
		"customer_number": {Type: "string", Pattern: "[0-9]{6}"},
		"nickname":        {Type: "string", SelfService: "edit", Label: map[string]string{"en": "Nickname", "sv": "Smeknamn", "fi": "Lempinimi"}, Hint: map[string]string{"en": "What we call you"}},
		"segment":         {Type: "string", Enum: []string{"retail", "business"}, SelfService: "show", Label: map[string]string{"en": "Segment"}},
	}
	if diff := cmp.Diff(want, c.UserAttributes); diff != "" {
		t.Errorf("user_attributes from the file (-want +got):\n%s", diff)
	}

	bad := writeTestFile(t, "bad.yaml", `user_attributes:
  tier: {type: string, self_service: write}
  segment: {type: string, self_service: show}
  nickname: {type: string, self_service: edit, label: {sv: Smeknamn}}
  note: {type: string, label: {en: Note, de: Notiz}}
`)
	_, err = loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": bad})
	if err == nil || exitCode(err) != exitUsage {
		t.Fatalf("got %v, want a configuration error", err)
	}
	for _, w := range []string{"user_attributes", `tier: self_service "write" is not hide, show or edit`,
		"segment: self_service show needs a label with at least en (English)", "nickname: self_service edit needs a label",
		`note: label: language "de" is not one of en, sv, fi`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestConfigProfileFreshness: 0 turns the question off; a duration from
// the file or the environment is taken as given.
func TestConfigProfileFreshness(t *testing.T) {
	file := writeTestFile(t, "portvakt.yaml", "profile_freshness: 4380h\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"off", map[string]string{"PORTVAKT_PROFILE_FRESHNESS": "0"}, "0s"},
		{"from the file", map[string]string{"PORTVAKT_CONFIG": file}, "4380h0m0s"},
		{"environment beats the file", map[string]string{"PORTVAKT_CONFIG": file, "PORTVAKT_PROFILE_FRESHNESS": "720h"}, "720h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadTestConfig(t, nil, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ProfileFreshness.String(); got != tc.want {
				t.Errorf("profile_freshness = %s, want %s", got, tc.want)
			}
			if got := c.redacted()["profile_freshness"]; got != tc.want {
				t.Errorf("printed profile_freshness = %v, want %s", got, tc.want)
			}
		})
	}
}

// A deletion at once and unverified accounts kept are choices, not
// mistakes.
func TestConfigZeroGraceAndRetention(t *testing.T) {
	c, err := loadTestConfig(t, []string{"--deletion-grace-period", "0s"}, map[string]string{"PORTVAKT_UNVERIFIED_ACCOUNT_RETENTION": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DeletionGracePeriod != 0 || c.UnverifiedAccountRetention != 0 {
		t.Errorf("grace %v, retention %v; want both 0", c.DeletionGracePeriod, c.UnverifiedAccountRetention)
	}
}
