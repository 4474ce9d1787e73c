package consents

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Languages are the languages a purpose's texts and documents may be
// given in. English is the fallback and must be given.
var Languages = []string{"en", "sv", "fi"}

// Purpose is something people are asked to agree to.
type Purpose struct {
	// ID names the purpose in receipts, events, claims and the API, such
	// as terms or marketing_email.
	ID string
	// Required purposes must be accepted to have an account: registration
	// asks for them, and a new version is accepted at the next sign-in
	// before any application is answered. Optional ones are offered,
	// unticked, and can be given and withdrawn at any time.
	Required bool
	// Clients limits the purpose to these applications (client IDs);
	// empty means the whole service. A limited purpose is not asked at
	// registration (the application is not known there) but when the
	// person signs in to one of its applications.
	Clients []string
	// Title and Description are shown to people, by language (en, sv,
	// fi); English is used where a language is missing.
	Title       map[string]string
	Description map[string]string
	// Versions are the purpose's documents, in any order. The current one
	// is the latest that has taken effect; one still to take effect is
	// announced.
	Versions []Version
	// RegistrationOnly purposes are asked at registration and never at a
	// sign-in, even of people who have not accepted them (the terms_url
	// shorthand keeps its old meaning so).
	RegistrationOnly bool
}

// Version is one version of a purpose's document.
type Version struct {
	// Label names the version, such as 2 or 2026-03.
	Label string
	// Effective is when the version takes effect.
	Effective time.Time
	// URL and Text are the document by language: a link (https, or a
	// path on this server), or plain text shown on the page. A language
	// has one or the other; English must have one.
	URL  map[string]string
	Text map[string]string
}

// Document is a version's document in one language.
type Document struct {
	// Lang is the language it is in (English where the one asked for is
	// missing).
	Lang string
	// URL or Text: a link, or plain text.
	URL, Text string
}

// AppliesTo reports whether the purpose concerns the application
// clientID; "" stands for the service as a whole (registration, the
// account pages), which only purposes without clients concern.
func (p Purpose) AppliesTo(clientID string) bool {
	return len(p.Clients) == 0 || (clientID != "" && slices.Contains(p.Clients, clientID))
}

// Current is the version in effect at now: the latest that has taken
// effect. It reports false when none has yet.
func (p Purpose) Current(now time.Time) (Version, bool) {
	var cur Version
	found := false
	for _, v := range p.Versions {
		if !v.Effective.After(now) && (!found || v.Effective.After(cur.Effective)) {
			cur, found = v, true
		}
	}
	return cur, found
}

// Next is the version announced to take effect after now, the earliest
// of them; false when none is.
func (p Purpose) Next(now time.Time) (Version, bool) {
	var next Version
	found := false
	for _, v := range p.Versions {
		if v.Effective.After(now) && (!found || v.Effective.Before(next.Effective)) {
			next, found = v, true
		}
	}
	return next, found
}

// Version returns the version labelled label.
func (p Purpose) Version(label string) (Version, bool) {
	for _, v := range p.Versions {
		if v.Label == label {
			return v, true
		}
	}
	return Version{}, false
}

// TitleIn is the purpose's title in lang, or in English.
func (p Purpose) TitleIn(lang string) string { return inLang(p.Title, lang) }

// DescriptionIn is the purpose's description in lang, or in English; ""
// when it has none.
func (p Purpose) DescriptionIn(lang string) string { return inLang(p.Description, lang) }

// Document is the version's document in lang, or in English.
func (v Version) Document(lang string) Document {
	for _, l := range []string{lang, "en"} {
		if u := v.URL[l]; u != "" {
			return Document{Lang: l, URL: u}
		}
		if t := v.Text[l]; t != "" {
			return Document{Lang: l, Text: t}
		}
	}
	return Document{}
}

func inLang(m map[string]string, lang string) string {
	if s := m[lang]; s != "" {
		return s
	}
	return m["en"]
}

var (
	idPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	labelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)
)

// Limits of the texts.
const (
	maxTitle       = 200
	maxDescription = 2000
	maxText        = 50000
)

