package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/federation"
)

// Scopes of upstream identity providers.
const (
	ScopeIdPsRead  = "portvakt:idps:read"
	ScopeIdPsWrite = "portvakt:idps:write"
)

// IdentityProviders manages upstream identity providers
// (federation.Service).
type IdentityProviders interface {
	PutSpec(ctx context.Context, s federation.Spec, actor string) (bool, error)
	Delete(ctx context.Context, id, actor string) error
}

// ProviderStore reads upstream identity providers.
type ProviderStore interface {
	ProviderByID(ctx context.Context, id string) (federation.Provider, error)
	ListProviders(ctx context.Context) ([]federation.Provider, error)
}

// idpOut is a provider as the API shows it: never its secret.
type idpOut struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Issuer         string            `json:"issuer"`
	AuthURL        string            `json:"auth_url"`
	TokenURL       string            `json:"token_url"`
	UserinfoURL    string            `json:"userinfo_url"`
	ClientID       string            `json:"client_id"`
	Scopes         []string          `json:"scopes"`
	TrustEmail     bool              `json:"trust_email"`
	ClaimMap       map[string]string `json:"claim_map"`
	RequiredFields []string          `json:"required_fields"`
	Brand          string            `json:"brand"`
	Proofing       bool              `json:"proofing"`
	ACRMap         map[string]string `json:"acr_map"`
	HasSecret      bool              `json:"has_secret"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func idpView(p federation.Provider) idpOut {
	kind := p.Kind
	if kind == "" {
		kind = "oidc"
	}
	cm, acr := p.ClaimMap, p.ACRMap
	if cm == nil {
		cm = map[string]string{}
	}
	if acr == nil {
		acr = map[string]string{}
	}
	return idpOut{ID: p.ID, Name: p.Name, Kind: kind, Issuer: p.Issuer, AuthURL: p.AuthURL, TokenURL: p.TokenURL, UserinfoURL: p.UserinfoURL,
		ClientID: p.ClientID, Scopes: orEmptyList(p.Scopes), TrustEmail: p.TrustEmail, ClaimMap: cm, RequiredFields: orEmptyList(p.RequiredFields),
		Brand: p.Brand, Proofing: p.Proofing, ACRMap: acr, HasSecret: len(p.Secret) > 0, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (h *Handler) idpsAllowed(w http.ResponseWriter, r *http.Request, c caller) bool {
	if c.org != "" {
		h.problem(w, r, errOrgLimited.with("Identity providers are the deployment's; an organization's own provider is set on the organization."))
		return false
	}
	if h.IdPs == nil || h.ProviderStore == nil {
		h.problem(w, r, errNoRoute)
		return false
	}
	return true
}

// idpProblem answers the federation service's errors.
func (h *Handler) idpProblem(w http.ResponseWriter, r *http.Request, err error) {
	h.domainProblem(w, r, err, domainErrors{
		field: func(e error) (fieldProblem, bool) {
			var fe federation.FieldError
			ok := errors.As(e, &fe)
			return fieldProblem{Field: fe.Field, Code: "invalid", Message: fe.Message}, ok
		},
		notFound: federation.ErrNotFound, conflict: federation.ErrConflict,
		notFoundDetail: "There is no identity provider with this ID.",
	})
}

func (h *Handler) listIdPs(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.idpsAllowed(w, r, c) {
		return
	}
	list, err := h.ProviderStore.ListProviders(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]idpOut, 0, len(list))
	for _, p := range list {
		out = append(out, idpView(p))
	}
	writeJSON(w, http.StatusOK, page[idpOut]{Items: out})
}

func (h *Handler) getIdP(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.idpsAllowed(w, r, c) {
		return
	}
	p, err := h.ProviderStore.ProviderByID(r.Context(), r.PathValue("id"))
	if !h.found(w, r, err, federation.ErrNotFound, "There is no identity provider with this ID.") {
		return
	}
	writeJSON(w, http.StatusOK, idpView(p))
}

// putIdP: PUT /api/v1/identity-providers/{id} creates the provider or
// replaces its settings, as the configuration file does: a preset and what
// differs from it, or every setting of a generic provider. Without a new
// secret, the stored one stays.
func (h *Handler) putIdP(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.idpsAllowed(w, r, c) {
		return
	}
	var in federation.Spec
	if _, done := h.readJSON(w, r, &in); done {
		return
	}
	id := r.PathValue("id")
	if in.ID != "" && in.ID != id {
		p := errInvalid
		p.fields = []fieldProblem{{"id", "invalid", "differs from the ID in the path"}}
		h.problem(w, r, p)
		return
	}
	in.ID = id
	created, err := h.IdPs.PutSpec(r.Context(), in, c.actor())
	if err != nil {
		h.idpProblem(w, r, err)
		return
	}
	p, err := h.ProviderStore.ProviderByID(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/identity-providers/"+id)
	}
	writeJSON(w, status, idpView(p))
}

func (h *Handler) deleteIdP(w http.ResponseWriter, r *http.Request, c caller) {
	if !h.idpsAllowed(w, r, c) {
		return
	}
	if err := h.IdPs.Delete(r.Context(), r.PathValue("id"), c.actor()); !h.found(w, r, err, federation.ErrNotFound, "There is no identity provider with this ID.") {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
