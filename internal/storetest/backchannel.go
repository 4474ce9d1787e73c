package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
)

// RunBackchannel is the conformance suite for back-channel logout's
// records (the oidc.BackchannelStore methods: which clients a session or
// a user has tokens for, and the deliveries of logout tokens) on engine e.
// Call it once per engine, typically through ForEachEngine.
func RunBackchannel(t *testing.T, e Engine) {
	t.Run("SessionClients", func(t *testing.T) { testBackchannelSessionClients(t, e) })
	t.Run("LiveGrants", func(t *testing.T) { testBackchannelLiveGrants(t, e) })
	t.Run("OrgSessionGrants", func(t *testing.T) { testBackchannelOrgSessionGrants(t, e) })
	t.Run("ClientSessionGrants", func(t *testing.T) { testBackchannelClientSessionGrants(t, e) })
	t.Run("Deliveries", func(t *testing.T) { testBackchannelDeliveries(t, e) })
}

// grantToken is a token of user for client in session sid.
func grantToken(id, client, user, sid string) oidc.Token {
	tk := oidcTokenFixture(id, oidc.KindAccess, "family-"+id, "")
	tk.ClientID, tk.UserID, tk.SessionID = client, user, sid
	return tk
}

func testBackchannelSessionClients(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{
		grantToken("t1", "webshop", "u1", "s1"),
		grantToken("t2", "webshop", "u1", "s1"), // a second token: the client is listed once
		grantToken("t3", "photos", "u1", "s1"),
		grantToken("t4", "other-session", "u1", "s2"),
		grantToken("t5", "other-user", "u2", "s1"),
		grantToken("t6", "no-session", "u1", ""),
	}), "SaveGrantTokens")
	for _, ar := range []struct {
		id, client, code string
	}{
		{"ar1", "forum", "code-1"}, // a code was issued: the client counts
		{"ar2", "pending", ""},     // still at consent: it does not
		{"ar3", "webshop", "code-3"},
	} {
		a := authRequestFixture(ar.id)
		a.ClientID, a.UserID, a.SessionID, a.SignedIn, a.CodeHash = ar.client, "u1", "s1", true, ar.code
		must(t, s.CreateAuthRequest(ctx, a), "CreateAuthRequest(%s)", ar.id)
	}

	tests := []struct {
		name, user, sid string
		want            []string
	}{
		{"tokens and codes of the session", "u1", "s1", []string{"forum", "photos", "webshop"}},
		{"another session", "u1", "s2", []string{"other-session"}},
		{"another user", "u2", "s1", []string{"other-user"}},
		{"no session", "u1", "", nil},
		{"unknown session", "u1", "s9", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SessionClients(ctx, tc.user, tc.sid)
			must(t, err, "SessionClients")
			if !slices.Equal(got, tc.want) {
				t.Errorf("SessionClients(%q, %q): got %v, want %v", tc.user, tc.sid, got, tc.want)
			}
		})
	}
}

