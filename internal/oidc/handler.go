package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/session"
)

// Config is what the provider needs.
type Config struct {
	// Issuer is the issuer identifier, exactly as in tokens.
	Issuer *url.URL
	Grants Store
	Clients
	Keys
	Users
	// Sessions tells who is signed in in the browser.
	Sessions *session.Manager
	// CryptoKey encrypts opaque access tokens; the same on every node.
	CryptoKey [32]byte
	// Ping reports whether the database answers.
	Ping   func(context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves the OpenID Provider's endpoints and the hand-off between an
// authorization request and the hosted sign-in page.
type Handler struct {
	cfg      Config
	provider *op.Provider
	storage  *storage
}

// New builds the provider.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st := &storage{grants: cfg.Grants, clients: cfg.Clients, keys: cfg.Keys, users: cfg.Users, ping: cfg.Ping, now: cfg.Now}
	opts := []op.Option{op.WithLogger(cfg.Logger)}
	if cfg.Issuer.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                cfg.CryptoKey,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English, language.Swedish, language.Finnish},
		SupportedScopes:          []string{zoidc.ScopeOpenID, zoidc.ScopeProfile, zoidc.ScopeEmail, zoidc.ScopePhone, zoidc.ScopeAddress, zoidc.ScopeOfflineAccess},
	}, st, op.StaticIssuer(strings.TrimSuffix(cfg.Issuer.String(), "/")), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	return &Handler{cfg: cfg, provider: provider, storage: st}, nil
}

// Mount adds the provider's routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", h.showDiscovery)
	for _, p := range []string{
		"/oauth/token", "/oauth/introspect",
		"/userinfo", "/revoke", "/end_session", "/keys",
	} {
		mux.Handle(p, h.provider)
	}
	mux.Handle("/authorize", h.withIss(h.provider))
	mux.HandleFunc("GET /authorize/login", h.handOff)
	mux.HandleFunc("GET /authorize/callback", h.callback)
}

// handOff sends the browser from an authorization request to sign-in, or
// straight back when its session already satisfies the request.
func (h *Handler) handOff(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := h.cfg.Grants.AuthRequestByID(ctx, r.URL.Query().Get("id"))
	if err != nil || !h.now().Before(ar.ExpiresAt) {
		http.Error(w, "This sign-in request has expired. Go back to the application and start again.", http.StatusBadRequest)
		return
	}
	s, signedIn, err := h.cfg.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	satisfied := signedIn && h.satisfies(ar, s)
	if has(ar.Params.Prompt, "none") {
		if !satisfied {
			op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrLoginRequired(), h.provider)
			return
		}
		h.complete(w, r, ar, s)
		return
	}
	if satisfied && !has(ar.Params.Prompt, "login") && !has(ar.Params.Prompt, "select_account") {
		h.complete(w, r, ar, s)
		return
	}
	h.toLogin(w, r, ar)
}

// toLogin sends the browser to the sign-in (or registration) page, which
// returns to the callback.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, ar AuthRequest) {
	q := url.Values{"return_to": {"/authorize/callback?" + url.Values{"id": {ar.ID}}.Encode()}}
	if len(ar.Params.UILocales) > 0 {
		q.Set("ui_locales", strings.Join(ar.Params.UILocales, " "))
	}
	if ar.Params.LoginHint != "" {
		q.Set("login_hint", ar.Params.LoginHint)
	}
	page := "/login?"
	if has(ar.Params.Prompt, "create") {
		page = "/registration?"
	}
	http.Redirect(w, r, page+q.Encode(), http.StatusSeeOther)
}

// callback completes an authorization request for the signed-in person.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := h.cfg.Grants.AuthRequestByID(ctx, r.URL.Query().Get("id"))
	if err != nil || !h.now().Before(ar.ExpiresAt) {
		http.Error(w, "This sign-in request has expired. Go back to the application and start again.", http.StatusBadRequest)
		return
	}
	s, signedIn, err := h.cfg.Sessions.Current(ctx, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !signedIn || !h.satisfies(ar, s) || (has(ar.Params.Prompt, "login") && s.AuthTime.Before(ar.CreatedAt)) {
		h.toLogin(w, r, ar)
		return
	}
	h.complete(w, r, ar, s)
}

// satisfies reports whether a session meets the request's max_age.
func (h *Handler) satisfies(ar AuthRequest, s session.Session) bool {
	if ar.Params.MaxAge != nil && h.now().Sub(s.AuthTime) > time.Duration(*ar.Params.MaxAge)*time.Second {
		return false
	}
	return true
}

// complete records who signed in and lets the framework issue the code.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session) {
	_, err := h.cfg.Grants.UpdateAuthRequest(r.Context(), ar.ID, func(a AuthRequest) (AuthRequest, error) {
		a.SignedIn, a.UserID, a.AuthTime, a.AMR, a.ACR, a.SessionID = true, s.UserID, s.AuthTime, s.Methods, s.ACR, s.IDHash[:16]
		return a, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Set("id", ar.ID)
	r.URL.RawQuery = q.Encode()
	op.AuthorizeCallback(h.issWriter(w), r, h.provider)
}

// withIss adds the issuer to every authorization response (RFC 9207), so a
// client talking to several providers can tell which one answered.
func (h *Handler) withIss(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(h.issWriter(w), r)
	})
}

func (h *Handler) issWriter(w http.ResponseWriter) http.ResponseWriter {
	return &issWriter{ResponseWriter: w, iss: strings.TrimSuffix(h.cfg.Issuer.String(), "/")}
}

// issWriter rewrites a redirect to a client (an absolute URL carrying code
// or error; the client may live on this host, like the demo): its query
// gains iss.
type issWriter struct {
	http.ResponseWriter
	iss  string
	done bool
}

func (w *issWriter) WriteHeader(code int) {
	if !w.done && code >= 300 && code < 400 {
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") {
			if u, err := url.Parse(loc); err == nil && u.Query().Get("iss") == "" && (u.Query().Has("code") || u.Query().Has("error")) {
				q := u.Query()
				q.Set("iss", w.iss)
				u.RawQuery = q.Encode()
				w.Header().Set("Location", u.String())
			}
		}
	}
	w.done = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *issWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *issWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "authorization failed", "error", err)
	http.Error(w, "internal server error", http.StatusInternalServerError)
}

func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// discovery is the provider's metadata: what the framework reports, made
// true to what Portvakt allows (the code flow only, S256 PKCE, no implicit
// or device grants, no request objects) and with RFC 9207's iss.
type discovery struct {
	*zoidc.DiscoveryConfiguration
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

func (h *Handler) showDiscovery(w http.ResponseWriter, r *http.Request) {
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(r.Context(), strings.TrimSuffix(h.cfg.Issuer.String(), "/")), h.provider, h.storage)
	d.ResponseTypesSupported = []string{string(zoidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{"query"}
	d.GrantTypesSupported = []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken, zoidc.GrantTypeClientCredentials}
	d.DeviceAuthorizationEndpoint = ""
	d.CodeChallengeMethodsSupported = []zoidc.CodeChallengeMethod{zoidc.CodeChallengeMethodS256}
	d.RequestParameterSupported, d.RequestURIParameterSupported = false, false
	d.DisplayValuesSupported = []zoidc.Display{zoidc.DisplayPage, zoidc.DisplayPopup, zoidc.DisplayTouch}
	d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(discovery{DiscoveryConfiguration: d, AuthorizationResponseIssParameterSupported: true})
}
