package web

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/orgs"
)

// An organization's sign-in policy can allow only some ways of signing in
// (orgs.Settings.SignInMethods). A person who signed in another way is
// sent back to the sign-in page for an application used for the
// organization; the page then names the organization and the ways it
// allows, and leads with the organization's own identity provider when
// that is one of them.

// policyNotice explains on the sign-in page p why the person is asked to
// sign in again, when its flow is for an organization's policy.
func (h *Handler) policyNotice(ctx context.Context, p *page) {
	if p.Flow.Org == "" || h.Orgs == nil {
		return
	}
	o, err := h.Orgs.Store.OrganizationByID(ctx, p.Flow.Org)
	if errors.Is(err, orgs.ErrNotFound) {
		return
	}
	if err != nil {
		// The page works without the notice.
		h.Logger.ErrorContext(ctx, "organization of a sign-in policy", "error", err)
		return
	}
	if len(o.SignInMethods) == 0 {
		return
	}
	ways := make([]string, len(o.SignInMethods))
	for i, m := range o.SignInMethods {
		ways[i] = p.T("policy.way." + m)
	}
	p.Notice = p.TF("policy.notice", "Org", o.Name, "Ways", listOr(ways, p.T("policy.or")))
	if o.SSOProvider != "" && slices.Contains(o.SignInMethods, orgs.SignInFederated) {
		// The organization's own provider first.
		i := slices.IndexFunc(p.Providers, func(b providerButton) bool { return b.ID == o.SSOProvider })
		if i > 0 {
			b := p.Providers[i]
			p.Providers = slices.Insert(slices.Delete(p.Providers, i, i+1), 0, b)
		}
	}
}

// listOr joins items as "a, b or c" with the language's word for or.
func listOr(items []string, or string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + or + " " + items[len(items)-1]
}
