package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/orgs"
)

// Scopes of applications (clients).
const (
	ScopeClientsRead  = "portvakt:clients:read"
	ScopeClientsWrite = "portvakt:clients:write"
)

// ClientAdmin manages clients (clients.Service).
type ClientAdmin interface {
	Create(ctx context.Context, c clients.Client, actor string) (clients.Client, string, error)
	Get(ctx context.Context, id string) (clients.Client, error)
	List(ctx context.Context, after string, limit int) ([]clients.Client, error)
	Update(ctx context.Context, id string, fn func(clients.Client) (clients.Client, error), actor string) (clients.Client, error)
	Delete(ctx context.Context, id, actor string) error
	RotateSecret(ctx context.Context, id string, overlap time.Duration, actor string) (clients.Client, string, error)
}

// clientOut is an application as the API shows it: the settings an
// integration manages; never a secret, except ClientSecret in the answers
// that made one (creation, rotation).
type clientOut struct {
	ID                      string    `json:"id"`
	Name                    string    `json:"name"`
	Type                    string    `json:"type"`
	ApplicationType         string    `json:"application_type"`
	GrantTypes              []string  `json:"grant_types"`
	RedirectURIs            []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string  `json:"post_logout_redirect_uris"`
	Scopes                  []string  `json:"scopes"`
	FirstParty              bool      `json:"first_party"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method"`
	AccessTokenFormat       string    `json:"access_token_format"`
	App                     string    `json:"app"`
	Organizations           string    `json:"organizations"`
	Organization            string    `json:"organization"`
	InitiateLoginURI        string    `json:"initiate_login_uri"`
	BackchannelLogoutURI    string    `json:"backchannel_logout_uri"`
	RequireMFA              bool      `json:"require_mfa"`
	MinACR                  string    `json:"min_acr"`
	HasSecret               bool      `json:"has_secret"`
	ClientSecret            string    `json:"client_secret,omitempty"`
	CreatedAt               time.Time `json:"created_at"`
	UpdatedAt               time.Time `json:"updated_at"`
}

func strs[T ~string](in []T) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		out = append(out, string(v))
	}
	return out
}

func orEmptyList(in []string) []string {
	if in == nil {
		return []string{}
	}
	return in
}

func clientView(c clients.Client, secret string) clientOut {
	return clientOut{ID: c.ID, Name: c.Name, Type: string(c.Type), ApplicationType: string(c.ApplicationType), GrantTypes: strs(c.GrantTypes),
		RedirectURIs: orEmptyList(c.RedirectURIs), PostLogoutRedirectURIs: orEmptyList(c.PostLogoutRedirectURIs), Scopes: orEmptyList(c.Scopes),
		FirstParty: c.FirstParty, TokenEndpointAuthMethod: string(c.TokenEndpointAuthMethod), AccessTokenFormat: string(c.AccessTokenFormat),
		App: c.App, Organizations: string(c.Organizations), Organization: c.Organization, InitiateLoginURI: c.InitiateLoginURI,
		BackchannelLogoutURI: c.BackchannelLogoutURI, RequireMFA: c.RequireMFA, MinACR: c.MinACR, HasSecret: c.SecretHash != "",
		ClientSecret: secret, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// clientIn is a new application, or (all fields optional) a merge patch.
type clientIn struct {
	Name                    *string   `json:"name"`
	Type                    *string   `json:"type"`
	ApplicationType         *string   `json:"application_type"`
	GrantTypes              *[]string `json:"grant_types"`
	RedirectURIs            *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs  *[]string `json:"post_logout_redirect_uris"`
	Scopes                  *[]string `json:"scopes"`
	FirstParty              *bool     `json:"first_party"`
	TokenEndpointAuthMethod *string   `json:"token_endpoint_auth_method"`
	AccessTokenFormat       *string   `json:"access_token_format"`
	App                     *string   `json:"app"`
	Organizations           *string   `json:"organizations"`
	Organization            *string   `json:"organization"`
	InitiateLoginURI        *string   `json:"initiate_login_uri"`
	BackchannelLogoutURI    *string   `json:"backchannel_logout_uri"`
	RequireMFA              *bool     `json:"require_mfa"`
	MinACR                  *string   `json:"min_acr"`
}

// apply sets the fields present on c.
func (in clientIn) apply(c *clients.Client) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&c.Name, in.Name)
	if in.Type != nil {
		c.Type = clients.Type(*in.Type)
	}
	if in.ApplicationType != nil {
		c.ApplicationType = clients.ApplicationType(*in.ApplicationType)
	}
	if in.GrantTypes != nil {
		c.GrantTypes = nil
		for _, g := range *in.GrantTypes {
			c.GrantTypes = append(c.GrantTypes, clients.GrantType(g))
		}
	}
	if in.RedirectURIs != nil {
		c.RedirectURIs = slices.Clone(*in.RedirectURIs)
	}
	if in.PostLogoutRedirectURIs != nil {
		c.PostLogoutRedirectURIs = slices.Clone(*in.PostLogoutRedirectURIs)
	}
	if in.Scopes != nil {
		c.Scopes = slices.Clone(*in.Scopes)
	}
	if in.FirstParty != nil {
		c.FirstParty = *in.FirstParty
	}
	if in.TokenEndpointAuthMethod != nil {
		c.TokenEndpointAuthMethod = clients.AuthMethod(*in.TokenEndpointAuthMethod)
	}
	if in.AccessTokenFormat != nil {
		c.AccessTokenFormat = clients.TokenFormat(*in.AccessTokenFormat)
	}
	set(&c.App, in.App)
	if in.Organizations != nil {
		c.Organizations = clients.OrgMode(*in.Organizations)
	}
	set(&c.Organization, in.Organization)
	set(&c.InitiateLoginURI, in.InitiateLoginURI)
	set(&c.BackchannelLogoutURI, in.BackchannelLogoutURI)
	if in.RequireMFA != nil {
		c.RequireMFA = *in.RequireMFA
	}
	set(&c.MinACR, in.MinACR)
}

