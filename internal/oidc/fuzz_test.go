package oidc_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/server"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/web"
)

// The fuzzed provider's clients and their registered redirect URIs. No
// relying party has to listen there: the test only reads where the
// provider sends the browser.
const (
	fuzzRP           = "https://rp.example"
	fuzzWebRedirect  = fuzzRP + "/callback"
	fuzzWebRedirect2 = fuzzRP + "/cb?tenant=1" // a registered URI with a query
	fuzzSPARedirect  = fuzzRP + "/spa"
	fuzzNativeID     = "native"
	fuzzNativeRedir  = "http://127.0.0.1/cb" // loopback: any port (RFC 8252)
	fuzzNativeCustom = "com.example.app:/oauth"
)

// FuzzAuthorizeRequest sends arbitrary authorization requests to the
// provider, as GET /authorize?<query> and as a POST with the query as its
// form body, each from a browser without a session and from one that is
// signed in, and follows the redirects that stay on /authorize. Whatever the
// request, the provider must never answer 5xx (a panic is one: the server
// turns it into a logged 500), and must never send the browser anywhere but
// to a redirect URI registered for the client the request names, or to a
// path on the server itself: no open redirect.
//
//	go test -run '^$' -fuzz FuzzAuthorizeRequest -fuzztime 60s -fuzzminimizetime 3s ./internal/oidc/
//
// Each input costs several requests with database writes, so minimizing a
// new input for the default 60 s stalls the search: -fuzzminimizetime 3s
// finds far more (30-odd new inputs a minute instead of one or two).
func FuzzAuthorizeRequest(f *testing.F) {
	fz := newFuzzStack(f)
	seeds, huge := fuzzSeeds(fz.url)
	for _, q := range seeds {
		f.Add(q)
	}
	// Values of tens of kilobytes are checked here, once, rather than
	// seeded: the fuzzer would spend its time minimizing their mutants.
	for _, q := range huge {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, signedIn := range []bool{false, true} {
				fz.check(f, method, q, signedIn)
			}
		}
	}
	f.Fuzz(func(t *testing.T, query string) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, signedIn := range []bool{false, true} {
				fz.check(t, method, query, signedIn)
			}
		}
	})
}

// fuzzStack is newStack's wiring (store, hosted pages, provider, server)
// built once per fuzzing process, with fixed clients and a signed-in
// browser's cookies.
type fuzzStack struct {
	url     string
	handler http.Handler
	cookies []*http.Cookie
	// redirects are the registered redirect URIs by client_id.
	redirects map[string][]string
	native    map[string]bool

	mu   sync.Mutex
	logs bytes.Buffer // warnings and errors, panics included, of one input
}

func (s *fuzzStack) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

func (s *fuzzStack) takeLogs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.logs.String()
	s.logs.Reset()
	return out
}

func newFuzzStack(tb testing.TB) *fuzzStack {
	tb.Helper()
	st := storetest.Open(tb, storetest.SQLite())
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		tb.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keys := &testKeys{
		rsa: testKey{id: "rsa-1", alg: jose.RS256, key: rsaKey, pub: &rsaKey.PublicKey},
		ec:  testKey{id: "ec-1", alg: jose.ES256, key: ecKey, pub: &ecKey.PublicKey},
	}

	s := &fuzzStack{
		redirects: map[string][]string{
			clientID:     {fuzzWebRedirect, fuzzWebRedirect2},
			"spa":        {fuzzSPARedirect},
			fuzzNativeID: {fuzzNativeRedir, fuzzNativeCustom},
		},
		native: map[string]bool{fuzzNativeID: true},
	}
	logger := slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The provider framework logs refused authorization requests through
	// slog's default logger, not the one it is given: catch those too (and
	// keep them off the fuzzer's output).
	prev := slog.Default()
	slog.SetDefault(logger)
	tb.Cleanup(func() { slog.SetDefault(prev) })

	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	s.url = ts.URL
	issuer, _ := url.Parse(ts.URL)

	acc := &accounts.Service{Store: st, Events: st, Hasher: hasher}
	sessions := &session.Manager{Store: st}
	// No second factors are set up here: sign-in reads only whether there are.
	pages := &web.Handler{Catalog: cat, Accounts: acc, Authn: &authn.Service{Store: st}, Flows: &flows.Service{Store: st}, Sessions: sessions,
		Brand: web.Branding{ProductName: "Portvakt"}, Issuer: issuer, MinPasswordLength: 8, Logger: logger}
	if err := pages.Init(); err != nil {
		tb.Fatal(err)
	}
	allScopes := []string{"openid", "profile", "email", "phone", "address", "offline_access"}
	provider, err := oidc.New(oidc.Config{
		Issuer: issuer, Grants: st, Keys: keys, Users: st, Sessions: sessions, Ping: st.Ping, Logger: logger, Assertions: st,
		Clients: testClients{
			"spa": {c: oidc.Client{
				ID: "spa", RedirectURIs: s.redirects["spa"], AuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}, FirstParty: true,
			}},
			clientID: {secret: clientSecret, c: oidc.Client{
				ID: clientID, RedirectURIs: s.redirects[clientID], AuthMethod: "client_secret_basic",
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: allScopes,
				FirstParty: true, JWTAccessTokens: true,
			}},
			fuzzNativeID: {c: oidc.Client{
				ID: fuzzNativeID, RedirectURIs: s.redirects[fuzzNativeID], AuthMethod: "none", Native: true,
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: allScopes, FirstParty: true,
			}},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Issuer: issuer, Logger: logger}, pages, provider)
	if err != nil {
		tb.Fatal(err)
	}
	s.handler = srv.Handler()
	mux.Handle("/", s.handler)
	if _, err := acc.Create(context.Background(), accounts.NewUser{
		Email: "ada@example.com", Password: goodPassword, GivenName: "Ada", Verified: true,
	}, "system:test"); err != nil {
		tb.Fatal(err)
	}
	s.cookies = fuzzSignIn(tb, ts.URL)
	s.takeLogs()
	return s
}

