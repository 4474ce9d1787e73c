package web_test

import (
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/golden"
)

// brandNames are the names the tests give the branded providers.
var brandNames = map[string]string{
	"google": "Google", "microsoft": "Microsoft", "apple": "Apple",
	"github": "GitHub", "facebook": "Facebook", "linkedin": "LinkedIn",
}

// withBrandedProviders registers a provider for each of federation.Brands
// (its ID the brand), a plain one ("acme", named "Åkerö ID") and one
// stored with a brand this version does not know ("odd", named "Odd").
func (s *stack) withBrandedProviders(t *testing.T) {
	t.Helper()
	s.pages.Federation = &federation.Service{Store: s.store, Cipher: s.authn.Cipher}
	ps := []federation.Provider{{ID: "acme", Name: "Åkerö ID"}}
	for _, b := range federation.Brands {
		name := brandNames[b]
		if name == "" {
			t.Fatalf("the brand %s has no name in these tests", b)
		}
		ps = append(ps, federation.Provider{ID: b, Name: name, Options: federation.Options{Brand: b}})
	}
	for _, p := range ps {
		p.Issuer, p.ClientID, p.Scopes = "https://id.example.com", "portvakt", []string{"openid", "email"}
		if _, err := s.pages.Federation.Create(t.Context(), p, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	odd := federation.Provider{ID: "odd", Name: "Odd", Issuer: "https://odd.example.com", ClientID: "portvakt", Options: federation.Options{Brand: "myspace"}}
	if err := s.store.CreateProvider(t.Context(), odd); err != nil {
		t.Fatal(err)
	}
}

var (
	buttonRe = regexp.MustCompile(`(?s)<form method="post" action="/(?:login/idp|account/identities/link)/([a-z-]+)"[^>]*>.*?<button type="submit" class="([^"]*)">(.*?)</button>`)
	svgRe    = regexp.MustCompile(`(?s)<svg ([^>]*)>.*?</svg>`)
	tagRe    = regexp.MustCompile(`<[^>]*>`)
)

// providerButton is a rendered provider button.
type providerButton struct {
	class string
	svgs  []string // each <svg> element
	attrs []string // their attributes
	name  string   // the accessible name: the text outside aria-hidden elements
}

// providerButtons returns the page's provider buttons by provider ID.
func providerButtons(t *testing.T, body string) map[string]providerButton {
	t.Helper()
	out := map[string]providerButton{}
	for _, m := range buttonRe.FindAllStringSubmatch(body, -1) {
		b := providerButton{class: m[2]}
		for _, s := range svgRe.FindAllStringSubmatch(m[3], -1) {
			b.svgs, b.attrs = append(b.svgs, s[0]), append(b.attrs, s[1])
		}
		// The name leaves the marks out: they are aria-hidden (the tests
		// check attrs).
		text := html.UnescapeString(tagRe.ReplaceAllString(svgRe.ReplaceAllString(m[3], ""), ""))
		b.name = strings.Join(strings.Fields(text), " ")
		out[m[1]] = b
	}
	return out
}

func TestProviderButtonBrands(t *testing.T) {
	s := newStack(t)
	s.withBrandedProviders(t)
	s.createUser("ada@example.com", goodPassword, true)
	signedIn := s.browser()
	if res := signedIn.signIn("ada@example.com"); res.url != "/account" {
		t.Fatalf("signing in ended at %s", res.url)
	}
	for _, pg := range []struct{ name, path, before, after string }{
		{"sign-in", "/login", "Continue with ", ""},
		{"registration", "/registration", "Continue with ", ""},
		{"account", "/account", "Link a ", " account"},
	} {
		t.Run(pg.name, func(t *testing.T) {
			b := s.browser()
			if pg.path == "/account" {
				b = signedIn
			}
			res := b.get(pg.path)
			if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP = %q, want styles from this server only", csp)
			}
			if strings.Contains(res.body, "style=") || strings.Contains(res.body, "<style") {
				t.Error("the page has inline styles, which its CSP forbids")
			}
			buttons := providerButtons(t, res.body)
			if len(buttons) != len(federation.Brands)+2 {
				t.Fatalf("%d provider buttons, want %d:\n%s", len(buttons), len(federation.Brands)+2, res.body)
			}
			marks := map[string]string{}
			for id, b := range buttons {
				brand, name := id, brandNames[id]
				switch id {
				case "acme":
					brand, name = "", "Åkerö ID"
				case "odd":
					brand, name = "", "Odd"
				}
				wantClass := "idp-btn idp-" + brand
				if brand == "" {
					wantClass = "secondary idp-btn idp-generic"
				}
				if b.class != wantClass {
					t.Errorf("%s: class %q, want %q", id, b.class, wantClass)
				}
				if want := pg.before + name + pg.after; b.name != want {
					t.Errorf("%s: accessible name %q, want %q", id, b.name, want)
				}
				if len(b.svgs) != 1 {
					t.Fatalf("%s: %d marks, want 1", id, len(b.svgs))
				}
				if !strings.Contains(b.attrs[0], `aria-hidden="true"`) || !strings.Contains(b.attrs[0], `focusable="false"`) {
					t.Errorf("%s: the mark <svg %s> is not hidden from assistive technology", id, b.attrs[0])
				}
				if other, ok := marks[b.svgs[0]]; ok {
					t.Errorf("%s has the same mark as %s", id, other)
				}
				marks[b.svgs[0]] = id
			}
			// A provider without a brand: its initial in a circle.
			for id, initial := range map[string]string{"acme": "Å", "odd": "O"} {
				if mark := buttons[id].svgs[0]; !strings.Contains(mark, "<circle ") || !strings.Contains(mark, ">"+initial+"</text>") {
					t.Errorf("%s: mark %s, want the initial %s in a circle", id, mark, initial)
				}
			}
			if pg.path == "/login" {
				golden.Check(t, "provider-buttons.html", providerGroup(t, res.body))
			}
		})
	}
}

// providerGroup is the sign-in page's group of provider buttons, with the
// CSRF token and the flow left out.
func providerGroup(t *testing.T, body string) []byte {
	t.Helper()
	group := regexp.MustCompile(`(?s)<div class="providers".*?\n</div>`).FindString(body)
	if group == "" {
		t.Fatalf("no provider group:\n%s", body)
	}
	group = regexp.MustCompile(`name="csrf_token" value="[^"]*"`).ReplaceAllString(group, `name="csrf_token" value="CSRF"`)
	return []byte(group + "\n")
}

func TestProviderButtonNames(t *testing.T) {
	s := newStack(t)
	s.withBrandedProviders(t)
	for _, tc := range []struct{ lang, google, acme string }{
		{"en", "Continue with Google", "Continue with Åkerö ID"},
		{"sv", "Fortsätt med Google", "Fortsätt med Åkerö ID"},
		{"fi", "Jatka palvelulla Google", "Jatka palvelulla Åkerö ID"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			for _, path := range []string{"/login", "/registration"} {
				res := s.browser().get(path + "?lang=" + tc.lang)
				if !strings.Contains(res.body, `<html lang="`+tc.lang+`">`) {
					t.Fatalf("%s is not in %s", path, tc.lang)
				}
				buttons := providerButtons(t, res.body)
				if got := buttons["google"].name; got != tc.google {
					t.Errorf("%s: Google's button is named %q, want %q", path, got, tc.google)
				}
				if got := buttons["acme"].name; got != tc.acme {
					t.Errorf("%s: the plain button is named %q, want %q", path, got, tc.acme)
				}
			}
		})
	}
}

