package oidc_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// orgFixture makes two organizations, the web app's roles, and Ada a buyer
// in Acme.
func orgFixture(t *testing.T, s *stack) (acme, beta orgs.Organization, ada string) {
	t.Helper()
	ctx := context.Background()
	var err error
	if acme, err = s.orgs.CreateOrganization(ctx, orgs.Organization{Name: "Acme Oy", Slug: "acme", ExternalID: "crm-1"}, "system:test"); err != nil {
		t.Fatal(err)
	}
	if beta, err = s.orgs.CreateOrganization(ctx, orgs.Organization{Name: "Beta AB", Slug: "beta"}, "system:test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []orgs.Role{
		{App: clientID, Name: "buyer", Permissions: []string{"orders:read", "orders:create"}},
		{App: clientID, Name: "viewer", Permissions: []string{"orders:read"}},
		{App: "other-app", Name: "admin", Permissions: []string{"everything"}},
	} {
		if _, err := s.orgs.CreateRole(ctx, r, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.accounts.Find(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.orgs.AddMember(ctx, acme.ID, u.ID, []orgs.Grant{{App: clientID, Role: "buyer"}, {App: "other-app", Role: "admin"}}, "system:test"); err != nil {
		t.Fatal(err)
	}
	return acme, beta, u.ID
}

// TestOrganizationInTokens: the organization a person signs in for, with
// their roles in the client's application and the permissions those
// grant, in the ID token, the JWT access token, userinfo and
// introspection; a leaver's refresh is refused.
func TestOrganizationInTokens(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStack(t, e)
		ctx := context.Background()
		acme, beta, ada := orgFixture(t, s)

		// Her only organization: no need to name it.
		tok := flowFor(t, s, clientID, nil, "offline_access")
		_, id := jwtParts(t, tok.Extra("id_token").(string))
		_, at := jwtParts(t, tok.AccessToken)
		for name, claims := range map[string]map[string]any{"ID token": id, "access token": at, "userinfo": userinfoClaims(t, s, tok, "get")} {
			if claims["org_id"] != acme.ID || !sameList(claims["roles"], "buyer") || !sameList(claims["permissions"], "orders:create", "orders:read") {
				t.Errorf("%s: org_id %v, roles %v, permissions %v; want Acme, buyer, orders:create+read (not the other app's admin)",
					name, claims["org_id"], claims["roles"], claims["permissions"])
			}
		}
		if id["org_name"] != "Acme Oy" {
			t.Errorf("ID token org_name = %v", id["org_name"])
		}
		if in := s.introspect(tok.AccessToken); in["org_id"] != acme.ID || !sameList(in["roles"], "buyer") {
			t.Errorf("introspection = %v", in)
		}

		// A role taken away shows at the next refresh.
		if _, err := s.orgs.AddMember(ctx, acme.ID, ada, []orgs.Grant{{App: clientID, Role: "viewer"}}, "system:test"); err != nil {
			t.Fatal(err)
		}
		conf := s.clientConfig(ctx, clientID, clientSecret, "/callback", "openid", "offline_access")
		fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if _, p := jwtParts(t, fresh.AccessToken); !sameList(p["roles"], "viewer") || !sameList(p["permissions"], "orders:read") {
			t.Errorf("after the role change: roles %v, permissions %v; want viewer, orders:read", p["roles"], p["permissions"])
		}

		// Named by slug or external ID: only one she belongs to.
		if _, err := s.orgs.AddMember(ctx, beta.ID, ada, nil, "system:test"); err != nil {
			t.Fatal(err)
		}
		for ref, want := range map[string]string{"beta": beta.ID, "ext:crm-1": acme.ID, acme.ID: acme.ID} {
			tk := flowFor(t, s, clientID, url.Values{"organization": {ref}})
			if _, p := jwtParts(t, tk.Extra("id_token").(string)); p["org_id"] != want {
				t.Errorf("organization=%s: org_id %v, want %s", ref, p["org_id"], want)
			}
		}
		stranger, err := s.orgs.CreateOrganization(ctx, orgs.Organization{Name: "Gamma", Slug: "gamma"}, "system:test")
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"gamma", stranger.ID, "no-such-org"} {
			cb := s.browser().authorize(authURL(t, s, url.Values{"organization": {ref}}), true)
			if cb.Query().Get("error") != "access_denied" || cb.Query().Get("code") != "" {
				t.Errorf("organization=%s (not hers): %v, want error=access_denied", ref, cb)
			}
		}

		// Leaving: the old refresh token is refused, introspection says
		// inactive.
		if err := s.orgs.RemoveMember(ctx, acme.ID, ada, "system:test"); err != nil {
			t.Fatal(err)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("a leaver's refresh = %v, want invalid_grant", err)
		}
		if in := s.introspect(fresh.AccessToken); in["active"] != false {
			t.Errorf("a leaver's access token introspects as %v", in)
		}
	})
}

