package web_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/web"
)

// pagesServer serves the pages the OpenID Provider shows, with fixed data,
// through the real handler.
func pagesServer(t *testing.T) string {
	t.Helper()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := url.Parse("http://localhost")
	h := &web.Handler{Catalog: cat, Brand: web.Branding{ProductName: "Portvakt"}, Issuer: issuer}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		h.ShowConsent(w, r, web.Consent{
			ClientName: `Photos <"Åkerö">`,
			Scopes:     []string{"openid", "profile", "email", "phone", "address", "offline_access", "portvakt:photos:read"},
			Verified:   []string{"national_id"},
			Email:      "ada@example.com",
			Action:     "/authorize/consent?id=abc&x=1",
			UILocales:  r.URL.Query().Get("ui_locales"),
		})
	})
	mux.HandleFunc("GET /signout", func(w http.ResponseWriter, r *http.Request) {
		h.ShowSignOut(w, r, web.SignOut{
			ClientName: r.URL.Query().Get("client"),
			Action:     "/end_session/confirm",
			Hidden:     map[string]string{"client_id": "webapp", "state": `"><script>`, "post_logout_redirect_uri": ""},
			UILocales:  r.URL.Query().Get("ui_locales"),
		})
	})
	mux.HandleFunc("GET /organizations", func(w http.ResponseWriter, r *http.Request) {
		h.ShowOrganizations(w, r, web.OrgChoice{
			ClientName: "Portal", Email: "maria@acme.example", Action: "/authorize/organization?id=abc",
			Organizations: []web.OrgOption{{ID: "o-1", Name: "Acme Oy"}, {ID: "o-2", Name: `Beta <"AB">`}},
			UILocales:     r.URL.Query().Get("ui_locales"),
		})
	})
	mux.HandleFunc("GET /expired", func(w http.ResponseWriter, r *http.Request) {
		h.ShowRequestExpired(w, r, r.URL.Query().Get("ui_locales"))
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		if h.CheckForm(w, r) {
			_, _ = w.Write([]byte("accepted"))
		}
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

// checkAccessible checks the page's language, its one h1, labels and that
// no message ID shows.
func checkAccessible(t *testing.T, r response, lang, h1 string) {
	t.Helper()
	if !strings.Contains(r.body, `<html lang="`+lang+`">`) {
		t.Errorf("want lang=%q", lang)
	}
	if n := strings.Count(r.body, "<h1"); n != 1 {
		t.Errorf("%d h1 elements, want 1", n)
	}
	if !strings.Contains(r.body, "<h1>"+html.EscapeString(h1)+"</h1>") {
		t.Errorf("want <h1>%s</h1>:\n%s", html.EscapeString(h1), r.body)
	}
	if m := regexp.MustCompile(`\b(consent|signout|authorize|error|organizations)\.[a-z_.]+`).FindString(r.body); m != "" {
		t.Errorf("the message ID %s shows", m)
	}
	for _, id := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(r.body, -1) {
		if !strings.Contains(r.body, `<label for="`+id[1]+`">`) {
			t.Errorf("input %s has no label", id[1])
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q, want framing forbidden (clickjacking on a consent page)", csp)
	}
}

func TestConsentPage(t *testing.T) {
	base := pagesServer(t)
	s := &stack{t: t, url: base}
	for _, tc := range []struct {
		lang, h1, allow, deny string
		scopes                []string
	}{
		{"en", `Photos <"Åkerö"> is asking for access to your account`, "Allow", "Don&#39;t allow", []string{
			"Know who you are when you sign in", "See your name and language", "See your email address", "See your phone number",
			"See your postal address", "Keep this access when you are not using it", "Use the permission “portvakt:photos:read”",
			"See your national identity number, as verified by an e-identification",
		}},
		{"sv", `Photos <"Åkerö"> ber om åtkomst till ditt konto`, "Tillåt", "Tillåt inte", []string{
			"Veta vem du är när du loggar in", "Se ditt namn och ditt språk", "Se din e-postadress", "Se ditt telefonnummer",
			"Se din postadress", "Behålla åtkomsten även när du inte använder tjänsten", "Använda behörigheten ”portvakt:photos:read”",
			"Se ditt personnummer, så som det styrkts med e-legitimation",
		}},
		{"fi", `Sovellus Photos <"Åkerö"> pyytää pääsyä tiliisi`, "Salli", "Älä salli", []string{
			"Tietää, kuka olet, kun kirjaudut sisään", "Nähdä nimesi ja kielesi", "Nähdä sähköpostiosoitteesi", "Nähdä puhelinnumerosi",
			"Nähdä postiosoitteesi", "Säilyttää pääsyn myös silloin, kun et käytä palvelua", "Käyttää oikeutta ”portvakt:photos:read”",
			"Nähdä henkilötunnuksesi, sellaisena kuin se on todennettu vahvalla tunnistautumisella",
		}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			r := s.browser().get(base + "/consent?ui_locales=" + tc.lang)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			checkAccessible(t, r, tc.lang, tc.h1)
			var items []string
			for _, m := range regexp.MustCompile(`<li>([^<]*)</li>`).FindAllStringSubmatch(r.body, -1) {
				items = append(items, html.UnescapeString(m[1]))
			}
			if !slices.Equal(items, tc.scopes) {
				t.Errorf("permissions = %q, want %q", items, tc.scopes)
			}
			for _, want := range []string{
				`<form method="post" action="/authorize/consent?id=abc&amp;x=1" class="actions">`,
				`name="csrf_token" value="`,
				`name="decision" value="allow">` + tc.allow + `</button>`,
				`name="decision" value="deny" class="secondary">` + tc.deny + `</button>`,
				"ada@example.com",
			} {
				if !strings.Contains(r.body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(r.body, `<"Åkerö">`) {
				t.Error("the client's name is not escaped")
			}
		})
	}
}

func TestSignOutPage(t *testing.T) {
	base := pagesServer(t)
	s := &stack{t: t, url: base}
	for _, tc := range []struct{ lang, client, h1, text, button string }{
		{"en", "", "Sign out?", "Do you want to sign out of your account on this device?", "Sign out"},
		{"sv", "Webbshop", "Logga ut?", "Webbshop bad om att logga ut dig.", "Logga ut"},
		{"fi", "Verkkokauppa", "Kirjaudutaanko ulos?", "Sovellus Verkkokauppa pyysi kirjaamaan sinut ulos.", "Kirjaudu ulos"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			r := s.browser().get(base + "/signout?" + url.Values{"ui_locales": {tc.lang}, "client": {tc.client}}.Encode())
			checkAccessible(t, r, tc.lang, tc.h1)
			for _, want := range []string{
				tc.text, `<button type="submit">` + tc.button + `</button>`, `<a class="button secondary" href="/">`,
				`<input type="hidden" name="client_id" value="webapp">`,
				`<input type="hidden" name="state" value="&#34;&gt;&lt;script&gt;">`,
			} {
				if !strings.Contains(r.body, want) {
					t.Errorf("page lacks %s:\n%s", want, r.body)
				}
			}
			if strings.Contains(r.body, `name="post_logout_redirect_uri"`) {
				t.Error("an empty hidden field is sent")
			}
		})
	}
}

func TestRequestExpiredPage(t *testing.T) {
	base := pagesServer(t)
	s := &stack{t: t, url: base}
	for _, tc := range []struct{ lang, h1 string }{
		{"en", "This sign-in request has expired"}, {"sv", "Inloggningsbegäran har gått ut"}, {"fi", "Kirjautumispyyntö on vanhentunut"},
	} {
		r := s.browser().get(base + "/expired?ui_locales=" + tc.lang)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.lang, r.status)
		}
		checkAccessible(t, r, tc.lang, tc.h1)
	}
}

func TestCheckForm(t *testing.T) {
	base := pagesServer(t)
	s := &stack{t: t, url: base}
	b := s.browser()
	page := b.get(base + "/consent")
	token := csrfField.FindStringSubmatch(page.body)[1]
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
		want   int
	}{
		{"no token", url.Values{}, "", http.StatusForbidden},
		{"wrong token", url.Values{"csrf_token": {strings.Repeat("x", 43)}}, "", http.StatusForbidden},
		{"foreign origin", url.Values{"csrf_token": {token}}, "https://evil.example", http.StatusForbidden},
		{"the page's token", url.Values{"csrf_token": {token}}, "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.header.Del("Origin")
			if tc.origin != "" {
				b.header.Set("Origin", tc.origin)
			}
			r := b.do(http.MethodPost, base+"/form", tc.form)
			if r.status != tc.want || (tc.want == http.StatusOK) != (r.body == "accepted") {
				t.Errorf("status %d, body %.40q, want %d", r.status, r.body, tc.want)
			}
		})
	}
}

