package oidc

import (
	"encoding/json"
	"net/http"
	"net/url"
)

// Handler serves the OpenID Provider's endpoints.
type Handler struct {
	// Issuer is the provider's issuer identifier, exactly as it appears in
	// tokens.
	Issuer *url.URL
}

// Mount adds the handler's routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", h.showDiscovery)
}

type discovery struct {
	Issuer string `json:"issuer"`
}

func (h *Handler) showDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(discovery{Issuer: h.Issuer.String()})
}
