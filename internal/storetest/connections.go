package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/store"
)

// RunConnections is the conformance suite for connected applications (the
// oidc.ConnectionStore methods: what a person let each client have, and
// taking it back) on engine e. Call it once per engine, typically through
// ForEachEngine.
func RunConnections(t *testing.T, e Engine) {
	t.Run("UserGrants", func(t *testing.T) { testUserGrants(t, e) })
	t.Run("RevokeUserGrant", func(t *testing.T) { testRevokeUserGrant(t, e) })
}

// connectionsFixture is u1 with a consent and tokens for a third-party
// client, tokens for a first-party one, and clients that hold nothing
// live; and u2 with tokens for the third-party client.
type connectionsFixture struct {
	s   *store.Store
	now time.Time
	// The third-party client's tokens of u1 and u2, and u1's pending
	// authorization request for it.
	thirdRefresh, thirdAccess, othersRefresh oidc.Token
	firstRefresh                             oidc.Token
	pending                                  oidc.AuthRequest
}

func newConnectionsFixture(t *testing.T, e Engine) *connectionsFixture {
	t.Helper()
	ctx := t.Context()
	f := &connectionsFixture{s: Open(t, e), now: oidcBase.Add(30 * time.Minute)}
	token := func(id string, kind oidc.TokenKind, client, user, family string, created time.Time) oidc.Token {
		tk := oidcTokenFixture(id, kind, family, "")
		if kind == oidc.KindRefresh {
			tk.Hash = "digest-" + id
		}
		tk.ClientID, tk.UserID, tk.CreatedAt, tk.ExpiresAt = client, user, created, created.Add(24*time.Hour)
		return tk
	}
	// The first-party client: a grant begun two hours ago, its first
	// refresh token rotated, its second live.
	rotated := token("fp-r1", oidc.KindRefresh, "first-party", "u1", "fam-fp", oidcBase.Add(-2*time.Hour))
	rotated.UsedAt = oidcBase.Add(-time.Hour)
	f.firstRefresh = token("fp-r2", oidc.KindRefresh, "first-party", "u1", "fam-fp", oidcBase.Add(-time.Hour))
	fpAccess := token("fp-a2", oidc.KindAccess, "first-party", "u1", "fam-fp", oidcBase.Add(5*time.Minute))
	// The third-party client: consent remembered, a live refresh token.
	f.thirdRefresh = token("tp-r1", oidc.KindRefresh, "third-party", "u1", "fam-tp", oidcBase)
	f.thirdRefresh.Scopes = []string{"openid", "email", "offline_access"}
	f.thirdAccess = token("tp-a1", oidc.KindAccess, "third-party", "u1", "fam-tp", oidcBase)
	f.othersRefresh = token("tp-r2", oidc.KindRefresh, "third-party", "u2", "fam-tp2", oidcBase)
	// Clients that hold nothing live: an expired, a revoked refresh token,
	// an access token alone.
	expired := token("ex-r1", oidc.KindRefresh, "expired", "u1", "fam-ex", oidcBase.Add(-48*time.Hour))
	revoked := token("rv-r1", oidc.KindRefresh, "revoked", "u1", "fam-rv", oidcBase)
	revoked.RevokedAt = oidcBase.Add(time.Minute)
	accessOnly := token("ao-a1", oidc.KindAccess, "access-only", "u1", "fam-ao", oidcBase)
	must(t, f.s.SaveGrantTokens(ctx, []oidc.Token{rotated, f.firstRefresh, fpAccess, f.thirdRefresh, f.thirdAccess, f.othersRefresh, expired, revoked, accessOnly}), "SaveGrantTokens")
	must(t, f.s.SaveConsent(ctx, oidc.Consent{UserID: "u1", ClientID: "third-party", Scopes: []string{"openid", "profile"},
		CreatedAt: oidcBase.Add(-3 * time.Hour), UpdatedAt: oidcBase}), "SaveConsent")
	must(t, f.s.SaveConsent(ctx, oidc.Consent{UserID: "u2", ClientID: "consent-only", Scopes: []string{"openid"},
		CreatedAt: oidcBase, UpdatedAt: oidcBase}), "SaveConsent")
	f.pending = authRequestFixture("ar-pending")
	f.pending.ClientID, f.pending.UserID, f.pending.SignedIn, f.pending.CodeHash = "third-party", "u1", true, "code-digest"
	f.pending.ExpiresAt = f.now.Add(time.Minute)
	must(t, f.s.CreateAuthRequest(ctx, f.pending), "CreateAuthRequest")
	return f
}