// TestProviderButtonColours checks the stylesheet: each brand has its
// colours, with text on background at WCAG AA contrast (4.5:1), and the
// buttons have a focus outline.
func TestProviderButtonColours(t *testing.T) {
	s := newStack(t)
	css := s.browser().get("/assets/portvakt.css").body
	for _, b := range federation.Brands {
		t.Run(b, func(t *testing.T) {
			rule := regexp.MustCompile(`\.idp-btn\.idp-` + b + ` \{([^}]*)\}`).FindStringSubmatch(css)
			if rule == nil {
				t.Fatalf("no rule for .idp-btn.idp-%s", b)
			}
			bg := regexp.MustCompile(`background: (#[0-9a-f]{6});`).FindStringSubmatch(rule[1])
			fg := regexp.MustCompile(`[^-]color: (#[0-9a-f]{6});`).FindStringSubmatch(rule[1])
			if bg == nil || fg == nil {
				t.Fatalf("the rule %q lacks a background or a colour (#rrggbb)", rule[1])
			}
			if r := contrast(bg[1], fg[1]); r < 4.5 {
				t.Errorf("%s on %s: contrast %.2f:1, want at least 4.5:1", fg[1], bg[1], r)
			}
		})
	}
	if !regexp.MustCompile(`\.idp-btn:focus-visible \{[^}]*outline: 3px solid`).MatchString(css) {
		t.Error("the provider buttons have no focus outline")
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		x := float64(v) / 255
		if x <= 0.04045 {
			c[i] = x / 12.92
		} else {
			c[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}
