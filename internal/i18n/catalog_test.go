package i18n

import (
	"testing"

	"golang.org/x/text/language"
)

func TestCatalogLoadsEveryLanguage(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tag  language.Tag
		want string
	}{{language.English, "English"}, {language.Swedish, "Svenska"}, {language.Finnish, "Suomi"}} {
		if got := c.Localizer(tc.tag).T("lang.name"); got != tc.want {
			t.Errorf("%s: lang.name = %q, want %q", tc.tag, got, tc.want)
		}
	}
	if got := c.Localizer(language.Swedish).T("no.such.message"); got != "no.such.message" {
		t.Errorf("missing message = %q, want its ID", got)
	}
}

func TestMatch(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		prefs []string
		want  language.Tag
	}{
		{"nothing", nil, language.English},
		{"ui_locales first supported", []string{"de fi sv"}, language.Finnish},
		{"ui_locales region", []string{"sv-SE"}, language.Swedish},
		{"skips empty and unsupported", []string{"", "de", "fi-FI"}, language.Finnish},
		{"accept-language", []string{"", "", "de-DE,de;q=0.9,sv;q=0.8"}, language.Swedish},
		{"earlier preference wins", []string{"fi", "sv"}, language.Finnish},
		{"garbage", []string{"!!!", "x-invalid;q=bad"}, language.English},
		{"unsupported only", []string{"de-DE,fr;q=0.5"}, language.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Match(tc.prefs...); got != tc.want {
				t.Errorf("Match(%q) = %s, want %s", tc.prefs, got, tc.want)
			}
		})
	}
}

func TestHTMLEscapesValues(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	l := c.Localizer(language.English)
	if got := string(l.HTML("lang.name")); got != "English" {
		t.Errorf("HTML = %q", got)
	}
}