func testBackchannelLiveGrants(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	at := oidcBase.Add(30 * time.Minute)
	revoked := grantToken("t3", "revoked", "u1", "s1")
	revoked.RevokedAt = oidcBase.Add(time.Minute)
	used := grantToken("t4", "rotated", "u1", "s1")
	used.Kind, used.Hash, used.UsedAt = oidc.KindRefresh, "rt-digest", oidcBase.Add(time.Minute)
	expired := grantToken("t5", "expired", "u1", "s1")
	expired.ExpiresAt = at // expired at the very moment asked about
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{
		grantToken("t1", "webshop", "u1", "s1"),
		grantToken("t2", "webshop", "u1", "s2"),
		grantToken("t2b", "webshop", "u1", "s2"),
		revoked, used, expired,
		grantToken("t6", "legacy", "u1", ""),
		grantToken("t7", "webshop", "u2", "s3"),
	}), "SaveGrantTokens")

	got, err := s.LiveGrants(ctx, "u1", at)
	must(t, err, "LiveGrants")
	want := []oidc.SessionGrant{{ClientID: "legacy"}, {ClientID: "webshop", SessionID: "s1"}, {ClientID: "webshop", SessionID: "s2"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("LiveGrants(u1) (-want +got):\n%s", d)
	}
	if got, err := s.LiveGrants(ctx, "u1", oidcBase.Add(2*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("LiveGrants(u1) after every token expired: got %v, %v, want none", got, err)
	}
	if got, err := s.LiveGrants(ctx, "nobody", at); err != nil || len(got) != 0 {
		t.Errorf("LiveGrants of a user with no tokens: got %v, %v, want none", got, err)
	}
}

func testBackchannelDeliveries(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	cause := newEvent(t, "session.ended", "user:u1", map[string]any{"session": "session:s1"})
	delivered := oidc.BackchannelDelivery{
		EventUUID: cause.UUID, ClientID: "webshop", SID: "s1", Delivered: true, Attempts: 1,
		CreatedAt: oidcBase.Add(time.Nanosecond),
	}
	failed := oidc.BackchannelDelivery{EventUUID: cause.UUID, ClientID: "photos", SID: "s1", Attempts: 3, CreatedAt: oidcBase}
	userWide := oidc.BackchannelDelivery{EventUUID: cause.UUID, ClientID: "webshop", Delivered: true, Attempts: 2, CreatedAt: oidcBase}
	record := func(d oidc.BackchannelDelivery, typ string) events.Event {
		t.Helper()
		ev := newEvent(t, typ, "user:u1", map[string]any{"client_id": d.ClientID})
		must(t, s.RecordBackchannelDelivery(ctx, d, ev), "RecordBackchannelDelivery(%s, %q)", d.ClientID, d.SID)
		return ev
	}
	record(delivered, "oidc.backchannel_logout_delivered")
	record(failed, "oidc.backchannel_logout_failed")
	record(userWide, "oidc.backchannel_logout_delivered")

	// Recording a delivery again (a replayed event) keeps the first
	// outcome and writes no second event.
	again := failed
	again.Delivered, again.Attempts = true, 1
	record(again, "oidc.backchannel_logout_delivered")

	// A delivery whose event is invalid is not recorded at all.
	bad := oidc.BackchannelDelivery{EventUUID: cause.UUID, ClientID: "forum", SID: "s1", Delivered: true, Attempts: 1, CreatedAt: oidcBase}
	invalid := newEvent(t, "oidc.backchannel_logout_delivered", "user:u1", nil)
	invalid.Subject = ""
	if err := s.RecordBackchannelDelivery(ctx, bad, invalid); err == nil {
		t.Error("RecordBackchannelDelivery with an invalid event: got no error")
	}

	got, err := s.BackchannelDeliveries(ctx, cause.UUID)
	must(t, err, "BackchannelDeliveries")
	want := []oidc.BackchannelDelivery{failed, userWide, delivered}
	for i := range want {
		want[i].CreatedAt = stored(want[i].CreatedAt)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("BackchannelDeliveries (-want +got):\n%s", d)
	}
	if got := eventTypesAbout(t, s, "user:u1"); !slices.Equal(got, []string{
		"oidc.backchannel_logout_delivered", "oidc.backchannel_logout_failed", "oidc.backchannel_logout_delivered",
	}) {
		t.Errorf("events: got %v, want one per recorded delivery", got)
	}
	if got, err := s.BackchannelDeliveries(ctx, "no-such-event"); err != nil || len(got) != 0 {
		t.Errorf("BackchannelDeliveries of another event: got %v, %v, want none", got, err)
	}
}

func testBackchannelOrgSessionGrants(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	at := oidcBase.Add(30 * time.Minute)
	inOrg := func(id, client, user, sid, org string) oidc.Token {
		tk := grantToken(id, client, user, sid)
		tk.OrgID = org
		return tk
	}
	revokedNow := inOrg("t2", "portal", "u1", "s2", "acme")
	revokedNow.RevokedAt = at // revoked by the removal itself: counts
	revokedBefore := inOrg("t3", "old", "u1", "s1", "acme")
	revokedBefore.RevokedAt = oidcBase.Add(time.Minute)
	usedBefore := inOrg("t4", "rotated", "u1", "s1", "acme")
	usedBefore.Kind, usedBefore.Hash, usedBefore.UsedAt = oidc.KindRefresh, "rt-org-digest", oidcBase.Add(time.Minute)
	expired := inOrg("t5", "expired", "u1", "s1", "acme")
	expired.ExpiresAt = at
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{
		inOrg("t1", "portal", "u1", "s1", "acme"),
		inOrg("t1b", "portal", "u1", "s1", "acme"),
		revokedNow, revokedBefore, usedBefore, expired,
		inOrg("t6", "portal", "u1", "", "acme"),     // no session: nothing to name
		inOrg("t7", "portal", "u1", "s3", "globex"), // another organization
		inOrg("t8", "portal", "u1", "s4", ""),       // outside any organization
		inOrg("t9", "portal", "u2", "s5", "acme"),   // another person
	}), "SaveGrantTokens")

	got, err := s.OrgSessionGrants(ctx, "u1", "acme", at)
	must(t, err, "OrgSessionGrants")
	want := []oidc.SessionGrant{{ClientID: "portal", SessionID: "s1"}, {ClientID: "portal", SessionID: "s2"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("OrgSessionGrants(u1, acme) (-want +got):\n%s", d)
	}
	if got, err := s.OrgSessionGrants(ctx, "u1", "", at); err != nil || len(got) != 0 {
		t.Errorf("OrgSessionGrants(u1, \"\"): got %v, %v, want none (no organization is not an organization)", got, err)
	}
	if got, err := s.OrgSessionGrants(ctx, "u1", "acme", oidcBase.Add(2*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("OrgSessionGrants after every token expired: got %v, %v, want none", got, err)
	}
}

func testBackchannelClientSessionGrants(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	at := oidcBase.Add(30 * time.Minute)
	revokedNow := grantToken("t2", "webshop", "u1", "s2")
	revokedNow.RevokedAt = at // by the revocation the event is about
	revokedBefore := grantToken("t3", "webshop", "u1", "s3")
	revokedBefore.RevokedAt = oidcBase.Add(time.Minute)
	expired := grantToken("t4", "webshop", "u1", "s4")
	expired.ExpiresAt = at
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{
		grantToken("t1", "webshop", "u1", "s1"),
		revokedNow, revokedBefore, expired,
		grantToken("t5", "webshop", "u1", ""),
		grantToken("t6", "photos", "u1", "s1"),
		grantToken("t7", "webshop", "u2", "s9"),
	}), "SaveGrantTokens")
	got, err := s.ClientSessionGrants(ctx, "u1", "webshop", at)
	must(t, err, "ClientSessionGrants")
	want := []oidc.SessionGrant{{ClientID: "webshop"}, {ClientID: "webshop", SessionID: "s1"}, {ClientID: "webshop", SessionID: "s2"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ClientSessionGrants(u1, webshop) (-want +got):\n%s", d)
	}
	if got, err := s.ClientSessionGrants(ctx, "u1", "nothing", at); err != nil || len(got) != 0 {
		t.Errorf("ClientSessionGrants of a client with no tokens: %v, %v", got, err)
	}
}
