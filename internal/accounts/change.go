package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Changes a signed-in person makes to how they sign in: their email
// address (verified at the new address, with an undo link mailed to the
// old one) and their password.

// Lifetimes of the links of an email change.
const (
	// ChangeEmailTTL is how long the code and link sent to a new address
	// work.
	ChangeEmailTTL = 24 * time.Hour
	// UndoEmailChangeTTL is how long the link mailed to the replaced
	// address works.
	UndoEmailChangeTTL = 7 * 24 * time.Hour
)

// ErrWrongPassword means the current password given with a password
// change is wrong.
var ErrWrongPassword = errors.New("current password is wrong")

// RequestEmailChange asks to change the user's address to newEmail. It
// only writes user.email_change_requested: the mail consumer then sends a
// code and a link to the new address or, when the address already belongs
// to another account, tells that account's owner instead; so the caller
// answers the same either way, and nothing changes until the new address
// is confirmed. A FieldError (field email) for something that is not an
// address, or is the user's own.
func (s *Service) RequestEmailChange(ctx context.Context, userID, newEmail string) error {
	norm, err := NormalizeEmail(newEmail)
	if err != nil {
		return err
	}
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if norm == u.EmailNormalized {
		return FieldError{Field: "email", Code: "unchanged", Message: "is the account's address already"}
	}
	return s.appendEvent(ctx, "user.email_change_requested", u, map[string]any{"new_email": strings.TrimSpace(newEmail)})
}

// IssueEmailChange makes the token that confirms u's change to the address
// target (valid ChangeEmailTTL) and returns the link token and the 6-digit
// code to mail there. The mail consumer calls it.
func (s *Service) IssueEmailChange(ctx context.Context, u User, target string) (link, code string, err error) {
	t, link, code := newToken(u, TokenChangeEmail, s.now(), ChangeEmailTTL, true)
	t.Target = strings.TrimSpace(target)
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", "", fmt.Errorf("create email change token: %w", err)
	}
	return link, code, nil
}

// CheckEmailChange returns the user a live change link belongs to and the
// new address it confirms, for showing before the change is made.
func (s *Service) CheckEmailChange(ctx context.Context, link string) (User, string, error) {
	t, err := s.liveToken(ctx, link, TokenChangeEmail)
	if err != nil {
		return User{}, "", err
	}
	u, err := s.Store.UserByID(ctx, t.UserID)
	if err != nil {
		return User{}, "", err
	}
	if u.EmailNormalized != t.Email {
		return User{}, "", ErrTokenInvalid
	}
	return u, t.Target, nil
}

// ConfirmEmailChangeLink makes the change a link confirms.
func (s *Service) ConfirmEmailChangeLink(ctx context.Context, link string) (User, error) {
	t, err := s.liveToken(ctx, link, TokenChangeEmail)
	if err != nil {
		return User{}, err
	}
	return s.changeEmail(ctx, t, "link")
}

// ConfirmEmailChangeCode makes the change of the user's live change token
// whose code this is; ErrTokenInvalid if none is.
func (s *Service) ConfirmEmailChangeCode(ctx context.Context, userID, code string) (User, error) {
	tokens, err := s.Store.LiveTokens(ctx, userID, TokenChangeEmail, s.now())
	if err != nil {
		return User{}, err
	}
	code = strings.TrimSpace(code)
	for _, t := range tokens {
		if t.matchesCode(code) {
			return s.changeEmail(ctx, t, "code")
		}
	}
	return User{}, ErrTokenInvalid
}

// changeEmail gives the user of t its new address, verified, and spends
// every other pending change. ErrTokenInvalid when the account's address
// changed since t was made or the account is disabled; ErrConflict
// (wrapped) when another account has the new address by now.
func (s *Service) changeEmail(ctx context.Context, t Token, via string) (User, error) {
	norm, err := NormalizeEmail(t.Target)
	if err != nil {
		return User{}, ErrTokenInvalid
	}
	return s.Store.RedeemToken(ctx, t.Hash, s.now(), func(t Token, u User) (Change, error) {
		if t.Kind != TokenChangeEmail || u.EmailNormalized != t.Email || u.Status != StatusActive {
			return Change{}, ErrTokenInvalid
		}
		old := u.Email
		u.Email, u.EmailNormalized, u.EmailVerified, u.UpdatedAt = strings.TrimSpace(t.Target), norm, true, s.after(u)
		evs, err := emailEvents(u, "user.email_changed", map[string]any{"old_email": old, "new_email": u.Email, "via": via}, old)
		return Change{User: u, Events: evs, SpendTokens: []Spend{{Kind: TokenChangeEmail}}}, err
	})
}

// emailEvents are the events of u's address changing from old: the event
// of the kind that changed it, then user.updated with the field's old and
// new value, which every change of a profile field writes.
func emailEvents(u User, typ string, data map[string]any, old string) ([]events.Event, error) {
	ev, err := events.New(typ, u.Subject(), u.Subject(), u.UpdatedAt, data)
	if err != nil {
		return nil, err
	}
	out := []events.Event{ev}
	if old != u.Email {
		up, err := events.New("user.updated", u.Subject(), u.Subject(), u.UpdatedAt,
			map[string]any{"changes": map[string]any{"email": map[string]any{"old": old, "new": u.Email}}})
		if err != nil {
			return nil, err
		}
		out = append(out, up)
	}
	return out, nil
}

// after is the time of a change to u: now, but always later than u's last
// change, so that versions differ.
func (s *Service) after(u User) time.Time {
	now := s.now()
	if !now.After(u.UpdatedAt) {
		now = u.UpdatedAt.Add(time.Microsecond)
	}
	return now
}

