package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Service applies the account rules on top of a Store.
type Service struct {
	Store Store
	// Events writes events that accompany no other change (a failed
	// sign-in, a repeated registration).
	Events EventAppender
	// Hasher hashes passwords.
	Hasher Hasher
	// Policy judges new passwords; nil accepts any.
	Policy PasswordPolicy
	// Attributes validates custom profile attributes; nil accepts any
	// JSON object.
	Attributes *AttributeSchema
	// Owners says who owns each profile field; nil leaves every field to
	// the person.
	Owners Owners
	// ProfileMaxAge is how long a profile counts as up to date after the
	// person last confirmed it (freshness.go); 0 never asks.
	ProfileMaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// now is the clock at the precision the store keeps (microseconds), so a
// user returned from a write equals the user read back.
func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// ImportRecord is one user brought in from another registry.
type ImportRecord struct {
	Email         string          `json:"email"`
	EmailVerified bool            `json:"email_verified"`
	GivenName     string          `json:"given_name"`
	FamilyName    string          `json:"family_name"`
	Phone         string          `json:"phone"`
	Locale        string          `json:"locale"`
	ExternalID    string          `json:"external_id"`
	Attributes    json.RawMessage `json:"attributes"`
	// ProfileConfirmedAt is when the person last confirmed their profile
	// in the other registry, if it knows; without it the profile counts
	// as checked when it is imported (see ProfileCheckedAt).
	ProfileConfirmedAt *time.Time `json:"profile_confirmed_at"`
}

// Import creates a user from rec, written with a user.imported event. It
// returns a FieldError for bad fields and store.ErrConflict (wrapped) when
// the email or external ID is taken.
func (s *Service) Import(ctx context.Context, rec ImportRecord, actor string) (User, error) {
	now := s.now()
	u := User{
		ID:            NewID(),
		Email:         rec.Email,
		EmailVerified: rec.EmailVerified,
		GivenName:     rec.GivenName,
		FamilyName:    rec.FamilyName,
		Phone:         rec.Phone,
		Locale:        rec.Locale,
		ExternalID:    rec.ExternalID,
		Attributes:    rec.Attributes,
		Status:        StatusActive,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	var errs []error
	if c := rec.ProfileConfirmedAt; c != nil {
		u.ProfileConfirmedAt = c.UTC().Truncate(time.Microsecond)
		if c.After(now) {
			errs = append(errs, FieldError{"profile_confirmed_at", "invalid", "is in the future"})
		}
	}
	if err := errors.Join(u.Validate(), s.Attributes.Validate(u.Attributes), errors.Join(errs...)); err != nil {
		return User{}, err
	}
	data := map[string]any{
		"email_verified": u.EmailVerified,
		"external_id":    u.ExternalID,
	}
	if !u.ProfileConfirmedAt.IsZero() {
		data["profile_confirmed_at"] = u.ProfileConfirmedAt
	}
	ev, err := events.New("user.imported", u.Subject(), actor, now, data)
	if err != nil {
		return User{}, err
	}
	if err := s.Store.CreateUser(ctx, u, ev); err != nil {
		return User{}, fmt.Errorf("import %s: %w", u.Email, err)
	}
	return u, nil
}
