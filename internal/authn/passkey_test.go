package authn_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/portvakt/portvakt/internal/authn"
)

var relyingParty = virtualwebauthn.RelyingParty{Name: "Acme Shop", ID: "localhost", Origin: "http://localhost:8080"}

// withPasskeys turns passkeys on for the fixture, with the allow-list
// given.
func (f *fixture) withPasskeys(t *testing.T, aaguids ...string) {
	t.Helper()
	issuer, _ := url.Parse("http://localhost:8080")
	w, allow, err := authn.NewWebAuthn(authn.PasskeyConfig{Issuer: issuer, Name: "Acme Shop", AAGUIDs: aaguids})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.WebAuthn, f.svc.AAGUIDs = w, allow
}

// register makes a passkey on auth for the fixture's user through rp.
func (f *fixture) register(t *testing.T, rp virtualwebauthn.RelyingParty, auth *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) error {
	t.Helper()
	c, err := f.svc.BeginPasskeyRegistration(t.Context(), f.user, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(c.Options)
	if err != nil {
		t.Fatalf("options %s: %v", c.Options, err)
	}
	if opts.RelyingPartyID != "localhost" || opts.UserID != f.user {
		t.Errorf("creation options rp %q user %q", opts.RelyingPartyID, opts.UserID)
	}
	resp := virtualwebauthn.CreateAttestationResponse(rp, *auth, cred, *opts)
	_, err = f.svc.FinishPasskeyRegistration(t.Context(), f.user, "Laptop", c.Sealed, []byte(resp))
	if err == nil {
		auth.Options.UserHandle = []byte(f.user)
		auth.AddCredential(cred)
	}
	return err
}

// signIn answers a discoverable passkey sign-in with cred through rp.
func (f *fixture) signIn(t *testing.T, rp virtualwebauthn.RelyingParty, auth virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) (string, []string, error) {
	t.Helper()
	c, err := f.svc.BeginPasskeyLogin()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	resp := virtualwebauthn.CreateAssertionResponse(rp, auth, cred, *opts)
	return f.svc.FinishPasskeyLogin(t.Context(), c.Sealed, []byte(resp))
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	f := newFixture(t)
	f.withPasskeys(t)
	auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true})
	cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
	if err := f.register(t, relyingParty, &auth, cred); err != nil {
		t.Fatalf("register: %v", err)
	}
	sum, err := f.svc.Summarize(t.Context(), f.user)
	if err != nil || len(sum.Passkeys) != 1 || sum.Passkeys[0].Name != "Laptop" || !sum.HasSecondFactor() {
		t.Fatalf("Summarize = %+v, %v; want one passkey named Laptop", sum, err)
	}
	// The same credential again is refused (it is excluded, and a replay of
	// its registration would add it twice).
	if err := f.register(t, relyingParty, &auth, cred); !errors.Is(err, authn.ErrPasskey) {
		t.Errorf("registering the same passkey twice = %v, want ErrPasskey", err)
	}

	user, methods, err := f.signIn(t, relyingParty, auth, cred)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if user != f.user || !slices.Equal(methods, []string{"swk", "user"}) {
		t.Errorf("sign-in = %s %v, want the user with [swk user] (a synced passkey that verified the person)", user, methods)
	}
	if got := f.svc.LevelOf(methods); got != authn.LoASubstantial {
		t.Errorf("a user-verifying passkey reaches %s, want substantial", got)
	}

	// As the second step after a password.
	c, err := f.svc.BeginPasskeyAssertion(t.Context(), f.user)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := virtualwebauthn.ParseAssertionOptions(c.Options)
	if len(opts.AllowCredentials) != 1 {
		t.Errorf("second-step options allow %d credentials, want the user's one", len(opts.AllowCredentials))
	}
	m, err := f.svc.FinishPasskeyAssertion(t.Context(), f.user, c.Sealed, []byte(virtualwebauthn.CreateAssertionResponse(relyingParty, auth, cred, *opts)))
	if err != nil || f.svc.LevelOf(append([]string{"pwd"}, m...)) != authn.LoASubstantial {
		t.Errorf("second step = %v, %v; want substantial with the password", m, err)
	}
	// Another user's ceremony does not open for this one.
	if _, err := f.svc.FinishPasskeyAssertion(t.Context(), "someone-else", c.Sealed, nil); !errors.Is(err, authn.ErrPasskey) {
		t.Errorf("a ceremony of another user = %v, want ErrPasskey", err)
	}
}

// TestPasskeyWrongOriginOrRP: answers made for another site are refused.
func TestPasskeyWrongOriginOrRP(t *testing.T) {
	f := newFixture(t)
	f.withPasskeys(t)
	auth := virtualwebauthn.NewAuthenticator()
	cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
	for name, rp := range map[string]virtualwebauthn.RelyingParty{
		"another origin": {Name: "Evil", ID: "localhost", Origin: "http://localhost:9999"},
		"another RP ID":  {Name: "Evil", ID: "evil.example", Origin: "http://localhost:8080"},
	} {
		if err := f.register(t, rp, &auth, cred); !errors.Is(err, authn.ErrPasskey) {
			t.Errorf("registration from %s = %v, want ErrPasskey", name, err)
		}
	}
	if err := f.register(t, relyingParty, &auth, cred); err != nil {
		t.Fatal(err)
	}
	for name, rp := range map[string]virtualwebauthn.RelyingParty{
		"another origin": {Name: "Evil", ID: "localhost", Origin: "https://phish.example"},
		"another RP ID":  {Name: "Evil", ID: "phish.example", Origin: "http://localhost:8080"},
	} {
		if _, _, err := f.signIn(t, rp, auth, cred); !errors.Is(err, authn.ErrPasskey) {
			t.Errorf("sign-in from %s = %v, want ErrPasskey", name, err)
		}
	}
	// A passkey the server does not know (removed, or never registered).
	stranger := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
	other := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(f.user)})
	other.AddCredential(stranger)
	if _, _, err := f.signIn(t, relyingParty, other, stranger); !errors.Is(err, authn.ErrPasskey) {
		t.Errorf("sign-in with an unknown passkey = %v, want ErrPasskey", err)
	}
	sum, _ := f.svc.Summarize(t.Context(), f.user)
	if err := f.svc.RemoveFactor(t.Context(), f.user, sum.Passkeys[0].ID, "user:"+f.user); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.signIn(t, relyingParty, auth, cred); !errors.Is(err, authn.ErrPasskey) {
		t.Errorf("sign-in with a removed passkey = %v, want ErrPasskey", err)
	}
}

// TestPasskeyAllowList: with AAGUIDs configured, only those models.
func TestPasskeyAllowList(t *testing.T) {
	f := newFixture(t)
	allowed := virtualwebauthn.NewAuthenticator()
	f.withPasskeys(t, fmtAAGUID(allowed.Aaguid))
	other := virtualwebauthn.NewAuthenticator()
	if err := f.register(t, relyingParty, &other, virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)); !errors.Is(err, authn.ErrPasskey) {
		t.Errorf("a model not on the list = %v, want ErrPasskey", err)
	}
	if err := f.register(t, relyingParty, &allowed, virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)); err != nil {
		t.Errorf("a model on the list: %v", err)
	}
	if _, _, err := authn.NewWebAuthn(authn.PasskeyConfig{Issuer: &url.URL{Scheme: "http", Host: "localhost"}, AAGUIDs: []string{"not-hex"}}); err == nil {
		t.Error("a malformed AAGUID was accepted")
	}
}

func fmtAAGUID(b [16]byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}