// Validate checks purposes as configured, at now: every problem at once,
// each naming the purpose (consents[i] (id)) and the setting.
func Validate(purposes []Purpose, now time.Time) error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range purposes {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("consents[%d] (%s): %s", i, p.ID, fmt.Sprintf(format, args...)))
		}
		switch {
		case !idPattern.MatchString(p.ID):
			bad("id %q: 1 to 40 lower-case letters, digits and _, starting with a letter", p.ID)
		case seen[p.ID]:
			bad("the id %q is given twice", p.ID)
		}
		seen[p.ID] = true
		for _, c := range p.Clients {
			if strings.TrimSpace(c) == "" || len(c) > 255 {
				bad("clients: %q is not a client ID", c)
			}
		}
		for _, e := range texts("title", p.Title, true, maxTitle) {
			bad("%s", e)
		}
		for _, e := range texts("description", p.Description, false, maxDescription) {
			bad("%s", e)
		}
		if len(p.Versions) == 0 {
			bad("versions: give at least one version (version, effective, and a url or text in English)")
		}
		labels, dates := map[string]bool{}, map[time.Time]string{}
		for j, v := range p.Versions {
			at := fmt.Sprintf("versions[%d]", j)
			switch {
			case !labelPattern.MatchString(v.Label):
				bad("%s: version %q: 1 to 40 letters, digits, '.', '_' and '-', starting with a letter or digit", at, v.Label)
			case labels[v.Label]:
				bad("%s: the version %q is given twice", at, v.Label)
			}
			labels[v.Label] = true
			if v.Effective.IsZero() {
				bad("%s (%s): effective: give the date the version takes effect, such as 2026-03-01", at, v.Label)
			} else if other, dup := dates[v.Effective.UTC()]; dup {
				bad("%s (%s): takes effect at the same time as version %s; which one is current would be unclear", at, v.Label, other)
			} else {
				dates[v.Effective.UTC()] = v.Label
			}
			for _, e := range documents(v) {
				bad("%s (%s): %s", at, v.Label, e)
			}
		}
		if _, ok := p.Current(now); !ok && p.Required && len(p.Versions) > 0 {
			next, _ := p.Next(now)
			bad("a required purpose needs a version in effect now; the earliest takes effect %s", next.Effective.UTC().Format(time.RFC3339))
		}
	}
	return errors.Join(errs...)
}

// texts checks a map of texts by language.
func texts(name string, m map[string]string, required bool, limit int) []string {
	var out []string
	for _, l := range slices.Sorted(maps.Keys(m)) {
		switch {
		case !slices.Contains(Languages, l):
			out = append(out, fmt.Sprintf("%s: %q is not a language; use %s", name, l, strings.Join(Languages, ", ")))
		case strings.TrimSpace(m[l]) == "":
			out = append(out, fmt.Sprintf("%s.%s is empty", name, l))
		case len(m[l]) > limit:
			out = append(out, fmt.Sprintf("%s.%s is longer than %d characters", name, l, limit))
		}
	}
	if required && strings.TrimSpace(m["en"]) == "" {
		out = append(out, fmt.Sprintf("%s.en: give the %s in English at least (the fallback for other languages)", name, name))
	}
	return out
}

// documents checks a version's links and texts.
func documents(v Version) []string {
	var out []string
	for _, l := range slices.Sorted(maps.Keys(v.URL)) {
		u := v.URL[l]
		switch {
		case !slices.Contains(Languages, l):
			out = append(out, fmt.Sprintf("url: %q is not a language; use %s", l, strings.Join(Languages, ", ")))
		case v.Text[l] != "":
			out = append(out, fmt.Sprintf("url.%s and text.%s: give the document in one language as a link or as text, not both", l, l))
		case !linkOK(u):
			out = append(out, fmt.Sprintf("url.%s: %q must be an https URL or a path on this server", l, u))
		}
	}
	for _, l := range slices.Sorted(maps.Keys(v.Text)) {
		switch {
		case !slices.Contains(Languages, l):
			out = append(out, fmt.Sprintf("text: %q is not a language; use %s", l, strings.Join(Languages, ", ")))
		case strings.TrimSpace(v.Text[l]) == "":
			out = append(out, fmt.Sprintf("text.%s is empty", l))
		case len(v.Text[l]) > maxText:
			out = append(out, fmt.Sprintf("text.%s is longer than %d characters", l, maxText))
		}
	}
	if v.URL["en"] == "" && strings.TrimSpace(v.Text["en"]) == "" {
		out = append(out, "give the document in English at least, as url.en or text.en (the fallback for other languages)")
	}
	return out
}

// linkOK accepts an https URL or a path on this server.
func linkOK(s string) bool {
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, " \r\n") {
		return false
	}
	if u.Scheme == "https" {
		return u.Host != ""
	}
	return u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "/\\")
}
