package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
)

// Errors of sign-in.
var (
	// ErrBadCredentials means the email or password is wrong; which one is
	// never said.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrDisabled means the password was right but the account is disabled.
	ErrDisabled = errors.New("account disabled")
)

// Hasher hashes and checks passwords.
type Hasher interface {
	// Hash returns the encoded hash of password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify checks password against an encoded hash and says whether the
	// hash should be renewed with the current parameters.
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	// VerifyDummy spends as long as Verify, for users that do not exist.
	VerifyDummy(ctx context.Context, password string)
}

// PasswordPolicy judges new passwords.
type PasswordPolicy interface {
	// Check returns nil for an acceptable password, or an error whose
	// Reason() names the rule it breaks. personal are words of the user's
	// (email, names) that the password must not be built from.
	Check(password string, personal ...string) error
}

// reasoned is an error with a stable reason ID.
type reasoned interface{ ReasonID() string }

// Token lifetimes.
const (
	VerifyTokenTTL = 24 * time.Hour
	ResetTokenTTL  = time.Hour
	// SignInCodeTTL is how long a sign-in code by mail works.
	SignInCodeTTL = 10 * time.Minute
)

// Registration is what a person types to create an account.
type Registration struct {
	Email      string
	Password   string
	GivenName  string
	FamilyName string
	Locale     string
	// Phone is optional, in E.164 form.
	Phone string
	// Consents are the receipts of what the form was ticked for
	// (consents.Service.NewReceipts), written with the account.
	Consents []consents.Receipt
	// LockedFields are the fields the invitation locked (RegisterInvited
	// only): the new user keeps them as User.LockedFields.
	LockedFields []string
}

// Registered is the outcome of Register. When the email already had an
// account, Existing is true and that account's owner is mailed instead: the
// page must answer exactly as for a new account (no enumeration).
type Registered struct {
	User     User
	Existing bool
}

func (s *Service) passwordProblem(password string, u User) error {
	if s.Policy == nil {
		return nil
	}
	personal := []string{u.Email, u.GivenName, u.FamilyName}
	if at := strings.LastIndexByte(u.Email, '@'); at > 0 {
		personal = append(personal, u.Email[:at])
	}
	if err := s.Policy.Check(password, personal...); err != nil {
		code := "weak"
		var r reasoned
		if errors.As(err, &r) {
			code = r.ReasonID()
		}
		return FieldError{Field: "password", Code: code, Message: err.Error()}
	}
	return nil
}

// Register creates an unverified account with a user.registered event (the
// mail consumer then sends the verification mail). If the email is taken it
// writes user.registration_repeated instead, so that the owner is told.
func (s *Service) Register(ctx context.Context, in Registration) (Registered, error) {
	now := s.now()
	// Hashed before the email is looked up, so both answers take as long.
	u, err := s.newRegistered(ctx, in, false)
	if err != nil {
		return Registered{}, err
	}
	existing, err := s.Store.UserByEmail(ctx, u.EmailNormalized)
	switch {
	case err == nil:
		return Registered{User: existing, Existing: true}, s.appendEvent(ctx, "user.registration_repeated", existing, map[string]any{"locale": in.Locale})
	case !errors.Is(err, ErrNotFound):
		return Registered{}, err
	}
	data := map[string]any{"locale": u.Locale, "method": "password", "source": "password"}
	ev, err := events.New("user.registered", u.Subject(), u.Subject(), now, data)
	if err != nil {
		return Registered{}, err
	}
	err = s.createConsenting(ctx, u, in.Consents, ev)
	if errors.Is(err, ErrConflict) {
		// Registered by someone else a moment ago.
		existing, err := s.Store.UserByEmail(ctx, u.EmailNormalized)
		if err != nil {
			return Registered{}, err
		}
		return Registered{User: existing, Existing: true}, s.appendEvent(ctx, "user.registration_repeated", existing, nil)
	}
	if err != nil {
		return Registered{}, err
	}
	return Registered{User: u}, nil
}

