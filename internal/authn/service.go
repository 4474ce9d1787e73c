package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portvakt/portvakt/internal/events"
)

// Errors.
var (
	// ErrNotFound means the user has no such factor.
	ErrNotFound = errors.New("factor not found")
	// ErrWrongCode means a code is not (or no longer) valid. A replayed
	// code is told apart only in events, not to the person.
	ErrWrongCode = errors.New("wrong code")
	// ErrReplayed means a time-based code was already used.
	ErrReplayed = errors.New("code already used")
	// ErrAlreadyEnrolled means the user already has an authenticator app.
	ErrAlreadyEnrolled = errors.New("an authenticator app is already set up")
	// ErrPolicyOff means second factors are turned off here.
	ErrPolicyOff = errors.New("two-step verification is turned off")
)

// Kind is a type of factor.
type Kind string

// Factor kinds.
const (
	KindTOTP Kind = "totp"
)

// Factor is one second factor of a user.
type Factor struct {
	ID     string
	UserID string
	Kind   Kind
	// Name is the person's label for it.
	Name string
	// Secret is the TOTP secret encrypted under the keyring.
	Secret []byte
	// LastStep is the last TOTP time step accepted (replays of it and of
	// older codes are refused).
	LastStep   int64
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Store keeps factors and recovery codes.
type Store interface {
	// Factors returns the user's factors, oldest first.
	Factors(ctx context.Context, userID string) ([]Factor, error)
	// AddFactor stores f with its events.
	AddFactor(ctx context.Context, f Factor, evs ...events.Event) error
	// DeleteFactor removes the user's factor with its events, or returns
	// ErrNotFound. When the user has no factor left it also deletes their
	// recovery codes, in the same transaction.
	DeleteFactor(ctx context.Context, userID, id string, evs ...events.Event) error
	// UpdateFactorSecret replaces the factor's stored secret (a passkey's
	// credential with its new signature counter) and records its use at
	// at, with the events.
	UpdateFactorSecret(ctx context.Context, id string, secret []byte, at time.Time, evs ...events.Event) error
	// UseFactorStep records that the factor accepted step at at, with its
	// events, only if step is later than the last one accepted; false
	// means the step was already used (a replay).
	UseFactorStep(ctx context.Context, id string, step int64, at time.Time, evs ...events.Event) (bool, error)
	// ReplaceRecoveryCodes deletes the user's recovery codes and stores
	// the digests given, with the events.
	ReplaceRecoveryCodes(ctx context.Context, userID string, digests []string, at time.Time, evs ...events.Event) error
	// UseRecoveryCode marks the unused code with digest as used and
	// returns how many unused ones remain; ErrNotFound if there is no such
	// unused code. The events that record it, made by evs from that
	// count, are written in the same transaction.
	UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time, evs func(remaining int) ([]events.Event, error)) (int, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// Cipher encrypts secrets at rest (the keyring).
type Cipher interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Policy is whether people use a second factor.
type Policy string

// MFA policies.
const (
	// PolicyOff neither offers nor asks for second factors (passkeys
	// remain a way to sign in without a password).
	PolicyOff Policy = "off"
	// PolicyOptional lets people set one up; whoever has one is asked
	// for it at every sign-in.
	PolicyOptional Policy = "optional"
	// PolicyRequired makes everyone set one up: a person without one is
	// guided through it at their next sign-in.
	PolicyRequired Policy = "required"
)

// ParsePolicy reads off, optional or required ("" is optional).
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return PolicyOptional, nil
	case PolicyOff, PolicyOptional, PolicyRequired:
		return p, nil
	}
	return "", fmt.Errorf("%q is not off, optional or required", s)
}

