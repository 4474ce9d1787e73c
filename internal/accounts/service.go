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
	if err := errors.Join(u.Validate(), s.Attributes.Validate(u.Attributes)); err != nil {
		return User{}, err
	}
	ev, err := events.New("user.imported", u.Subject(), actor, now, map[string]any{
		"email_verified": u.EmailVerified,
		"external_id":    u.ExternalID,
	})
	if err != nil {
		return User{}, err
	}
	if err := s.Store.CreateUser(ctx, u, ev); err != nil {
		return User{}, fmt.Errorf("import %s: %w", u.Email, err)
	}
	return u, nil
}
