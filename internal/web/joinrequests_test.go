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

// withJoins gives Acme the domain acme.example with settings (its join
// roles portal/viewer unless set) and turns joining by domain on.
func (s *stack) withJoins(t *testing.T, w orgWorld, autoJoin bool) {
	t.Helper()
	svc := &orgs.Service{Store: s.store, Now: func() time.Time { return *s.clock }}
	domains := []string{"acme.example"}
	roles := []orgs.Grant{{App: "portal", Role: "viewer"}}
	if _, err := svc.UpdateOrganization(context.Background(), w.acme.ID, orgs.Change{Domains: &domains, JoinRoles: &roles, AutoJoin: &autoJoin}, "system:test"); err != nil {
		t.Fatal(err)
	}
	s.pages.Joins = &orgs.Joins{Store: s.store, Emails: s.accounts, Now: func() time.Time { return *s.clock }}
}

// token is the form token of a page.
func token(t *testing.T, page response) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no form token on %s:\n%s", page.url, page.body)
	}
	return m[1]
}

// pendingRequest returns the person's pending request to the organization.
func (s *stack) pendingRequest(t *testing.T, orgID, userID string) orgs.JoinRequest {
	t.Helper()
	jr, err := s.store.PendingJoinRequest(context.Background(), orgID, userID)
	if err != nil {
		t.Fatalf("PendingJoinRequest: %v", err)
	}
	return jr
}

// TestJoinByDomain: a person whose verified address is in Acme's domain
// sees Acme on their account page and asks to join; Acme's admin sees the
// request and approves it (the person joins with the join roles) or
// declines it (they do not).
func TestJoinByDomain(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		s.withJoins(t, w, false)
		ctx := context.Background()
		eva := s.createUser("eva@acme.example", goodPassword, true)
		fred := s.createUser("fred@acme.example", goodPassword, true)

		b := s.browser()
		acct := b.signIn("eva@acme.example")
		join := "/account/organizations/" + w.acme.ID + "/join"
		if !strings.Contains(acct.body, "Organizations you can join") || !strings.Contains(acct.body, `action="`+join+`"`) ||
			!strings.Contains(acct.body, ">Ask to join</button>") {
			t.Fatalf("the account page does not offer to ask to join Acme:\n%s", acct.body)
		}
		res := b.do(http.MethodPost, join, url.Values{"csrf_token": {token(t, acct)}})
		if res.url != "/account?done=org_join_requested" || !strings.Contains(res.body, "Your request to join was sent") ||
			!strings.Contains(res.body, "Request sent") || strings.Contains(res.body, ">Ask to join</button>") {
			t.Fatalf("after asking (%d at %s):\n%s", res.status, res.url, res.body)
		}
		// Asking again changes nothing.
		b.do(http.MethodPost, join, url.Values{"csrf_token": {token(t, res)}})
		if list, err := s.store.JoinRequests(ctx, w.acme.ID, ""); err != nil || len(list) != 1 {
			t.Errorf("requests after asking twice: got %d, %v; want 1", len(list), err)
		}
		f := s.browser()
		facct := f.signIn("fred@acme.example")
		f.do(http.MethodPost, join, url.Values{"csrf_token": {token(t, facct)}})
		evaReq, fredReq := s.pendingRequest(t, w.acme.ID, eva.ID), s.pendingRequest(t, w.acme.ID, fred.ID)

		admin := s.browser()
		admin.signIn("anna@acme.example")
		page := admin.get("/org/" + w.acme.ID)
		approve := "/org/" + w.acme.ID + "/join-requests/" + evaReq.ID + "/approve"
		decline := "/org/" + w.acme.ID + "/join-requests/" + fredReq.ID + "/decline"
		for _, want := range []string{"Requests to join", "eva@acme.example", "Asked on 2026-11-25", `action="` + approve + `"`, `action="` + decline + `"`,
			"Approved people get the roles viewer."} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the organization page lacks %q", want)
			}
		}
		res = admin.do(http.MethodPost, approve, url.Values{"csrf_token": {token(t, page)}})
		if res.url != "/org/"+w.acme.ID+"?done=join_approved" || !strings.Contains(res.body, "the person joined the organization") {
			t.Errorf("after approving (%d at %s):\n%s", res.status, res.url, res.body)
		}
		if m, err := s.store.Membership(ctx, w.acme.ID, eva.ID); err != nil || !slices.Equal(m.Roles, []orgs.Grant{{App: "portal", Role: "viewer"}}) {
			t.Errorf("Eva's membership: got %+v, %v; want portal/viewer", m, err)
		}
		res = admin.do(http.MethodPost, decline, url.Values{"csrf_token": {token(t, res)}})
		if res.url != "/org/"+w.acme.ID+"?done=join_declined" || !strings.Contains(res.body, "The request was declined.") ||
			strings.Contains(res.body, "Requests to join") {
			t.Errorf("after declining (%d at %s):\n%s", res.status, res.url, res.body)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, fred.ID); err == nil {
			t.Error("Fred joined though declined")
		}
		res = admin.do(http.MethodPost, approve, url.Values{"csrf_token": {token(t, res)}})
		if res.url != "/org/"+w.acme.ID+"?done=join_decided" || !strings.Contains(res.body, "already approved or declined") {
			t.Errorf("approving again (%d at %s):\n%s", res.status, res.url, res.body)
		}

		// Eva is in; Fred may ask again.
		acct = b.get("/account")
		if !strings.Contains(acct.body, "Your organizations") || strings.Contains(acct.body, "Organizations you can join") {
			t.Errorf("Eva's account page after joining:\n%s", acct.body)
		}
		if facct = f.get("/account"); !strings.Contains(facct.body, ">Ask to join</button>") {
			t.Errorf("Fred's account page after the decline does not offer to ask again:\n%s", facct.body)
		}
	})
}

