package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portvakt/portvakt/internal/events"
)

// KindPasskey is a WebAuthn credential: a passkey, a security key.
const KindPasskey Kind = "passkey"

// ErrPasskey means a passkey ceremony failed: a response for another
// origin or relying party, a wrong signature, an unknown or removed
// passkey, an expired or reused challenge, an authenticator not on the
// allow-list. The person is told only that it did not work; the reason is
// logged.
var ErrPasskey = errors.New("passkey not accepted")

// PasskeyConfig is how Portvakt acts as a WebAuthn relying party.
type PasskeyConfig struct {
	// Issuer is the public URL: its host is the relying party ID, its
	// origin the only origin accepted.
	Issuer *url.URL
	// Name is shown by the browser and the authenticator (the product
	// name).
	Name string
	// AAGUIDs, when set, are the only authenticator models accepted
	// (hex, with or without dashes); attestation is then requested.
	AAGUIDs []string
}

// NewWebAuthn builds the relying party from c.
func NewWebAuthn(c PasskeyConfig) (*webauthn.WebAuthn, [][]byte, error) {
	allow, err := ParseAAGUIDs(c.AAGUIDs)
	if err != nil {
		return nil, nil, err
	}
	conveyance := protocol.PreferNoAttestation
	if len(allow) > 0 {
		conveyance = protocol.PreferDirectAttestation
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  c.Issuer.Hostname(),
		RPDisplayName:         c.Name,
		RPOrigins:             []string{c.Issuer.Scheme + "://" + c.Issuer.Host},
		AttestationPreference: conveyance,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: %w", err)
	}
	return w, allow, nil
}

// ParseAAGUIDs reads authenticator model IDs written in hex, with or
// without dashes.
func ParseAAGUIDs(list []string) ([][]byte, error) {
	var out [][]byte
	for _, a := range list {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(a), "-", ""))
		if err != nil || len(b) != 16 {
			return nil, fmt.Errorf("AAGUID %q is not 16 bytes in hex, such as ee882879-721c-4913-9775-3dfcce97072a", a)
		}
		out = append(out, b)
	}
	return out, nil
}

