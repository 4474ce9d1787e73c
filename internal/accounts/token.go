package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// TokenKind is what a one-time token proves.
type TokenKind string

// Token kinds.
const (
	// TokenVerifyEmail proves control of the account's email address.
	TokenVerifyEmail TokenKind = "verify_email"
	// TokenResetPassword allows setting a new password.
	TokenResetPassword TokenKind = "reset_password"
	// TokenSignInCode signs the person in (a one-time code by mail).
	TokenSignInCode TokenKind = "sign_in_code"
	// TokenChangeEmail proves control of the new address (Target) the
	// person asked to change the account's address to.
	TokenChangeEmail TokenKind = "change_email"
	// TokenUndoEmailChange restores the address (Target) an email change
	// replaced; it is mailed to that address.
	TokenUndoEmailChange TokenKind = "undo_email_change"
)

// ErrTokenInvalid means a link or code is unknown, used or expired. The
// cases are not told apart to the person.
var ErrTokenInvalid = errors.New("token invalid or expired")

// Token is a one-time secret sent by mail: a link token (256 bits) and,
// for email verification, a 6-digit code. Only their SHA-256 digests are
// stored.
type Token struct {
	ID       string
	Hash     string
	CodeHash string
	Kind     TokenKind
	UserID   string
	// Email is the account's normalized address when the token was made:
	// a token made for an address the account no longer has is void
	// (except an undo link, which restores an address the account lost).
	Email string
	// Target is the address the token is about besides the account's
	// own: the new address of TokenChangeEmail, the address to restore
	// of TokenUndoEmailChange; "" for the other kinds.
	Target    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// digest is the stored form of a token or code.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// newToken makes a token for u and returns it with the secrets to mail.
func newToken(u User, kind TokenKind, now time.Time, ttl time.Duration, withCode bool) (t Token, link, code string) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	link = base64.RawURLEncoding.EncodeToString(raw)
	t = Token{
		ID: NewID(), Hash: digest(link), Kind: kind, UserID: u.ID, Email: u.EmailNormalized,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if withCode {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		code = fmt.Sprintf("%06d", n.Int64())
		t.CodeHash = digest(t.ID + ":" + code)
	}
	return t, link, code
}

// matchesCode reports in constant time whether code is this token's code.
func (t Token) matchesCode(code string) bool {
	if t.CodeHash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(digest(t.ID+":"+code)), []byte(t.CodeHash)) == 1
}