// Service enrols, checks and removes second factors.
type Service struct {
	// Policy is the deployment's MFA policy (default optional).
	Policy Policy
	Store  Store
	Cipher Cipher
	// Issuer is the name authenticator apps show beside the account
	// (the product name).
	Issuer string
	// Ladder is the levels of assurance (default DefaultLadder).
	Ladder Ladder
	// WebAuthn is the relying party for passkeys (NewWebAuthn); nil turns
	// passkeys off.
	WebAuthn *webauthn.WebAuthn
	// AAGUIDs, when set, are the only authenticator models accepted for
	// new passkeys.
	AAGUIDs [][]byte
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Summary is what a person has set up besides the password. Under the
// off policy it lists passkeys (a way to sign in) but no second factor.
type Summary struct {
	// Off is true under the off policy.
	Off bool
	// TOTP is the authenticator app, if one is set up.
	TOTP *Factor
	// Passkeys are the person's passkeys, oldest first.
	Passkeys []Factor
	// RecoveryCodesLeft counts unused recovery codes.
	RecoveryCodesLeft int
}

// HasSecondFactor reports whether sign-in asks for a second factor.
func (s Summary) HasSecondFactor() bool { return !s.Off && (s.TOTP != nil || len(s.Passkeys) > 0) }

// Methods are the methods the person could add to a password sign-in.
func (s Summary) Methods() []string {
	if s.Off {
		return nil
	}
	var m []string
	if s.TOTP != nil || s.RecoveryCodesLeft > 0 {
		m = append(m, MethodOTP)
	}
	for _, p := range s.Passkeys {
		for _, x := range FactorMethods(p) {
			if !slices.Contains(m, x) {
				m = append(m, x)
			}
		}
	}
	return m
}

// FactorMethods are the amr values a factor proves when it is used: otp
// for an authenticator app; for a passkey hwk or swk (synced), and user,
// since Portvakt asks passkeys to verify the person.
func FactorMethods(f Factor) []string {
	if f.Kind != KindPasskey {
		return []string{MethodOTP}
	}
	var c webauthn.Credential
	_ = json.Unmarshal(f.Secret, &c)
	m := passkeyMethods(c.Flags)
	if !slices.Contains(m, MethodUser) {
		m = append(m, MethodUser)
	}
	return m
}

// Summarize returns what userID has set up.
func (s *Service) Summarize(ctx context.Context, userID string) (Summary, error) {
	fs, err := s.Store.Factors(ctx, userID)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Off: s.Policy == PolicyOff}
	for i := range fs {
		switch {
		case fs[i].Kind == KindTOTP && sum.TOTP == nil && !sum.Off:
			sum.TOTP = &fs[i]
		case fs[i].Kind == KindPasskey:
			sum.Passkeys = append(sum.Passkeys, fs[i])
		}
	}
	if sum.HasSecondFactor() {
		// Recovery codes stand in for a lost second factor; without one
		// they do not sign anybody in.
		if sum.RecoveryCodesLeft, err = s.Store.RecoveryCodesLeft(ctx, userID); err != nil {
			return Summary{}, err
		}
	}
	return sum, nil
}

// ReachableLevel is the highest level userID can reach from a sign-in
// with methods by adding the factors they have set up.
func (s *Service) ReachableLevel(ctx context.Context, userID string, methods []string) (string, error) {
	sum, err := s.Summarize(ctx, userID)
	if err != nil {
		return "", err
	}
	return s.ladder().Of(append(append([]string(nil), methods...), sum.Methods()...)), nil
}

func (s *Service) ladder() Ladder {
	if len(s.Ladder.Levels) == 0 {
		return DefaultLadder()
	}
	return s.Ladder
}

// RemoveFactor removes the user's factor; removing the authenticator app
// also removes the recovery codes that stand in for it.
func (s *Service) RemoveFactor(ctx context.Context, userID, id, actor string) error {
	fs, err := s.Store.Factors(ctx, userID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.ID != id {
			continue
		}
		ev, err := events.New("factor.removed", "user:"+userID, actor, s.now(), map[string]any{"factor": f.ID, "kind": f.Kind})
		if err != nil {
			return err
		}
		return s.Store.DeleteFactor(ctx, userID, id, ev)
	}
	return ErrNotFound
}

// LevelOf is the level of assurance that a sign-in with methods reaches.
func (s *Service) LevelOf(methods []string) string { return s.ladder().Of(methods) }

// Meets reports whether level have is at least level want.
func (s *Service) Meets(have, want string) bool { return s.ladder().Meets(have, want) }

// Levels is the ladder in use.
func (s *Service) Levels() Ladder { return s.ladder() }

// HasSecondFactor reports whether userID has a second factor set up (and
// the policy lets it be used).
func (s *Service) HasSecondFactor(ctx context.Context, userID string) (bool, error) {
	sum, err := s.Summarize(ctx, userID)
	return sum.HasSecondFactor(), err
}