// TestJoinByDomainAtOnce: an organization that admits its domain lets the
// person join with one button.
func TestJoinByDomainAtOnce(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	s.withJoins(t, w, true)
	eva := s.createUser("eva@acme.example", goodPassword, true)
	b := s.browser()
	acct := b.signIn("eva@acme.example")
	if !strings.Contains(acct.body, ">Join</button>") || !strings.Contains(acct.body, `aria-label="Join Acme Oy"`) {
		t.Fatalf("the account page does not offer to join Acme:\n%s", acct.body)
	}
	res := b.do(http.MethodPost, "/account/organizations/"+w.acme.ID+"/join", url.Values{"csrf_token": {token(t, acct)}})
	if res.url != "/account?done=org_joined" || !strings.Contains(res.body, "You joined the organization.") ||
		strings.Contains(res.body, "Organizations you can join") {
		t.Fatalf("after joining (%d at %s):\n%s", res.status, res.url, res.body)
	}
	if m, err := s.store.Membership(context.Background(), w.acme.ID, eva.ID); err != nil || !slices.Equal(m.Roles, []orgs.Grant{{App: "portal", Role: "viewer"}}) {
		t.Errorf("Eva's membership: got %+v, %v; want portal/viewer", m, err)
	}
}

// TestJoinByDomainNotEligible: an unverified address, an address outside
// the domain and a member see nothing to join, and posting to join answers
// 404, as for an organization that does not exist.
func TestJoinByDomainNotEligible(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	s.withJoins(t, w, true)
	s.createUser("una@acme.example", goodPassword, false)
	s.createUser("olle@other.example", goodPassword, true)
	for _, who := range []string{"una@acme.example", "olle@other.example", "mats@acme.example", "bo@beta.example"} {
		b := s.browser()
		acct := b.signIn(who)
		if acct.status != http.StatusOK || strings.Contains(acct.body, "Organizations you can join") {
			t.Errorf("%s: the account page (%d) offers to join:\n%s", who, acct.status, acct.body)
		}
		for _, org := range []string{w.acme.ID, w.beta.ID, "no-such-org"} {
			res := b.do(http.MethodPost, "/account/organizations/"+org+"/join", url.Values{"csrf_token": {token(t, acct)}})
			if res.status != http.StatusNotFound || !strings.Contains(res.body, "Page not found") {
				t.Errorf("%s joining %s: %d at %s, want 404", who, org, res.status, res.url)
			}
		}
	}
	list, err := s.store.JoinRequests(context.Background(), w.acme.ID, "")
	if err != nil || len(list) != 0 {
		t.Errorf("requests after the attempts: got %+v, %v; want none", list, err)
	}
}