// clientsAllowed refuses a client limited to one organization: applications
// are the deployment's.
func (h *Handler) clientsAllowed(w http.ResponseWriter, r *http.Request, c caller) bool {
	if c.org != "" {
		h.problem(w, r, errOrgLimited.with("Applications are the deployment's."))
		return false
	}
	if h.ClientAdmin == nil {
		h.problem(w, r, errNoRoute)
		return false
	}
	return true
}

// mayManage refuses a client with management API scopes the caller does
// not hold itself: changing it, taking its secret or deleting it would give
// the caller more than it has.
func (h *Handler) mayManage(w http.ResponseWriter, r *http.Request, c caller, cl clients.Client) bool {
	for _, s := range cl.Scopes {
		if strings.HasPrefix(s, "portvakt:") && !holds(c.scopes, s) {
			h.problem(w, r, errScope.with("A client cannot manage a client with a scope it does not hold itself: "+s+"."))
			return false
		}
	}
	return true
}

// noEscalation refuses to give a client management API scopes the caller
// does not hold itself, and resolves the organization it is limited to.
func (h *Handler) noEscalation(w http.ResponseWriter, r *http.Request, c caller, cl *clients.Client) bool {
	if !h.mayManage(w, r, c, *cl) {
		return false
	}
	if cl.Organization != "" {
		o, err := h.Orgs.Find(r.Context(), cl.Organization)
		if !h.found(w, r, err, errOrgNotFound, "There is no organization "+cl.Organization+" (organization).") {
			return false
		}
		cl.Organization = o.ID
	}
	return true
}

// errOrgNotFound is the organization a client names that does not exist.
var errOrgNotFound = orgs.ErrNotFound

// clientProblem answers the clients service's errors.
func (h *Handler) clientProblem(w http.ResponseWriter, r *http.Request, err error) {
	h.domainProblem(w, r, err, domainErrors{
		field: func(e error) (fieldProblem, bool) {
			var fe clients.FieldError
			ok := errors.As(e, &fe)
			return fieldProblem{Field: fe.Field, Code: fe.Code, Message: fe.Message}, ok
		},
		notFound: clients.ErrNotFound, conflict: clients.ErrConflict,
		notFoundDetail: "There is no application with this client ID.",
	})
}

// managed reads the client of the path and reports whether the caller may
// manage it; otherwise it has answered.
func (h *Handler) managed(w http.ResponseWriter, r *http.Request, c caller) bool {
	cl, err := h.ClientAdmin.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.clientProblem(w, r, err)
		return false
	}
	return h.mayManage(w, r, c, cl)
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	after, limit, ok := h.pageParams(w, r)
	if !ok {
		return
	}
	list, err := h.ClientAdmin.List(r.Context(), after, limit+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]clientOut, 0, len(list))
	for _, cl := range list {
		out = append(out, clientView(cl, ""))
	}
	writeJSON(w, http.StatusOK, pageOf(out, limit, func(o clientOut) string { return o.ID }))
}

// createClient: POST /api/v1/clients. Not idempotent by key: the answer
// holds the secret, which is never kept.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	var in clientIn
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	var cl clients.Client
	in.apply(&cl)
	if !h.noEscalation(w, r, c, &cl) {
		return
	}
	cl, secret, err := h.ClientAdmin.Create(r.Context(), cl, c.actor())
	if err != nil {
		h.clientProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/clients/"+cl.ID)
	writeJSON(w, http.StatusCreated, clientView(cl, secret))
}

func (h *Handler) getClient(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	cl, err := h.ClientAdmin.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.clientProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clientView(cl, ""))
}

func (h *Handler) patchClient(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	var in clientIn
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	// Checked on the client as it is now; applied again, atomically, below.
	cur, err := h.ClientAdmin.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.clientProblem(w, r, err)
		return
	}
	if !h.mayManage(w, r, c, cur) {
		return
	}
	in.apply(&cur)
	if !h.noEscalation(w, r, c, &cur) {
		return
	}
	cl, err := h.ClientAdmin.Update(r.Context(), cur.ID, func(cl clients.Client) (clients.Client, error) {
		in.apply(&cl)
		cl.Organization = cur.Organization // resolved to its ID
		return cl, nil
	}, c.actor())
	if err != nil {
		h.clientProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clientView(cl, ""))
}

func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	if r.PathValue("id") == c.clientID {
		h.problem(w, r, errConflict.with("A client cannot delete itself."))
		return
	}
	if !h.managed(w, r, c) {
		return
	}
	if err := h.ClientAdmin.Delete(r.Context(), r.PathValue("id"), c.actor()); err != nil {
		h.clientProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateClientSecret: POST /api/v1/clients/{id}/rotate-secret, with the old
// secret still valid for overlap_seconds (default 0).
func (h *Handler) rotateClientSecret(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.clientsAllowed(w, r, c) {
		return
	}
	overlap, ok := h.rotation(w, r, 0)
	if !ok {
		return
	}
	if !h.managed(w, r, c) {
		return
	}
	cl, secret, err := h.ClientAdmin.RotateSecret(r.Context(), r.PathValue("id"), overlap, c.actor())
	if err != nil {
		h.clientProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clientView(cl, secret))
}
