package web

import (
	"errors"
	"net/http"

	"github.com/portvakt/portvakt/internal/orgs"
)

// submitLeave takes the signed-in person out of one of their
// organizations (POST /account/organizations/{org}/leave): their tokens
// for it stop working at once, and the applications they used for it are
// told to end those sessions. The last admin of an organization must hand
// the role over first. An organization they are not in is not found.
func (h *Handler) submitLeave(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	if h.Orgs == nil {
		h.notFound(w, r, u)
		return
	}
	ctx := r.Context()
	orgID := r.PathValue("org")
	m, err := h.Orgs.Store.Membership(ctx, orgID, u.ID)
	if errors.Is(err, orgs.ErrNotFound) {
		h.notFound(w, r, u)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if m.Holds(orgs.Admin) {
		last, err := h.lastAdmin(r, orgID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if last {
			http.Redirect(w, r, "/account?done=org_last_admin", http.StatusSeeOther)
			return
		}
	}
	if err := h.Orgs.RemoveMember(ctx, orgID, u.ID, "user:"+u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Wake()
	http.Redirect(w, r, "/account?done=org_left", http.StatusSeeOther)
}
