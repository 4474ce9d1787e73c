package geoip

import (
	"testing"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// TestCountriesAreCLDRs: the generated table is in code order (it is
// searched) and agrees with golang.org/x/text at the version in go.mod;
// after upgrading it, run go generate ./internal/geoip.
func TestCountriesAreCLDRs(t *testing.T) {
	if len(countries) < 240 {
		t.Fatalf("%d countries, want every one", len(countries))
	}
	for i, c := range countries {
		if i > 0 && countries[i-1].code >= c.code {
			t.Fatalf("%s after %s: not in code order", c.code, countries[i-1].code)
		}
		r := language.MustParseRegion(c.code)
		for _, l := range []struct {
			tag  language.Tag
			name string
		}{{language.English, c.en}, {language.Swedish, c.sv}, {language.Finnish, c.fi}} {
			if want := display.Regions(l.tag).Name(r); l.name != want {
				t.Errorf("%s in %s: %q, CLDR says %q: run go generate ./internal/geoip", c.code, l.tag, l.name, want)
			}
		}
	}
}