// EventAppender writes events that come with no other change.
type EventAppender interface {
	AppendEvents(ctx context.Context, evs ...events.Event) error
}

func (s *Service) appendEvent(ctx context.Context, typ string, u User, data map[string]any) error {
	ev, err := events.New(typ, u.Subject(), u.Subject(), s.now(), data)
	if err != nil {
		return err
	}
	if s.Events == nil {
		return errors.New("accounts: no event appender")
	}
	return s.Events.AppendEvents(ctx, ev)
}

// Authenticate checks an email and password. Unknown emails take as long as
// known ones and fail the same way. A correct password for a disabled account
// returns ErrDisabled. A hash with old parameters is renewed.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		s.Hasher.VerifyDummy(ctx, password)
		return User{}, ErrBadCredentials
	}
	u, err := s.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrNotFound) || (err == nil && u.PasswordHash == "") {
		s.Hasher.VerifyDummy(ctx, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	ok, rehash, err := s.Hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !ok {
		return User{}, errors.Join(ErrBadCredentials, s.appendEvent(ctx, "user.login_failed", u, map[string]any{"reason": "bad_password"}))
	}
	if u.Status != StatusActive {
		return User{}, errors.Join(ErrDisabled, s.appendEvent(ctx, "user.login_failed", u, map[string]any{"reason": "disabled"}))
	}
	if rehash {
		if h, err := s.Hasher.Hash(ctx, password); err == nil {
			u, err = s.Store.UpdateUser(ctx, u.ID, func(cur User) (Change, error) {
				cur.PasswordHash = h
				ev, err := events.New("password.rehashed", cur.Subject(), "system:accounts", s.now(), nil)
				return Change{User: cur, Events: []events.Event{ev}}, err
			})
			if err != nil {
				return User{}, err
			}
		}
	}
	return u, nil
}

// RequestVerification asks for a new verification mail for the user.
func (s *Service) RequestVerification(ctx context.Context, userID string) error {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return nil
	}
	return s.appendEvent(ctx, "user.verification_requested", u, nil)
}

// IssueVerification makes a verification token for the user and returns
// the link token and the 6-digit code to mail. The mail consumer calls it.
func (s *Service) IssueVerification(ctx context.Context, userID string) (u User, link, code string, err error) {
	u, err = s.Store.UserByID(ctx, userID)
	if err != nil {
		return User{}, "", "", err
	}
	t, link, code := newToken(u, TokenVerifyEmail, s.now(), VerifyTokenTTL, true)
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return User{}, "", "", fmt.Errorf("create verification token: %w", err)
	}
	return u, link, code, nil
}

// VerifyLink marks the email of the link's user verified.
func (s *Service) VerifyLink(ctx context.Context, link string) (User, error) {
	t, err := s.liveToken(ctx, link, TokenVerifyEmail)
	if err != nil {
		return User{}, err
	}
	return s.markVerified(ctx, t.UserID, t.Email, "link")
}

// VerifyCode marks the user's email verified if code belongs to one of the
// user's live verification tokens.
func (s *Service) VerifyCode(ctx context.Context, userID, code string) (User, error) {
	tokens, err := s.Store.LiveTokens(ctx, userID, TokenVerifyEmail, s.now())
	if err != nil {
		return User{}, err
	}
	code = strings.TrimSpace(code)
	for _, t := range tokens {
		if t.matchesCode(code) {
			return s.markVerified(ctx, userID, t.Email, "code")
		}
	}
	return User{}, ErrTokenInvalid
}

func (s *Service) markVerified(ctx context.Context, userID, email, via string) (User, error) {
	return s.Store.RedeemTokens(ctx, userID, TokenVerifyEmail, s.now(), func(u User) (Change, error) {
		if u.EmailNormalized != email {
			return Change{}, ErrTokenInvalid // the address changed since the mail
		}
		u.EmailVerified = true
		u.UpdatedAt = s.now()
		ev, err := events.New("user.verified", u.Subject(), u.Subject(), s.now(), map[string]any{"via": via})
		return Change{User: u, Events: []events.Event{ev}}, err
	})
}

