package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/portvakt/portvakt/internal/events"
)

// RecoveryCodeCount is how many recovery codes a set has.
const RecoveryCodeCount = 10

// recoveryAlphabet has no look-alike characters (no 0/O, 1/I/L, U).
const recoveryAlphabet = "abcdefghjkmnpqrstvwxyz23456789"

// ErrNoAuthenticator means recovery codes were asked for without a second
// factor (an authenticator app or a passkey) for them to stand in for.
var ErrNoAuthenticator = errors.New("recovery codes need a second factor")

// RegenerateRecoveryCodes makes a new set of recovery codes for userID,
// replacing any old set, and returns them to show once. Each has 12
// characters from a 30-letter alphabet (≈ 59 bits), written as two groups
// of six; only SHA-256 digests are stored.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	sum, err := s.Summarize(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !sum.HasSecondFactor() {
		return nil, ErrNoAuthenticator
	}
	codes := make([]string, RecoveryCodeCount)
	digests := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		digests[i] = recoveryDigest(userID, codes[i])
	}
	now := s.now()
	ev, err := events.New("recovery_codes.generated", "user:"+userID, "user:"+userID, now, map[string]any{"count": RecoveryCodeCount})
	if err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, userID, digests, now, ev); err != nil {
		return nil, err
	}
	return codes, nil
}

// UseRecoveryCode signs userID past the second factor with one of their
// recovery codes, which is then spent. It returns how many remain, or
// ErrWrongCode.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) (int, error) {
	norm := normalizeRecoveryCode(code)
	if len(norm) != 12 {
		return 0, ErrWrongCode
	}
	now := s.now()
	remaining, err := s.Store.UseRecoveryCode(ctx, userID, recoveryDigest(userID, norm[:6]+"-"+norm[6:]), now, func(left int) ([]events.Event, error) {
		ev, err := events.New("recovery_code.used", "user:"+userID, "user:"+userID, now, map[string]any{"remaining": left})
		return []events.Event{ev}, err
	})
	if errors.Is(err, ErrNotFound) {
		return 0, ErrWrongCode
	}
	return remaining, err
}

func newRecoveryCode() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 13)
	for i, c := range b {
		if i == 6 {
			out = append(out, '-')
		}
		// 256 mod 30 leaves a bias of at most 1/256 per character, which
		// costs well under a bit of the code's entropy.
		out = append(out, recoveryAlphabet[int(c)%len(recoveryAlphabet)])
	}
	return string(out)
}

// normalizeRecoveryCode lowercases and drops spaces and dashes, so a code
// typed in capitals or without its dash still counts.
func normalizeRecoveryCode(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

// recoveryDigest is the stored form of a code, bound to its owner.
func recoveryDigest(userID, code string) string {
	sum := sha256.Sum256([]byte("recovery:" + userID + ":" + code))
	return hex.EncodeToString(sum[:])
}
