package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// app is an application's initiate login URI: it records the queries it
// is opened with.
type app struct {
	*httptest.Server
	mu      sync.Mutex
	queries []url.Values
}

func newApp(t *testing.T) *app {
	a := &app{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.queries = append(a.queries, r.URL.Query())
		a.mu.Unlock()
		_, _ = w.Write([]byte("the portal"))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *app) opened() []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.queries...)
}

// TestInvitationLeadsToApplication: an admin invites a colleague to open
// an application after joining; the colleague registers and lands at the
// application's initiate login URI with this issuer. Only applications
// with such a URI are offered or accepted.
func TestInvitationLeadsToApplication(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		inv, mails := s.withInvitations(t)
		ctx := context.Background()
		portal := newApp(t)
		for _, c := range []clients.Client{
			{ID: "portal", Name: "Portal", InitiateLoginURI: portal.URL + "/start?from=portvakt"},
			{ID: "backoffice", Name: "Back office"}, // no initiate login URI
		} {
			c.Type, c.CreatedAt, c.UpdatedAt = clients.TypePublic, *s.clock, *s.clock
			if err := s.store.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		launcher := clients.Launcher{Store: s.store}
		s.pages.Apps, inv.Apps = launcher, launcher

		admin := s.browser()
		admin.signIn("anna@acme.example")
		page := admin.get("/org/" + w.acme.ID)
		if !strings.Contains(page.body, `<option value="portal">Portal</option>`) || strings.Contains(page.body, "Back office") {
			t.Fatalf("the invite form should offer Portal only:\n%s", page.body)
		}
		token := csrfField.FindStringSubmatch(page.body)[1]
		for _, id := range []string{"backoffice", "nope"} {
			bad := admin.do(http.MethodPost, "/org/"+w.acme.ID+"/invitations", url.Values{"csrf_token": {token}, "email": {"lea@acme.example"}, "client_id": {id}})
			if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "Choose an application from the list.") {
				t.Errorf("inviting to open %q: %d, want 400 with the field's error", id, bad.status)
			}
		}
		if pending, _ := s.store.Invitations(ctx, w.acme.ID, orgs.InvitationPending); len(pending) != 0 {
			t.Fatalf("refused invitations were stored: %+v", pending)
		}
		done := admin.do(http.MethodPost, "/org/"+w.acme.ID+"/invitations", url.Values{"csrf_token": {token}, "email": {"lea@acme.example"},
			"client_id": {"portal"}, "role": {"portal/viewer"}})
		if !strings.Contains(done.body, "The invitation was sent.") {
			t.Fatalf("after inviting: %s\n%s", done.url, done.body)
		}
		sent := mails()
		if len(sent) != 1 {
			t.Fatalf("mails: %+v", sent)
		}
		lea := s.browser()
		form := lea.get(linkPath(t, sent[0]))
		landed := lea.submit(form, map[string]string{"password": goodPassword, "given_name": "Lea"})
		if landed.body != "the portal" {
			t.Fatalf("after registering: %s (%d)\n%s", landed.url, landed.status, landed.body)
		}
		opened := portal.opened()
		if len(opened) != 1 || opened[0].Get("iss") != s.pages.Issuer.String() || opened[0].Get("from") != "portvakt" {
			t.Errorf("the portal was opened with %v, want iss=%s and its own from=portvakt", opened, s.pages.Issuer)
		}
		u, err := s.store.UserByEmail(ctx, "lea@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.store.Membership(ctx, w.acme.ID, u.ID); err != nil || !m.Holds(orgs.Grant{App: "portal", Role: "viewer"}) {
			t.Errorf("Lea's membership %+v, %v", m, err)
		}

		// /apps/ reaches registered URIs only.
		for _, id := range []string{"backoffice", "nope", "..%2F..%2Flogin"} {
			if res := s.browser().get("/apps/" + id); res.status != http.StatusNotFound {
				t.Errorf("/apps/%s = %d, want 404", id, res.status)
			}
		}
	})
}

// TestInviteRefusesUnknownApplication: the service refuses an application
// people cannot be sent on to, also without any applications at all.
func TestInviteRefusesUnknownApplication(t *testing.T) {
	s := newStackOn(t, storetest.SQLite())
	w := s.withOrgs(t)
	inv, _ := s.withInvitations(t)
	_, err := inv.Invite(context.Background(), orgs.Invitation{OrgID: w.acme.ID, Email: "x@acme.example", ClientID: "portal"}, "system:test")
	var fe orgs.FieldError
	if !errors.As(err, &fe) || fe.Field != "client_id" {
		t.Errorf("Invite with an application while none can be opened: %v, want a client_id field error", err)
	}
}
