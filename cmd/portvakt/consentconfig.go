package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/i18n"
)

// consentConfig is a purpose in the config file (consents): what people
// are asked to agree to, with its versioned documents.
type consentConfig struct {
	ID          string                 `koanf:"id" json:"id"`
	Required    bool                   `koanf:"required" json:"required"`
	Clients     []string               `koanf:"clients" json:"clients,omitempty"`
	Title       map[string]string      `koanf:"title" json:"title"`
	Description map[string]string      `koanf:"description" json:"description,omitempty"`
	Versions    []consentVersionConfig `koanf:"versions" json:"versions"`
}

// consentVersionConfig is one version of a purpose's document: a link or
// a text per language, and when it takes effect.
type consentVersionConfig struct {
	Version string `koanf:"version" json:"version"`
	// Effective is a date or an RFC 3339 time: YAML reads an unquoted one
	// as a time, a quoted one as text.
	Effective any               `koanf:"effective" json:"effective"`
	URL       map[string]string `koanf:"url" json:"url,omitempty"`
	Text      map[string]string `koanf:"text" json:"text,omitempty"`
}

// consentConfigKeys and consentVersionKeys are the keys a consents entry
// and one of its versions may have.
var (
	consentConfigKeys  = []string{"id", "required", "clients", "title", "description", "versions"}
	consentVersionKeys = []string{"version", "effective", "url", "text"}
)

// shorthandTerms is the purpose terms_url stands for.
const shorthandTerms = "terms"

// checkConsentKeys reports keys of consents entries, and of their
// versions, that are not settings (a typo would otherwise be ignored).
func checkConsentKeys(raw any) error {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return errors.New("consents: a list of purposes, each with id, title and versions")
	}
	var errs []error
	unknown := func(m map[string]any, known []string) []string {
		var out []string
		for k := range m {
			if !slices.Contains(known, k) {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("consents[%d]: a purpose is a map of settings", i))
			continue
		}
		if u := unknown(m, consentConfigKeys); len(u) > 0 {
			errs = append(errs, fmt.Errorf("consents[%d]: unknown settings %s", i, strings.Join(u, ", ")))
		}
		versions, _ := m["versions"].([]any)
		for j, v := range versions {
			vm, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("consents[%d].versions[%d]: a version is a map of settings", i, j))
				continue
			}
			if u := unknown(vm, consentVersionKeys); len(u) > 0 {
				errs = append(errs, fmt.Errorf("consents[%d].versions[%d]: unknown settings %s", i, j, strings.Join(u, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// parseEffective reads when a version takes effect: a date (midnight
// UTC) or an RFC 3339 time, as text or as YAML read it.
func parseEffective(v any) (time.Time, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v.UTC(), nil
	case string:
		s = strings.TrimSpace(v)
	default:
		s = fmt.Sprint(v)
	}
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date such as 2026-03-01 or a time such as 2026-03-01T09:00:00Z", s)
}

// consentPurposes are the configured purposes: terms_url's shorthand (one
// required purpose, terms, asked at registration only, with a single
// version always in effect, titled by title per language) first, then
// the consents section. Problems are reported, each naming its setting.
func (c Config) consentPurposes(title func(lang string) string) ([]consents.Purpose, []error) {
	var out []consents.Purpose
	var errs []error
	if c.TermsURL != "" && httpsOrPath(c.TermsURL) { // a bad one is terms_url's own error
		p := consents.Purpose{ID: shorthandTerms, Required: true, RegistrationOnly: true, Title: map[string]string{},
			Versions: []consents.Version{{Label: "1", Effective: time.Unix(0, 0).UTC(), URL: map[string]string{"en": c.TermsURL}}}}
		for _, l := range consents.Languages {
			p.Title[l] = title(l)
		}
		out = append(out, p)
	}
	for i, cc := range c.Consents {
		if c.TermsURL != "" && cc.ID == shorthandTerms {
			errs = append(errs, fmt.Errorf("consents[%d] (terms): terms_url (PORTVAKT_TERMS_URL) is already the purpose terms; give one or the other", i))
		}
		p := consents.Purpose{ID: cc.ID, Required: cc.Required, Clients: cc.Clients, Title: cc.Title, Description: cc.Description}
		for j, vc := range cc.Versions {
			at, err := parseEffective(vc.Effective)
			if err != nil {
				errs = append(errs, fmt.Errorf("consents[%d] (%s): versions[%d] (%s): effective: %w", i, cc.ID, j, vc.Version, err))
				// A stand-in, so that the date's problem is told once.
				at = time.Unix(int64(j+1), 0).UTC()
			}
			p.Versions = append(p.Versions, consents.Version{Label: vc.Version, Effective: at, URL: vc.URL, Text: vc.Text})
		}
		out = append(out, p)
	}
	return out, errs
}

// consentProblems checks the configured purposes at now, numbered as in
// the config file (terms_url's own problems are its own setting's).
func (c Config) consentProblems(now time.Time) []error {
	ps, errs := c.consentPurposes(func(string) string { return "Terms of service" })
	if len(ps) > len(c.Consents) {
		ps = ps[1:]
	}
	if err := consents.Validate(ps, now); err != nil {
		errs = append(errs, flattenErrors(err)...)
	}
	return errs
}

// catalogTitle titles terms_url's purpose in each language from the
// message catalog.
func catalogTitle(cat *i18n.Catalog) func(lang string) string {
	return func(lang string) string {
		tag, _ := cat.Supported(lang)
		return cat.Localizer(tag).T("consents.terms.title")
	}
}
