package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/authn"
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
	// Levels are the levels of assurance and what each person can reach;
	// nil means the default ladder and no second factors.
	Levels Levels
	// Proofing opens the attributes identity-proofing providers vouched
	// for, released to the clients registered for them (verified.go); nil
	// releases none.
	Proofing Proofing
	// Consents gives the clients registered for it the consents claim
	// (consents.go); nil releases none.
	Consents Consents
	// Organizations puts the organization a person signs in for, and
	// their roles, in the tokens (orgs.go); nil leaves them out.
	Organizations Organizations
	// MFARequired makes a second factor part of every sign-in (the
	// deployment's policy); clients can require it one by one.
	MFARequired bool
	// Pages renders the consent, sign-out and error pages; without them,
	// what needs a page fails closed.
	Pages Pages
	// Stops are the pages a signed-in person must pass before an
	// application gets its answer (new terms to accept); nil has none.
	Stops Stops
	// CryptoKey is the framework's key for what it encrypts; the same on
	// every node.
	CryptoKey [32]byte
	// PairwiseKey keys pairwise subjects; the same on every node, and never
	// changed (a new key gives every pairwise client new subs).
	PairwiseKey [32]byte
	// Assertions remembers the client assertions (private_key_jwt) already
	// used, so that none is accepted twice.
	Assertions AssertionStore
	// HTTPClient fetches clients' JWKS URIs; nil means a default one.
	HTTPClient *http.Client
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
	minter   *minter
	auth     *clientAuth
	// routes serves the endpoints through the framework's server, with
	// Portvakt's extensions (server.go).
	routes http.Handler
}

// New builds the provider.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Assertions == nil {
		return nil, errors.New("oidc provider: no store for client assertions")
	}
	if cfg.Levels == nil {
		cfg.Levels = ladderOnly{authn.DefaultLadder()}
	}
	if cfg.Pages == nil {
		cfg.Pages = noPages{log: cfg.Logger}
	}
	st := &storage{grants: cfg.Grants, clients: cfg.Clients, keys: cfg.Keys, users: cfg.Users, ping: cfg.Ping, now: cfg.Now}
	// Opaque access tokens are AES-256-GCM, as the framework makes them,
	// and nothing else: its default also decrypts with unauthenticated
	// AES-CFB (for data older than Portvakt), which turns arbitrary input
	// into a token ID and subject.
	opts := []op.Option{op.WithLogger(cfg.Logger), op.WithCrypto(op.NewAES256GCMCrypto(cfg.CryptoKey, ""))}
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
	issuer := strings.TrimSuffix(cfg.Issuer.String(), "/")
	h := &Handler{cfg: cfg, provider: provider, storage: st, minter: &minter{keys: cfg.Keys, issuer: issuer, pairwise: cfg.PairwiseKey},
		auth: newClientAuth(cfg.Clients, cfg.Assertions, issuer, issuer+"/oauth/token", cfg.HTTPClient, cfg.Now)}
	endpoints := *op.DefaultEndpoints
	endpoints.EndSession, endpoints.DeviceAuthorization = nil, nil // end_session is Portvakt's own (logout.go)
	srv := &server{LegacyServer: op.NewLegacyServer(provider, endpoints), h: h}
	h.routes = op.RegisterLegacyServer(srv, h.callback)
	return h, nil
}

