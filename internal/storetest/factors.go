package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
)

// RunFactors is the conformance suite for second factors and recovery
// codes (authn.Store) on engine e. Call it once per engine, typically
// through ForEachEngine.
func RunFactors(t *testing.T, e Engine) {
	t.Run("Factors", func(t *testing.T) { testFactors(t, e) })
	t.Run("FactorSteps", func(t *testing.T) { testFactorSteps(t, e) })
	t.Run("RecoveryCodes", func(t *testing.T) { testRecoveryCodes(t, e) })
}

func totpFactor(id, userID string) authn.Factor {
	return authn.Factor{ID: id, UserID: userID, Kind: authn.KindTOTP, Name: "Phone", Secret: []byte{0, 1, 2, 255},
		LastStep: 100, CreatedAt: base, LastUsedAt: base}
}

func testFactors(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := createUser(t, s, "ada@example.com")
	other := createUser(t, s, "bob@example.com")
	f := totpFactor("f1", u.ID)
	must(t, s.AddFactor(ctx, f, newEvent(t, "factor.enrolled", "user:"+u.ID, nil)), "AddFactor")
	got, err := s.Factors(ctx, u.ID)
	must(t, err, "Factors")
	if len(got) != 1 || got[0].ID != "f1" || got[0].Kind != authn.KindTOTP || got[0].Name != "Phone" ||
		string(got[0].Secret) != string(f.Secret) || got[0].LastStep != 100 || !got[0].CreatedAt.Equal(stored(base)) {
		t.Fatalf("Factors = %+v, want the stored factor back as it was", got)
	}
	if got, _ := s.Factors(ctx, other.ID); len(got) != 0 {
		t.Errorf("another user's factors = %+v, want none", got)
	}
	if err := s.DeleteFactor(ctx, other.ID, "f1"); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("DeleteFactor of another user's factor = %v, want ErrNotFound", err)
	}
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, []string{"d1", "d2"}, base), "ReplaceRecoveryCodes")
	must(t, s.DeleteFactor(ctx, u.ID, "f1", newEvent(t, "factor.removed", "user:"+u.ID, nil)), "DeleteFactor")
	if got, _ := s.Factors(ctx, u.ID); len(got) != 0 {
		t.Errorf("after DeleteFactor: %+v, want none", got)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("recovery codes left after the authenticator was removed = %d, want 0", n)
	}
	if got := eventTypesAbout(t, s, "user:"+u.ID); !slices.Equal(got[len(got)-2:], []string{"factor.enrolled", "factor.removed"}) {
		t.Errorf("events = %v, want factor.enrolled then factor.removed last", got)
	}
	// A factor goes with its user.
	must(t, s.AddFactor(ctx, totpFactor("f2", other.ID)), "AddFactor")
	eraseUser(t, s, other.ID)
	if got, _ := s.Factors(ctx, other.ID); len(got) != 0 {
		t.Errorf("factors of a deleted user = %+v, want none", got)
	}
}

func testFactorSteps(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := createUser(t, s, "ada@example.com")
	must(t, s.AddFactor(ctx, totpFactor("f1", u.ID)), "AddFactor")
	for _, tc := range []struct {
		step int64
		want bool
	}{{101, true}, {101, false}, {100, false}, {99, false}, {103, true}, {102, false}} {
		fresh, err := s.UseFactorStep(ctx, "f1", tc.step, base, newEvent(t, "factor.used", "user:"+u.ID, nil))
		must(t, err, "UseFactorStep(%d)", tc.step)
		if fresh != tc.want {
			t.Errorf("UseFactorStep(%d) = %v, want %v (only a later step than the last is fresh)", tc.step, fresh, tc.want)
		}
	}
	used := 0
	for _, typ := range eventTypesAbout(t, s, "user:"+u.ID) {
		if typ == "factor.used" {
			used++
		}
	}
	if used != 2 {
		t.Errorf("factor.used events = %d, want 2 (replays write none)", used)
	}
}

func testRecoveryCodes(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := createUser(t, s, "ada@example.com")
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, []string{"a", "b", "c"}, base), "ReplaceRecoveryCodes")
	told := -1
	left, err := s.UseRecoveryCode(ctx, u.ID, "b", base, func(n int) ([]events.Event, error) {
		told = n
		return []events.Event{newEvent(t, "recovery_code.used", "user:"+u.ID, nil)}, nil
	})
	must(t, err, "UseRecoveryCode")
	if left != 2 || told != 2 {
		t.Errorf("left after one use = %d, told the events %d, want 2", left, told)
	}
	if got := eventTypesAbout(t, s, "user:"+u.ID); got[len(got)-1] != "recovery_code.used" {
		t.Errorf("events %v, want recovery_code.used last", got)
	}
	if _, err := s.UseRecoveryCode(ctx, u.ID, "b", base, nil); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("a used code again = %v, want ErrNotFound", err)
	}
	other := createUser(t, s, "bob@example.com")
	if _, err := s.UseRecoveryCode(ctx, other.ID, "a", base, nil); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("another user's code = %v, want ErrNotFound", err)
	}
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, []string{"x", "y"}, base), "ReplaceRecoveryCodes")
	if _, err := s.UseRecoveryCode(ctx, u.ID, "a", base, nil); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("a code of the old set = %v, want ErrNotFound", err)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 2 {
		t.Errorf("left after regenerating = %d, want 2", n)
	}
}
