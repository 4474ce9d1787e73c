package main

import (
	"strings"
	"testing"
	"time"
)

const consentsYAML = `terms_url: https://example.com/old-terms
consents:
  - id: privacy
    required: true
    title:
      en: Privacy notice
      sv: Integritetspolicy
      fi: Tietosuojaseloste
    versions:
      - version: 2
        effective: 2025-03-01
        url:
          en: https://example.com/privacy/2
          sv: https://example.com/sv/integritet/2
      - version: "3"
        effective: 2999-01-01T09:00:00Z
        url:
          en: https://example.com/privacy/3
  - id: marketing_email
    clients: [webshop]
    title:
      en: News and offers by email
    description:
      en: At most once a week.
    versions:
      - version: 2026-01
        effective: 2025-01-01
        text:
          en: |
            We send you news and offers.
            Withdraw at any time.
`

// TestConsentConfig: purposes are read from the config file (versions and
// dates unquoted or quoted), terms_url becomes the required purpose terms
// asked at registration only, and every problem is named precisely.
func TestConsentConfig(t *testing.T) {
	c, err := loadTestConfig(t, nil, map[string]string{"PORTVAKT_CONFIG": writeTestFile(t, "portvakt.yaml", consentsYAML)})
	if err != nil {
		t.Fatal(err)
	}
	ps, errs := c.consentPurposes(func(l string) string { return "terms in " + l })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(ps) != 3 || ps[0].ID != "terms" || !ps[0].Required || !ps[0].RegistrationOnly || ps[0].Title["fi"] != "terms in fi" ||
		ps[0].Versions[0].URL["en"] != "https://example.com/old-terms" {
		t.Fatalf("the terms_url purpose: %+v", ps[0])
	}
	privacy, marketing := ps[1], ps[2]
	if privacy.Versions[0].Label != "2" || !privacy.Versions[0].Effective.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) ||
		!privacy.Versions[1].Effective.Equal(time.Date(2999, 1, 1, 9, 0, 0, 0, time.UTC)) || privacy.RegistrationOnly {
		t.Errorf("privacy %+v", privacy)
	}
	if marketing.Required || marketing.Clients[0] != "webshop" || marketing.Versions[0].Label != "2026-01" ||
		marketing.Versions[0].Text["en"] != "We send you news and offers.\nWithdraw at any time.\n" {
		t.Errorf("marketing %+v", marketing)
	}

	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		wants      []string
	}{
		{"unknown key", "consents:\n  - id: x\n    requird: true\n", nil, []string{"consents[0]: unknown settings requird"}},
		{"unknown version key", "consents:\n  - id: x\n    versions:\n      - version: 1\n        link: https://x.example\n", nil,
			[]string{"consents[0].versions[0]: unknown settings link"}},
		{"unknown language", strings.Replace(consentsYAML, "fi: Tietosuojaseloste", "de: Datenschutz", 1), nil,
			[]string{`consents[0] (privacy): title: "de" is not a language; use en, sv, fi`}},
		{"duplicate version", strings.Replace(consentsYAML, `version: "3"`, "version: 2", 1), nil,
			[]string{`consents[0] (privacy): versions[1]: the version "2" is given twice`}},
		{"required without a current version", strings.Replace(consentsYAML, "effective: 2025-03-01", "effective: 2998-01-01", 1), nil,
			[]string{"consents[0] (privacy): a required purpose needs a version in effect now; the earliest takes effect 2998-01-01T00:00:00Z"}},
		{"bad date", strings.Replace(consentsYAML, "effective: 2025-01-01", "effective: next spring", 1), nil,
			[]string{`consents[1] (marketing_email): versions[0] (2026-01): effective: "next spring" is not a date such as 2026-03-01`}},
		{"terms twice", strings.Replace(consentsYAML, "id: privacy", "id: terms", 1), nil,
			[]string{"consents[0] (terms): terms_url (PORTVAKT_TERMS_URL) is already the purpose terms; give one or the other"}},
		{"http document", strings.Replace(consentsYAML, "https://example.com/privacy/3", "http://example.com/privacy/3", 1), nil,
			[]string{`versions[1] (3): url.en: "http://example.com/privacy/3" must be an https URL or a path on this server`}},
		{"bad terms_url once", consentsYAML, map[string]string{"PORTVAKT_TERMS_URL": "http://example.com/terms"}, []string{"terms_url (PORTVAKT_TERMS_URL)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"PORTVAKT_CONFIG": writeTestFile(t, "portvakt.yaml", tc.yaml)}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := loadTestConfig(t, nil, env)
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
			if strings.Count(err.Error(), "terms_url") > 1 {
				t.Errorf("a problem told twice: %q", err)
			}
		})
	}
}