// Mount adds the provider's routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", h.showDiscovery)
	for _, p := range []string{"/userinfo", "/keys"} {
		mux.Handle(p, h.routes)
	}
	// Browser apps (public clients) call the token endpoint from their own
	// origin; no cookies are involved, so none are allowed.
	mux.Handle("/oauth/token", cors.New(cors.Options{
		AllowOriginFunc: func(string) bool { return true },
		AllowedMethods:  []string{http.MethodPost},
		AllowedHeaders:  []string{"Accept", "Authorization", "Content-Type", "X-Requested-With"},
	}).Handler(http.HandlerFunc(h.token)))
	mux.Handle("/revoke", requireClient(h.routes, "client_id"))
	mux.Handle("/oauth/introspect", requireClient(h.routes, "client_secret"))
	mux.HandleFunc("POST /oauth/par", h.pushAuthorization)
	mux.HandleFunc("/authorize", h.authorize)
	mux.HandleFunc("GET /authorize/login", h.handOff)
	mux.HandleFunc("GET /authorize/callback", h.callback)
	mux.HandleFunc("GET /authorize/consent", h.showConsent)
	mux.HandleFunc("POST /authorize/consent", h.submitConsent)
	mux.HandleFunc("GET /authorize/organization", h.showOrganizations)
	mux.HandleFunc("POST /authorize/organization", h.submitOrganization)
	// RP-initiated logout is served here, not by the framework: ending the
	// browser's session needs its cookie, which the framework's storage
	// never sees.
	mux.HandleFunc("GET /end_session", h.endSession)
	mux.HandleFunc("POST /end_session", h.endSession)
	mux.HandleFunc("POST /end_session/confirm", h.confirmEndSession)
}

