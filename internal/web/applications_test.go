package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/web"
)

// fakeConnections are the applications each user let in.
type fakeConnections struct {
	mu      sync.Mutex
	apps    map[string][]web.ConnectedApp
	revoked []string // userID/clientID
}

func (f *fakeConnections) ConnectedApps(_ context.Context, userID string) ([]web.ConnectedApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.apps[userID]), nil
}

func (f *fakeConnections) RevokeApp(_ context.Context, userID, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, userID+"/"+clientID)
	f.apps[userID] = slices.DeleteFunc(f.apps[userID], func(a web.ConnectedApp) bool { return a.ClientID == clientID })
	return nil
}

func TestConnectedApplications(t *testing.T) {
	s := newStack(t)
	ada := s.createUser("ada@example.com", goodPassword, true)
	bo := s.createUser("bo@example.com", goodPassword, true)
	since := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	conns := &fakeConnections{apps: map[string][]web.ConnectedApp{
		ada.ID: {
			{ClientID: "budget-app", Name: "Budget Planner", Scopes: []string{"openid", "email", "offline_access", "verified:birthdate", "billing:read"},
				Since: since, LastUsed: since.AddDate(0, 6, 0)},
			{ClientID: "news/reader", Name: "News Reader", Scopes: []string{"openid"}},
		},
		bo.ID: {{ClientID: "bos-app", Name: "Bo's App", Scopes: []string{"openid"}}},
	}}
	s.pages.Connections = conns

	b := s.browser()
	acct := b.signIn("ada@example.com")
	if !strings.Contains(acct.body, `href="/account/applications"`) {
		t.Fatal("the account page has no link to the connected applications")
	}
	b.header.Set("Accept-Language", "sv")
	page := b.get("/account/applications")
	b.header.Del("Accept-Language")
	if page.status != http.StatusOK {
		t.Fatalf("page: %d", page.status)
	}
	for _, want := range []string{"Budget Planner", "Se din e-postadress", "Behålla åtkomsten även när du inte använder tjänsten",
		"Se ditt födelsedatum, så som det styrkts med e-legitimation", "billing:read", "Ansluten sedan 2026-03-01", "senast använd 2026-09-01",
		`action="/account/applications/news%2Freader/revoke"`, `aria-label="Ta bort åtkomsten för Budget Planner"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "Bo&#39;s App") {
		t.Error("the page shows another person's application")
	}

	token := csrfField.FindStringSubmatch(page.body)[1]
	if res := b.do(http.MethodPost, "/account/applications/budget-app/revoke", url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("without the form's token: %d, want 403", res.status)
	}
	for _, id := range []string{"bos-app", "unknown"} {
		if res := b.do(http.MethodPost, "/account/applications/"+id+"/revoke", url.Values{"csrf_token": {token}}); res.status != http.StatusNotFound {
			t.Errorf("revoking %s, not hers: %d, want 404", id, res.status)
		}
	}
	res := b.do(http.MethodPost, "/account/applications/news%2Freader/revoke", url.Values{"csrf_token": {token}})
	if res.url != "/account/applications?done=revoked" || !strings.Contains(res.body, "Access taken away") || strings.Contains(res.body, "News Reader") {
		t.Errorf("after revoking: %s", res.url)
	}
	if !slices.Equal(conns.revoked, []string{ada.ID + "/news/reader"}) {
		t.Errorf("revoked %v, want only Ada's News Reader", conns.revoked)
	}
}

func TestConnectedApplicationsNone(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	acct := b.signIn("ada@example.com")
	if strings.Contains(acct.body, `href="/account/applications"`) {
		t.Error("the account page links to applications that are not offered")
	}
	s.pages.Connections = &fakeConnections{apps: map[string][]web.ConnectedApp{}}
	if page := b.get("/account/applications"); page.status != http.StatusOK || !strings.Contains(page.body, "No application can use your account") {
		t.Errorf("without applications: %d", page.status)
	}
	if res := s.browser().get("/account/applications"); !strings.HasPrefix(res.url, "/login") {
		t.Errorf("signed out: %s, want sign-in", res.url)
	}
}