// fuzzSignIn signs in on the hosted page and returns the browser's cookies.
func fuzzSignIn(tb testing.TB, base string) []*http.Cookie {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(base + "/login")
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m, a := csrfRe.FindSubmatch(body), actionRe.FindSubmatch(body)
	if m == nil || a == nil {
		tb.Fatalf("no sign-in form at %s (%d)", res.Request.URL, res.StatusCode)
	}
	res, err = c.PostForm(base+strings.ReplaceAll(string(a[1]), "&amp;", "&"),
		url.Values{"csrf_token": {string(m[1])}, "email": {"ada@example.com"}, "password": {goodPassword}})
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/account" {
		tb.Fatalf("sign-in ended at %s (%d), want /account", res.Request.URL, res.StatusCode)
	}
	u, _ := url.Parse(base)
	return jar.Cookies(u)
}

// check sends one authorization request and asserts the outcome; it
// follows redirects to /authorize/… (the hand-off to sign-in and back).
func (s *fuzzStack) check(t testing.TB, method, query string, signedIn bool) {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req = httptest.NewRequest(http.MethodGet, s.url+"/authorize", nil)
		req.URL.RawQuery = requestTarget(query)
		req.RequestURI = req.URL.RequestURI()
	} else {
		req = httptest.NewRequest(http.MethodPost, s.url+"/authorize", strings.NewReader(query))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	clientIDs := namedClients(query)
	what := func(hop int, target string) string {
		who := "no session"
		if signedIn {
			who = "signed in"
		}
		return method + " /authorize (" + who + ", hop " + string(rune('0'+hop)) + ": " + truncate(target, 300) + ")"
	}
	s.takeLogs()
	for hop := 0; ; hop++ {
		if signedIn {
			for _, c := range s.cookies {
				req.AddCookie(c)
			}
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		logs := s.takeLogs()
		if rec.Code >= 500 {
			t.Fatalf("%s: status %d\nbody: %s\nserver log:\n%s", what(hop, req.URL.RequestURI()), rec.Code, truncate(rec.Body.String(), 500), truncate(logs, 4000))
		}
		if strings.Contains(logs, `msg="panic in handler"`) {
			t.Fatalf("%s: a panic was logged (status %d):\n%s", what(hop, req.URL.RequestURI()), rec.Code, truncate(logs, 4000))
		}
		// An HTML page may send the browser on too (form_post and the like).
		if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
			for _, m := range formActionRe.FindAllStringSubmatch(rec.Body.String(), -1) {
				action := htmlUnescape(m[1])
				if !s.local(action) && !s.registered(action, clientIDs) {
					t.Fatalf("%s: status %d, a page with a form to %q, which is neither on this server nor a redirect URI registered for client_id %q",
						what(hop, req.URL.RequestURI()), rec.Code, action, clientIDs)
				}
			}
		}
		loc := rec.Header().Get("Location")
		if loc == "" {
			return
		}
		if strings.ContainsAny(loc, "\r\n\x00") {
			t.Fatalf("%s: Location with a control character: %q", what(hop, req.URL.RequestURI()), loc)
		}
		if s.registered(loc, clientIDs) {
			return
		}
		if !s.local(loc) {
			t.Fatalf("%s: status %d, redirect to %q, which is neither on this server nor a redirect URI registered for client_id %q",
				what(hop, req.URL.RequestURI()), rec.Code, truncate(loc, 500), clientIDs)
		}
		next, err := url.Parse(strings.TrimPrefix(loc, s.url))
		if err != nil || !strings.HasPrefix(next.Path, "/authorize") || hop >= 4 {
			return // on to the hosted pages (or a loop): not the provider's any more
		}
		req = httptest.NewRequest(http.MethodGet, s.url+"/authorize", nil)
		req.URL.Path, req.URL.RawQuery = next.Path, next.RawQuery
		req.RequestURI = req.URL.RequestURI()
	}
}

