package api

import (
	"net/http"
	"time"

	"github.com/portvakt/portvakt/internal/orgs"
)

// Scopes of roles.
const (
	ScopeRolesRead  = "portvakt:roles:read"
	ScopeRolesWrite = "portvakt:roles:write"
)

type roleOut struct {
	App         string    `json:"app"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Permissions []string  `json:"permissions"`
	Delegable   bool      `json:"delegable"`
	CreatedAt   time.Time `json:"created_at"`
}

func roleView(r orgs.Role) roleOut {
	p := r.Permissions
	if p == nil {
		p = []string{}
	}
	return roleOut{App: r.App, Name: r.Name, Description: r.Description, Permissions: p, Delegable: r.Delegable, CreatedAt: r.CreatedAt}
}

// listRoles: GET /api/v1/roles?app= — the roles applications declare.
func (h *Handler) listRoles(w http.ResponseWriter, r *http.Request, _ caller) {
	list, err := h.Orgs.Store.Roles(r.Context(), r.URL.Query().Get("app"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]roleOut, 0, len(list))
	for _, role := range list {
		out = append(out, roleView(role))
	}
	writeJSON(w, http.StatusOK, page[roleOut]{Items: out})
}

type roleIn struct {
	App         string   `json:"app"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	Delegable   bool     `json:"delegable"`
}

func (h *Handler) createRole(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		h.problem(w, r, errOrgLimited.with("Roles are the deployment's: a client limited to one organization gives them, it does not declare them."))
		return
	}
	var in roleIn
	body, done := h.readJSON(w, r, &in)
	if done {
		return
	}
	h.idempotent(w, r, c, body, func(w http.ResponseWriter) {
		role, err := h.Orgs.CreateRole(r.Context(), orgs.Role{App: in.App, Name: in.Name, Description: in.Description,
			Permissions: in.Permissions, Delegable: in.Delegable}, c.actor())
		if err != nil {
			h.invalid(w, r, err, "The application already declares a role of this name.")
			return
		}
		w.Header().Set("Location", "/api/v1/roles/"+role.App+"/"+role.Name)
		writeJSON(w, http.StatusCreated, roleView(role))
	})
}

// deleteRole: DELETE /api/v1/roles/{app}/{name}; everyone who held it
// loses it.
func (h *Handler) deleteRole(w http.ResponseWriter, r *http.Request, c caller) {
	if c.org != "" {
		h.problem(w, r, errOrgLimited)
		return
	}
	if err := h.Orgs.DeleteRole(r.Context(), r.PathValue("app"), r.PathValue("name"), c.actor()); err != nil {
		h.invalid(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
