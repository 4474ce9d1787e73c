package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oauthApp is a client registered with the CLI.
type oauthApp struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// basic is the client's Authorization header value (RFC 6749 section
// 2.3.1: both parts form-encoded first).
func (a oauthApp) basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(a.ID)+":"+url.QueryEscape(a.Secret)))
}

// endpoints are what discovery names.
type endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Userinfo      string `json:"userinfo_endpoint"`
	Introspection string `json:"introspection_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// browser is the relying party's user agent: one cookie jar, so that after
// the first sign-in every authorization request returns a code at once.
type browser struct {
	ep       endpoints
	redirect string
	http     *http.Client
	// verifier is the PKCE verifier of every request this browser makes
	// (S256); one is enough, each code is still single-use.
	verifier  string
	challenge string
}

func newBrowser(ctx context.Context, issuer, redirect string) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{redirect: redirect, http: &http.Client{
		Jar:       jar,
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirect) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
	v := make([]byte, 32)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	b.verifier = string(v) + "-portvakt-bench-verifier"
	sum := sha256.Sum256([]byte(b.verifier))
	b.challenge = base64.RawURLEncoding.EncodeToString(sum[:])

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	res, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&b.ep); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if b.ep.Authorization == "" || b.ep.Token == "" || b.ep.Userinfo == "" || b.ep.Introspection == "" || b.ep.JWKS == "" {
		return nil, fmt.Errorf("discovery lacks an endpoint: %+v", b.ep)
	}
	return b, nil
}

func (b *browser) authURL(app oauthApp, scope string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {app.ID}, "redirect_uri": {b.redirect},
		"scope": {scope}, "state": {"bench"}, "nonce": {"bench-nonce"},
		"code_challenge": {b.challenge}, "code_challenge_method": {"S256"},
	}
	return b.ep.Authorization + "?" + q.Encode()
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// signIn runs the first authorization request through the hosted sign-in
// page (GET /authorize, the sign-in form, POST with its CSRF token) and
// returns the code.
func (b *browser) signIn(ctx context.Context, issuer string, app oauthApp, scope, email, password string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.authURL(app, scope), nil)
	res, err := b.http.Do(req)
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf, action := csrfRE.FindSubmatch(page), actionRE.FindSubmatch(page)
	if csrf == nil || action == nil {
		return "", fmt.Errorf("no sign-in form at %s (%s)", res.Request.URL, res.Status)
	}
	form := url.Values{"csrf_token": {string(csrf[1])}, "email": {email}, "password": {password}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, issuer+strings.ReplaceAll(string(action[1]), "&amp;", "&"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = b.http.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	return codeFrom(res)
}

// code runs an authorization request for the signed-in browser.
func (b *browser) code(ctx context.Context, app oauthApp, scope string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.authURL(app, scope), nil)
	res, err := b.http.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return codeFrom(res)
}

func codeFrom(res *http.Response) (string, error) {
	loc, err := res.Location()
	if err != nil {
		return "", fmt.Errorf("no redirect to the client (%s at %s)", res.Status, res.Request.URL)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" || q.Get("state") != "bench" {
		return "", fmt.Errorf("redirect without code or state: %s", loc.Redacted())
	}
	return q.Get("code"), nil
}

// codes makes up to n codes with workers requests at once, for at most
// limit, and returns them in the order they were made.
func (b *browser) codes(ctx context.Context, app oauthApp, scope string, n, workers int, limit time.Duration) ([]string, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(limit)
	out := make([]string, 0, n)
	var mu sync.Mutex
	var left atomic.Int64
	left.Store(int64(n))
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && time.Now().Before(deadline) {
				c, err := b.code(ctx, app, scope)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				out = append(out, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, 0, err
	}
	return out, time.Since(start), nil
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func (b *browser) token(ctx context.Context, tokenURL string, app oauthApp, form url.Values) (tokenResponse, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", app.basic())
	res, err := b.http.Do(req)
	if err != nil {
		return tokenResponse{}, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return tokenResponse{}, fmt.Errorf("token endpoint: %s %s", res.Status, body)
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return tokenResponse{}, fmt.Errorf("token endpoint answered %s", body)
	}
	return t, nil
}

// exchangeRest is the code exchange's form after the code, for code.lua.
func (b *browser) exchangeRest() string {
	return "&" + url.Values{"redirect_uri": {b.redirect}, "code_verifier": {b.verifier}}.Encode()
}

func (b *browser) exchange(ctx context.Context, app oauthApp, code string) (tokenResponse, error) {
	return b.token(ctx, b.ep.Token, app, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {b.redirect}, "code_verifier": {b.verifier},
	})
}

// call sends a request with an Authorization header (and a form, if any)
// and returns the body of a 200 answer.
func (b *browser) call(ctx context.Context, method, u, auth string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(ctx, method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s %s", method, u, res.Status, out)
	}
	return out, nil
}

// jwtHeader is the protected header of a compact JWS, or why it has none.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func decodeHeader(tok string) (jwtHeader, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return jwtHeader{}, errors.New("not a JWS (opaque token)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return jwtHeader{}, err
	}
	var h jwtHeader
	return h, json.Unmarshal(raw, &h)
}

func (h jwtHeader) String() string {
	s := h.Alg
	if h.Typ != "" {
		s += ", typ " + h.Typ
	}
	return s
}