func (s *Service) liveToken(ctx context.Context, link string, kind TokenKind) (Token, error) {
	if link == "" || len(link) > 100 {
		return Token{}, ErrTokenInvalid
	}
	t, err := s.Store.TokenByHash(ctx, digest(link))
	if err != nil {
		return Token{}, err
	}
	if t.Kind != kind || !t.UsedAt.IsZero() || !s.now().Before(t.ExpiresAt) {
		return Token{}, ErrTokenInvalid
	}
	return t, nil
}

// RequestReset starts a password reset for email: if an account has it, a
// password.reset_requested event makes the mail consumer send a link. The
// caller answers the same either way.
func (s *Service) RequestReset(ctx context.Context, email string) error {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := s.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrNotFound) {
		// Write an event all the same, so that both answers cost one
		// transaction (no timing difference), and so that requests for
		// unknown addresses can be seen. The subject is a digest: the
		// address of someone who is not a customer is not kept.
		ev, err := events.New("password.reset_unknown_email", "email:"+digest(norm)[:32], "system:web", s.now(), nil)
		if err != nil {
			return err
		}
		return s.Events.AppendEvents(ctx, ev)
	}
	if err != nil {
		return err
	}
	return s.appendEvent(ctx, "password.reset_requested", u, nil)
}

// IssueReset makes a reset token for the user and returns the link token.
func (s *Service) IssueReset(ctx context.Context, userID string) (User, string, error) {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return User{}, "", err
	}
	t, link, _ := newToken(u, TokenResetPassword, s.now(), ResetTokenTTL, false)
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return User{}, "", fmt.Errorf("create reset token: %w", err)
	}
	return u, link, nil
}

// CheckReset returns the user a live reset link belongs to.
func (s *Service) CheckReset(ctx context.Context, link string) (User, error) {
	t, err := s.liveToken(ctx, link, TokenResetPassword)
	if err != nil {
		return User{}, err
	}
	return s.Store.UserByID(ctx, t.UserID)
}

// ResetPassword sets a new password with a reset link, uses up every reset
// link of the user, signs the user out everywhere and marks the email
// verified (the link proved control of it).
func (s *Service) ResetPassword(ctx context.Context, link, password string) (User, error) {
	t, err := s.liveToken(ctx, link, TokenResetPassword)
	if err != nil {
		return User{}, err
	}
	u, err := s.Store.UserByID(ctx, t.UserID)
	if err != nil {
		return User{}, err
	}
	if err := s.passwordProblem(password, u); err != nil {
		return User{}, err
	}
	hash, err := s.Hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	return s.Store.RedeemTokens(ctx, t.UserID, TokenResetPassword, s.now(), func(u User) (Change, error) {
		if u.EmailNormalized != t.Email {
			return Change{}, ErrTokenInvalid
		}
		u.PasswordHash, u.EmailVerified, u.UpdatedAt = hash, true, s.now()
		ev, err := events.New("password.changed", u.Subject(), u.Subject(), s.now(), map[string]any{"via": "reset"})
		return Change{User: u, Events: []events.Event{ev}, EndSessions: true}, err
	})
}

// RequestSignInCode starts a sign-in by mailed code for email: if an
// active account has it, a sign_in_code.requested event makes the mail
// consumer send a 6-digit code. Like RequestReset, it costs one
// transaction either way, and the caller answers the same.
func (s *Service) RequestSignInCode(ctx context.Context, email string) error {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := s.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Status != StatusActive) {
		ev, err := events.New("sign_in_code.unknown_email", "email:"+digest(norm)[:32], "system:web", s.now(), nil)
		if err != nil {
			return err
		}
		return s.Events.AppendEvents(ctx, ev)
	}
	if err != nil {
		return err
	}
	return s.appendEvent(ctx, "sign_in_code.requested", u, nil)
}

