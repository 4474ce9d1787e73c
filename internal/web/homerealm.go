package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/orgs"
)

// Home-realm discovery: an organization with an identity provider of its
// own (Settings.SSOProvider) has the people of its email domains sign in
// there. The address typed on the sign-in page leads there instead of the
// password check, and whoever comes back through that provider joins the
// organization just in time with its default roles.

// ssoOrg returns the active organization whose domain email is in and
// that signs its people in with a provider of its own.
func (h *Handler) ssoOrg(ctx context.Context, email string) (orgs.Organization, bool, error) {
	if h.Orgs == nil || h.Federation == nil {
		return orgs.Organization{}, false, nil
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return orgs.Organization{}, false, nil
	}
	domain := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[at+1:])), ".")
	o, err := h.Orgs.Store.OrganizationByDomain(ctx, domain)
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		return o, false, nil
	case err != nil:
		return o, false, err
	}
	return o, o.SSOProvider != "" && o.Status == orgs.StatusActive, nil
}

// homeRealm sends the browser to the identity provider of the
// organization of email's domain, if it has one, and reports whether it
// did.
func (h *Handler) homeRealm(w http.ResponseWriter, r *http.Request, f flows.Flow, email string) bool {
	o, ok, err := h.ssoOrg(r.Context(), email)
	if err != nil {
		h.fail(w, r, err)
		return true
	}
	if !ok {
		return false
	}
	h.sendUpstream(w, r, flows.Flow{ReturnTo: f.ReturnTo, UILocales: f.UILocales}, o.SSOProvider)
	return true
}

// joinBySSO makes a person who signed in through their organization's own
// provider a member of it (with its default roles), if they are not yet.
func (h *Handler) joinBySSO(ctx context.Context, userID, email string, c federation.Claims) error {
	o, ok, err := h.ssoOrg(ctx, email)
	if err != nil || !ok || o.SSOProvider != c.Provider {
		return err
	}
	if _, err := h.Orgs.Store.Membership(ctx, o.ID, userID); err == nil || !errors.Is(err, orgs.ErrNotFound) {
		return err
	}
	// Roles deleted since they were set are left out.
	declared, err := h.Orgs.Store.Roles(ctx, "")
	if err != nil {
		return err
	}
	roles := slices.DeleteFunc(slices.Clone(o.SSORoles), func(g orgs.Grant) bool {
		return !slices.ContainsFunc(declared, func(r orgs.Role) bool { return r.App == g.App && r.Name == g.Role })
	})
	_, err = h.Orgs.AddMember(ctx, o.ID, userID, roles, "system:sso")
	return err
}
