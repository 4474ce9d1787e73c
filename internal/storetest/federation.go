package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/federation"
)

// RunFederation is the conformance suite for upstream identity providers
// and linked identities (federation.Store) on engine e.
func RunFederation(t *testing.T, e Engine) {
	t.Run("Providers", func(t *testing.T) { testProviders(t, e) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, e) })
}

func testProvider(id string) federation.Provider {
	return federation.Provider{ID: id, Name: "Provider " + id, Issuer: "https://" + id + ".example", ClientID: "client-" + id,
		Secret: []byte{1, 2, 3}, Scopes: []string{"openid", "email"}, TrustEmail: true, CreatedAt: base, UpdatedAt: base}
}

func testProviders(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	gh := testProvider("gh")
	gh.Kind, gh.AuthURL, gh.TokenURL, gh.UserinfoURL = federation.KindOAuth2, "https://gh.example/authorize", "https://gh.example/token", "https://api.gh.example/user"
	gh.ClaimMap = map[string]string{"sub": "id", "given_name": "name"}
	must(t, s.CreateProvider(ctx, gh), "CreateProvider(oauth2)")
	back, err := s.ProviderByID(ctx, "gh")
	must(t, err, "ProviderByID(oauth2)")
	if back.Kind != federation.KindOAuth2 || back.UserinfoURL != gh.UserinfoURL || back.ClaimMap["sub"] != "id" {
		t.Errorf("an OAuth 2 provider read back as %+v", back)
	}
	must(t, s.DeleteProvider(ctx, "gh"), "DeleteProvider(oauth2)")

	// PutProvider creates, then replaces in place: options and all, the
	// creation time and the linked identities kept.
	ms := testProvider("ms")
	ms.Options = federation.Options{Brand: "microsoft", ResponseMode: "form_post", TenantIssuer: "https://login.example/{tenantid}/v2.0",
		Tenants: []string{"t1", "t2"}, AppleTeamID: "TEAM", AppleKeyID: "KEY", EmailsURL: "https://api.example/emails", RequiredFields: []string{"phone"}}
	must(t, s.PutProvider(ctx, ms), "PutProvider(new)")
	u := newUser(t, "put-provider@example.com", "")
	must(t, s.CreateUserWithIdentity(ctx, u, federation.Identity{ProviderID: "ms", Subject: "s1", UserID: u.ID, CreatedAt: base, LastUsedAt: base}), "CreateUserWithIdentity")
	back, err = s.ProviderByID(ctx, "ms")
	must(t, err, "ProviderByID(options)")
	if back.Brand != "microsoft" || back.ResponseMode != "form_post" || back.TenantIssuer != ms.TenantIssuer || len(back.Tenants) != 2 ||
		back.AppleKeyID != "KEY" || back.EmailsURL != ms.EmailsURL || len(back.RequiredFields) != 1 {
		t.Errorf("options read back as %+v", back.Options)
	}
	ms.Name, ms.Options, ms.CreatedAt, ms.UpdatedAt = "Renamed", federation.Options{Brand: "apple"}, base.Add(time.Hour), base.Add(time.Hour)
	must(t, s.PutProvider(ctx, ms), "PutProvider(replace)")
	back, err = s.ProviderByID(ctx, "ms")
	must(t, err, "ProviderByID(replaced)")
	if back.Name != "Renamed" || back.Brand != "apple" || back.TenantIssuer != "" || !back.CreatedAt.Equal(stored(base)) || !back.UpdatedAt.Equal(stored(base.Add(time.Hour))) {
		t.Errorf("a replaced provider read back as %+v", back)
	}
	if ids, err := s.Identities(ctx, u.ID); err != nil || len(ids) != 1 {
		t.Errorf("identities after PutProvider = %v, %v; want the one kept", ids, err)
	}
	must(t, s.DeleteProvider(ctx, "ms"), "DeleteProvider(ms)")
	must(t, s.CreateProvider(ctx, testProvider("b"), newEvent(t, "idp.created", "idp:b", nil)), "CreateProvider")
	must(t, s.CreateProvider(ctx, testProvider("a")), "CreateProvider")
	if err := s.CreateProvider(ctx, testProvider("a")); !errors.Is(err, federation.ErrConflict) {
		t.Errorf("the same ID twice = %v, want ErrConflict", err)
	}
	got, err := s.ProviderByID(ctx, "b")
	must(t, err, "ProviderByID")
	if got.Issuer != "https://b.example" || string(got.Secret) != "\x01\x02\x03" || len(got.Scopes) != 2 || !got.TrustEmail || !got.CreatedAt.Equal(stored(base)) {
		t.Errorf("ProviderByID = %+v", got)
	}
	list, err := s.ListProviders(ctx)
	must(t, err, "ListProviders")
	if len(list) != 2 || list[0].ID != "a" {
		t.Errorf("ListProviders = %+v, want a then b", list)
	}
	must(t, s.DeleteProvider(ctx, "a"), "DeleteProvider")
	if _, err := s.ProviderByID(ctx, "a"); !errors.Is(err, federation.ErrNotFound) {
		t.Errorf("a deleted provider = %v", err)
	}
	if err := s.DeleteProvider(ctx, "a"); !errors.Is(err, federation.ErrNotFound) {
		t.Errorf("deleting it again = %v", err)
	}
}

