package authn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/portvakt/portvakt/internal/events"
)

// TOTP parameters: the ones every authenticator app supports (RFC 6238
// defaults), and one step of clock skew either way.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1
)

// Enrolment is an authenticator app being set up: the secret to scan or
// type, not yet stored.
type Enrolment struct {
	// Secret is the base32 secret, shown as text beside the QR code.
	Secret string
	// URL is the otpauth:// URI the QR code holds.
	URL string
	// QR is the QR code as a PNG data: URL, rendered on the server.
	QR string
	// Sealed is the secret encrypted for the enrolment flow, so that it is
	// never stored in the clear, even before it is confirmed.
	Sealed string
}

// BeginTOTP makes a new secret for userID's account named account (the
// email address), ready to show.
func (s *Service) BeginTOTP(userID, account string) (Enrolment, error) {
	if s.Policy == PolicyOff {
		return Enrolment{}, ErrPolicyOff
	}
	secret := make([]byte, 20) // 160 bits, as RFC 4226 recommends
	_, _ = rand.Read(secret)
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer(), AccountName: account, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, Secret: secret,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("make authenticator secret: %w", err)
	}
	sealed, err := s.Cipher.Encrypt([]byte(key.URL()), enrolAAD(userID))
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key, base64.RawURLEncoding.EncodeToString(sealed))
}

// ReopenTOTP shows an enrolment again from its sealed form (the page is
// shown again after a wrong code).
func (s *Service) ReopenTOTP(ctx context.Context, userID, sealed string) (Enrolment, error) {
	key, err := s.unseal(ctx, userID, sealed)
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key, sealed)
}

func enrolment(key *otp.Key, sealed string) (Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, fmt.Errorf("render QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("render QR code: %w", err)
	}
	return Enrolment{
		Secret: key.Secret(),
		URL:    key.URL(),
		QR:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
		Sealed: sealed,
	}, nil
}

// ConfirmTOTP stores the enrolment's secret once the person has typed a
// first valid code from their app, and writes factor.enrolled.
func (s *Service) ConfirmTOTP(ctx context.Context, userID, sealed, code, name string) (Factor, error) {
	key, err := s.unseal(ctx, userID, sealed)
	if err != nil {
		return Factor{}, err
	}
	secret := key.Secret()
	sum, err := s.Summarize(ctx, userID)
	if err != nil {
		return Factor{}, err
	}
	if sum.Off {
		return Factor{}, ErrPolicyOff
	}
	if sum.TOTP != nil {
		return Factor{}, ErrAlreadyEnrolled
	}
	now := s.now()
	step, ok := matchStep(secret, code, now)
	if !ok {
		return Factor{}, ErrWrongCode
	}
	f := Factor{ID: newID(), UserID: userID, Kind: KindTOTP, Name: cleanName(name), LastStep: step, CreatedAt: now, LastUsedAt: now}
	if f.Secret, err = s.Cipher.Encrypt([]byte(secret), factorAAD(f)); err != nil {
		return Factor{}, err
	}
	ev, err := events.New("factor.enrolled", "user:"+userID, "user:"+userID, now, map[string]any{"factor": f.ID, "kind": f.Kind})
	if err != nil {
		return Factor{}, err
	}
	if err := s.Store.AddFactor(ctx, f, ev); err != nil {
		return Factor{}, err
	}
	return f, nil
}

// VerifyTOTP checks a code from userID's authenticator app and records its
// use; a code is accepted once. It returns ErrWrongCode for a wrong,
// expired or replayed code.
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	sum, err := s.Summarize(ctx, userID)
	if err != nil {
		return err
	}
	f := sum.TOTP
	if f == nil {
		return ErrWrongCode
	}
	secret, err := s.Cipher.Decrypt(ctx, f.Secret, factorAAD(*f))
	if err != nil {
		return fmt.Errorf("decrypt authenticator secret: %w", err)
	}
	now := s.now()
	step, ok := matchStep(string(secret), code, now)
	if !ok {
		return ErrWrongCode
	}
	ev, err := events.New("factor.used", "user:"+userID, "user:"+userID, now, map[string]any{"factor": f.ID, "kind": f.Kind})
	if err != nil {
		return err
	}
	fresh, err := s.Store.UseFactorStep(ctx, f.ID, step, now, ev)
	if err != nil {
		return err
	}
	if !fresh {
		return fmt.Errorf("%w: %w", ErrWrongCode, ErrReplayed)
	}
	return nil
}

// matchStep finds the time step, within the skew, whose code is code.
// Every candidate is compared in constant time.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := current + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// unseal opens an enrolment's sealed key; anything else is ErrNotFound.
func (s *Service) unseal(ctx context.Context, userID, sealed string) (*otp.Key, error) {
	ct, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(ct) == 0 {
		return nil, ErrNotFound
	}
	pt, err := s.Cipher.Decrypt(ctx, ct, enrolAAD(userID))
	if err != nil {
		return nil, ErrNotFound
	}
	key, err := otp.NewKeyFromURL(string(pt))
	if err != nil {
		return nil, ErrNotFound
	}
	return key, nil
}

func (s *Service) issuer() string {
	if s.Issuer == "" {
		return "Portvakt"
	}
	return s.Issuer
}

// The additional data binds a ciphertext to its purpose and owner, so a
// secret copied to another row or user does not decrypt.
func enrolAAD(userID string) []byte { return []byte("totp-enrolment:" + userID) }
func factorAAD(f Factor) []byte     { return []byte("factor:" + f.ID + ":" + f.UserID) }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
