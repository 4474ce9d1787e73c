package api

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"context"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// Scopes of the management API.
const (
	ScopeUsersRead        = "portvakt:users:read"
	ScopeUsersWrite       = "portvakt:users:write"
	ScopeOrgsRead         = "portvakt:orgs:read"
	ScopeOrgsWrite        = "portvakt:orgs:write"
	ScopeInvitationsRead  = "portvakt:invitations:read"
	ScopeInvitationsWrite = "portvakt:invitations:write"
)

// Limits of list pages.
const (
	defaultPageSize = 50
	maxPageSize     = 200
	maxBody         = 64 << 10
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument is the API's description (OpenAPI 3.1).
func OpenAPIDocument() []byte { return openAPIDocument }

// Clients looks up API clients.
type Clients interface {
	Get(ctx context.Context, id string) (clients.Client, error)
}

// Tokens verifies bearer tokens.
type Tokens interface {
	VerifyBearer(ctx context.Context, raw string) (oidc.Bearer, error)
}

// Handler serves the management API.
type Handler struct {
	Tokens   Tokens
	Accounts *accounts.Service
	// Privacy exports and erases what is held about people.
	Privacy     *privacy.Service
	Orgs        *orgs.Service
	Invitations *orgs.Invitations
	Idempotency IdempotencyStore
	Events      Events
	// ClientAdmin manages applications (clients); nil offers none.
	ClientAdmin ClientAdmin
	// IdPs and ProviderStore manage upstream identity providers; nil
	// offers none.
	IdPs          IdentityProviders
	ProviderStore ProviderStore
	// ExternalIDs keeps IDs of further source systems; nil offers none.
	ExternalIDs *externalids.Service
	// Consents are people's consents to the deployment's purposes.
	Consents *consents.Service
	// Webhooks manages webhook subscriptions; nil offers none.
	Webhooks *webhooks.Service
	// Clients tells which organization a client is limited to (see
	// clients.Client.Organization); nil limits none.
	Clients Clients
	// Issuer is this deployment's URL: invitation links are made on it.
	Issuer *url.URL
	Logger *slog.Logger
	// Wake nudges the background workers after a change that sends mail.
	Wake func()
	Now  func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) wake() {
	if h.Wake != nil {
		h.Wake()
	}
}

// Mount registers the API's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPIDocument)
	})
	route := func(pattern, scope string, fn func(http.ResponseWriter, *http.Request, caller)) {
		mux.Handle(pattern, h.authorized(scope, fn))
	}
	route("GET /api/v1/users", ScopeUsersRead, h.listUsers)
	route("POST /api/v1/users", ScopeUsersWrite, h.createUser)
	route("GET /api/v1/users/{id}", ScopeUsersRead, h.getUser)
	route("PATCH /api/v1/users/{id}", ScopeUsersWrite, h.patchUser)
	route("DELETE /api/v1/users/{id}", ScopeUsersWrite, h.deleteUser)
	route("GET /api/v1/users/{id}/export", ScopeUsersRead, h.exportUser)
	route("GET /api/v1/users/{id}/consents", ScopeUsersRead, h.getConsents)
	route("POST /api/v1/users/{id}/consents", ScopeUsersWrite, h.recordConsent)

	route("GET /api/v1/organizations", ScopeOrgsRead, h.listOrgs)
	route("POST /api/v1/organizations", ScopeOrgsWrite, h.createOrg)
	route("GET /api/v1/organizations/{org}", ScopeOrgsRead, h.getOrg)
	route("PATCH /api/v1/organizations/{org}", ScopeOrgsWrite, h.patchOrg)
	route("DELETE /api/v1/organizations/{org}", ScopeOrgsWrite, h.deleteOrg)
	route("GET /api/v1/organizations/{org}/members", ScopeOrgsRead, h.listMembers)
	route("GET /api/v1/organizations/{org}/members/{user}", ScopeOrgsRead, h.getMember)
	route("PUT /api/v1/organizations/{org}/members/{user}", ScopeOrgsWrite, h.putMember)
	route("DELETE /api/v1/organizations/{org}/members/{user}", ScopeOrgsWrite, h.deleteMember)

	route("POST /api/v1/invitations", ScopeInvitationsWrite, h.createInvitation)
	route("GET /api/v1/invitations/{id}", ScopeInvitationsRead, h.getInvitation)
	route("POST /api/v1/invitations/{id}/revoke", ScopeInvitationsWrite, h.revokeInvitation)

	route("GET /api/v1/events", ScopeEventsRead, h.listEvents)

	route("GET /api/v1/clients", ScopeClientsRead, h.listClients)
	route("POST /api/v1/clients", ScopeClientsWrite, h.createClient)
	route("GET /api/v1/clients/{id}", ScopeClientsRead, h.getClient)
	route("PATCH /api/v1/clients/{id}", ScopeClientsWrite, h.patchClient)
	route("DELETE /api/v1/clients/{id}", ScopeClientsWrite, h.deleteClient)
	route("POST /api/v1/clients/{id}/rotate-secret", ScopeClientsWrite, h.rotateClientSecret)

	route("GET /api/v1/identity-providers", ScopeIdPsRead, h.listIdPs)
	route("GET /api/v1/identity-providers/{id}", ScopeIdPsRead, h.getIdP)
	route("PUT /api/v1/identity-providers/{id}", ScopeIdPsWrite, h.putIdP)
	route("DELETE /api/v1/identity-providers/{id}", ScopeIdPsWrite, h.deleteIdP)

	route("GET /api/v1/roles", ScopeRolesRead, h.listRoles)
	route("POST /api/v1/roles", ScopeRolesWrite, h.createRole)
	route("DELETE /api/v1/roles/{app}/{name}", ScopeRolesWrite, h.deleteRole)

	route("GET /api/v1/webhooks", ScopeWebhooksRead, h.listWebhooks)
	route("POST /api/v1/webhooks", ScopeWebhooksWrite, h.createWebhook)
	route("GET /api/v1/webhooks/{id}", ScopeWebhooksRead, h.getWebhook)
	route("PATCH /api/v1/webhooks/{id}", ScopeWebhooksWrite, h.patchWebhook)
	route("DELETE /api/v1/webhooks/{id}", ScopeWebhooksWrite, h.deleteWebhook)
	route("POST /api/v1/webhooks/{id}/rotate-secret", ScopeWebhooksWrite, h.rotateWebhookSecret)
	route("GET /api/v1/webhooks/{id}/deliveries", ScopeWebhooksRead, h.listDeliveries)
	route("GET /api/v1/webhooks/{id}/deliveries/{delivery}/attempts", ScopeWebhooksRead, h.listAttempts)
	route("POST /api/v1/webhooks/{id}/deliveries/{delivery}/replay", ScopeWebhooksWrite, h.replayDelivery)
	route("POST /api/v1/webhooks/{id}/replay-dead", ScopeWebhooksWrite, h.replayDead)

	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) { h.problem(w, r, errNoRoute) })
}