// namedClients are the values of client_id in a query, the name matched
// regardless of case as the provider does (it reads Client_ID=x as
// client_id=x).
func namedClients(query string) []string {
	form, _ := url.ParseQuery(query)
	var ids []string
	for k, vs := range form {
		if strings.EqualFold(k, "client_id") {
			ids = append(ids, vs...)
		}
	}
	return ids
}

// local reports whether a redirect target stays on this server: a path
// (not //host or /\host, which browsers read as another host) or a URL
// under the issuer.
func (s *fuzzStack) local(target string) bool {
	if strings.HasPrefix(target, s.url+"/") {
		return true
	}
	return strings.HasPrefix(target, "/") && !strings.HasPrefix(target, "//") && !strings.HasPrefix(target, `/\`)
}

// registered reports whether target is a redirect URI registered for one
// of the named clients, with the authorization response added:
//
//   - the exact URI, then ? (or & when the URI has a query of its own) or #;
//   - a URI with a query of its own may come back with its parameters
//     reordered among the response's (the provider re-encodes the query to
//     add iss): same scheme, host and path, and every registered parameter
//     kept with its value (RFC 6749 3.1.2);
//   - a native client's loopback URI matches with any port (RFC 8252 7.3),
//     and also with another loopback host or scheme: the provider (zitadel's
//     matchesLoopbackRedirect) compares only the path and query, so
//     http://127.0.0.1/cb also admits http://localhost:8080/cb,
//     http://[::1]/cb, http://127.0.0.2/cb, https://127.0.0.1/cb and
//     http://anything@127.0.0.1/cb. That is
//     wider than docs/oidc.md says ("also matches on any port") but never
//     leaves the user's machine, so it is accepted here and reported, not
//     treated as an open redirect.
func (s *fuzzStack) registered(target string, clientIDs []string) bool {
	for _, id := range clientIDs {
		for _, uri := range s.redirects[id] {
			if withResponse(target, uri) || sameWithQuery(target, uri) {
				return true
			}
			if s.native[id] && loopbackMatch(target, uri) {
				return true
			}
		}
	}
	return false
}

// sameWithQuery: target is uri (which has a query) with parameters added.
func sameWithQuery(target, uri string) bool {
	base, query, ok := strings.Cut(uri, "?")
	if !ok || !strings.HasPrefix(target, base+"?") {
		return false
	}
	want, err1 := url.ParseQuery(query)
	got, err2 := url.ParseQuery(strings.TrimPrefix(strings.SplitN(target, "#", 2)[0], base+"?"))
	if err1 != nil || err2 != nil {
		return false
	}
	for k, vs := range want {
		if strings.Join(got[k], "\x00") != strings.Join(vs, "\x00") {
			return false
		}
	}
	return true
}

// loopbackMatch: both are loopback http(s) URLs (an IP address that is
// loopback, IPv4-mapped forms included, or localhost, after any user info;
// no backslash, which a browser would read differently) with the same path
// and registered query.
func loopbackMatch(target, uri string) bool {
	m, r := loopbackRe.FindStringSubmatch(target), loopbackRe.FindStringSubmatch(uri)
	if m == nil || r == nil || !isLoopback(m[1]) || !isLoopback(r[1]) {
		return false
	}
	return withResponse(m[2], r[2]) || sameWithQuery("http://h"+m[2], "http://h"+r[2])
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

var (
	// loopbackRe splits an http(s) URL whose host is an IP address or
	// localhost into the host and the path with what follows.
	loopbackRe   = regexp.MustCompile(`^https?://(?:[^/?#\\]*@)?(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost)(?::[0-9]{0,5})?(/[^\\]*)$`)
	formActionRe = regexp.MustCompile(`(?i)<form[^>]*\saction="([^"]*)"`)
)

func withResponse(target, uri string) bool {
	if target == uri {
		return true
	}
	rest, ok := strings.CutPrefix(target, uri)
	if !ok {
		return false
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return strings.HasPrefix(rest, sep) || strings.HasPrefix(rest, "#")
}

// requestTarget makes a fuzzed query something a browser can send: the
// bytes that cannot appear in an HTTP request target (controls, space, #)
// are percent-encoded, the rest is kept as it is.
func requestTarget(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c == 0x7f || c == '#' {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// fuzzSeeds are realistic and hostile authorization requests: seeds for
// the corpus, and huge ones to check once.
func fuzzSeeds(issuer string) (seeds, huge []string) {
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	good := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid profile email offline_access"},
		"redirect_uri": {fuzzWebRedirect}, "state": {"st4te"}, "nonce": {"n0nce"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	with := func(kv ...string) string {
		q := url.Values{}
		for k, v := range good {
			q[k] = append([]string(nil), v...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "\x00delete" {
				q.Del(kv[i])
				continue
			}
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
	seeds = []string{
		// Realistic.
		good.Encode(),
		with("prompt", "none"),
		with("prompt", "login"),
		with("prompt", "consent"),
		with("prompt", "create"),
		with("prompt", "select_account"),
		with("prompt", "none login"),
		with("max_age", "0"),
		with("max_age", "3600"),
		with("ui_locales", "sv"),
		with("ui_locales", "fi-FI sv en"),
		with("login_hint", "ada@example.com"),
		with("redirect_uri", fuzzWebRedirect2),
		with("client_id", "spa", "redirect_uri", fuzzSPARedirect, "scope", "openid profile"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.1:49152/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", fuzzNativeCustom),
		with("response_mode", "query"),
		with("acr_values", "urn:portvakt:pwd"),
		with("display", "touch"),
		with("claims", `{"userinfo":{"email":{"essential":true}}}`),
		with("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
		with("resource", "https://api.example"),
		// Missing parameters.
		"",
		"client_id=" + clientID,
		with("client_id", "\x00delete"),
		with("redirect_uri", "\x00delete"),
		with("response_type", "\x00delete"),
		with("scope", "\x00delete"),
		with("scope", ""),
		with("scope", "profile"),
		with("code_challenge", "\x00delete"),
		with("code_challenge_method", "\x00delete"),
		with("client_id", "spa", "redirect_uri", fuzzSPARedirect, "code_challenge", "\x00delete", "code_challenge_method", "\x00delete"),
		with("client_id", "no-such-client"),
		// Repeated parameters.
		good.Encode() + "&client_id=spa",
		good.Encode() + "&redirect_uri=" + url.QueryEscape("https://evil.example/callback"),
		"redirect_uri=" + url.QueryEscape("https://evil.example/callback") + "&" + good.Encode(),
		good.Encode() + "&state=again&nonce=again&scope=openid",
		good.Encode() + "&response_type=token",
		good.Encode() + "&prompt=none&prompt=login",
		// Names in another case (the provider reads them regardless of case).
		strings.ToUpper(good.Encode()),
		"Client_ID=" + clientID + "&Redirect_URI=" + url.QueryEscape(fuzzWebRedirect) + "&Response_Type=code&Scope=openid&State=s",
		good.Encode() + "&Redirect_Uri=" + url.QueryEscape("https://evil.example/callback"),
		good.Encode() + "&CLIENT_ID=spa",
		// Big values (the huge ones are below).
		with("state", strings.Repeat("A", 2_000)),
		with("scope", strings.Repeat("openid ", 200)),
		with("nonce", strings.Repeat("ñ", 500)),
		with("login_hint", strings.Repeat("a", 300)+"@example.com"),
		with("ui_locales", strings.Repeat("sv ", 200)),
		with("max_age", "99999999999999999999999"),
		with("max_age", "-1"),
		with("redirect_uri", fuzzWebRedirect+"?"+strings.Repeat("x", 1_000)),
		// Unicode and encoding.
		with("state", "ünïcödé ☃ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e\u200b"),
		with("login_hint", "ådå@exämple.com"),
		with("ui_locales", "zh-Hant-TW ☃ x-klingon"),
		with("state", "\xff\xfe\x00"),
		"client_id=%ff%fe&redirect_uri=%c0%ae%c0%ae",
		"%",
		"%zz=1",
		"a=%",
		"&&&==;;",
		"client_id=" + clientID + ";redirect_uri=" + fuzzWebRedirect,
		// Open-redirect attempts.
		with("redirect_uri", "https://evil.example/callback"),
		with("redirect_uri", "https://evil.example/callback", "prompt", "none"),
		with("redirect_uri", fuzzWebRedirect+"/../evil"),
		with("redirect_uri", fuzzWebRedirect+"x"),
		with("redirect_uri", fuzzWebRedirect+"?x=1"),
		with("redirect_uri", fuzzWebRedirect+"#frag"),
		with("redirect_uri", fuzzWebRedirect+"%2F..%2F..%2Fevil"),
		with("redirect_uri", "https://rp.example@evil.example/callback"),
		with("redirect_uri", "https://rp.example.evil.example/callback"),
		with("redirect_uri", "https://evil.example\\@rp.example/callback"),
		with("redirect_uri", "HTTPS://RP.EXAMPLE/callback"),
		with("redirect_uri", "//evil.example/callback"),
		with("redirect_uri", "/\\evil.example/callback"),
		with("redirect_uri", "/account"),
		with("redirect_uri", issuer+"/logged-out"),
		with("redirect_uri", fuzzWebRedirect2+"&evil=1"),
		with("redirect_uri", fuzzRP+"/cb"),
		with("client_id", "spa", "redirect_uri", fuzzWebRedirect),
		with("client_id", fuzzNativeID, "redirect_uri", "http://localhost:8080/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://[::1]:8080/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.2/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.0:/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://[::ffff:127.0.0.1]:8080/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://2130706433/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://0x7f.1/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "https://127.0.0.1/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.1.evil.example/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.1:80@evil.example/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://evil.example@127.0.0.1/cb"),
		with("client_id", fuzzNativeID, "redirect_uri", "http://127.0.0.1/cb/../../evil"),
		with("client_id", fuzzNativeID, "redirect_uri", "com.example.app:/oauth/../evil"),
		with("client_id", fuzzNativeID, "redirect_uri", "com.evil.app:/oauth"),
		with("request_uri", "https://evil.example/request.jwt"),
		with("request", "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZSJ9."),
		with("response_mode", "form_post", "redirect_uri", "https://evil.example/callback"),
		with("response_mode", "fragment"),
		with("response_mode", "form_post"),
		// javascript: and other dangerous schemes.
		with("redirect_uri", "javascript:alert(document.domain)"),
		with("redirect_uri", "javascript://rp.example/callback%0aalert(1)"),
		with("redirect_uri", "JaVaScRiPt:alert(1)"),
		with("redirect_uri", " javascript:alert(1)"),
		with("redirect_uri", "data:text/html,<script>alert(1)</script>"),
		with("redirect_uri", "vbscript:msgbox(1)"),
		with("client_id", fuzzNativeID, "redirect_uri", "javascript:alert(1)"),
		// Other response types and PKCE methods.
		with("response_type", "token"),
		with("response_type", "id_token"),
		with("response_type", "code id_token"),
		with("response_type", "none"),
		with("code_challenge_method", "plain"),
		with("code_challenge_method", "S512"),
		with("code_challenge", "short"),
		with("code_challenge", strings.Repeat("A", 200)),
	}
	huge = []string{
		with("state", strings.Repeat("A", 100_000)),
		with("scope", strings.Repeat("openid ", 10_000)),
		with("nonce", strings.Repeat("ñ", 20_000)),
		with("login_hint", strings.Repeat("a", 5_000)+"@example.com"),
		with("ui_locales", strings.Repeat("sv ", 5_000)),
		with("redirect_uri", fuzzWebRedirect+"?"+strings.Repeat("x", 50_000)),
		with("claims", `{"userinfo":{`+strings.Repeat(`"a":{"essential":true},`, 5_000)+`"email":null}}`),
		strings.Repeat("client_id="+clientID+"&", 10_000) + good.Encode(),
		good.Encode() + "&" + strings.Repeat("redirect_uri=https%3A%2F%2Fevil.example%2F&", 5_000),
		strings.Repeat("%", 100_000),
		strings.Repeat("&", 100_000),
		with("state", strings.Repeat("%00", 30_000)),
		with("redirect_uri", "https://evil.example/"+strings.Repeat("a", 100_000), "prompt", "none"),
	}
	return seeds, huge
}
