package accounts_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
)

// TestProfileFreshness: a registration confirms the profile; it goes stale
// once it is older than ProfileMaxAge (not at that very age); a change by
// the CRM keeps it stale, the person's confirmation makes it fresh again,
// with its event; with freshness off nothing is ever stale.
func TestProfileFreshness(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.svc.ProfileMaxAge = 365 * 24 * time.Hour
	u := f.register(t, "fresh@example.com")
	if !u.ProfileConfirmedAt.Equal(f.start) || !f.user(t, u.ID).ProfileConfirmedAt.Equal(f.start) {
		t.Fatalf("a registration's profile confirmed at %v, want %v", u.ProfileConfirmedAt, f.start)
	}
	if f.svc.ProfileStale(u) {
		t.Error("a new registration is stale")
	}
	f.now = f.start.Add(f.svc.ProfileMaxAge)
	if f.svc.ProfileStale(u) {
		t.Error("a profile exactly ProfileMaxAge old is stale; it should be at its last fresh moment")
	}
	f.now = f.now.Add(time.Microsecond)
	if !f.svc.ProfileStale(u) {
		t.Error("a profile older than ProfileMaxAge is not stale")
	}
	if got, want := f.svc.StaleBefore(), f.now.Add(-f.svc.ProfileMaxAge); !got.Equal(want) {
		t.Errorf("StaleBefore = %v, want %v", got, want)
	}

	// The CRM's change is not the person confirming.
	phone := "+46701234567"
	u, err := f.svc.Update(ctx, u.ID, accounts.Update{Phone: &phone}, "", "client:crm")
	if err != nil {
		t.Fatal(err)
	}
	if !u.ProfileConfirmedAt.Equal(f.start) || !f.svc.ProfileStale(u) {
		t.Errorf("after the CRM's change: confirmed at %v, stale %v; want %v, true", u.ProfileConfirmedAt, f.svc.ProfileStale(u), f.start)
	}

	// The person confirms it as it is.
	before := len(f.allEvents(t))
	f.now = f.now.Add(time.Hour)
	version := accounts.Version(u)
	u, err = f.svc.ConfirmProfile(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !u.ProfileConfirmedAt.Equal(f.now) || !f.user(t, u.ID).ProfileConfirmedAt.Equal(f.now) || f.svc.ProfileStale(u) {
		t.Errorf("after confirming: confirmed at %v (stored %v), want %v and fresh", u.ProfileConfirmedAt, f.user(t, u.ID).ProfileConfirmedAt, f.now)
	}
	if accounts.Version(u) == version {
		t.Error("a confirmation left the user's version as it was")
	}
	if got := f.newEvents(t, before); !slices.Equal(got, []string{"user.profile_confirmed"}) {
		t.Errorf("a confirmation wrote %v, want [user.profile_confirmed]", got)
	}
	evs := f.allEvents(t)
	if last := evs[len(evs)-1]; last.Actor != u.Subject() || last.Subject != u.Subject() {
		t.Errorf("the confirmation's actor and subject: %s, %s; want %s", last.Actor, last.Subject, u.Subject())
	}
	data := f.lastData(t, u.Subject())
	if data["via"] != "confirmation" || data["previous"] != f.start.Format(time.RFC3339Nano) {
		t.Errorf("the confirmation's data: %v; want via confirmation, previous %s", data, f.start.Format(time.RFC3339Nano))
	}

	// Off: nothing is stale, however old.
	f.svc.ProfileMaxAge = 0
	f.now = f.now.Add(100 * 365 * 24 * time.Hour)
	if f.svc.ProfileStale(u) || !f.svc.StaleBefore().IsZero() {
		t.Error("with freshness off a profile is stale")
	}
	if _, err := f.svc.ConfirmProfile(ctx, "no-such-user"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("confirming a missing user: %v, want ErrNotFound", err)
	}
}

// TestProfileNeverConfirmed: a profile made by an operator (or the API)
// counts as checked when the account was made, and is never marked
// confirmed by its maker.
func TestProfileNeverConfirmed(t *testing.T) {
	f := newFixture(t)
	f.svc.ProfileMaxAge = 24 * time.Hour
	u, err := f.svc.Create(t.Context(), accounts.NewUser{Email: "made@example.com"}, "client:crm")
	if err != nil {
		t.Fatal(err)
	}
	if !u.ProfileConfirmedAt.IsZero() {
		t.Errorf("an account made by the CRM has its profile confirmed at %v", u.ProfileConfirmedAt)
	}
	if got := accounts.ProfileCheckedAt(u); !got.Equal(f.start) {
		t.Errorf("ProfileCheckedAt of a never confirmed profile = %v, want its creation %v", got, f.start)
	}
	f.now = f.start.Add(25 * time.Hour)
	if !f.svc.ProfileStale(u) {
		t.Error("a never confirmed profile older than the limit is not stale")
	}
}

// TestEditProfile: the person's own save confirms the profile, changed or
// not (user.updated only for a change), and a save they may not make
// writes nothing.
func TestEditProfile(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.svc.ProfileMaxAge = time.Hour
	f.svc.Owners = accounts.Owners{"family_name": accounts.OwnerCRM}
	u := f.register(t, "edit@example.com")

	f.now = f.start.Add(2 * time.Hour)
	before := len(f.allEvents(t))
	same := u.GivenName
	u, err := f.svc.EditProfile(ctx, u.ID, accounts.Update{GivenName: &same})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.newEvents(t, before); !slices.Equal(got, []string{"user.profile_confirmed"}) {
		t.Errorf("saving an unchanged profile wrote %v, want [user.profile_confirmed]", got)
	}
	if data := f.lastData(t, u.Subject()); data["via"] != "edit" {
		t.Errorf("via = %v, want edit", data["via"])
	}
	if !u.ProfileConfirmedAt.Equal(f.now) {
		t.Errorf("confirmed at %v, want %v", u.ProfileConfirmedAt, f.now)
	}

	f.now = f.now.Add(time.Minute)
	before = len(f.allEvents(t))
	name := "Ada Maria"
	u, err = f.svc.EditProfile(ctx, u.ID, accounts.Update{GivenName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.newEvents(t, before); !slices.Equal(got, []string{"user.updated", "user.profile_confirmed"}) {
		t.Errorf("a change wrote %v, want [user.updated user.profile_confirmed]", got)
	}
	if u.GivenName != name || !u.ProfileConfirmedAt.Equal(f.now) {
		t.Errorf("after the change: %q confirmed at %v", u.GivenName, u.ProfileConfirmedAt)
	}

	// The family name is the CRM's: refused, and nothing written, not
	// even the confirmation.
	f.now = f.now.Add(time.Minute)
	before = len(f.allEvents(t))
	family := "Forged"
	_, err = f.svc.EditProfile(ctx, u.ID, accounts.Update{GivenName: &name, FamilyName: &family})
	var fe accounts.FieldError
	if !errors.As(err, &fe) || fe.Field != "family_name" || fe.Code != "owned_by_crm" {
		t.Fatalf("changing a CRM-owned field: %v, want owned_by_crm on family_name", err)
	}
	if got := f.newEvents(t, before); len(got) != 0 {
		t.Errorf("a refused save wrote %v", got)
	}
	if got := f.user(t, u.ID); !got.ProfileConfirmedAt.Equal(u.ProfileConfirmedAt) {
		t.Errorf("a refused save moved the confirmation to %v", got.ProfileConfirmedAt)
	}
}

// TestImportProfileConfirmedAt: an import keeps when the other registry's
// person last confirmed their profile, and refuses a time in the future.
func TestImportProfileConfirmedAt(t *testing.T) {
	f := newFixture(t)
	f.svc.ProfileMaxAge = 365 * 24 * time.Hour
	old := f.start.Add(-400 * 24 * time.Hour)
	u, err := f.svc.Import(t.Context(), accounts.ImportRecord{Email: "old@example.com", ProfileConfirmedAt: &old}, "system:import")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.user(t, u.ID).ProfileConfirmedAt; !got.Equal(old) || !f.svc.ProfileStale(u) {
		t.Errorf("imported profile confirmed at %v, stale %v; want %v, true", got, f.svc.ProfileStale(u), old)
	}
	if data := f.lastData(t, u.Subject()); data["profile_confirmed_at"] != old.Format(time.RFC3339Nano) {
		t.Errorf("user.imported data: %v", data)
	}
	plain, err := f.svc.Import(t.Context(), accounts.ImportRecord{Email: "plain@example.com"}, "system:import")
	if err != nil {
		t.Fatal(err)
	}
	if !plain.ProfileConfirmedAt.IsZero() || f.svc.ProfileStale(plain) {
		t.Errorf("an import without a confirmation time: confirmed %v, stale %v; want never, fresh", plain.ProfileConfirmedAt, f.svc.ProfileStale(plain))
	}
	future := f.start.Add(time.Hour)
	_, err = f.svc.Import(t.Context(), accounts.ImportRecord{Email: "future@example.com", ProfileConfirmedAt: &future}, "system:import")
	var fe accounts.FieldError
	if !errors.As(err, &fe) || fe.Field != "profile_confirmed_at" {
		t.Errorf("a confirmation in the future: %v, want a profile_confirmed_at field error", err)
	}
}
