package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// orgWorld is two organizations with an admin each, a member of Acme, and
// the roles the portal declares.
type orgWorld struct {
	acme, beta               orgs.Organization
	admin, member, betaAdmin string // user IDs
}

func (s *stack) withOrgs(t *testing.T) orgWorld {
	t.Helper()
	ctx := context.Background()
	svc := &orgs.Service{Store: s.store, Now: func() time.Time { return *s.clock }}
	s.pages.Orgs, s.pages.EventTimes = svc, s.store
	var w orgWorld
	var err error
	if w.acme, err = svc.CreateOrganization(ctx, orgs.Organization{Name: "Acme Oy", Slug: "acme"}, "system:test"); err != nil {
		t.Fatal(err)
	}
	if w.beta, err = svc.CreateOrganization(ctx, orgs.Organization{Name: "Beta AB", Slug: "beta"}, "system:test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []orgs.Role{
		{App: "portal", Name: "buyer", Description: "Places orders", Permissions: []string{"orders:create"}, Delegable: true},
		{App: "portal", Name: "viewer", Permissions: []string{"orders:read"}, Delegable: true},
		{App: "portal", Name: "auditor", Permissions: []string{"audit:read"}, Delegable: true},
		{App: "portal", Name: "owner", Permissions: []string{"billing"}},
	} {
		if _, err := svc.CreateRole(ctx, r, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	add := func(org orgs.Organization, email string, roles ...orgs.Grant) string {
		u := s.createUser(email, goodPassword, true)
		if _, err := svc.AddMember(ctx, org.ID, u.ID, roles, "system:test"); err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	buyer, viewer := orgs.Grant{App: "portal", Role: "buyer"}, orgs.Grant{App: "portal", Role: "viewer"}
	// The admin holds buyer and viewer (which she may give), not auditor.
	w.admin = add(w.acme, "anna@acme.example", orgs.Admin, buyer, viewer)
	w.member = add(w.acme, "mats@acme.example", viewer, orgs.Grant{App: "portal", Role: "owner"})
	w.betaAdmin = add(w.beta, "bo@beta.example", orgs.Admin, buyer)
	return w
}

// TestOrgAdminAuthorization: every organization route answers 404 to a
// member who is not an admin and to the admin of another organization,
// the same as for an organization that does not exist; anonymous people
// are sent to sign in.
func TestOrgAdminAuthorization(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/org/" + w.acme.ID},
		{http.MethodPost, "/org/" + w.acme.ID + "/members/" + w.member + "/roles"},
		{http.MethodPost, "/org/" + w.acme.ID + "/members/" + w.member + "/remove"},
		{http.MethodPost, "/org/" + w.acme.ID + "/members/" + w.member + "/admin"},
	}
	anon := s.browser()
	for _, rt := range routes {
		res := anon.do(rt.method, rt.path, url.Values{})
		if rt.method == http.MethodGet && !strings.HasPrefix(res.url, "/login") {
			t.Errorf("anonymous %s %s: at %s, want the sign-in page", rt.method, rt.path, res.url)
		}
		if rt.method == http.MethodPost && res.status != http.StatusForbidden {
			t.Errorf("anonymous %s %s without a form token: %d, want 403", rt.method, rt.path, res.status)
		}
	}
	for _, who := range []string{"mats@acme.example", "bo@beta.example"} {
		b := s.browser()
		acct := b.signIn(who)
		token := csrfField.FindStringSubmatch(acct.body)[1]
		for _, rt := range routes {
			res := b.do(rt.method, rt.path, url.Values{"csrf_token": {token}, "role": {"portal/buyer"}})
			if res.status != http.StatusNotFound || !strings.Contains(res.body, "Page not found") {
				t.Errorf("%s: %s %s = %d at %s, want 404", who, rt.method, rt.path, res.status, res.url)
			}
		}
		if res := b.get("/org/no-such-org"); res.status != http.StatusNotFound {
			t.Errorf("%s: a missing organization = %d", who, res.status)
		}
	}
	// Beta's admin cannot reach Acme's member through Beta either.
	b := s.browser()
	token := csrfField.FindStringSubmatch(b.signIn("bo@beta.example").body)[1]
	if res := b.do(http.MethodPost, "/org/"+w.beta.ID+"/members/"+w.member+"/remove", url.Values{"csrf_token": {token}}); res.status != http.StatusNotFound {
		t.Errorf("Beta's admin removing Acme's member through Beta = %d, want 404", res.status)
	}
	if m, err := s.store.Membership(context.Background(), w.acme.ID, w.member); err != nil || len(m.Roles) != 2 {
		t.Errorf("after the attempts, Mats's membership = %+v, %v; want unchanged", m, err)
	}
}

// TestOrgAdminPages: the admin sees her people, gives and takes the
// delegable roles she holds (never others), removes a member, cannot
// remove the last admin, and hands the admin role over.
func TestOrgAdminPages(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		ctx := context.Background()
		b := s.browser()
		acct := b.signIn("anna@acme.example")
		if !strings.Contains(acct.body, "Your organizations") || !strings.Contains(acct.body, `href="/org/`+w.acme.ID+`"`) {
			t.Fatalf("the account page lacks the organization link:\n%s", acct.body)
		}
		page := b.get("/org/" + w.acme.ID)
		// Anna signed in just now; Mats never has.
		if !strings.Contains(page.body, "last signed in 2026-11-25") || !strings.Contains(page.body, "not signed in yet") {
			t.Errorf("the page lacks the members' last sign-in:\n%s", page.body)
		}
		if page.status != http.StatusOK || !strings.Contains(page.body, "<h1>Acme Oy</h1>") ||
			!strings.Contains(page.body, "mats@acme.example") || strings.Contains(page.body, "bo@beta.example") {
			t.Fatalf("the organization page (%d):\n%s", page.status, page.body)
		}
		// She may give buyer and viewer (delegable, hers), not auditor (not
		// hers) nor owner (not delegable).
		for _, want := range []string{`value="portal/buyer"`, `value="portal/viewer"`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
		for _, not := range []string{`value="portal/auditor"`, `value="portal/owner"`} {
			if strings.Contains(page.body, not) {
				t.Errorf("the page offers %s", not)
			}
		}
		token := csrfField.FindStringSubmatch(page.body)[1]
		rolesURL := "/org/" + w.acme.ID + "/members/" + w.member + "/roles"
		done := b.do(http.MethodPost, rolesURL, url.Values{"csrf_token": {token}, "role": {"portal/buyer", "portal/auditor", "portvakt/org_admin"}})
		if !strings.Contains(done.body, "The roles were saved.") {
			t.Errorf("after saving roles: %s", done.url)
		}
		m, err := s.store.Membership(ctx, w.acme.ID, w.member)
		want := []orgs.Grant{{App: "portal", Role: "buyer"}, {App: "portal", Role: "owner"}}
		if err != nil || !slices.Equal(m.Roles, want) {
			t.Errorf("Mats's roles = %v, %v; want buyer given, viewer taken, owner kept, nothing else", m.Roles, err)
		}
		if types := eventTypes(t, s, "org:"+w.acme.ID); !slices.Contains(types, "membership.roles_changed") {
			t.Errorf("events about Acme: %v", types)
		}
		// Without the form token nothing changes.
		if res := b.do(http.MethodPost, rolesURL, url.Values{"role": {"portal/viewer"}}); res.status != http.StatusForbidden {
			t.Errorf("a post without the form token = %d", res.status)
		}

		// The last admin cannot go.
		self := b.do(http.MethodPost, "/org/"+w.acme.ID+"/members/"+w.admin+"/remove", url.Values{"csrf_token": {token}})
		if !strings.Contains(self.body, "last admin cannot be removed") {
			t.Errorf("removing the last admin: %s", self.url)
		}
		// Hand over to Mats: he is admin, she is not.
		b.do(http.MethodPost, "/org/"+w.acme.ID+"/members/"+w.member+"/admin", url.Values{"csrf_token": {token}})
		if m, _ := s.store.Membership(ctx, w.acme.ID, w.member); !m.Holds(orgs.Admin) {
			t.Errorf("after the hand-over Mats holds %v", m.Roles)
		}
		if m, _ := s.store.Membership(ctx, w.acme.ID, w.admin); m.Holds(orgs.Admin) || !m.Holds(orgs.Grant{App: "portal", Role: "buyer"}) {
			t.Errorf("after the hand-over Anna holds %v, want her roles without admin", m.Roles)
		}
		if res := b.get("/org/" + w.acme.ID); res.status != http.StatusNotFound {
			t.Errorf("Anna after handing over = %d, want 404", res.status)
		}
		// Mats, now admin, removes Anna.
		mb := s.browser()
		mp := mb.signIn("mats@acme.example")
		mt := csrfField.FindStringSubmatch(mp.body)[1]
		removed := mb.do(http.MethodPost, "/org/"+w.acme.ID+"/members/"+w.admin+"/remove", url.Values{"csrf_token": {mt}})
		if !strings.Contains(removed.body, "Their access to the organization ended at once.") {
			t.Errorf("after removing: %s", removed.url)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, w.admin); err == nil {
			t.Error("Anna is still a member")
		}
	})
}
