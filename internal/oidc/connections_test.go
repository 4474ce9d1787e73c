package oidc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/storetest"
)

// TestConnectedApps: the applications a person let in, with what each may
// do (the consent's scopes, then the tokens'), since the earlier of the
// consent and the oldest grant, named as registered; revoking one takes
// back its tokens and consent, and back-channel logout ends its sessions.
func TestConnectedApps(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		rp := newLogoutRP(t, nil)
		f := newBCLFixture(t, e,
			oidc.Client{ID: "budget", Name: "Budget Planner", BackchannelLogoutURI: rp.URL},
			oidc.Client{ID: "atlas", Name: "atlas maps"},
		)
		conns := &oidc.Connections{Store: f.store, Clients: f.clients, Now: func() time.Time { return f.now }}
		refresh := func(id, client, user, sid string, created time.Time, scopes ...string) {
			t.Helper()
			if err := f.store.SaveGrantTokens(ctx, []oidc.Token{{ID: id, Kind: oidc.KindRefresh, FamilyID: "family-" + id, Hash: "digest-" + id,
				ClientID: client, UserID: user, SessionID: sid, Scopes: scopes, CreatedAt: created, ExpiresAt: f.now.Add(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
		}
		refresh("r1", "budget", "u1", "s1", f.now.Add(-time.Hour), "openid", "offline_access")
		f.grant(t, "a1", "budget", "u1", "s1")
		refresh("r2", "atlas", "u1", "", f.now.Add(-2*time.Hour), "openid")
		refresh("r3", "deleted-client", "u1", "s1", f.now.Add(-time.Hour), "openid")
		refresh("r4", "budget", "u2", "s2", f.now.Add(-time.Hour), "openid")
		if err := f.store.SaveConsent(ctx, oidc.Consent{UserID: "u1", ClientID: "budget", Scopes: []string{"openid", "email", "offline_access"},
			CreatedAt: f.now.Add(-24 * time.Hour), UpdatedAt: f.now}); err != nil {
			t.Fatal(err)
		}

		apps, err := conns.ConnectedApps(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != 2 {
			t.Fatalf("ConnectedApps: %+v, want atlas and budget (the deleted client left out)", apps)
		}
		atlas, budget := apps[0], apps[1]
		if atlas.Name != "atlas maps" || budget.Name != "Budget Planner" {
			t.Errorf("order and names: %q, %q, want by name", atlas.Name, budget.Name)
		}
		if !slices.Equal(budget.Scopes, []string{"openid", "email", "offline_access"}) || !budget.Since.Equal(f.now.Add(-24*time.Hour)) || !budget.LastUsed.Equal(f.now.Add(-time.Minute)) {
			t.Errorf("budget: %+v", budget)
		}
		if !slices.Equal(atlas.Scopes, []string{"openid"}) || !atlas.Since.Equal(f.now.Add(-2*time.Hour)) {
			t.Errorf("atlas (a refresh token, no consent): %+v", atlas)
		}

		if err := conns.RevokeApp(ctx, "u1", "budget"); err != nil {
			t.Fatalf("RevokeApp: %v", err)
		}
		if apps, _ := conns.ConnectedApps(ctx, "u1"); len(apps) != 1 || apps[0].ClientID != "atlas" {
			t.Errorf("after revoking budget: %+v", apps)
		}
		if apps, _ := conns.ConnectedApps(ctx, "u2"); len(apps) != 1 || apps[0].ClientID != "budget" {
			t.Errorf("another person's grant to budget: %+v, want it kept", apps)
		}
		evs, err := f.store.EventsFor(ctx, "user:u1", 1)
		if err != nil || len(evs) != 1 || evs[0].Type != "oidc.grant_revoked" {
			t.Fatalf("newest event: %v, %v", evs, err)
		}
		// Nothing left to take back: no second event.
		if err := conns.RevokeApp(ctx, "u1", "budget"); err != nil {
			t.Fatal(err)
		}
		if again, _ := f.store.EventsFor(ctx, "user:u1", 1); again[0].UUID != evs[0].UUID {
			t.Error("revoking nothing wrote an event")
		}

		// Back-channel logout tells budget, for the session its tokens were in.
		if err := f.b.Handle(ctx, evs[0]); err != nil {
			t.Fatalf("Handle: %v", err)
		}
		got := rp.received()
		if len(got) != 1 {
			t.Fatalf("budget received %d logout tokens, want 1", len(got))
		}
		checkLogoutClaims(t, verifyLogoutToken(t, got[0].token, publicJWKS(t, f.keys)), bclIssuer, "budget", "u1", "", f.now)
	})
}
