package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestOpenIDConnectEndToEnd runs the real binary with a client registered
// through the CLI and a user created through the CLI, and signs in with the
// authorization code flow through the hosted pages, with coreos/go-oidc as
// the relying party; then client credentials with the same client; then
// ends the session and receives the back-channel logout token.
func TestOpenIDConnectEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error", "PORTVAKT_ISSUER="+issuer)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "rp") }))
	defer rp.Close()
	logoutTokens := make(chan string, 4)
	bcl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logoutTokens <- r.PostFormValue("logout_token")
	}))
	defer bcl.Close()

	created := mustRun(t, dir, env, "client", "create", "--name", "Webshop", "--type", "confidential",
		"--redirect-uri", rp.URL+"/callback", "--backchannel-logout-uri", bcl.URL+"/backchannel-logout", "--grant-type", "authorization_code,refresh_token,client_credentials",
		"--scope", "openid profile email offline_access", "--first-party", "--json")
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(created.stdout), &client); err != nil || client.ID == "" || client.Secret == "" {
		t.Fatalf("client create printed %q", created.stdout)
	}
	if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--verified", "--given-name", "Ada"); r.code != 0 {
		t.Fatalf("user create: %s", r.stderr)
	}

	// The issuer names the address, so it is chosen first; the later --addr wins.
	s := startServe(t, dir, env, "--addr", addr)
	s.addr, s.base = addr, issuer
	s.waitReady(10 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := &oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, Endpoint: provider.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: []string{"openid", "email", "offline_access"}}
	v := oauth2.GenerateVerifier()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), rp.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err := browser.Get(conf.AuthCodeURL("xyz", oauth2.S256ChallengeOption(v), gooidc.Nonce("abc"), oauth2.SetAuthURLParam("prompt", "consent")))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindSubmatch(page)
	if csrf == nil || action == nil {
		t.Fatalf("no sign-in page at %s:\n%s", res.Request.URL, page)
	}
	res, err = browser.PostForm(issuer+strings.ReplaceAll(string(action[1]), "&amp;", "&"),
		url.Values{"csrf_token": {string(csrf[1])}, "email": {"ada@example.com"}, "password": {"tangerine-orbit-velvet-42"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, err := res.Location()
	if err != nil || cb.Query().Get("code") == "" || cb.Query().Get("state") != "xyz" {
		t.Fatalf("after sign-in: %d %v, want a redirect with code and state", res.StatusCode, cb)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: client.ID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "ada@example.com" || info.Subject != idt.Subject {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}

	// client_credentials with a wrong secret fails; with the right one it
	// gets a token.
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
	for _, tc := range []struct {
		secret string
		want   int
	}{{"wrong", http.StatusUnauthorized}, {client.Secret, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodPost, provider.Endpoint().TokenURL, strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client.ID, tc.secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want && !(tc.want == http.StatusUnauthorized && res.StatusCode == http.StatusBadRequest) {
			t.Errorf("client_credentials with secret %q: %d %s, want %d", tc.secret, res.StatusCode, body, tc.want)
		}
	}

	// Ending the session sends the client a logout token, signed with a
	// published key, naming the person.
	res, err = browser.Get(issuer + "/end_session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var raw string
	select {
	case raw = <-logoutTokens:
	case <-time.After(15 * time.Second):
		t.Fatal("no back-channel logout token within 15 s of end_session")
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	keys := gooidc.NewRemoteKeySet(ctx, meta.JWKSURI)
	payload, err := keys.VerifySignature(ctx, raw)
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	var lt struct {
		Iss, Sub, Aud, Sid string
		Events             map[string]json.RawMessage
	}
	if err := json.Unmarshal(payload, &lt); err != nil {
		t.Fatal(err)
	}
	if lt.Iss != issuer || lt.Aud != client.ID || lt.Sub != idt.Subject || lt.Sid == "" || lt.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		t.Errorf("logout token claims: got %s, want iss %s, aud %s, sub %s, a sid and the back-channel logout event", payload, issuer, client.ID, idt.Subject)
	}
}

// TestDemoApplication: "serve --demo" serves a relying party at /demo that
// signs in through the real code flow and shows the claims.
func TestDemoApplication(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error", "PORTVAKT_ISSUER="+issuer)
	if r := runWithStdin(t, dir, env, "tangerine-orbit-velvet-42\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--verified"); r.code != 0 {
		t.Fatalf("user create: %s", r.stderr)
	}
	for round := 0; round < 2; round++ { // a restart re-registers the client with a new secret
		s := startServe(t, dir, env, "--addr", addr, "--demo")
		s.addr, s.base = addr, issuer
		s.waitReady(10 * time.Second)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 15 * time.Second}
		res, err := browser.PostForm(issuer+"/demo/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
		action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindSubmatch(page)
		if csrf == nil || action == nil {
			t.Fatalf("round %d: no sign-in page at %s", round, res.Request.URL)
		}
		res, err = browser.PostForm(issuer+strings.ReplaceAll(string(action[1]), "&amp;", "&"),
			url.Values{"csrf_token": {string(csrf[1])}, "email": {"ada@example.com"}, "password": {"tangerine-orbit-velvet-42"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/demo/callback" || !strings.Contains(string(body), "ada@example.com") || !strings.Contains(string(body), "Sign out") {
			t.Fatalf("round %d: demo callback %d at %s:\n%s", round, res.StatusCode, res.Request.URL, body)
		}
		s.stop()
	}
}
