package storetest

import (
	"bytes"
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
	t.Run("Proofing", func(t *testing.T) { testProofing(t, e) })
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
	must(t, s.CreateUserWithIdentity(ctx, u, federation.Identity{ProviderID: "ms", Subject: "s1", UserID: u.ID, CreatedAt: base, LastUsedAt: base}, nil), "CreateUserWithIdentity")
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
	must(t, s.CreateUserWithIdentity(ctx, u, id, nil, newEvent(t, "user.registered", "user:"+u.ID, nil)), "CreateUserWithIdentity")
	got, err := s.IdentityBySubject(ctx, "p", "sub-1")
	must(t, err, "IdentityBySubject")
	if got.UserID != u.ID || got.Email != "jit@example.com" {
		t.Errorf("IdentityBySubject = %+v", got)
	}
	if err := s.CreateUserWithIdentity(ctx, newUser(t, "other@example.com", ""), id, nil); !errors.Is(err, accounts.ErrConflict) {
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

func testProofing(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := newUser(t, "proofed@example.com", "")
	must(t, s.CreateUser(ctx, u, userEvent(t, u)), "CreateUser")
	other := newUser(t, "other@example.com", "")
	must(t, s.CreateUser(ctx, other, userEvent(t, other)), "CreateUser")

	if got, err := s.VerifiedAttributes(ctx, u.ID); err != nil || len(got) != 0 {
		t.Fatalf("VerifiedAttributes of a person never proofed = %v, %v; want none", got, err)
	}
	// The values are stored as given (sealed by the caller): bytes that
	// are not text, a zero byte among them, come back unchanged.
	attrs := []federation.VerifiedAttribute{
		{Name: "national_id", Value: []byte{0, 1, 0xfe, 0xff}, Source: "eid:bankid", VerifiedAt: base},
		{Name: "legal_name", Value: []byte("sealed name"), Source: "eid:bankid", VerifiedAt: base},
		{Name: "birthdate", Value: []byte("sealed date"), Source: "eid:bankid", VerifiedAt: base},
	}
	must(t, s.SaveProofing(ctx, u.ID, attrs, "digest-1", newEvent(t, "identity.proofed", "user:"+u.ID, nil)), "SaveProofing")
	got, err := s.VerifiedAttributes(ctx, u.ID)
	must(t, err, "VerifiedAttributes")
	if len(got) != 3 || got[0].Name != "birthdate" || got[1].Name != "legal_name" || got[2].Name != "national_id" {
		t.Fatalf("VerifiedAttributes = %+v, want birthdate, legal_name, national_id in that order", got)
	}
	if !bytes.Equal(got[2].Value, attrs[0].Value) || got[2].Source != "eid:bankid" || !got[2].VerifiedAt.Equal(stored(base)) {
		t.Errorf("national_id read back as %+v, want %+v", got[2], attrs[0])
	}
	if owner, err := s.UserByNationalID(ctx, "digest-1"); err != nil || owner != u.ID {
		t.Errorf("UserByNationalID = %q, %v; want %s", owner, err, u.ID)
	}
	if got, _ := s.VerifiedAttributes(ctx, other.ID); len(got) != 0 {
		t.Errorf("another user's verified attributes = %+v, want none", got)
	}

	// A second proofing replaces what it vouches for anew and keeps the
	// rest.
	later := base.Add(time.Hour)
	must(t, s.SaveProofing(ctx, u.ID, []federation.VerifiedAttribute{
		{Name: "legal_name", Value: []byte("new name"), Source: "eid:freja", VerifiedAt: later},
	}, "digest-1"), "SaveProofing(again)")
	got, err = s.VerifiedAttributes(ctx, u.ID)
	must(t, err, "VerifiedAttributes(again)")
	if len(got) != 3 || string(got[1].Value) != "new name" || got[1].Source != "eid:freja" || !got[1].VerifiedAt.Equal(stored(later)) ||
		string(got[0].Value) != "sealed date" || got[0].Source != "eid:bankid" {
		t.Errorf("after a second proofing: %+v", got)
	}

	// Another person's number is refused, and nothing of it is kept.
	if err := s.SaveProofing(ctx, other.ID, []federation.VerifiedAttribute{
		{Name: "national_id", Value: []byte("x"), Source: "eid:bankid", VerifiedAt: base},
	}, "digest-1"); !errors.Is(err, federation.ErrConflict) {
		t.Errorf("SaveProofing with another user's number = %v, want ErrConflict", err)
	}
	if got, _ := s.VerifiedAttributes(ctx, other.ID); len(got) != 0 {
		t.Errorf("a refused proofing kept %+v", got)
	}

	// They go with the user.
	eraseUser(t, s, u.ID)
	if got, err := s.VerifiedAttributes(ctx, u.ID); err != nil || len(got) != 0 {
		t.Errorf("verified attributes of a deleted user = %+v, %v", got, err)
	}
}
