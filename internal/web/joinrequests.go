package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/orgs"
)

// Joining by domain: the account page offers the organization whose domain
// the person's verified address is in (ask to join, or join at once when
// it admits its domain); its admins approve or decline the requests on the
// organization page. An organization the person may not join answers 404,
// as one that does not exist: the route tells nothing about which
// organizations there are.

// joinableOrg is an organization the account page offers to join.
type joinableOrg struct {
	ID, Name string
	// AutoJoin admits at once; Pending says they asked already.
	AutoJoin, Pending bool
}

// orgJoinRequest is a pending request as the organization page shows it.
type orgJoinRequest struct {
	ID, Email, Name, Since string
}

// joinExtras adds the organizations the person may join to the account
// page.
func (h *Handler) joinExtras(r *http.Request, p *page) error {
	if h.Joins == nil {
		return nil
	}
	list, err := h.Joins.Joinable(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	for _, j := range list {
		p.Joinable = append(p.Joinable, joinableOrg{ID: j.ID, Name: j.Name, AutoJoin: j.AutoJoin, Pending: j.Pending})
	}
	return nil
}

// submitJoin asks to join an organization by domain, or joins it at once.
func (h *Handler) submitJoin(w http.ResponseWriter, r *http.Request) {
	u, ok := h.postedSignedIn(w, r)
	if !ok {
		return
	}
	if h.Joins == nil {
		h.notFound(w, r, u)
		return
	}
	jr, err := h.Joins.Ask(r.Context(), r.PathValue("org"), u.ID)
	switch {
	case errors.Is(err, orgs.ErrNotEligible):
		h.notFound(w, r, u)
	case err != nil:
		h.fail(w, r, err)
	case jr.Status == orgs.JoinApproved:
		http.Redirect(w, r, "/account?done=org_joined", http.StatusSeeOther)
	default:
		h.Wake()
		http.Redirect(w, r, "/account?done=org_join_requested", http.StatusSeeOther)
	}
}

// joinRequestExtras adds the pending requests to join to the organization
// page.
func (h *Handler) joinRequestExtras(r *http.Request, p *page, o orgs.Organization) error {
	if h.Joins == nil {
		return nil
	}
	ctx := r.Context()
	pending, err := h.Joins.Pending(ctx, o.ID)
	if err != nil {
		return err
	}
	for _, jr := range pending {
		v := orgJoinRequest{ID: jr.ID, Email: jr.Email, Since: jr.CreatedAt.In(time.UTC).Format("2006-01-02")}
		if ju, err := h.Accounts.Store.UserByID(ctx, jr.UserID); err == nil {
			v.Name = joinName(ju)
		}
		p.JoinRequests = append(p.JoinRequests, v)
	}
	if len(p.JoinRequests) > 0 && len(o.JoinRoles) > 0 {
		var names []string
		for _, g := range o.JoinRoles {
			names = append(names, g.Role)
		}
		p.Extra["join_roles"] = strings.Join(names, ", ")
	}
	return nil
}

// submitOrgJoinRequest approves or declines one of the organization's
// pending requests to join.
func (h *Handler) submitOrgJoinRequest(w http.ResponseWriter, r *http.Request) {
	if !h.checkCSRF(r) {
		h.showError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	o, _, u, ok := h.orgAdmin(w, r)
	if !ok {
		return
	}
	if h.Joins == nil {
		h.notFound(w, r, u)
		return
	}
	ctx, id, actor := r.Context(), r.PathValue("request"), "user:"+u.ID
	var err error
	var done string
	switch r.PathValue("action") {
	case "approve":
		_, err = h.Joins.Approve(ctx, o.ID, id, actor)
		done = "join_approved"
	case "decline":
		_, err = h.Joins.Decline(ctx, o.ID, id, actor)
		done = "join_declined"
	default:
		h.notFound(w, r, u)
		return
	}
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		h.notFound(w, r, u)
		return
	case errors.Is(err, orgs.ErrJoinRequestDecided):
		done = "join_decided"
	case err != nil:
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/org/"+url.PathEscape(o.ID)+"?done="+done, http.StatusSeeOther)
}