// requireClient answers a request without client credentials with
// invalid_client and 401, as RFC 6749 (section 5.2), RFC 7009 (section
// 2.1) and RFC 7662 (section 2.1) ask; the framework would call it a
// malformed request. field is the form field that, besides a Basic header
// or a client assertion, counts as credentials: client_id where public
// clients may call, client_secret where they may not.
func requireClient(next http.Handler, field string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Header.Get("Authorization") == "" && r.PostForm.Get(field) == "" && r.PostForm.Get("client_assertion") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="portvakt"`)
			op.WriteError(w, r, op.NewStatusError(zoidc.ErrInvalidClient().WithDescription("client authentication is required"), http.StatusUnauthorized), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handOff sends the browser from an authorization request to sign-in, or
// straight back when its session already satisfies the request.
func (h *Handler) handOff(w http.ResponseWriter, r *http.Request) {
	ar, ok := h.liveRequest(w, r)
	if !ok {
		return
	}
	c, want, ok := h.levelFor(w, r, ar)
	if !ok {
		return
	}
	s, signedIn, err := h.cfg.Sessions.Current(r.Context(), r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	satisfied := signedIn && h.satisfies(ar, s)
	if has(ar.Params.Prompt, "none") {
		switch {
		case !satisfied:
			op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrLoginRequired(), h.provider)
		case !h.meets(s.ACR, want) || h.needsMFA(c, s):
			// Stepping up needs the person; prompt=none forbids asking.
			op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrInteractionRequired().WithDescription("the session is below the level of assurance or the second factor asked for"), h.provider)
		default:
			h.complete(w, r, ar, s)
		}
		return
	}
	if satisfied && !has(ar.Params.Prompt, "login") && !has(ar.Params.Prompt, "select_account") {
		switch {
		case !h.meets(s.ACR, want):
			h.stepUp(w, r, ar, s, want, false)
		case h.needsMFA(c, s):
			h.toSecondFactor(w, r, ar, s, want)
		default:
			h.complete(w, r, ar, s)
		}
		return
	}
	h.toLogin(w, r, ar, want, h.cfg.MFARequired || c.RequireMFA)
}

// levelFor is the level of assurance the request needs, or it answers the
// application with unmet_authentication_requirements when no sign-in can
// meet it and reports false.
func (h *Handler) levelFor(w http.ResponseWriter, r *http.Request, ar AuthRequest) (Client, string, bool) {
	c, err := h.cfg.Clients.LookupClient(r.Context(), ar.ClientID)
	if err != nil {
		h.fail(w, r, err)
		return c, "", false
	}
	want, err := h.wantedLevel(c, ar)
	if err != nil {
		op.AuthRequestError(h.issWriter(w), r, &ar, errUnmet(err.Error()), h.provider)
		return c, "", false
	}
	return c, want, true
}

func (h *Handler) meets(have, want string) bool {
	return want == "" || h.cfg.Levels.Levels().Meets(have, want)
}

// stepUp sends a person whose session is below the level wanted to give
// the factor that is missing, if they have one (mfa: a second factor is
// required as well); otherwise the application hears
// unmet_authentication_requirements.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session, want string, mfa bool) {
	reach, err := h.cfg.Levels.ReachableLevel(r.Context(), s.UserID, s.Methods)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.meets(reach, want) {
		h.cfg.Logger.InfoContext(r.Context(), "authorization request refused: level of assurance out of reach", "client_id", ar.ClientID, "acr", want)
		op.AuthRequestError(h.issWriter(w), r, &ar, errUnmet("the user cannot reach the level of assurance "+want), h.provider)
		return
	}
	h.toLogin(w, r, ar, want, mfa)
}

// toLogin sends the browser to the sign-in (or registration) page, which
// returns to the callback. A wanted level above the lowest travels along,
// as does mfa when a second factor is required, so that a signed-in
// person is asked only for what is missing.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, ar AuthRequest, want string, mfa bool) {
	q := h.loginQuery(ar, callbackPath(ar), want, mfa)
	page := "/login?"
	if has(ar.Params.Prompt, "create") {
		page = "/registration?"
	}
	http.Redirect(w, r, page+q.Encode(), http.StatusSeeOther)
}

// callbackPath is where the sign-in pages return to for ar.
func callbackPath(ar AuthRequest) string {
	return "/authorize/callback?" + url.Values{"id": {ar.ID}}.Encode()
}

// callback completes an authorization request for the signed-in person.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ar, ok := h.liveRequest(w, r)
	if !ok {
		return
	}
	s, ok := h.signedInFor(w, r, ar)
	if !ok {
		return
	}
	h.complete(w, r, ar, s)
}

// liveRequest returns the authorization request named by ?id=, or answers
// that it has expired and reports false. A request whose code has been
// exchanged is over.
func (h *Handler) liveRequest(w http.ResponseWriter, r *http.Request) (AuthRequest, bool) {
	ar, err := h.cfg.Grants.AuthRequestByID(r.Context(), r.URL.Query().Get("id"))
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		h.fail(w, r, err)
		return ar, false
	case h.now().Before(ar.ExpiresAt) && ar.CodeUsedAt.IsZero():
		return ar, true
	}
	h.cfg.Pages.ShowRequestExpired(w, r, strings.Join(ar.Params.UILocales, " "))
	return ar, false
}

// signedInFor returns the browser's session if it may answer the request:
// signed in recently enough for max_age, again after the request for
// prompt=login, and at the level of assurance the request needs.
// Otherwise it sends the browser to sign in (or to step up, or the
// application an error) and reports false.
func (h *Handler) signedInFor(w http.ResponseWriter, r *http.Request, ar AuthRequest) (session.Session, bool) {
	c, want, ok := h.levelFor(w, r, ar)
	if !ok {
		return session.Session{}, false
	}
	s, signedIn, err := h.cfg.Sessions.Current(r.Context(), r)
	if err != nil {
		h.fail(w, r, err)
		return s, false
	}
	if !signedIn || !h.satisfies(ar, s) || (has(ar.Params.Prompt, "login") && s.AuthTime.Before(ar.CreatedAt)) {
		h.toLogin(w, r, ar, want, h.cfg.MFARequired || c.RequireMFA)
		return s, false
	}
	if !h.meets(s.ACR, want) {
		h.stepUp(w, r, ar, s, want, false)
		return s, false
	}
	if h.needsMFA(c, s) {
		h.toSecondFactor(w, r, ar, s, want)
		return s, false
	}
	return s, true
}

// satisfies reports whether a session meets the request's max_age. A
// sign-in made for this very request always does: max_age=0 (which
// prompt=login implies) would otherwise never be met, since some time
// passes between signing in and coming back.
func (h *Handler) satisfies(ar AuthRequest, s session.Session) bool {
	if ar.Params.MaxAge == nil || !s.AuthTime.Before(ar.CreatedAt) {
		return true
	}
	return h.now().Sub(s.AuthTime) <= time.Duration(*ar.Params.MaxAge)*time.Second
}

// complete finishes an authorization request for the signed-in person:
// once the organization is settled, the session must meet its sign-in
// policy (policy.go); a third-party client needs their consent first
// (asked on the consent page, or refused with consent_required under
// prompt=none).
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session) {
	c, err := h.cfg.Clients.LookupClient(r.Context(), ar.ClientID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ar, ok := h.pickOrganization(w, r, c, ar, s)
	if !ok || !h.followsPolicy(w, r, c, ar, s) || !h.passedStops(w, r, ar, s) {
		return
	}
	ask, err := h.mustAsk(r.Context(), c, ar, s.UserID)
	switch {
	case err != nil:
		h.fail(w, r, err)
	case !ask:
		h.issue(w, r, ar, s)
	case has(ar.Params.Prompt, "none"):
		op.AuthRequestError(h.issWriter(w), r, &ar, errConsentRequired(), h.provider)
	default:
		http.Redirect(w, r, consentURL(ar.ID), http.StatusSeeOther)
	}
}

// Stops are pages a person must pass before an application is answered.
type Stops interface {
	// Pending returns the local URL of the first page userID must pass
	// before the browser may return to next for clientID, or "".
	Pending(ctx context.Context, userID, clientID, next string) (string, error)
}

// passedStops sends the browser to a page the person must pass first (the
// page returns to the callback), or, under prompt=none, answers the
// application with interaction_required, and reports false; or reports
// true when nothing is pending.
func (h *Handler) passedStops(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session) bool {
	if h.cfg.Stops == nil {
		return true
	}
	stop, err := h.cfg.Stops.Pending(r.Context(), s.UserID, ar.ClientID, callbackPath(ar))
	switch {
	case err != nil:
		h.fail(w, r, err)
		return false
	case stop == "":
		return true
	case has(ar.Params.Prompt, "none"):
		op.AuthRequestError(h.issWriter(w), r, &ar, zoidc.ErrInteractionRequired().WithDescription("the user must act on a page before the application is answered"), h.provider)
		return false
	}
	http.Redirect(w, r, stop, http.StatusSeeOther)
	return false
}

// issue records who signed in and lets the framework issue the code.
func (h *Handler) issue(w http.ResponseWriter, r *http.Request, ar AuthRequest, s session.Session) {
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

// authorize serves the authorization endpoint through the framework, with
// the issuer added to every response (RFC 9207), so a client talking to
// several providers can tell which one answered. The redirect URI is first
// held to the client registry's rule (clients.MatchRedirectURI): the
// framework lets a native client's loopback URI match any loopback host and
// scheme, where Portvakt allows only another port; an error must not be
// sent to such a URI either.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && !h.redirectRegistered(r) {
		h.cfg.Logger.InfoContext(r.Context(), "authorization request refused: redirect_uri not registered")
		h.cfg.Pages.ShowAuthorizeError(w, r, http.StatusBadRequest, r.Form.Get("ui_locales"), "invalid_request", "the redirect_uri is not registered for this client")
		return
	}
	pw := &pageOnError{w: h.issWriter(w), h: make(http.Header)}
	h.routes.ServeHTTP(pw, r)
	if pw.status == 0 || pw.passed {
		return
	}
	// An error the framework could not send to the application: a page
	// for the person, not JSON.
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(pw.buf.Bytes(), &e)
	if e.Error == "" {
		e.Error = "invalid_request"
	}
	h.cfg.Pages.ShowAuthorizeError(w, r, pw.status, r.Form.Get("ui_locales"), e.Error, e.Description)
}

// pageOnError passes the framework's authorization responses through,
// except an error answered in place (a status of 400 or more without a
// redirect), which it keeps for authorize to show as a page.
type pageOnError struct {
	w      http.ResponseWriter
	h      http.Header
	status int
	passed bool
	buf    bytes.Buffer
}

func (p *pageOnError) Header() http.Header { return p.h }

func (p *pageOnError) WriteHeader(code int) {
	if p.status != 0 {
		return
	}
	p.status = code
	if code >= 400 && p.h.Get("Location") == "" {
		return
	}
	p.passed = true
	for k, v := range p.h {
		p.w.Header()[k] = v
	}
	p.w.WriteHeader(code)
}

func (p *pageOnError) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	if p.passed {
		return p.w.Write(b)
	}
	if p.buf.Len()+len(b) > 64<<10 {
		return len(b), nil // an error body is small; drop the rest
	}
	return p.buf.Write(b)
}

// redirectRegistered reports whether every redirect_uri in the request is
// registered for every client it names. Parameter names are compared as the
// framework's decoder does, regardless of case; unknown clients are left to
// the framework, which refuses them without a redirect.
func (h *Handler) redirectRegistered(r *http.Request) bool {
	var ids, uris []string
	for k, vs := range r.Form {
		switch {
		case strings.EqualFold(k, "client_id"):
			ids = append(ids, vs...)
		case strings.EqualFold(k, "redirect_uri"):
			uris = append(uris, vs...)
		}
	}
	for _, id := range ids {
		c, err := h.cfg.Clients.LookupClient(r.Context(), id)
		if err != nil {
			continue
		}
		for _, u := range uris {
			if u != "" && !c.allowsRedirect(u) {
				return false
			}
		}
	}
	return true
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
// or device grants, no request objects) and with what it adds: RFC 9207's
// iss, PAR (RFC 9126), pairwise subjects, the claims parameter, per-client
// ID token algorithms.
type discovery struct {
	*zoidc.DiscoveryConfiguration
	AuthorizationResponseIssParameterSupported bool   `json:"authorization_response_iss_parameter_supported"`
	PushedAuthorizationRequestEndpoint         string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests         bool   `json:"require_pushed_authorization_requests"`
}

func (h *Handler) showDiscovery(w http.ResponseWriter, r *http.Request) {
	issuer := strings.TrimSuffix(h.cfg.Issuer.String(), "/")
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(r.Context(), issuer), h.provider, h.storage)
	d.ResponseTypesSupported = []string{string(zoidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{"query"}
	d.GrantTypesSupported = []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken, zoidc.GrantTypeClientCredentials}
	d.DeviceAuthorizationEndpoint = ""
	d.CodeChallengeMethodsSupported = []zoidc.CodeChallengeMethod{zoidc.CodeChallengeMethodS256}
	d.RequestParameterSupported, d.RequestURIParameterSupported = false, false
	d.DisplayValuesSupported = []zoidc.Display{zoidc.DisplayPage, zoidc.DisplayPopup, zoidc.DisplayTouch}
	d.IDTokenSigningAlgValuesSupported = []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}
	d.SubjectTypesSupported = []string{"public", "pairwise"}
	d.ClaimsParameterSupported, d.ClaimsSupported = true, supportedClaims
	d.BackChannelLogoutSupported, d.BackChannelLogoutSessionSupported = true, true
	d.ACRValuesSupported = h.cfg.Levels.Levels().ACRs()
	auth := []zoidc.AuthMethod{zoidc.AuthMethodBasic, zoidc.AuthMethodPost, zoidc.AuthMethodPrivateKeyJWT}
	d.TokenEndpointAuthMethodsSupported = append(slices.Clone(auth), zoidc.AuthMethodNone)
	d.RevocationEndpointAuthMethodsSupported = append(slices.Clone(auth), zoidc.AuthMethodNone)
	d.IntrospectionEndpointAuthMethodsSupported = auth
	var algs []string
	for _, a := range assertionAlgs {
		algs = append(algs, string(a))
	}
	d.TokenEndpointAuthSigningAlgValuesSupported, d.RevocationEndpointAuthSigningAlgValuesSupported, d.IntrospectionEndpointAuthSigningAlgValuesSupported = algs, algs, algs
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(discovery{
		DiscoveryConfiguration:                     d,
		AuthorizationResponseIssParameterSupported: true,
		PushedAuthorizationRequestEndpoint:         issuer + "/oauth/par",
	})
}
