// Package demo is the demonstration application that "portvakt serve
// --demo" serves at /demo: a first-party relying party, registered at start,
// that signs in through the real authorization code flow with PKCE against
// the same server and shows the ID token's claims, the userinfo answer and a
// sign-out button. It exists so that the first thing a newcomer does is the
// real flow end to end; it is not meant for production.
package demo

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

//go:embed demo.html
var pageFS embed.FS

// ClientID is the demo application's client_id.
const ClientID = "portvakt-demo"

// Handler serves the demo application.
type Handler struct {
	// Issuer is the provider to sign in with (this server).
	Issuer *url.URL
	// Secret is the demo client's secret, set when it was registered.
	Secret string
	// Secure marks cookies Secure (https issuer).
	Secure bool
	Logger *slog.Logger

	once     sync.Once
	provider *gooidc.Provider
	err      error
	page     *template.Template
}

// RedirectURI is where the provider returns to.
func RedirectURI(issuer *url.URL) string { return issuer.JoinPath("/demo/callback").String() }

// HomeURI is the demo's start page, also its post-logout redirect.
func HomeURI(issuer *url.URL) string { return issuer.JoinPath("/demo").String() }

// Mount adds the demo's routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	h.page = template.Must(template.ParseFS(pageFS, "demo.html"))
	mux.HandleFunc("GET /demo", h.showHome)
	mux.HandleFunc("POST /demo/login", h.startLogin)
	mux.HandleFunc("GET /demo/callback", h.callback)
}

// discover reaches this server's own discovery once it is listening.
func (h *Handler) discover(r *http.Request) (*gooidc.Provider, error) {
	h.once.Do(func() {
		h.provider, h.err = gooidc.NewProvider(r.Context(), strings.TrimSuffix(h.Issuer.String(), "/"))
	})
	return h.provider, h.err
}

func (h *Handler) config(p *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: ClientID, ClientSecret: h.Secret, Endpoint: p.Endpoint(), RedirectURL: RedirectURI(h.Issuer),
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "phone", "offline_access"},
	}
}

type view struct {
	Error       string
	IDToken     string
	Claims      string
	UserInfo    string
	Tokens      string
	EndSession  string
	RequestTime string
}

func (h *Handler) render(w http.ResponseWriter, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := h.page.Execute(w, v); err != nil {
		h.Logger.Error("demo page", "error", err)
	}
}

func (h *Handler) showHome(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, view{})
}

// flow is what the browser keeps between the redirect and the callback.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

const flowCookie = "portvakt_demo_flow"

func (h *Handler) startLogin(w http.ResponseWriter, r *http.Request) {
	p, err := h.discover(r)
	if err != nil {
		h.render(w, http.StatusBadGateway, view{Error: "discovery failed: " + err.Error()})
		return
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	b, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/demo",
		HttpOnly: true, Secure: h.Secure, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	u := h.config(p).AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), gooidc.Nonce(f.Nonce))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := h.discover(r)
	if err != nil {
		h.render(w, http.StatusBadGateway, view{Error: "discovery failed: " + err.Error()})
		return
	}
	var f flow
	c, err := r.Cookie(flowCookie)
	if err == nil {
		b, _ := base64.RawURLEncoding.DecodeString(c.Value)
		err = json.Unmarshal(b, &f)
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/demo", MaxAge: -1, HttpOnly: true, Secure: h.Secure})
	q := r.URL.Query()
	switch {
	case err != nil || f.State == "" || q.Get("state") != f.State:
		h.render(w, http.StatusBadRequest, view{Error: "the state does not match this browser's sign-in; start again"})
		return
	case q.Get("error") != "":
		h.render(w, http.StatusBadRequest, view{Error: q.Get("error") + ": " + q.Get("error_description")})
		return
	case q.Get("iss") != strings.TrimSuffix(h.Issuer.String(), "/"):
		h.render(w, http.StatusBadRequest, view{Error: "the response came from another issuer (RFC 9207)"})
		return
	}
	tok, err := h.config(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		h.render(w, http.StatusBadGateway, view{Error: "code exchange failed: " + err.Error()})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&gooidc.Config{ClientID: ClientID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != f.Nonce {
		h.render(w, http.StatusBadGateway, view{Error: "the ID token is not valid for this sign-in"})
		return
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	v := view{IDToken: raw, Claims: pretty(claims), RequestTime: time.Now().UTC().Format(time.RFC3339)}
	if ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		var m map[string]any
		_ = ui.Claims(&m)
		v.UserInfo = pretty(m)
	} else {
		v.UserInfo = "userinfo failed: " + err.Error()
	}
	v.Tokens = pretty(map[string]any{"token_type": tok.TokenType, "expires_in": int(time.Until(tok.Expiry).Seconds()),
		"has_refresh_token": tok.RefreshToken != "", "scope": tok.Extra("scope")})
	end := url.Values{"id_token_hint": {raw}, "client_id": {ClientID}, "post_logout_redirect_uri": {HomeURI(h.Issuer)}}
	v.EndSession = h.Issuer.JoinPath("/end_session").String() + "?" + end.Encode()
	h.render(w, http.StatusOK, v)
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