// TestTemplateMessagesExist: every message a template asks for is in the
// catalog, so no page shows a message ID.
func TestTemplateMessagesExist(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	ids := cat.IDs()
	files, _ := filepath.Glob(filepath.Join("templates", "*", "*.html"))
	if len(files) == 0 {
		t.Fatal("no templates found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\.TF? "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			if _, found := slices.BinarySearch(ids, m[1]); !found {
				t.Errorf("%s uses the message %s, which the catalog lacks", f, m[1])
			}
		}
	}
}

func TestOrganizationPage(t *testing.T) {
	base := pagesServer(t)
	s := &stack{t: t, url: base}
	for _, tc := range []struct{ lang, h1, text string }{
		{"en", "Choose an organization", "Which one are you signing in to Portal for?"},
		{"sv", "Välj organisation", "För vilken av dem loggar du in i Portal?"},
		{"fi", "Valitse organisaatio", "Minkä organisaation puolesta kirjaudut palveluun Portal?"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			r := s.browser().get(base + "/organizations?ui_locales=" + tc.lang)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			checkAccessible(t, r, tc.lang, tc.h1)
			for _, want := range []string{
				tc.text, "maria@acme.example",
				`<form method="post" action="/authorize/organization?id=abc" class="choices"`,
				`name="csrf_token" value="`,
				`<button type="submit" name="organization" value="o-1" class="secondary">Acme Oy</button>`,
				`value="o-2" class="secondary">Beta &lt;&#34;AB&#34;&gt;</button>`,
			} {
				if !strings.Contains(r.body, want) {
					t.Errorf("page lacks %s:\n%s", want, r.body)
				}
			}
		})
	}
}
