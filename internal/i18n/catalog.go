// Package i18n holds the messages shown to people — on hosted pages and in
// mail — in every language Portvakt speaks (English, Swedish, Finnish), and
// chooses the language for a request. Messages have stable IDs; Go code
// refers to IDs, never to text.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"sort"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var locales embed.FS

// Languages are the languages Portvakt speaks, the first being the fallback.
var Languages = []language.Tag{language.English, language.Swedish, language.Finnish}

// Catalog is every message in every language.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	ids     []string
}

// New loads the embedded message files and checks that every language has
// every message the fallback language has.
func New() (*Catalog, error) {
	b := goi18n.NewBundle(Languages[0])
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	ids := map[language.Tag]map[string]bool{}
	for _, tag := range Languages {
		ids[tag] = map[string]bool{}
		names, _ := fs.Glob(locales, "locales/*."+tag.String()+".json")
		if len(names) == 0 {
			return nil, fmt.Errorf("i18n: no message files for %s", tag)
		}
		for _, name := range names {
			data, err := locales.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("i18n: %w", err)
			}
			mf, err := b.ParseMessageFileBytes(data, name)
			if err != nil {
				return nil, fmt.Errorf("i18n: %s: %w", name, err)
			}
			for _, m := range mf.Messages {
				if ids[tag][m.ID] {
					return nil, fmt.Errorf("i18n: %s: message %s defined twice", name, m.ID)
				}
				ids[tag][m.ID] = true
			}
		}
	}
	var all []string
	for id := range ids[Languages[0]] {
		all = append(all, id)
	}
	sort.Strings(all)
	var missing []string
	for _, tag := range Languages[1:] {
		for _, id := range all {
			if !ids[tag][id] {
				missing = append(missing, tag.String()+":"+id)
			}
		}
		for id := range ids[tag] {
			if !ids[Languages[0]][id] {
				missing = append(missing, "en:"+id)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("i18n: messages missing: %s", strings.Join(missing, ", "))
	}
	return &Catalog{bundle: b, matcher: language.NewMatcher(Languages), ids: all}, nil
}

// IDs returns every message ID, sorted.
func (c *Catalog) IDs() []string { return c.ids }

// Match picks the language for a list of preferences, most important first.
// Each preference is a space-separated list of tags (as in OpenID Connect's
// ui_locales) or an Accept-Language header value; empty ones are skipped.
// The first preference that names a supported language wins.
func (c *Catalog) Match(prefs ...string) language.Tag {
	for _, p := range prefs {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var tags []language.Tag
		if strings.ContainsAny(p, ",;") {
			tags, _, _ = language.ParseAcceptLanguage(p)
		} else {
			for _, f := range strings.Fields(p) {
				if t, err := language.Parse(f); err == nil {
					tags = append(tags, t)
				}
			}
		}
		if len(tags) == 0 {
			continue
		}
		_, i, conf := c.matcher.Match(tags...)
		if conf >= language.High {
			return Languages[i]
		}
	}
	return Languages[0]
}

// Supported reports whether tag is a language Portvakt speaks, and returns
// its canonical form.
func (c *Catalog) Supported(s string) (language.Tag, bool) {
	t, err := language.Parse(s)
	if err != nil {
		return language.Und, false
	}
	for _, l := range Languages {
		if l == t {
			return l, true
		}
	}
	return language.Und, false
}

// Localizer speaks one language.
type Localizer struct {
	Tag language.Tag
	l   *goi18n.Localizer
}

// Localizer returns the localizer for tag.
func (c *Catalog) Localizer(tag language.Tag) *Localizer {
	return &Localizer{Tag: tag, l: goi18n.NewLocalizer(c.bundle, tag.String())}
}

// T returns the message id, filled in with data (a map of template values).
// A missing message returns its ID, so a mistake shows instead of breaking
// a page; the catalog test checks that every ID used exists.
func (l *Localizer) T(id string, data ...map[string]any) string {
	cfg := &goi18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		cfg.TemplateData = data[0]
	}
	s, err := l.l.Localize(cfg)
	if err != nil {
		return id
	}
	return s
}

// HTML is T for messages that carry markup written by Portvakt's
// translators (links, emphasis). Template values in data are escaped.
func (l *Localizer) HTML(id string, data ...map[string]any) template.HTML {
	var escaped map[string]any
	if len(data) > 0 {
		escaped = map[string]any{}
		for k, v := range data[0] {
			escaped[k] = template.HTMLEscapeString(fmt.Sprint(v))
		}
	}
	return template.HTML(l.T(id, escaped)) //nolint:gosec // text from the embedded catalog, values escaped
}