// IssueEmailUndo makes the link (valid UndoEmailChangeTTL) that restores
// the address old, which a change took from u, and returns it to mail to
// old. The mail consumer calls it.
func (s *Service) IssueEmailUndo(ctx context.Context, u User, old string) (string, error) {
	t, link, _ := newToken(u, TokenUndoEmailChange, s.now(), UndoEmailChangeTTL, false)
	t.Target = old
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("create email undo token: %w", err)
	}
	return link, nil
}

// CheckEmailUndo returns the user a live undo link belongs to and the
// address it restores.
func (s *Service) CheckEmailUndo(ctx context.Context, link string) (User, string, error) {
	t, err := s.liveToken(ctx, link, TokenUndoEmailChange)
	if err != nil {
		return User{}, "", err
	}
	u, err := s.Store.UserByID(ctx, t.UserID)
	if err != nil {
		return User{}, "", err
	}
	return u, t.Target, nil
}

// UndoEmailChange restores, with an undo link, the address a change took:
// verified (the link proved the mailbox), every session of the user ended
// (ended are their subjects, read before, for their session.ended events),
// and every pending change and every undo link made after this one spent.
// An earlier undo link stays live: whoever held the address before every
// change can still take the account back, even after someone who changed
// it twice has undone the second change. It does not depend on the
// account's address now. ErrConflict (wrapped) when another account has
// the address by now.
func (s *Service) UndoEmailChange(ctx context.Context, link string, ended []string) (User, error) {
	t, err := s.liveToken(ctx, link, TokenUndoEmailChange)
	if err != nil {
		return User{}, err
	}
	norm, err := NormalizeEmail(t.Target)
	if err != nil {
		return User{}, ErrTokenInvalid
	}
	return s.Store.RedeemToken(ctx, t.Hash, s.now(), func(t Token, u User) (Change, error) {
		if t.Kind != TokenUndoEmailChange {
			return Change{}, ErrTokenInvalid
		}
		replaced := u.Email
		u.Email, u.EmailNormalized, u.EmailVerified, u.UpdatedAt = t.Target, norm, true, s.after(u)
		evs, err := emailEvents(u, "user.email_change_undone", map[string]any{"restored_email": u.Email, "replaced_email": replaced}, replaced)
		if err != nil {
			return Change{}, err
		}
		ends, err := sessionsEnded(u, ended, "email_change_undone", u.UpdatedAt)
		if err != nil {
			return Change{}, err
		}
		return Change{User: u, Events: append(evs, ends...), EndSessions: true,
			SpendTokens: []Spend{{Kind: TokenUndoEmailChange, Since: t.CreatedAt}, {Kind: TokenChangeEmail}}}, nil
	})
}

// sessionsEnded are the session.ended events of u's sessions named by
// subjects, which a change ends for reason.
func sessionsEnded(u User, subjects []string, reason string, at time.Time) ([]events.Event, error) {
	var out []events.Event
	for _, s := range subjects {
		ev, err := events.New("session.ended", u.Subject(), u.Subject(), at, map[string]any{"session": s, "reason": reason})
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// PasswordChange is a person changing their password on the account page.
type PasswordChange struct {
	// Current is the account's password now; required when it has one.
	// An account without one (its person signs in with an identity
	// provider or a passkey) may set one: the caller must have checked
	// that they signed in recently.
	Current string
	// New is the password to set.
	New string
	// Keep is the hash of the session that makes the change: it goes
	// on, and every other session of the user ends.
	Keep string
	// Ended are the subjects of those other sessions, read before the
	// change, for their session.ended events.
	Ended []string
}

// ChangePassword sets a new password for the user, in one transaction with
// password.changed (via account, which mails the "your password was
// changed" notice), the end of every other session and the spending of
// pending reset links. It returns ErrWrongPassword for a wrong current
// password, FieldErrors (current_password, password) for missing or
// unacceptable ones, and ErrStale when the password changed meanwhile.
func (s *Service) ChangePassword(ctx context.Context, userID string, c PasswordChange) (User, error) {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return User{}, err
	}
	had := u.PasswordHash != ""
	var errs []error
	if had && c.Current == "" {
		errs = append(errs, FieldError{Field: "current_password", Code: "required", Message: "is required"})
	}
	if c.New == "" {
		errs = append(errs, FieldError{Field: "password", Code: "required", Message: "is required"})
	} else if err := s.passwordProblem(c.New, u); err != nil {
		errs = append(errs, err)
	} else if had && c.New == c.Current {
		errs = append(errs, FieldError{Field: "password", Code: "unchanged", Message: "is the current password"})
	}
	if err := errors.Join(errs...); err != nil {
		return User{}, err
	}
	if had {
		ok, _, err := s.Hasher.Verify(ctx, c.Current, u.PasswordHash)
		if err != nil {
			return User{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
		}
		if !ok {
			return User{}, ErrWrongPassword
		}
	}
	hash, err := s.Hasher.Hash(ctx, c.New)
	if err != nil {
		return User{}, err
	}
	return s.Store.UpdateUser(ctx, userID, func(cur User) (Change, error) {
		if cur.PasswordHash != u.PasswordHash {
			return Change{}, ErrStale // changed by another request since it was checked
		}
		cur.PasswordHash, cur.UpdatedAt = hash, s.after(cur)
		ev, err := events.New("password.changed", cur.Subject(), cur.Subject(), cur.UpdatedAt, map[string]any{"via": "account", "first": !had})
		if err != nil {
			return Change{}, err
		}
		ends, err := sessionsEnded(cur, c.Ended, "password_changed", cur.UpdatedAt)
		if err != nil {
			return Change{}, err
		}
		return Change{User: cur, Events: append([]events.Event{ev}, ends...), EndSessions: true, KeepSession: c.Keep,
			SpendTokens: []Spend{{Kind: TokenResetPassword}}}, nil
	})
}
