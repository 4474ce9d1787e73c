package web_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/portvakt/portvakt/internal/orgs"
)

// TestHomeRealmDiscovery: an address of an organization that signs its
// people in with its own provider leads there from the sign-in page, not
// to a password check, and the person joins the organization with its
// default roles; other addresses sign in as before.
func TestHomeRealmDiscovery(t *testing.T) {
	s := newStack(t)
	m := s.withUpstream(t)
	w := s.withOrgs(t)
	ctx := context.Background()
	viewer := orgs.Grant{App: "portal", Role: "viewer"}
	domains, provider, roles := []string{"acme.example"}, "mock", []orgs.Grant{viewer}
	if _, err := s.pages.Orgs.UpdateOrganization(ctx, w.acme.ID, orgs.Change{Domains: &domains, SSOProvider: &provider, SSORoles: &roles}, "system:test"); err != nil {
		t.Fatal(err)
	}

	// A newcomer from Acme: to Acme's provider, registered, joined.
	m.QueueUser(&mockoidc.MockUser{Subject: "acme-1", Email: "pia@acme.example", EmailVerified: true})
	b := s.browser()
	res := b.submit(b.get("/login"), map[string]string{"email": "Pia@Acme.example"})
	if res.url != "/account" {
		t.Fatalf("after typing an Acme address: %s (%d)\n%s", res.url, res.status, res.body)
	}
	u, err := s.store.UserByEmail(ctx, "pia@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if mb, err := s.store.Membership(ctx, w.acme.ID, u.ID); err != nil || !slices.Equal(mb.Roles, []orgs.Grant{viewer}) {
		t.Errorf("Pia's membership %+v, %v; want Acme with viewer", mb, err)
	}

	// A member with a password is sent to the provider too (no password
	// check); her account there is new here, so it is linked only once she
	// proves the account here is hers (never silently).
	m.QueueUser(&mockoidc.MockUser{Subject: "acme-anna", Email: "anna@acme.example", EmailVerified: true})
	anna := s.browser()
	res = anna.submit(anna.get("/login"), map[string]string{"email": "anna@acme.example", "password": "wrong-password-here"})
	if pathOf(res.url) != "/login" || !strings.Contains(res.body, "You already have an account with this email address") {
		t.Fatalf("Anna after typing her address: %s\n%s", res.url, res.body)
	}
	// Proving it with her password (no second trip to the provider) links
	// the two.
	if done := anna.submit(res, map[string]string{"email": "anna@acme.example", "password": goodPassword}); done.url != "/account" || !strings.Contains(done.body, "Mock ID") {
		t.Fatalf("Anna proving her account: %s\n%s", done.url, done.body)
	}
	if mb, _ := s.store.Membership(ctx, w.acme.ID, w.admin); !mb.Holds(orgs.Admin) {
		t.Errorf("Anna's roles changed: %v", mb.Roles)
	}

	// Another domain: the password as before.
	other := s.browser()
	if res := other.signIn("bo@beta.example"); res.url != "/account" {
		t.Errorf("Bo (no provider of his own) signing in: %s", res.url)
	}
}

func pathOf(u string) string {
	for i, c := range u {
		if c == '?' {
			return u[:i]
		}
	}
	return u
}
