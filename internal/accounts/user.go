package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
)

// Status is whether an account may sign in.
type Status string

// Account statuses.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// User is a customer account.
type User struct {
	ID string
	// Email is the address as the user typed it, for display.
	Email string
	// EmailNormalized is the unique, case-folded form used for look-ups.
	EmailNormalized string
	EmailVerified   bool
	GivenName       string
	FamilyName      string
	// Phone is optional, in E.164 form (+46701234567).
	Phone string
	// Locale is a BCP 47 language tag such as "sv" or "fi-FI".
	Locale string
	Status Status
	// ExternalID links the account to a record in another system (the
	// CRM); unique when set.
	ExternalID string
	// LockedFields are profile fields (given_name, family_name, phone)
	// that the invitation the user registered with locked: CRM-owned for
	// this user where the deployment leaves them to the person (see
	// Owners.Of).
	LockedFields []string
	// Attributes are free-form, schema-validated profile fields.
	Attributes json.RawMessage
	// PasswordHash is a PHC-format hash, empty when the user has none.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// ProfileConfirmedAt is when the person last said their profile is
	// right (registering, editing it, confirming it); zero if never. See
	// ProfileCheckedAt.
	ProfileConfirmedAt time.Time
}

// Subject is the user's name in events.
func (u User) Subject() string { return "user:" + u.ID }

// Sentinel errors of the domain.
var (
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound means there is no such user.
	ErrNotFound = errors.New("user not found")
	// ErrConflict means the email or external ID belongs to another user.
	ErrConflict = errors.New("email or external ID already in use")
)

// FieldError is a validation failure of one field. Field and Code are
// stable identifiers (the pages translate "field.code"); Message is for
// developers and logs.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes every FieldError match ErrInvalid.
func (e FieldError) Unwrap() error { return ErrInvalid }

// NormalizeEmail checks an address and returns its unique form: trimmed and
// lower-cased. It accepts only a bare address, no display name.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", FieldError{"email", "required", "is required"}
	}
	if len(e) > 254 {
		return "", FieldError{"email", "too_long", "is longer than 254 characters"}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", FieldError{"email", "invalid", fmt.Sprintf("%q is not a valid address", email)}
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || !strings.Contains(e[at:], ".") {
		return "", FieldError{"email", "invalid", fmt.Sprintf("%q has no domain with a dot", email)}
	}
	// Lower-casing can lengthen a string (Ⱥ is 2 bytes, ⱥ 3): check again,
	// so that the unique form is itself a valid address.
	norm := strings.ToLower(e)
	if len(norm) > 254 {
		return "", FieldError{"email", "too_long", "is longer than 254 characters"}
	}
	return norm, nil
}

var (
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	localeTag = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
)

// Validate checks the fields a user may set and normalizes the email. It
// reports every problem at once.
func (u *User) Validate() error {
	var errs []error
	norm, err := NormalizeEmail(u.Email)
	if err != nil {
		errs = append(errs, err)
	}
	u.Email = strings.TrimSpace(u.Email)
	u.EmailNormalized = norm
	for _, f := range []struct{ name, v string }{{"given_name", u.GivenName}, {"family_name", u.FamilyName}} {
		switch {
		case !utf8.ValidString(f.v):
			// The code stays too_long: the pages translate no other for
			// names, and a browser never sends this.
			errs = append(errs, FieldError{f.name, "too_long", "is not valid UTF-8"})
		case utf8.RuneCountInString(f.v) > 200:
			errs = append(errs, FieldError{f.name, "too_long", "is longer than 200 characters"})
		}
	}
	if u.Phone != "" && !e164.MatchString(u.Phone) {
		errs = append(errs, FieldError{"phone", "invalid", fmt.Sprintf("%q is not in E.164 form, e.g. +46701234567", u.Phone)})
	}
	if u.Locale != "" && !localeTag.MatchString(u.Locale) {
		errs = append(errs, FieldError{"locale", "invalid", fmt.Sprintf("%q is not a language tag such as sv or fi-FI", u.Locale)})
	}
	if u.Status == "" {
		u.Status = StatusActive
	}
	if u.Status != StatusActive && u.Status != StatusDisabled {
		errs = append(errs, FieldError{"status", "invalid", fmt.Sprintf("%q is not active or disabled", u.Status)})
	}
	for _, f := range u.LockedFields {
		if !slices.Contains(OwnedFields, f) {
			errs = append(errs, FieldError{"locked_fields", "invalid", fmt.Sprintf("%q is not a profile field", f)})
		}
	}
	if len(u.ExternalID) > 255 {
		errs = append(errs, FieldError{"external_id", "too_long", "is longer than 255 characters"})
	}
	if len(u.Attributes) == 0 {
		u.Attributes = json.RawMessage(`{}`)
	} else if !json.Valid(u.Attributes) || u.Attributes[0] != '{' {
		errs = append(errs, FieldError{"attributes", "invalid", "is not a JSON object"})
	}
	return errors.Join(errs...)
}

