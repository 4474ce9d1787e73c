package accounts

import (
	"context"
	"errors"
	"strings"

	"github.com/portvakt/portvakt/internal/events"
)

// NewUser is an account created by an operator or a back-office system.
type NewUser struct {
	Email      string
	Password   string
	GivenName  string
	FamilyName string
	Phone      string
	Locale     string
	ExternalID string
	Verified   bool
}

// Create makes an account on behalf of actor. The password, if given, must
// meet the policy; without one the user sets one through a reset.
func (s *Service) Create(ctx context.Context, in NewUser, actor string) (User, error) {
	now := s.now()
	u := User{
		ID: NewID(), Email: in.Email, EmailVerified: in.Verified, GivenName: strings.TrimSpace(in.GivenName),
		FamilyName: strings.TrimSpace(in.FamilyName), Phone: in.Phone, Locale: in.Locale, ExternalID: strings.TrimSpace(in.ExternalID),
		Status: StatusActive, CreatedAt: now, UpdatedAt: now,
	}
	var errs []error
	if err := u.Validate(); err != nil {
		errs = append(errs, err)
	}
	if in.Password != "" {
		if err := s.passwordProblem(in.Password, u); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return User{}, err
	}
	if in.Password != "" {
		h, err := s.Hasher.Hash(ctx, in.Password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash = h
	}
	data := map[string]any{"email_verified": u.EmailVerified}
	if u.ExternalID != "" {
		data["external_id"] = u.ExternalID
	}
	ev, err := events.New("user.created", u.Subject(), actor, now, data)
	if err != nil {
		return User{}, err
	}
	if err := s.Store.CreateUser(ctx, u, ev); err != nil {
		return User{}, err
	}
	return u, nil
}

// Find returns the user with the ID or, failing that, the email.
func (s *Service) Find(ctx context.Context, idOrEmail string) (User, error) {
	if strings.Contains(idOrEmail, "@") {
		norm, err := NormalizeEmail(idOrEmail)
		if err != nil {
			return User{}, err
		}
		return s.Store.UserByEmail(ctx, norm)
	}
	return s.Store.UserByID(ctx, idOrEmail)
}

// UserEmail returns the user's address, normalized, and whether they
// proved it is theirs.
func (s *Service) UserEmail(ctx context.Context, id string) (string, bool, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return "", false, err
	}
	return u.EmailNormalized, u.EmailVerified, nil
}

// SetStatus enables or disables an account. Disabling signs the user out
// everywhere.
func (s *Service) SetStatus(ctx context.Context, id string, st Status, actor string) (User, error) {
	return s.Store.UpdateUser(ctx, id, func(u User) (Change, error) {
		if u.Status == st {
			return Change{User: u}, nil
		}
		u.Status, u.UpdatedAt = st, s.now()
		typ := "user.enabled"
		if st == StatusDisabled {
			typ = "user.disabled"
		}
		ev, err := events.New(typ, u.Subject(), actor, s.now(), nil)
		return Change{User: u, Events: []events.Event{ev}, EndSessions: st == StatusDisabled}, err
	})
}
