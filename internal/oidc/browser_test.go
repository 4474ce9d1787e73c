package oidc_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// stop is where a browser's request ended: a page on the provider, or a
// redirect to the relying party (to).
type stop struct {
	status int
	url    *url.URL
	body   string
	to     *url.URL
}

func (b *browser) do(req *http.Request) stop {
	b.s.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	st := stop{status: res.StatusCode, url: res.Request.URL, body: string(body)}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		st.to, _ = res.Location()
	}
	return st
}

// open gets u (a URL, or a path on the provider).
func (b *browser) open(u string) stop {
	b.s.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.s.url + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return b.do(req)
}

// post posts form to u (a URL, or a path on the provider).
func (b *browser) post(u string, form url.Values) stop {
	b.s.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.s.url + u
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// submit posts the page's first form with its hidden fields (the CSRF
// token among them) and values.
func (b *browser) submit(p stop, values url.Values) stop {
	b.s.t.Helper()
	a := actionRe.FindStringSubmatch(p.body)
	if a == nil {
		b.s.t.Fatalf("no form on %s (%d):\n%s", p.url, p.status, p.body)
	}
	form := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(p.body, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, v := range values {
		form[k] = v
	}
	return b.post(html.UnescapeString(a[1]), form)
}

// signIn fills in the sign-in page as Ada.
func (b *browser) signIn(p stop) stop {
	b.s.t.Helper()
	if p.url.Path != "/login" {
		b.s.t.Fatalf("at %s (%d), want the sign-in page:\n%s", p.url, p.status, p.body)
	}
	return b.submit(p, url.Values{"email": {"ada@example.com"}, "password": {goodPassword}})
}

// checkPage checks what every hosted page must have: the language, one h1
// with the heading, and no message ID left untranslated.
func checkPage(t *testing.T, p stop, lang, h1 string) {
	t.Helper()
	if !strings.Contains(p.body, `<html lang="`+lang+`">`) {
		t.Errorf("page %s: want lang=%q", p.url.Path, lang)
	}
	if n := strings.Count(p.body, "<h1"); n != 1 {
		t.Errorf("page %s: %d h1 elements, want 1", p.url.Path, n)
	}
	if h1 != "" && !strings.Contains(p.body, "<h1>"+html.EscapeString(h1)+"</h1>") {
		t.Errorf("page %s: want <h1>%s</h1>:\n%s", p.url.Path, html.EscapeString(h1), p.body)
	}
	if m := regexp.MustCompile(`\b(consent|signout|authorize|error|logged_out)\.[a-z_.]+`).FindString(p.body); m != "" {
		t.Errorf("page %s shows the message ID %s", p.url.Path, m)
	}
	for _, id := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(p.body, `<label for="`+id[1]+`">`) {
			t.Errorf("page %s: input %s has no label", p.url.Path, id[1])
		}
	}
}

// clientConfig is the OAuth configuration of a test client.
func (s *stack) clientConfig(ctx context.Context, id, secret, redirect string, scopes ...string) *oauth2.Config {
	s.t.Helper()
	conf, _ := s.oauth2Config(ctx)
	conf.ClientID, conf.ClientSecret, conf.RedirectURL = id, secret, s.rp.URL+redirect
	conf.Scopes = scopes
	return conf
}

// postJSON posts form to the provider's path with the client's basic
// authentication and decodes the JSON answer.
func (s *stack) postJSON(path, id, secret string, form url.Values) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	if m == nil {
		m = map[string]any{"body": string(body)}
	}
	return res.StatusCode, m
}

// introspect asks the introspection endpoint about token, as the webapp.
func (s *stack) introspect(token string) map[string]any {
	s.t.Helper()
	return s.introspectAs(clientID, clientSecret, token)
}

// introspectAs asks the introspection endpoint as the client id.
func (s *stack) introspectAs(id, secret, token string) map[string]any {
	s.t.Helper()
	status, m := s.postJSON("/oauth/introspect", id, secret, url.Values{"token": {token}})
	if status != http.StatusOK {
		s.t.Fatalf("introspection: %d %v", status, m)
	}
	return m
}