// TestOrganizationChooser: a person in several organizations picks one on
// a page; a pick that is not one of hers is asked again.
func TestOrganizationChooser(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	ctx := context.Background()
	_, beta, ada := orgFixture(t, s)
	if _, err := s.orgs.AddMember(ctx, beta.ID, ada, []orgs.Grant{{App: clientID, Role: "viewer"}}, "system:test"); err != nil {
		t.Fatal(err)
	}
	conf := s.clientConfig(ctx, clientID, clientSecret, "/callback", "openid")
	v := oauth2.GenerateVerifier()
	b := s.browser()
	page := b.signIn(b.open(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("ui_locales", "en"))))
	if page.url.Path != "/authorize/organization" || !strings.Contains(page.body, "Choose an organization") ||
		!strings.Contains(page.body, "Acme Oy") || !strings.Contains(page.body, "Beta AB") {
		t.Fatalf("after sign-in: %d at %s, want the organization page\n%s", page.status, page.url, page.body)
	}
	if again := b.submit(page, url.Values{"organization": {"not-hers"}}); again.url.Path != "/authorize/organization" {
		t.Errorf("a pick that is not hers: at %s, want the page again", again.url)
	}
	cb := b.submit(page, url.Values{"organization": {beta.ID}})
	if cb.to == nil || cb.to.Query().Get("code") == "" {
		t.Fatalf("after picking: %d %v", cb.status, cb.to)
	}
	tok, err := conf.Exchange(ctx, cb.to.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, p := jwtParts(t, tok.Extra("id_token").(string)); p["org_id"] != beta.ID || !sameList(p["roles"], "viewer") {
		t.Errorf("picked Beta: org_id %v roles %v", p["org_id"], p["roles"])
	}
	// prompt=none cannot show the page.
	cbNone := b.open(conf.AuthCodeURL("st2", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")))
	if cbNone.to == nil || cbNone.to.Query().Get("error") != "interaction_required" {
		t.Errorf("prompt=none with several organizations: %d %v, want interaction_required", cbNone.status, cbNone.to)
	}
}

// authURL is an authorization request of the web app with extra params.
func authURL(t *testing.T, s *stack, params url.Values) string {
	t.Helper()
	conf := s.clientConfig(context.Background(), clientID, clientSecret, "/callback", "openid")
	u, _ := url.Parse(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// sameList reports whether a JSON array claim holds exactly want.
func sameList(claim any, want ...string) bool {
	list, _ := claim.([]any)
	var got []string
	for _, v := range list {
		s, _ := v.(string)
		got = append(got, s)
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// TestClientOrganizationModes: a consumer application (organizations off)
// never asks for an organization and its tokens carry none, whatever the
// request names; an application that requires one refuses a person in
// none.
func TestClientOrganizationModes(t *testing.T) {
	s := newStack(t, storetest.SQLite(), func(c *oidc.Config) {
		clients := c.Clients.(testClients)
		for id, mode := range map[string]string{"b2c": "off", "b2b": "required"} {
			e := clients[clientID]
			e.c.ID, e.c.App, e.c.Organizations = id, clientID, mode
			clients[id] = e
		}
	})
	ctx := context.Background()
	acme, beta, ada := orgFixture(t, s)
	if err := s.orgs.SetUserRoles(ctx, ada, []orgs.Grant{{App: clientID, Role: "viewer"}}, "system:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.orgs.AddMember(ctx, beta.ID, ada, nil, "system:test"); err != nil {
		t.Fatal(err)
	}

	// In two organizations, yet no chooser for the consumer application:
	// her own roles, no organization, also when the request names one.
	for _, params := range []url.Values{nil, {"organization": {"acme"}}} {
		tok := flowFor(t, s, "b2c", params)
		_, id := jwtParts(t, tok.Extra("id_token").(string))
		if _, ok := id["org_id"]; ok || !sameList(id["roles"], "viewer") {
			t.Errorf("consumer application (%v): org_id %v, roles %v; want no organization, her own viewer role", params, id["org_id"], id["roles"])
		}
	}

	// The business application, for Acme; once she is in no organization,
	// refused.
	tok := flowFor(t, s, "b2b", url.Values{"organization": {"acme"}})
	if _, id := jwtParts(t, tok.Extra("id_token").(string)); id["org_id"] != acme.ID {
		t.Errorf("business application: org_id %v, want Acme", id["org_id"])
	}
	for _, o := range []string{acme.ID, beta.ID} {
		if err := s.orgs.RemoveMember(ctx, o, ada, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	conf := s.clientConfig(ctx, "b2b", clientSecret, "/callback", "openid")
	cb := s.browser().authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), true)
	if cb.Query().Get("error") != "access_denied" || cb.Query().Get("code") != "" {
		t.Errorf("business application, no organization: %v, want error=access_denied", cb)
	}
	// The default (optional) lets her in on her own.
	if _, id := jwtParts(t, flowFor(t, s, clientID, nil).Extra("id_token").(string)); id["org_id"] != nil {
		t.Errorf("default mode, no organization: org_id %v", id["org_id"])
	}
}