// IssueSignInCode makes a sign-in code for the user (valid SignInCodeTTL)
// and returns it to mail; only its digest is kept.
func (s *Service) IssueSignInCode(ctx context.Context, userID string) (User, string, error) {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return User{}, "", err
	}
	t, _, code := newToken(u, TokenSignInCode, s.now(), SignInCodeTTL, true)
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return User{}, "", fmt.Errorf("create sign-in code: %w", err)
	}
	return u, code, nil
}

// SignInWithCode checks a mailed sign-in code for email. A valid code is
// spent with every other live one, and since it proves the mailbox, the
// address counts as verified. It returns ErrTokenInvalid for a wrong,
// used or expired code, or an account that may not sign in.
func (s *Service) SignInWithCode(ctx context.Context, email, code string) (User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return User{}, ErrTokenInvalid
	}
	u, err := s.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrTokenInvalid
	}
	if err != nil {
		return User{}, err
	}
	tokens, err := s.Store.LiveTokens(ctx, u.ID, TokenSignInCode, s.now())
	if err != nil {
		return User{}, err
	}
	code = strings.TrimSpace(code)
	for _, t := range tokens {
		if !t.matchesCode(code) {
			continue
		}
		return s.Store.RedeemTokens(ctx, u.ID, TokenSignInCode, s.now(), func(u User) (Change, error) {
			if u.EmailNormalized != t.Email || u.Status != StatusActive {
				return Change{}, ErrTokenInvalid
			}
			u.EmailVerified = true
			u.UpdatedAt = s.now()
			ev, err := events.New("sign_in_code.used", u.Subject(), u.Subject(), s.now(), nil)
			return Change{User: u, Events: []events.Event{ev}}, err
		})
	}
	return User{}, ErrTokenInvalid
}

// RegisterInvited creates the account of someone who accepted an
// invitation: the link proved the address, so it counts as verified. The
// registration's event names its source (invitation) and the invitation.
// ErrConflict if the address has an account already.
func (s *Service) RegisterInvited(ctx context.Context, in Registration, invitationID string) (User, error) {
	now := s.now()
	u, err := s.newRegistered(ctx, in, true)
	if err != nil {
		return User{}, err
	}
	data := map[string]any{"locale": u.Locale, "method": "password", "source": "invitation", "invitation_id": invitationID, "email_verified": true}
	ev, err := events.New("user.registered", u.Subject(), u.Subject(), now, data)
	if err != nil {
		return User{}, err
	}
	if err := s.createConsenting(ctx, u, in.Consents, ev); err != nil {
		return User{}, err
	}
	return u, nil
}

// createConsenting stores the new user u with the receipts of what they
// consented to and their events after ev (the registration's), in one
// transaction.
func (s *Service) createConsenting(ctx context.Context, u User, receipts []consents.Receipt, ev events.Event) error {
	receipts, evs, err := consents.Stamp(receipts, u.ID)
	if err != nil {
		return err
	}
	return s.Store.CreateUserWithConsents(ctx, u, receipts, append([]events.Event{ev}, evs...)...)
}

// newRegistered is the account a registration makes, checked (every
// problem at once) and with its password hashed.
func (s *Service) newRegistered(ctx context.Context, in Registration, verified bool) (User, error) {
	now := s.now()
	u := User{
		ID: NewID(), Email: in.Email, EmailVerified: verified, GivenName: strings.TrimSpace(in.GivenName),
		FamilyName: strings.TrimSpace(in.FamilyName), Locale: in.Locale, Phone: strings.ReplaceAll(in.Phone, " ", ""), Status: StatusActive,
		LockedFields: in.LockedFields, CreatedAt: now, UpdatedAt: now,
		// The person typed (or accepted) the profile: it is confirmed.
		ProfileConfirmedAt: now,
	}
	var errs []error
	if err := u.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := s.passwordProblem(in.Password, u); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return User{}, err
	}
	hash, err := s.Hasher.Hash(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	u.PasswordHash = hash
	return u, nil
}
