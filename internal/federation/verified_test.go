package federation_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// TestVerifiedOpensWhatProofSealed: what Proof keeps sealed comes back
// opened, with its source and time; a sealed value moved to another
// person does not open.
func TestVerifiedOpensWhatProofSealed(t *testing.T) {
	ctx := t.Context()
	st := storetest.Open(t, storetest.SQLite())
	master, _ := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	kr, err := keyring.Open(ctx, st, keyring.MasterKeys{Current: master}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
	svc := &federation.Service{Store: st, Cipher: kr, Now: func() time.Time { return at }}
	ada, bob := userForProofing(ctx, t, st, "ada@example.com"), userForProofing(ctx, t, st, "bob@example.com")

	if got, err := svc.Verified(ctx, ada); err != nil || len(got) != 0 {
		t.Fatalf("Verified before any proofing = %v, %v; want none", got, err)
	}
	if err := svc.Proof(ctx, ada, federation.Claims{Provider: "bankid", Proofing: true, GivenName: "Ada Augusta", FamilyName: "Lovelace",
		BirthDate: "1815-12-10", NationalID: "18151210-1234"}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Verified(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		federation.AttrLegalName: "Ada Augusta Lovelace", federation.AttrBirthdate: "1815-12-10", federation.AttrNationalID: "18151210-1234",
	}
	if len(got) != len(want) {
		t.Fatalf("Verified = %d attributes, want %d", len(got), len(want))
	}
	for _, v := range got {
		if v.Value != want[v.Name] || v.Source != "eid:bankid" || !v.VerifiedAt.Equal(at) {
			t.Errorf("%s: got %q from %s at %v, want %q from eid:bankid at %v", v.Name, v.Value, v.Source, v.VerifiedAt, want[v.Name], at)
		}
		// Printed by mistake, it gives nothing away.
		if s := fmt.Sprintf("%v %+v", v, v); strings.Contains(s, v.Value) {
			t.Errorf("a printed verified attribute shows its value: %s", s)
		}
	}

	// Ada's sealed number stored as Bob's does not open.
	sealed, err := st.VerifiedAttributes(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 3 || sealed[2].Name != federation.AttrNationalID {
		t.Fatalf("sealed attributes: %+v", sealed)
	}
	if err := st.SaveProofing(ctx, bob, sealed[2:], ""); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Verified(ctx, bob); err == nil || strings.Contains(err.Error(), "18151210") {
		t.Errorf("Verified of a value sealed for someone else = %v, %v; want an error without the value", got, err)
	}
}

func userForProofing(ctx context.Context, t *testing.T, st *store.Store, email string) string {
	t.Helper()
	u := accounts.User{ID: accounts.NewID(), Email: email, Status: accounts.StatusActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}