// TestJoinRequestAuthorization: deciding a request answers 404 to a member
// who is not an admin, to the admin of another organization (through
// either organization's path) and for an unknown request or action; a
// post without a valid form token is refused; anonymous people are sent
// to sign in. The request stays pending.
func TestJoinRequestAuthorization(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	s.withJoins(t, w, false)
	eva := s.createUser("eva@acme.example", goodPassword, true)
	b := s.browser()
	acct := b.signIn("eva@acme.example")
	join := "/account/organizations/" + w.acme.ID + "/join"
	if res := b.do(http.MethodPost, join, url.Values{"csrf_token": {"forged"}}); res.status != http.StatusForbidden {
		t.Errorf("asking to join with a forged form token: %d, want 403", res.status)
	}
	if res := b.do(http.MethodPost, join, url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("asking to join without a form token: %d, want 403", res.status)
	}
	if _, err := s.store.PendingJoinRequest(context.Background(), w.acme.ID, eva.ID); err == nil {
		t.Fatal("a request was made without a valid form token")
	}
	b.do(http.MethodPost, join, url.Values{"csrf_token": {token(t, acct)}})
	jr := s.pendingRequest(t, w.acme.ID, eva.ID)

	routes := []string{
		"/org/" + w.acme.ID + "/join-requests/" + jr.ID + "/approve",
		"/org/" + w.acme.ID + "/join-requests/" + jr.ID + "/decline",
	}
	anon := s.browser()
	login := anon.get("/login")
	for _, path := range append(routes, join) {
		if res := anon.do(http.MethodPost, path, url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("anonymous POST %s without a form token: %d, want 403", path, res.status)
		}
		if res := anon.do(http.MethodPost, path, url.Values{"csrf_token": {token(t, login)}}); !strings.HasPrefix(res.url, "/login") {
			t.Errorf("anonymous POST %s: at %s, want the sign-in page", path, res.url)
		}
	}
	for _, who := range []string{"mats@acme.example", "bo@beta.example", "eva@acme.example"} {
		u := s.browser()
		tok := token(t, u.signIn(who))
		for _, path := range routes {
			if res := u.do(http.MethodPost, path, url.Values{"csrf_token": {tok}}); res.status != http.StatusNotFound || !strings.Contains(res.body, "Page not found") {
				t.Errorf("%s: POST %s = %d at %s, want 404", who, path, res.status, res.url)
			}
		}
	}
	// Beta's admin cannot decide Acme's request through Beta.
	bo := s.browser()
	tok := token(t, bo.signIn("bo@beta.example"))
	for _, action := range []string{"approve", "decline"} {
		if res := bo.do(http.MethodPost, "/org/"+w.beta.ID+"/join-requests/"+jr.ID+"/"+action, url.Values{"csrf_token": {tok}}); res.status != http.StatusNotFound {
			t.Errorf("Beta's admin deciding Acme's request through Beta (%s) = %d, want 404", action, res.status)
		}
	}
	anna := s.browser()
	tok = token(t, anna.signIn("anna@acme.example"))
	for _, path := range []string{
		"/org/" + w.acme.ID + "/join-requests/no-such-request/approve",
		"/org/" + w.acme.ID + "/join-requests/" + jr.ID + "/delete",
	} {
		if res := anna.do(http.MethodPost, path, url.Values{"csrf_token": {tok}}); res.status != http.StatusNotFound {
			t.Errorf("the admin: POST %s = %d, want 404", path, res.status)
		}
	}
	if res := anna.do(http.MethodPost, routes[0], url.Values{"csrf_token": {"forged"}}); res.status != http.StatusForbidden {
		t.Errorf("the admin approving with a forged form token: %d, want 403", res.status)
	}
	if got := s.pendingRequest(t, w.acme.ID, eva.ID); got.Status != orgs.JoinPending {
		t.Errorf("after the attempts the request is %s, want pending", got.Status)
	}
}

// TestJoinByDomainTranslated: the sections and buttons are in the
// person's language.
func TestJoinByDomainTranslated(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	s.withJoins(t, w, false)
	for lang, want := range map[string]string{"sv": "Organisationer du kan gå med i", "fi": "Organisaatiot, joihin voit liittyä"} {
		email := "eva-" + lang + "@acme.example"
		s.createUser(email, goodPassword, true)
		b := s.browser()
		b.header.Set("Accept-Language", lang)
		if acct := b.signIn(email); !strings.Contains(acct.body, want) {
			t.Errorf("%s: the account page lacks %q:\n%s", lang, want, acct.body)
		}
	}
}
