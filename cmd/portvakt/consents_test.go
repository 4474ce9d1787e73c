package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"golang.org/x/oauth2"
)

// consentsConfig is a deployment's purposes: terms (version 1, and 2 when
// given), and marketing mail.
func consentsConfig(termsV2 string) string {
	v2 := ""
	if termsV2 != "" {
		v2 = `
      - version: "2"
        effective: "` + termsV2 + `"
        url:
          en: https://example.com/terms/2`
	}
	return `consents:
  - id: terms
    required: true
    title:
      en: Terms of service
    versions:
      - version: "1"
        effective: 2025-01-01
        url:
          en: https://example.com/terms/1` + v2 + `
  - id: marketing_email
    title:
      en: News by email
    versions:
      - version: "1"
        effective: 2025-01-01
        text:
          en: We send news.
`
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// postForm posts the page's form whose action starts with action, with
// its hidden fields and values.
func postForm(t *testing.T, c *http.Client, base, page, action string, values url.Values) *http.Response {
	t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(page, -1) {
		a := html.UnescapeString(m[1])
		if !strings.HasPrefix(a, action) {
			continue
		}
		form := url.Values{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			form.Set(h[1], html.UnescapeString(h[2]))
		}
		for k, v := range values {
			form[k] = v
		}
		res, err := c.PostForm(base+a, form)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Fatalf("no form posting to %s on the page:\n%s", action, page)
	return nil
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConsentsBeforeTheApplication runs the real binary with required
// terms: a person without the terms' receipt signs in to an application
// and is held at the page that asks for them; under prompt=none the
// application hears interaction_required; once accepted the application
// gets its code, and the consents claim. After a restart with a new terms
// version in effect, the application is held back again until it is
// accepted. Withdrawing marketing mail on the privacy page reaches a
// webhook subscriber as consent.withdrawn.
func TestConsentsBeforeTheApplication(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	conf := dir + "/portvakt.yaml"
	writeFile(t, conf, consentsConfig(""))
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error", "PORTVAKT_ISSUER="+issuer, "PORTVAKT_CONFIG="+conf,
		"PORTVAKT_WEBHOOKS_ALLOW_HTTP=true", "PORTVAKT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true")
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "rp") }))
	defer rp.Close()

	// The CRM's webhook receiver, checking signatures.
	var mu sync.Mutex
	var hooks []map[string]any
	var secret string
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		hooks = append(hooks, m)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer crm.Close()
	var sub struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, env, "webhook", "create", "--url", crm.URL, "--event", "consent.*", "--json").stdout), &sub); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = sub.Secret
	mu.Unlock()

	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	created := mustRun(t, dir, env, "client", "create", "--name", "Webshop", "--type", "confidential", "--redirect-uri", rp.URL+"/callback",
		"--grant-type", "authorization_code", "--scope", "openid email", "--first-party", "--release-consents", "--json")
	if err := json.Unmarshal([]byte(created.stdout), &client); err != nil || !strings.Contains(created.stdout, `"release_consents":true`) {
		t.Fatalf("client create printed %q", created.stdout)
	}
	if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--verified"); r.code != 0 {
		t.Fatalf("user create: %s", r.stderr)
	}

	s := startServe(t, dir, env, "--addr", addr)
	s.addr, s.base = addr, issuer
	s.waitReady(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	oauth := &oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, Endpoint: provider.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: []string{"openid", "email"}}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), rp.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	v := oauth2.GenerateVerifier()
	authorize := func(opts ...oauth2.AuthCodeOption) *http.Response {
		t.Helper()
		res, err := browser.Get(oauth.AuthCodeURL("xyz", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v), gooidc.Nonce("n")}, opts...)...))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// answered is where the provider sent the application's answer.
	answered := func(res *http.Response) url.Values {
		t.Helper()
		res.Body.Close()
		cb, err := res.Location()
		if err != nil || !strings.HasPrefix(cb.String(), rp.URL) {
			t.Fatalf("the application got no answer: %d at %s", res.StatusCode, res.Request.URL)
		}
		return cb.Query()
	}
	none := oauth2.SetAuthURLParam("prompt", "none")

	// Signing in stops at the terms: the person has not accepted them.
	res := authorize()
	login := readBody(t, res)
	res = postForm(t, browser, issuer, login, "/login", url.Values{"email": {"ada@example.com"}, "password": {"tangerine-orbit-velvet-42"}})
	page := readBody(t, res)
	if res.Request.URL.Path != "/consent/update" || !strings.HasPrefix(res.Request.URL.Query().Get("return_to"), "/authorize/callback?id=") ||
		!strings.Contains(page, "Terms of service") {
		t.Fatalf("after signing in: %d at %s, want the page asking for the terms\n%s", res.StatusCode, res.Request.URL, page)
	}
	// With a session but without the terms: prompt=none is refused, and
	// any other request goes to the page first (no code).
	if q := answered(authorize(none)); q.Get("error") != "interaction_required" || q.Get("code") != "" || q.Get("state") != "xyz" {
		t.Errorf("prompt=none before accepting: %v", q)
	}
	res = authorize()
	held := readBody(t, res)
	if res.Request.URL.Path != "/consent/update" || res.Request.URL.Query().Get("client_id") != client.ID || !strings.Contains(held, "Webshop needs you to accept") {
		t.Fatalf("another request before accepting: %d at %s", res.StatusCode, res.Request.URL)
	}
	// Accepted: the application gets its code, and the claim.
	q := answered(postForm(t, browser, issuer, held, "/consent/update", nil))
	if q.Get("code") == "" {
		t.Fatalf("after accepting: %v", q)
	}
	tok, err := oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: client.ID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Consents map[string]struct {
			Granted bool   `json:"granted"`
			Version string `json:"version"`
			At      int64  `json:"at"`
		} `json:"consents"`
	}
	if err := idt.Claims(&claims); err != nil || !claims.Consents["terms"].Granted || claims.Consents["terms"].Version != "1" ||
		claims.Consents["terms"].At == 0 || claims.Consents["marketing_email"].Granted || len(claims.Consents) != 2 {
		t.Errorf("the consents claim: %+v, %v", claims.Consents, err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	var fromInfo struct {
		Consents map[string]struct {
			Granted bool `json:"granted"`
		} `json:"consents"`
	}
	if err != nil || info.Claims(&fromInfo) != nil || !fromInfo.Consents["terms"].Granted || len(fromInfo.Consents) != 2 {
		t.Errorf("the consents claim from userinfo: %+v, %v", fromInfo, err)
	}
	if q := answered(authorize(none)); q.Get("code") == "" {
		t.Errorf("prompt=none after accepting: %v", q)
	}

	// Marketing given and withdrawn on the privacy page: the withdrawal
	// reaches the CRM.
	res, err = browser.Get(issuer + "/account/privacy")
	if err != nil {
		t.Fatal(err)
	}
	privacy := readBody(t, res)
	res = postForm(t, browser, issuer, privacy, "/account/privacy/marketing_email/grant", nil)
	privacy = readBody(t, res)
	res = postForm(t, browser, issuer, privacy, "/account/privacy/marketing_email/withdraw", nil)
	if body := readBody(t, res); !strings.Contains(body, "Your consent was withdrawn.") {
		t.Fatalf("after withdrawing: %s\n%s", res.Request.URL, body)
	}
	var withdrawn map[string]any
	waitFor(t, 20*time.Second, "consent.withdrawn at the CRM", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if h["type"] == "consent.withdrawn" {
				withdrawn = h
				return true
			}
		}
		return false
	})
	data, _ := withdrawn["data"].(map[string]any)
	details, _ := data["details"].(map[string]any)
	if details["purpose"] != "marketing_email" || details["version"] != "1" || details["channel"] != "account" || details["method"] != "button" ||
		!strings.HasPrefix(data["subject"].(string), "user:") || strings.Contains(strings.ToLower(jsonString(withdrawn)), "ada@") {
		t.Errorf("the webhook: %v", withdrawn)
	}

	// A new version of the terms in effect after a restart: the
	// application is held back again until it is accepted.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	writeFile(t, conf, consentsConfig(time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
	s = startServe(t, dir, env, "--addr", addr)
	s.addr, s.base = addr, issuer
	s.waitReady(10 * time.Second)
	if q := answered(authorize(none)); q.Get("error") != "interaction_required" {
		t.Errorf("prompt=none with version 2 waiting: %v", q)
	}
	res = authorize()
	held = readBody(t, res)
	if res.Request.URL.Path != "/consent/update" || !strings.Contains(held, "https://example.com/terms/2") || !strings.Contains(held, "You accepted version 1 on") {
		t.Fatalf("with version 2 waiting: %d at %s\n%s", res.StatusCode, res.Request.URL, held)
	}
	if q := answered(postForm(t, browser, issuer, held, "/consent/update", nil)); q.Get("code") == "" {
		t.Errorf("after accepting version 2: %v", q)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