func testUserGrants(t *testing.T, e Engine) {
	ctx := t.Context()
	f := newConnectionsFixture(t, e)
	got, err := f.s.UserGrants(ctx, "u1", f.now)
	must(t, err, "UserGrants")
	want := []oidc.UserGrant{
		{ClientID: "first-party", TokenScopes: []string{"openid", "offline_access"},
			FirstGrantAt: stored(oidcBase.Add(-2 * time.Hour)), LastTokenAt: stored(oidcBase.Add(5 * time.Minute))},
		{ClientID: "third-party", Consent: &oidc.Consent{UserID: "u1", ClientID: "third-party", Scopes: []string{"openid", "profile"},
			CreatedAt: stored(oidcBase.Add(-3 * time.Hour)), UpdatedAt: stored(oidcBase)},
			TokenScopes: []string{"openid", "email", "offline_access"}, FirstGrantAt: stored(oidcBase), LastTokenAt: stored(oidcBase)},
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("UserGrants(u1) (-want +got):\n%s", d)
	}
	got, err = f.s.UserGrants(ctx, "u2", f.now)
	must(t, err, "UserGrants")
	if len(got) != 2 || got[0].ClientID != "consent-only" || got[0].Consent == nil || !got[0].LastTokenAt.IsZero() || got[1].ClientID != "third-party" {
		t.Errorf("UserGrants(u2): %+v, want the consent-only client and the third-party one", got)
	}
	if got, err := f.s.UserGrants(ctx, "u1", oidcBase.Add(48*time.Hour)); err != nil || len(got) != 1 || got[0].ClientID != "third-party" || len(got[0].TokenScopes) != 0 {
		t.Errorf("UserGrants(u1) once every token expired: %+v, %v, want the consent alone", got, err)
	}
	if got, err := f.s.UserGrants(ctx, "nobody", f.now); err != nil || len(got) != 0 {
		t.Errorf("UserGrants of a user with nothing: %v, %v", got, err)
	}
}

func testRevokeUserGrant(t *testing.T, e Engine) {
	ctx := t.Context()
	f := newConnectionsFixture(t, e)
	ev := newEvent(t, "oidc.grant_revoked", "user:u1", map[string]any{"client_id": "third-party"})
	ok, err := f.s.RevokeUserGrant(ctx, "u1", "third-party", f.now, ev)
	must(t, err, "RevokeUserGrant")
	if !ok {
		t.Fatal("RevokeUserGrant: reported nothing taken back")
	}
	if _, err := f.s.ConsentFor(ctx, "u1", "third-party"); !isOIDCNotFound(err) {
		t.Errorf("the consent after revocation: %v, want not found", err)
	}
	for _, tk := range []oidc.Token{f.thirdRefresh, f.thirdAccess} {
		got, denied, err := f.s.GrantTokenDenied(ctx, tk.ID)
		must(t, err, "GrantTokenDenied")
		if !got.RevokedAt.Equal(stored(f.now)) {
			t.Errorf("token %s: revoked at %v, want %v", tk.ID, got.RevokedAt, stored(f.now))
		}
		if tk.Kind == oidc.KindAccess && !denied {
			t.Errorf("access token %s is not denied", tk.ID)
		}
	}
	for _, tk := range []oidc.Token{f.firstRefresh, f.othersRefresh} {
		got, err := f.s.GrantTokenByID(ctx, tk.ID)
		must(t, err, "GrantTokenByID")
		if !got.RevokedAt.IsZero() {
			t.Errorf("token %s of %s/%s was revoked too", tk.ID, tk.UserID, tk.ClientID)
		}
	}
	ar, err := f.s.AuthRequestByID(ctx, f.pending.ID)
	must(t, err, "AuthRequestByID")
	if ar.ExpiresAt.After(stored(f.now)) {
		t.Errorf("the pending code expires at %v, want no later than the revocation at %v", ar.ExpiresAt, stored(f.now))
	}
	if got := eventTypesAbout(t, f.s, "user:u1"); len(got) != 1 || got[0] != "oidc.grant_revoked" {
		t.Errorf("events about u1: %v, want the revocation's", got)
	}
	if got, err := f.s.UserGrants(ctx, "u1", f.now); err != nil || len(got) != 1 || got[0].ClientID != "first-party" {
		t.Errorf("UserGrants after revocation: %+v, %v, want the first-party client alone", got, err)
	}

	// The second time there is nothing to take back, and nothing is written.
	for _, client := range []string{"third-party", "never-connected"} {
		again := newEvent(t, "oidc.grant_revoked", "user:u1", map[string]any{"client_id": client})
		ok, err := f.s.RevokeUserGrant(ctx, "u1", client, f.now.Add(time.Second), again)
		must(t, err, "RevokeUserGrant")
		if ok {
			t.Errorf("RevokeUserGrant(%s) with nothing to take back reported true", client)
		}
	}
	if got := eventTypesAbout(t, f.s, "user:u1"); len(got) != 1 {
		t.Errorf("events about u1 after revocations of nothing: %v, want only the first", got)
	}
}