// passkeyUser is a user as WebAuthn sees it: the user handle is the user
// ID (random, not personal data).
type passkeyUser struct {
	id, name string
	factors  []Factor
	creds    []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadPasskeyUser reads userID's passkeys.
func (s *Service) loadPasskeyUser(ctx context.Context, userID, name string) (*passkeyUser, error) {
	fs, err := s.Store.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{id: userID, name: name}
	for _, f := range fs {
		if f.Kind != KindPasskey {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal(f.Secret, &c); err != nil {
			return nil, fmt.Errorf("passkey %s: %w", f.ID, err)
		}
		u.factors = append(u.factors, f)
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// Ceremony is a WebAuthn request for the browser: Options is the JSON
// for navigator.credentials.create or get; Sealed is the server's side of
// it, encrypted, to be given back with the answer.
type Ceremony struct {
	Options string
	Sealed  string
}

func (s *Service) passkeysOn() error {
	if s.WebAuthn == nil {
		return errors.New("passkeys are not configured")
	}
	return nil
}

// BeginPasskeyRegistration asks the browser to create a passkey for
// userID, whose account is called name (the email address).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, userID, name string) (Ceremony, error) {
	if err := s.passkeysOn(); err != nil {
		return Ceremony{}, err
	}
	u, err := s.loadPasskeyUser(ctx, userID, name)
	if err != nil {
		return Ceremony{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, session, err := s.WebAuthn.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.ceremony(opts, session, "passkey-registration:"+userID)
}

// FinishPasskeyRegistration checks the browser's answer and stores the new
// passkey, named name, writing factor.enrolled.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, userID, name, sealed string, response []byte) (Factor, error) {
	if err := s.passkeysOn(); err != nil {
		return Factor{}, err
	}
	session, err := s.openCeremony(ctx, sealed, "passkey-registration:"+userID)
	if err != nil {
		return Factor{}, err
	}
	u, err := s.loadPasskeyUser(ctx, userID, "")
	if err != nil {
		return Factor{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Factor{}, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	cred, err := s.WebAuthn.CreateCredential(u, session, parsed)
	if err != nil {
		return Factor{}, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	if len(s.AAGUIDs) > 0 && !slices.ContainsFunc(s.AAGUIDs, func(a []byte) bool { return bytes.Equal(a, cred.Authenticator.AAGUID) }) {
		return Factor{}, fmt.Errorf("%w: authenticator model %x is not on the allow-list", ErrPasskey, cred.Authenticator.AAGUID)
	}
	for _, c := range u.creds {
		if bytes.Equal(c.ID, cred.ID) {
			return Factor{}, fmt.Errorf("%w: this passkey is already registered", ErrPasskey)
		}
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return Factor{}, err
	}
	now := s.now()
	f := Factor{ID: newID(), UserID: userID, Kind: KindPasskey, Name: cleanName(name), Secret: raw, CreatedAt: now, LastUsedAt: now}
	ev, err := events.New("factor.enrolled", "user:"+userID, "user:"+userID, now, map[string]any{
		"factor": f.ID, "kind": f.Kind, "synced": cred.Flags.BackupEligible, "aaguid": hex.EncodeToString(cred.Authenticator.AAGUID),
	})
	if err != nil {
		return Factor{}, err
	}
	if err := s.Store.AddFactor(ctx, f, ev); err != nil {
		return Factor{}, err
	}
	return f, nil
}

// BeginPasskeyLogin asks the browser for any passkey of this site
// (discoverable credentials): the person picks one, or the browser offers
// them in the email field (conditional mediation).
func (s *Service) BeginPasskeyLogin() (Ceremony, error) {
	if err := s.passkeysOn(); err != nil {
		return Ceremony{}, err
	}
	opts, session, err := s.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	return s.ceremony(opts, session, "passkey-login")
}

// FinishPasskeyLogin checks a passkey sign-in and returns whose it was and
// the methods it proves (hwk or swk, and user when the authenticator
// verified the person).
func (s *Service) FinishPasskeyLogin(ctx context.Context, sealed string, response []byte) (string, []string, error) {
	if err := s.passkeysOn(); err != nil {
		return "", nil, err
	}
	session, err := s.openCeremony(ctx, sealed, "passkey-login")
	if err != nil {
		return "", nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	var owner *passkeyUser
	_, cred, err := s.WebAuthn.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
		u, err := s.loadPasskeyUser(ctx, string(userHandle), "")
		if err != nil {
			return nil, err
		}
		if len(u.creds) == 0 {
			return nil, errors.New("no passkeys for this user handle")
		}
		owner = u
		return u, nil
	}, session, parsed)
	if err != nil || owner == nil {
		return "", nil, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	methods, err := s.usedPasskey(ctx, owner, cred)
	return owner.id, methods, err
}

// BeginPasskeyAssertion asks the browser for one of userID's passkeys, as
// the second step of a sign-in.
func (s *Service) BeginPasskeyAssertion(ctx context.Context, userID string) (Ceremony, error) {
	if err := s.passkeysOn(); err != nil {
		return Ceremony{}, err
	}
	u, err := s.loadPasskeyUser(ctx, userID, "")
	if err != nil {
		return Ceremony{}, err
	}
	if len(u.creds) == 0 {
		return Ceremony{}, ErrNotFound
	}
	opts, session, err := s.WebAuthn.BeginLogin(u)
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey check: %w", err)
	}
	return s.ceremony(opts, session, "passkey-assertion:"+userID)
}

// FinishPasskeyAssertion checks userID's passkey and returns the methods
// it proves.
func (s *Service) FinishPasskeyAssertion(ctx context.Context, userID, sealed string, response []byte) ([]string, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	session, err := s.openCeremony(ctx, sealed, "passkey-assertion:"+userID)
	if err != nil {
		return nil, err
	}
	u, err := s.loadPasskeyUser(ctx, userID, "")
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	cred, err := s.WebAuthn.ValidateLogin(u, session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	return s.usedPasskey(ctx, u, cred)
}

// usedPasskey records a passkey's use (its signature counter and flags)
// and returns the methods it proved.
func (s *Service) usedPasskey(ctx context.Context, u *passkeyUser, cred *webauthn.Credential) ([]string, error) {
	i := slices.IndexFunc(u.creds, func(c webauthn.Credential) bool { return bytes.Equal(c.ID, cred.ID) })
	if i < 0 {
		return nil, fmt.Errorf("%w: unknown passkey", ErrPasskey)
	}
	f := u.factors[i]
	if cred.Authenticator.CloneWarning {
		return nil, fmt.Errorf("%w: the signature counter went back; the authenticator may be cloned", ErrPasskey)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ev, err := events.New("factor.used", "user:"+u.id, "user:"+u.id, now, map[string]any{"factor": f.ID, "kind": f.Kind})
	if err != nil {
		return nil, err
	}
	if err := s.Store.UpdateFactorSecret(ctx, f.ID, raw, now, ev); err != nil {
		return nil, err
	}
	return passkeyMethods(cred.Flags), nil
}

// passkeyMethods are the amr values of a passkey: swk for one that can be
// synced between devices (backup eligible), hwk for one bound to its
// device, and user when it verified the person (PIN or biometrics).
func passkeyMethods(f webauthn.CredentialFlags) []string {
	m := []string{MethodHardwareKey}
	if f.BackupEligible {
		m = []string{MethodSoftwareKey}
	}
	if f.UserVerified {
		m = append(m, MethodUser)
	}
	return m
}

// ceremony seals a ceremony's session data for the browser to carry.
func (s *Service) ceremony(opts any, session *webauthn.SessionData, purpose string) (Ceremony, error) {
	o, err := json.Marshal(opts)
	if err != nil {
		return Ceremony{}, err
	}
	sd, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, err
	}
	sealed, err := s.Cipher.Encrypt(sd, []byte(purpose))
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Options: string(o), Sealed: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

func (s *Service) openCeremony(ctx context.Context, sealed, purpose string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	ct, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(ct) == 0 {
		return sd, fmt.Errorf("%w: no ceremony", ErrPasskey)
	}
	pt, err := s.Cipher.Decrypt(ctx, ct, []byte(purpose))
	if err != nil {
		return sd, fmt.Errorf("%w: the ceremony is not this one's", ErrPasskey)
	}
	if err := json.Unmarshal(pt, &sd); err != nil {
		return sd, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	return sd, nil
}

func cleanName(name string) string {
	name = strings.TrimSpace(name)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