// caller is the authenticated client of a request.
type caller struct {
	clientID string
	scopes   []string
	// org is the organization (ID) the client is limited to, "" for none.
	org string
}

func (c caller) actor() string { return "client:" + c.clientID }

// authorized serves fn for a request with a valid client access token that
// holds scope (or the write scope of the same resource, for a read).
func (h *Handler) authorized(scope string, fn func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(raw) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portvakt"`)
			h.problem(w, r, errUnauthenticated)
			return
		}
		b, err := h.Tokens.VerifyBearer(r.Context(), strings.TrimSpace(raw))
		switch {
		case errors.Is(err, oidc.ErrInvalidBearer):
			w.Header().Set("WWW-Authenticate", `Bearer realm="portvakt", error="invalid_token"`)
			h.problem(w, r, errInvalidToken)
			return
		case err != nil:
			h.fail(w, r, err)
			return
		case b.UserID != "":
			// A token a person's application holds: the management API is
			// for the deployment's integrations, never on a person's behalf.
			w.Header().Set("WWW-Authenticate", `Bearer realm="portvakt", error="invalid_token", error_description="a client's own token (client credentials) is needed"`)
			h.problem(w, r, errPersonToken)
			return
		}
		if !holds(b.Scopes, scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="portvakt", error="insufficient_scope", scope="%s"`, scope))
			h.problem(w, r, errScope.with("This needs the scope "+scope+"."))
			return
		}
		c := caller{clientID: b.ClientID, scopes: b.Scopes}
		if h.Clients != nil {
			cl, err := h.Clients.Get(r.Context(), b.ClientID)
			switch {
			case errors.Is(err, clients.ErrNotFound):
				// Deleted since the token was issued.
				w.Header().Set("WWW-Authenticate", `Bearer realm="portvakt", error="invalid_token"`)
				h.problem(w, r, errInvalidToken)
				return
			case err != nil:
				h.fail(w, r, err)
				return
			}
			c.org = cl.Organization
		}
		fn(w, r, c)
	})
}

// holds reports whether scopes grant scope: itself, or for a read scope
// the write scope of the same resource.
func holds(scopes []string, scope string) bool {
	if slices.Contains(scopes, scope) {
		return true
	}
	read, ok := strings.CutSuffix(scope, ":read")
	return ok && slices.Contains(scopes, read+":write")
}

// ---- problems (RFC 9457) ----

const problemType = "application/problem+json"

// apiError is a problem with a stable type: urn:portvakt:problem:<name>.
type apiError struct {
	name   string
	status int
	title  string
	detail string
	fields []fieldProblem
}

type fieldProblem struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e apiError) Error() string { return e.title }

func (e apiError) with(detail string) apiError {
	e.detail = detail
	return e
}

var (
	errUnauthenticated       = apiError{name: "unauthenticated", status: http.StatusUnauthorized, title: "Authentication required", detail: "Send an access token of this deployment: Authorization: Bearer <token>."}
	errInvalidToken          = apiError{name: "invalid-token", status: http.StatusUnauthorized, title: "The access token is not valid", detail: "It is expired, revoked or not one of this deployment's."}
	errPersonToken           = apiError{name: "invalid-token", status: http.StatusUnauthorized, title: "The access token is not valid", detail: "The management API takes a client's own token (client credentials), not one issued for a person."}
	errScope                 = apiError{name: "insufficient-scope", status: http.StatusForbidden, title: "The access token lacks a scope"}
	errNoRoute               = apiError{name: "not-found", status: http.StatusNotFound, title: "Not found", detail: "No such route; see /api/v1/openapi.json."}
	errNotFound              = apiError{name: "not-found", status: http.StatusNotFound, title: "Not found"}
	errConflict              = apiError{name: "conflict", status: http.StatusConflict, title: "Already in use"}
	errInvalid               = apiError{name: "validation", status: http.StatusBadRequest, title: "The request has invalid fields"}
	errMalformed             = apiError{name: "malformed-request", status: http.StatusBadRequest, title: "The request body is not valid JSON of the expected shape"}
	errMediaType             = apiError{name: "unsupported-media-type", status: http.StatusUnsupportedMediaType, title: "The body must be JSON", detail: "Send Content-Type: application/json."}
	errTooLarge              = apiError{name: "request-too-large", status: http.StatusRequestEntityTooLarge, title: "The request body is too large"}
	errStale                 = apiError{name: "precondition-failed", status: http.StatusPreconditionFailed, title: "The resource changed since the version given in If-Match", detail: "Read it again, apply the change to what is there now, and send it with the new ETag."}
	errBadIfMatch            = apiError{name: "precondition-failed", status: http.StatusPreconditionFailed, title: "If-Match does not name a version of the resource"}
	errBadCursor             = apiError{name: "validation", status: http.StatusBadRequest, title: "The request has invalid fields"}
	errBadIdempotencyKey     = apiError{name: "validation", status: http.StatusBadRequest, title: "The Idempotency-Key is longer than 255 characters"}
	errIdempotencyKeyReused  = apiError{name: "idempotency-key-reused", status: http.StatusUnprocessableEntity, title: "The Idempotency-Key was used for another request", detail: "A retry must send the same request; use a new key for a new request."}
	errIdempotencyInProgress = apiError{name: "idempotency-in-progress", status: http.StatusConflict, title: "A request with this Idempotency-Key is being served", detail: "Retry in a moment to get its answer."}
	errInvitationUsed        = apiError{name: "invitation-not-pending", status: http.StatusConflict, title: "The invitation is no longer pending", detail: "It was accepted, revoked or has expired."}
	errOrgLimited            = apiError{name: "organization-limited", status: http.StatusForbidden, title: "This client is limited to one organization", detail: "It reads and changes its organization, its members and its invitations only."}
	errInternal              = apiError{name: "internal", status: http.StatusInternalServerError, title: "Something went wrong on our side", detail: "Try again later; the request ID is in the log."}
)

// problem answers with e as application/problem+json.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, e apiError) {
	body := map[string]any{
		"type":     "urn:portvakt:problem:" + e.name,
		"title":    e.title,
		"status":   e.status,
		"instance": r.URL.Path,
	}
	if e.detail != "" {
		body["detail"] = e.detail
	}
	if len(e.fields) > 0 {
		body["errors"] = e.fields
	}
	w.Header().Set("Content-Type", problemType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

// found reports whether a lookup found what the path names; otherwise it
// has answered: 404 with detail when err is (or wraps) notFound, 500 for
// any other error.
func (h *Handler) found(w http.ResponseWriter, r *http.Request, err, notFound error, detail string) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, notFound):
		h.problem(w, r, errNotFound.with(detail))
	default:
		h.fail(w, r, err)
	}
	return false
}

// fail answers an unexpected error with 500, logging it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Logger.ErrorContext(r.Context(), "management API request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	h.problem(w, r, errInternal)
}

// invalid turns validation errors of the domain into a 400 with one entry
// per field; other errors are answered as they are.
func (h *Handler) invalid(w http.ResponseWriter, r *http.Request, err error, conflict string) {
	var fields []fieldProblem
	var af accounts.FieldError
	var of orgs.FieldError
	for _, e := range unjoin(err) {
		switch {
		case errors.As(e, &af):
			fields = append(fields, fieldProblem{Field: af.Field, Code: af.Code, Message: af.Message})
		case errors.As(e, &of):
			fields = append(fields, fieldProblem{Field: of.Field, Code: "invalid", Message: of.Message})
		}
	}
	switch {
	case len(fields) > 0:
		p := errInvalid
		p.fields = fields
		h.problem(w, r, p)
	case errors.Is(err, accounts.ErrConflict), errors.Is(err, orgs.ErrConflict):
		h.problem(w, r, errConflict.with(conflict))
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, orgs.ErrNotFound):
		h.problem(w, r, errNotFound)
	case errors.Is(err, accounts.ErrStale), errors.Is(err, orgs.ErrStale):
		h.problem(w, r, errStale)
	default:
		h.fail(w, r, err)
	}
}

// domainErrors are how a domain package says what went wrong: its field
// errors (as field problems), its not-found and conflict sentinels.
type domainErrors struct {
	field    func(error) (fieldProblem, bool)
	notFound error
	conflict error
	// notFoundDetail and conflictDetail say it in words.
	notFoundDetail, conflictDetail string
}

// domainProblem answers err, a domain service's error: 400 with every
// field problem, 404, 409, or 500 for anything else.
func (h *Handler) domainProblem(w http.ResponseWriter, r *http.Request, err error, d domainErrors) {
	var fields []fieldProblem
	for _, e := range unjoin(err) {
		if f, ok := d.field(e); ok {
			fields = append(fields, f)
		}
	}
	switch {
	case len(fields) > 0:
		p := errInvalid
		p.fields = fields
		h.problem(w, r, p)
	case d.notFound != nil && errors.Is(err, d.notFound):
		h.problem(w, r, errNotFound.with(d.notFoundDetail))
	case d.conflict != nil && errors.Is(err, d.conflict):
		h.problem(w, r, errConflict.with(d.conflictDetail))
	default:
		h.fail(w, r, err)
	}
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// ---- JSON ----

// readJSON reads a JSON request body into dst, refusing unknown fields.
// It returns the raw body and reports whether it answered.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, dst any) ([]byte, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
		h.problem(w, r, errMediaType)
		return nil, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.problem(w, r, errTooLarge)
			return nil, true
		}
		h.problem(w, r, errMalformed.with(err.Error()))
		return nil, true
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		h.problem(w, r, errMalformed.with(jsonProblem(err)))
		return nil, true
	}
	if dec.More() {
		h.problem(w, r, errMalformed.with("There is more than one JSON value."))
		return nil, true
	}
	return body, false
}

// jsonProblem says what is wrong with a body in words.
func jsonProblem(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		return fmt.Sprintf("The field %q must be %s.", typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &syn):
		return fmt.Sprintf("The JSON is malformed at byte %d.", syn.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "Unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "."
	case errors.Is(err, io.EOF):
		return "The body is empty."
	}
	return "The JSON is malformed."
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "a number"
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ---- pages and versions ----

// page is a list's page: items and, when there are more, the cursor of the
// next page.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// limitParam reads the page size (limit, default defaultPageSize),
// adding its problem to fields when it is not one.
func limitParam(q url.Values, fields []fieldProblem) (int, []fieldProblem) {
	s := q.Get("limit")
	if s == "" {
		return defaultPageSize, fields
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		fields = append(fields, fieldProblem{"limit", "invalid", fmt.Sprintf("must be a whole number from 1 to %d", maxPageSize)})
	}
	return n, fields
}

// rotation reads a secret rotation's request body (optional) and returns
// how long the old secret stays valid: overlap_seconds, or def. It
// reports false when it has answered a bad request.
func (h *Handler) rotation(w http.ResponseWriter, r *http.Request, def time.Duration) (time.Duration, bool) {
	var in rotateIn
	if r.ContentLength != 0 {
		if _, done := h.readJSON(w, r, &in); done {
			return 0, false
		}
	}
	if in.OverlapSeconds == nil {
		return def, true
	}
	if *in.OverlapSeconds < 0 || *in.OverlapSeconds > 30*24*3600 {
		p := errInvalid
		p.fields = []fieldProblem{{"overlap_seconds", "invalid", "must be from 0 to 2592000 (30 days)"}}
		h.problem(w, r, p)
		return 0, false
	}
	return time.Duration(*in.OverlapSeconds) * time.Second, true
}

// rotateIn is a secret rotation's request.
type rotateIn struct {
	// OverlapSeconds keeps the old secret valid this long.
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

// pageParams reads limit and cursor; the cursor is opaque to callers (the
// last ID of the page before, encoded).
func (h *Handler) pageParams(w http.ResponseWriter, r *http.Request) (after string, limit int, ok bool) {
	q := r.URL.Query()
	var fields []fieldProblem
	limit, fields = limitParam(q, fields)
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 {
			fields = append(fields, fieldProblem{"cursor", "invalid", "is not a cursor this API gave (next_cursor)"})
		}
		after = string(b)
	}
	if len(fields) > 0 {
		p := errBadCursor
		p.fields = fields
		h.problem(w, r, p)
		return "", 0, false
	}
	return after, limit, true
}

func cursorOf(lastID string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastID)) }

// pageOf makes the page of items, of which one more than limit was read if
// there is a next page.
func pageOf[T any](items []T, limit int, id func(T) string) page[T] {
	p := page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.NextCursor = cursorOf(id(items[limit-1]))
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}

// etag is the entity tag of a version.
func etag(version string) string { return `"` + version + `"` }

// ifMatch returns the version If-Match names ("" when absent), or answers
// 412 when it names no version (a list, a weak tag or "*" for a resource
// that exists anyway) and reports false.
func (h *Handler) ifMatch(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return "", true
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || strings.Contains(v[1:len(v)-1], `"`) {
		h.problem(w, r, errBadIfMatch)
		return "", false
	}
	return v[1 : len(v)-1], true
}