// Change is what an update writes: the new user, its events, and whether
// to sign the user out everywhere (after a password change).
type Change struct {
	User        User
	Events      []events.Event
	EndSessions bool
	// KeepSession, with EndSessions, names the one session (its hash)
	// that goes on: the browser that made the change.
	KeepSession string
	// SpendTokens are the user's other tokens the change uses up: every
	// live one each names is marked used, at the change's time (the new
	// User.UpdatedAt).
	SpendTokens []Spend
}

// Spend names live tokens of a user to use up: those of Kind made at or
// after Since (all of Kind when Since is zero).
type Spend struct {
	Kind  TokenKind
	Since time.Time
}

// Store keeps users and their one-time tokens. Every write takes the events
// that describe it.
type Store interface {
	// CreateUser inserts u with its events; ErrConflict if the email or
	// external ID is taken.
	CreateUser(ctx context.Context, u User, evs ...events.Event) error
	// CreateUserWithConsents is CreateUser with the receipts of what the
	// person consented to on the registration form (their IDs and user
	// set: consents.Stamp), in the same transaction.
	CreateUserWithConsents(ctx context.Context, u User, receipts []consents.Receipt, evs ...events.Event) error
	// UserByID returns the user or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail looks up by normalized email; ErrNotFound if none.
	UserByEmail(ctx context.Context, normalized string) (User, error)
	// ListUsers returns up to limit users with IDs after the cursor, in ID
	// order.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// QueryUsers returns up to q.Limit users q selects, in ID order.
	QueryUsers(ctx context.Context, q Query) ([]User, error)
	// UpdateUser applies fn to the user atomically; ErrNotFound if none,
	// ErrConflict if the new email or external ID is taken.
	UpdateUser(ctx context.Context, id string, fn func(User) (Change, error)) (User, error)
	// CreateToken stores a one-time token.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token or ErrTokenInvalid.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// LiveTokens returns the user's unused, unexpired tokens of kind.
	LiveTokens(ctx context.Context, userID string, kind TokenKind, now time.Time) ([]Token, error)
	// RedeemTokens marks every live token of the user of kind used and
	// applies fn, in one transaction; ErrTokenInvalid if none is live.
	RedeemTokens(ctx context.Context, userID string, kind TokenKind, now time.Time, fn func(User) (Change, error)) (User, error)
	// RedeemToken marks the live token whose digest is hash used at now
	// and applies fn to it and its user, in one transaction (with the
	// change's SpendTokens); ErrTokenInvalid if the token is unknown,
	// used or expired. Of two redemptions of one token, one gets
	// ErrTokenInvalid.
	RedeemToken(ctx context.Context, hash string, now time.Time, fn func(Token, User) (Change, error)) (User, error)
}

// NewID returns a new user ID: a UUIDv7, so IDs sort by creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
