package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// TestLeaveOrganization: a member leaves an organization from the account
// page, with the membership.removed event; the last admin cannot; an
// organization one is not in is not found; a forged form changes nothing.
func TestLeaveOrganization(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		ctx := context.Background()

		mats := s.browser()
		mats.signIn("mats@acme.example")
		page := mats.get("/account")
		if !strings.Contains(page.body, `action="/account/organizations/`+w.acme.ID+`/leave"`) ||
			!strings.Contains(page.body, `aria-label="Leave Acme Oy"`) {
			t.Fatalf("no leave form on the account page:\n%s", page.body)
		}
		token := csrfField.FindStringSubmatch(page.body)[1]

		// Forged: no token.
		if res := mats.do(http.MethodPost, "/account/organizations/"+w.acme.ID+"/leave", url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("leaving without the form's token: %d, want 403", res.status)
		}
		// Not his: Beta.
		if res := mats.do(http.MethodPost, "/account/organizations/"+w.beta.ID+"/leave", url.Values{"csrf_token": {token}}); res.status != http.StatusNotFound {
			t.Errorf("leaving an organization he is not in: %d, want 404", res.status)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, w.member); err != nil {
			t.Fatalf("refused attempts removed him: %v", err)
		}
		res := mats.do(http.MethodPost, "/account/organizations/"+w.acme.ID+"/leave", url.Values{"csrf_token": {token}})
		if res.url != "/account?done=org_left" || !strings.Contains(res.body, "You left the organization.") || strings.Contains(res.body, "Acme Oy</span>") {
			t.Errorf("after leaving: %s (%d)\n%s", res.url, res.status, res.body)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, w.member); !errors.Is(err, orgs.ErrNotFound) {
			t.Errorf("still a member after leaving: %v", err)
		}
		if types := eventTypes(t, s, "org:"+w.acme.ID); !slices.Contains(types, "membership.removed") {
			t.Errorf("events about Acme: %v", types)
		}

		// The last admin hands over first.
		anna := s.browser()
		anna.signIn("anna@acme.example")
		page = anna.get("/account")
		token = csrfField.FindStringSubmatch(page.body)[1]
		res = anna.do(http.MethodPost, "/account/organizations/"+w.acme.ID+"/leave", url.Values{"csrf_token": {token}})
		if res.url != "/account?done=org_last_admin" || !strings.Contains(res.body, "last admin") {
			t.Errorf("the last admin leaving: %s\n%s", res.url, res.body)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, w.admin); err != nil {
			t.Errorf("the last admin was removed: %v", err)
		}
	})
}