func testIdentities(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	must(t, s.CreateProvider(ctx, testProvider("p")), "CreateProvider")
	must(t, s.CreateProvider(ctx, testProvider("q")), "CreateProvider")
	// A user made from an upstream account, without a password.
	u := newUser(t, "jit@example.com", "")
	u.PasswordHash = ""
	id := federation.Identity{ProviderID: "p", Subject: "sub-1", UserID: u.ID, Email: u.Email, CreatedAt: base, LastUsedAt: base}
	must(t, s.CreateUserWithIdentity(ctx, u, id, newEvent(t, "user.registered", "user:"+u.ID, nil)), "CreateUserWithIdentity")
	got, err := s.IdentityBySubject(ctx, "p", "sub-1")
	must(t, err, "IdentityBySubject")
	if got.UserID != u.ID || got.Email != "jit@example.com" {
		t.Errorf("IdentityBySubject = %+v", got)
	}
	if err := s.CreateUserWithIdentity(ctx, newUser(t, "other@example.com", ""), id); !errors.Is(err, accounts.ErrConflict) {
		t.Errorf("the same upstream account for a second user = %v, want a conflict", err)
	}
	if _, err := s.UserByEmail(ctx, "other@example.com"); !errors.Is(err, accounts.ErrNotFound) {
		t.Error("the user of a refused registration was kept")
	}
	// The only way in cannot go; with a second identity it can.
	if err := s.UnlinkIdentity(ctx, u.ID, "p", "sub-1"); !errors.Is(err, federation.ErrLastMethod) {
		t.Errorf("unlinking the last way in = %v, want ErrLastMethod", err)
	}
	if _, err := s.IdentityBySubject(ctx, "p", "sub-1"); err != nil {
		t.Errorf("the refused unlink removed the identity: %v", err)
	}
	must(t, s.LinkIdentity(ctx, federation.Identity{ProviderID: "q", Subject: "sub-9", UserID: u.ID, CreatedAt: base, LastUsedAt: base}), "LinkIdentity")
	if err := s.LinkIdentity(ctx, federation.Identity{ProviderID: "q", Subject: "sub-9", UserID: u.ID, CreatedAt: base, LastUsedAt: base}); !errors.Is(err, federation.ErrConflict) {
		t.Errorf("linking the same upstream account twice = %v", err)
	}
	must(t, s.UnlinkIdentity(ctx, u.ID, "p", "sub-1", newEvent(t, "identity.unlinked", "user:"+u.ID, nil)), "UnlinkIdentity")
	ids, err := s.Identities(ctx, u.ID)
	must(t, err, "Identities")
	if len(ids) != 1 || ids[0].ProviderID != "q" {
		t.Errorf("Identities = %+v, want only q", ids)
	}
	if err := s.UnlinkIdentity(ctx, "someone-else", "q", "sub-9"); !errors.Is(err, federation.ErrNotFound) {
		t.Errorf("another user unlinking = %v, want ErrNotFound", err)
	}
	// Deleting the provider unlinks its accounts; deleting the user too.
	must(t, s.DeleteProvider(ctx, "q"), "DeleteProvider")
	if ids, _ := s.Identities(ctx, u.ID); len(ids) != 0 {
		t.Errorf("identities of a deleted provider: %+v", ids)
	}
}
