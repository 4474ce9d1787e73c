package authn_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

type fixture struct {
	svc   *authn.Service
	store *store.Store
	now   *time.Time
	user  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := storetest.Open(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	master, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(t.Context(), st, keyring.MasterKeys{Current: master}, now)
	if err != nil {
		t.Fatal(err)
	}
	u := accounts.User{ID: accounts.NewID(), Email: "ada@example.com", EmailNormalized: "ada@example.com", CreatedAt: now, UpdatedAt: now}
	ev, err := events.New("user.registered", "user:"+u.ID, "user:"+u.ID, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), u, ev); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, now: &now, user: u.ID}
	f.svc = &authn.Service{Store: st, Cipher: kr, Issuer: "Acme Shop", Now: func() time.Time { return *f.now }}
	return f
}

func (f *fixture) code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol sets up an authenticator app and returns its secret.
func (f *fixture) enrol(t *testing.T) string {
	t.Helper()
	e, err := f.svc.BeginTOTP(f.user, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmTOTP(t.Context(), f.user, e.Sealed, f.code(t, e.Secret, *f.now), "Phone"); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return e.Secret
}

func TestBeginTOTP(t *testing.T) {
	f := newFixture(t)
	e, err := f.svc.BeginTOTP(f.user, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(e.Secret) {
		t.Errorf("secret %q is not 160 bits in base32", e.Secret)
	}
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "Acme Shop" ||
		u.Query().Get("secret") != e.Secret || !strings.Contains(u.Path, "ada@example.com") {
		t.Errorf("otpauth URL %q", e.URL)
	}
	if !strings.HasPrefix(e.QR, "data:image/png;base64,") || len(e.QR) < 500 {
		t.Errorf("QR = %.40q…, want a PNG data URL", e.QR)
	}
	if strings.Contains(e.Sealed, e.Secret) {
		t.Error("the sealed enrolment holds the secret in the clear")
	}
	again, err := f.svc.ReopenTOTP(t.Context(), f.user, e.Sealed)
	if err != nil || again.Secret != e.Secret {
		t.Errorf("ReopenTOTP = %q, %v; want the same secret", again.Secret, err)
	}
	if _, err := f.svc.ReopenTOTP(t.Context(), "someone-else", e.Sealed); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("another user's enrolment opened: %v", err)
	}
}

func TestConfirmTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	e, _ := f.svc.BeginTOTP(f.user, "ada@example.com")
	if _, err := f.svc.ConfirmTOTP(ctx, f.user, e.Sealed, "000000", ""); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("a wrong first code = %v, want ErrWrongCode", err)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, f.user, "garbage", f.code(t, e.Secret, *f.now), ""); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("a tampered enrolment = %v, want ErrNotFound", err)
	}
	fac, err := f.svc.ConfirmTOTP(ctx, f.user, e.Sealed, f.code(t, e.Secret, *f.now), "  Work phone ")
	if err != nil {
		t.Fatal(err)
	}
	if fac.Name != "Work phone" || strings.Contains(string(fac.Secret), e.Secret) {
		t.Errorf("factor %+v: want the name trimmed and the secret encrypted", fac)
	}
	stored, _ := f.store.Factors(ctx, f.user)
	if len(stored) != 1 || strings.Contains(string(stored[0].Secret), e.Secret) {
		t.Fatalf("stored factors %+v: want one, its secret not in the clear", stored)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, f.user, e.Sealed, f.code(t, e.Secret, f.now.Add(30*time.Second)), ""); !errors.Is(err, authn.ErrAlreadyEnrolled) {
		t.Errorf("a second authenticator = %v, want ErrAlreadyEnrolled", err)
	}
	// The code used to confirm cannot sign in again.
	if err := f.svc.VerifyTOTP(ctx, f.user, f.code(t, e.Secret, *f.now)); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("the confirmation code reused = %v, want ErrWrongCode", err)
	}
}

func TestVerifyTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	secret := f.enrol(t)
	*f.now = f.now.Add(5 * time.Minute)
	tests := []struct {
		name    string
		at      time.Duration // when the code was made, relative to now
		wantErr bool
	}{
		{"the current code", 0, false},
		{"the same code again (replay)", 0, true},
		{"the previous step's code, older than one used", -30 * time.Second, true},
		{"the next step's code (clock skew)", 30 * time.Second, false},
		{"two steps ahead", 90 * time.Second, true},
	}
	for _, tc := range tests {
		err := f.svc.VerifyTOTP(ctx, f.user, f.code(t, secret, f.now.Add(tc.at)))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, authn.ErrWrongCode) {
			t.Errorf("%s: err = %v, want ErrWrongCode", tc.name, err)
		}
	}
	*f.now = f.now.Add(2 * time.Minute)
	if err := f.svc.VerifyTOTP(ctx, f.user, f.code(t, secret, f.now.Add(-30*time.Second))); err != nil {
		t.Errorf("the previous step's code (clock skew) later on: %v", err)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if err := f.svc.VerifyTOTP(ctx, f.user, bad); !errors.Is(err, authn.ErrWrongCode) {
			t.Errorf("VerifyTOTP(%q) = %v, want ErrWrongCode", bad, err)
		}
	}
	withSpaces := f.code(t, secret, f.now.Add(30*time.Second))
	if err := f.svc.VerifyTOTP(ctx, f.user, withSpaces[:3]+" "+withSpaces[3:]); err != nil {
		t.Errorf("a code typed as 123 456: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.RegenerateRecoveryCodes(ctx, f.user); !errors.Is(err, authn.ErrNoAuthenticator) {
		t.Errorf("recovery codes without an authenticator = %v, want ErrNoAuthenticator", err)
	}
	f.enrol(t)
	codes, err := f.svc.RegenerateRecoveryCodes(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !regexp.MustCompile(`^[a-z2-9]{6}-[a-z2-9]{6}$`).MatchString(c) || seen[c] {
			t.Errorf("code %q: want 12 distinct characters in two groups", c)
		}
		seen[c] = true
	}
	if len(codes) != authn.RecoveryCodeCount {
		t.Fatalf("%d codes, want %d", len(codes), authn.RecoveryCodeCount)
	}
	// Typed in capitals and without the dash, it still counts.
	left, err := f.svc.UseRecoveryCode(ctx, f.user, strings.ToUpper(strings.ReplaceAll(codes[0], "-", "")))
	if err != nil || left != 9 {
		t.Fatalf("UseRecoveryCode = %d, %v; want 9 left", left, err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user, codes[0]); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("a used code = %v, want ErrWrongCode", err)
	}
	newCodes, err := f.svc.RegenerateRecoveryCodes(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user, codes[1]); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("a code of the replaced set = %v, want ErrWrongCode", err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user, newCodes[1]); err != nil {
		t.Errorf("a code of the new set: %v", err)
	}
	sum, err := f.svc.Summarize(ctx, f.user)
	if err != nil || sum.RecoveryCodesLeft != 9 {
		t.Errorf("Summarize = %+v, %v; want 9 codes left", sum, err)
	}
	// Removing the authenticator takes the codes with it.
	if err := f.svc.RemoveFactor(ctx, f.user, sum.TOTP.ID, "user:"+f.user); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user, newCodes[2]); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("a code after the authenticator was removed = %v, want ErrWrongCode", err)
	}
	if err := f.svc.RemoveFactor(ctx, f.user, sum.TOTP.ID, "user:"+f.user); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("removing it twice = %v, want ErrNotFound", err)
	}
}

func TestReachableLevel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got, _ := f.svc.ReachableLevel(ctx, f.user, []string{"pwd"}); got != authn.LoALow {
		t.Errorf("without factors: %s, want low", got)
	}
	f.enrol(t)
	if got, _ := f.svc.ReachableLevel(ctx, f.user, []string{"pwd"}); got != authn.LoASubstantial {
		t.Errorf("with an authenticator app: %s, want substantial", got)
	}
	if got := f.svc.LevelOf([]string{"pwd", "otp", "mfa"}); got != authn.LoASubstantial {
		t.Errorf("LevelOf(pwd otp mfa) = %s", got)
	}
}

func TestPolicyOff(t *testing.T) {
	f := newFixture(t)
	secret := f.enrol(t)
	f.svc.Policy = authn.PolicyOff
	sum, err := f.svc.Summarize(t.Context(), f.user)
	if err != nil || sum.HasSecondFactor() || sum.TOTP != nil || len(sum.Methods()) != 0 {
		t.Errorf("under off: %+v, %v; want no second factor", sum, err)
	}
	if got, _ := f.svc.ReachableLevel(t.Context(), f.user, []string{"pwd"}); got != authn.LoALow {
		t.Errorf("reachable under off = %s, want low", got)
	}
	if _, err := f.svc.BeginTOTP(f.user, "ada@example.com"); !errors.Is(err, authn.ErrPolicyOff) {
		t.Errorf("BeginTOTP under off = %v", err)
	}
	if err := f.svc.VerifyTOTP(t.Context(), f.user, f.code(t, secret, f.now.Add(30*time.Second))); !errors.Is(err, authn.ErrWrongCode) {
		t.Errorf("VerifyTOTP under off = %v, want ErrWrongCode", err)
	}
	for _, s := range []string{"", "off", "optional", "required"} {
		if _, err := authn.ParsePolicy(s); err != nil {
			t.Errorf("ParsePolicy(%q): %v", s, err)
		}
	}
	if _, err := authn.ParsePolicy("always"); err == nil {
		t.Error("ParsePolicy(always) accepted")
	}
}
