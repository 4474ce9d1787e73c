package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/geoip/geoiptest"
)

// forwardedFor is a transport that says every request comes from a
// proxy's client at ip.
type forwardedFor struct{ ip string }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// TestAccountPagesOfTheBinary: the server opens geoip_database once and
// the account page shows roughly where a session's address is; the pages
// to change the address and the password and the connected applications
// are served.
func TestAccountPagesOfTheBinary(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	db := geoiptest.Write(t, "GeoLite2-City", geoiptest.Network{CIDR: "203.0.113.0/24", City: "Stockholm", Country: "SE"})
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error", "PORTVAKT_ISSUER="+issuer, "PORTVAKT_GEOIP_DATABASE="+db, "PORTVAKT_TRUSTED_PROXIES=127.0.0.1/32")
	if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--verified"); r.code != 0 {
		t.Fatalf("user create: %s", r.stderr)
	}
	s := startServe(t, dir, env, "--addr", addr)
	s.addr, s.base = addr, issuer
	s.waitReady(10 * time.Second)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: forwardedFor{"203.0.113.9"}}
	get := func(path string) (string, string) {
		t.Helper()
		res, err := browser.Get(issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.Request.URL.Path, string(body)
	}
	_, page := get("/login")
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil || action == nil {
		t.Fatalf("no sign-in form:\n%s", page)
	}
	res, err := browser.PostForm(issuer+strings.ReplaceAll(action[1], "&amp;", "&"),
		url.Values{"csrf_token": {csrf[1]}, "email": {"ada@example.com"}, "password": {"tangerine-orbit-velvet-42"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.Path != "/account" || !strings.Contains(string(body), "203.0.113.9") || !strings.Contains(string(body), "near Stockholm, Sweden") {
		t.Fatalf("the account page at %s does not place the session:\n%s", res.Request.URL.Path, body)
	}
	for path, want := range map[string]string{
		"/account/email":        "New email address",
		"/account/password":     "Current password",
		"/account/applications": "No application can use your account",
	} {
		if at, body := get(path); at != path || !strings.Contains(body, want) {
			t.Errorf("%s: at %s, want a page saying %q", path, at, want)
		}
	}
}
