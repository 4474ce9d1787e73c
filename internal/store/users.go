package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

var _ accounts.Store = (*Store)(nil)

const userColumns = `id, email, email_normalized, email_verified, given_name, family_name, phone, locale, status,
	external_id, attributes, password_hash, created_at, updated_at, profile_confirmed_at, locked_fields`

// CreateUser implements accounts.Store.
func (s *Store) CreateUser(ctx context.Context, u accounts.User, evs ...events.Event) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return userConflict(err)
}

// insertUser inserts u inside tx.
func (s *Store) insertUser(ctx context.Context, tx *sql.Tx, u accounts.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		u.ID, u.Email, u.EmailNormalized, u.EmailVerified, u.GivenName, u.FamilyName, u.Phone, u.Locale,
		string(u.Status), nullString(u.ExternalID), string(u.Attributes), u.PasswordHash,
		micros(u.CreatedAt), micros(u.UpdatedAt), nullMicros(u.ProfileConfirmedAt), fieldList(u.LockedFields))
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// userConflict adds the domain's sentinel to a unique-key violation.
func userConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: %w", accounts.ErrConflict, err)
	}
	return err
}

// UserByID implements accounts.Store.
func (s *Store) UserByID(ctx context.Context, id string) (accounts.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserByEmail implements accounts.Store.
func (s *Store) UserByEmail(ctx context.Context, normalized string) (accounts.User, error) {
	return scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email_normalized = $1`, normalized))
}

// ListUsers implements accounts.Store.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]accounts.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return collect(rows, scanUser)
}

// QueryUsers implements accounts.Store.
func (s *Store) QueryUsers(ctx context.Context, q accounts.Query) ([]accounts.User, error) {
	where, args := []string{"id > $1"}, []any{q.After}
	order := "id"
	if q.Newest {
		where[0], order = "($1 = '' OR id < $1)", "id DESC"
	}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Email != "" {
		add("email_normalized = $%d", q.Email)
	}
	if q.ExternalID != "" {
		add("external_id = $%d", q.ExternalID)
	}
	if !q.UpdatedSince.IsZero() {
		add("updated_at >= $%d", micros(q.UpdatedSince))
	}
	if q.OrgID != "" {
		add("id IN (SELECT user_id FROM memberships WHERE org_id = $%d)", q.OrgID)
	}
	// accounts.ProfileCheckedAt: when the person last confirmed the
	// profile, else when the account was made.
	if !q.CheckedBefore.IsZero() {
		add("COALESCE(profile_confirmed_at, created_at) < $%d", micros(q.CheckedBefore))
	}
	if !q.CheckedSince.IsZero() {
		add("COALESCE(profile_confirmed_at, created_at) >= $%d", micros(q.CheckedSince))
	}
	args = append(args, q.Limit)
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	return collect(rows, scanUser)
}

type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanUser(row scanner) (accounts.User, error) {
	var u accounts.User
	var status, attrs, locked string
	var external sql.NullString
	var created, updated int64
	var confirmed sql.NullInt64
	err := row.Scan(&u.ID, &u.Email, &u.EmailNormalized, &u.EmailVerified, &u.GivenName, &u.FamilyName, &u.Phone,
		&u.Locale, &status, &external, &attrs, &u.PasswordHash, &created, &updated, &confirmed, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: %w", ErrNotFound, accounts.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("scan user: %w", err)
	}
	u.Status = accounts.Status(status)
	u.ExternalID = external.String
	u.Attributes = []byte(attrs)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.ProfileConfirmedAt = fromNullMicros(confirmed)
	if u.LockedFields, err = parseFieldList(locked); err != nil {
		return u, fmt.Errorf("user %s locked fields: %w", u.ID, err)
	}
	return u, nil
}

// fieldList is a list of field names as stored: a JSON array, never null.
func fieldList(fields []string) string {
	if len(fields) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(fields) // a []string always encodes
	return string(b)
}

// parseFieldList reads what fieldList wrote; nil for an empty list.
func parseFieldList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// UpdateUser implements accounts.Store.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(accounts.User) (accounts.Change, error)) (accounts.User, error) {
	var out accounts.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.engine.forUpdate(), id))
		if err != nil {
			return err
		}
		c, err := fn(u)
		if err != nil {
			return err
		}
		out, err = s.writeChange(ctx, tx, c)
		return err
	})
	return out, userConflict(err)
}

// writeChange stores a changed user with its events, inside tx.
func (s *Store) writeChange(ctx context.Context, tx *sql.Tx, c accounts.Change) (accounts.User, error) {
	u := c.User
	_, err := tx.ExecContext(ctx, `UPDATE users SET email = $2, email_normalized = $3, email_verified = $4,
		given_name = $5, family_name = $6, phone = $7, locale = $8, status = $9, external_id = $10,
		attributes = $11, password_hash = $12, updated_at = $13, profile_confirmed_at = $14, locked_fields = $15 WHERE id = $1`,
		u.ID, u.Email, u.EmailNormalized, u.EmailVerified, u.GivenName, u.FamilyName, u.Phone, u.Locale,
		string(u.Status), nullString(u.ExternalID), string(u.Attributes), u.PasswordHash,
		micros(u.UpdatedAt), nullMicros(u.ProfileConfirmedAt), fieldList(u.LockedFields))
	if err != nil {
		return u, fmt.Errorf("update user: %w", err)
	}
	if c.EndSessions {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2`, u.ID, c.KeepSession); err != nil {
			return u, fmt.Errorf("end sessions: %w", err)
		}
	}
	for _, sp := range c.SpendTokens {
		if _, err := tx.ExecContext(ctx, `UPDATE account_tokens SET used_at = $1
			WHERE user_id = $2 AND kind = $3 AND created_at >= $4 AND used_at IS NULL AND expires_at > $1`,
			micros(u.UpdatedAt), u.ID, string(sp.Kind), micros(sp.Since)); err != nil {
			return u, fmt.Errorf("spend tokens: %w", err)
		}
	}
	return u, s.appendEvents(ctx, tx, c.Events...)
}

const tokenColumns = `id, token_hash, code_hash, kind, user_id, email, target_email, created_at, expires_at, used_at`

func scanToken(row scanner) (accounts.Token, error) {
	var t accounts.Token
	var kind string
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&t.ID, &t.Hash, &t.CodeHash, &kind, &t.UserID, &t.Email, &t.Target, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return t, accounts.ErrTokenInvalid
	}
	if err != nil {
		return t, fmt.Errorf("scan token: %w", err)
	}
	t.Kind = accounts.TokenKind(kind)
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	return t, nil
}

// CreateToken implements accounts.Store.
func (s *Store) CreateToken(ctx context.Context, t accounts.Token) error {
	_, err := s.exec(ctx, `INSERT INTO account_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.Hash, t.CodeHash, string(t.Kind), t.UserID, t.Email, t.Target, micros(t.CreatedAt), micros(t.ExpiresAt), nullMicros(t.UsedAt))
	if err != nil {
		return fmt.Errorf("insert token: %w", s.engine.mapError(err))
	}
	return nil
}

// TokenByHash implements accounts.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (accounts.Token, error) {
	return scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM account_tokens WHERE token_hash = $1`, hash))
}

// LiveTokens implements accounts.Store.
func (s *Store) LiveTokens(ctx context.Context, userID string, kind accounts.TokenKind, now time.Time) ([]accounts.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM account_tokens
		WHERE user_id = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 ORDER BY created_at DESC LIMIT 20`,
		userID, string(kind), micros(now))
	if err != nil {
		return nil, fmt.Errorf("live tokens: %w", err)
	}
	return collect(rows, scanToken)
}

// RedeemTokens implements accounts.Store.
func (s *Store) RedeemTokens(ctx context.Context, userID string, kind accounts.TokenKind, now time.Time, fn func(accounts.User) (accounts.Change, error)) (accounts.User, error) {
	var out accounts.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE account_tokens SET used_at = $1
			WHERE user_id = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1`, micros(now), userID, string(kind))
		if err != nil {
			return fmt.Errorf("redeem tokens: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return accounts.ErrTokenInvalid
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.engine.forUpdate(), userID))
		if err != nil {
			return err
		}
		c, err := fn(u)
		if err != nil {
			return err
		}
		out, err = s.writeChange(ctx, tx, c)
		return err
	})
	return out, userConflict(err)
}

// RedeemToken implements accounts.Store.
func (s *Store) RedeemToken(ctx context.Context, hash string, now time.Time, fn func(accounts.Token, accounts.User) (accounts.Change, error)) (accounts.User, error) {
	var out accounts.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The conditional update takes the token's row lock: of two
		// redemptions, the second finds it used.
		res, err := tx.ExecContext(ctx, `UPDATE account_tokens SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, micros(now), hash)
		if err != nil {
			return fmt.Errorf("redeem token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return accounts.ErrTokenInvalid
		}
		t, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM account_tokens WHERE token_hash = $1`, hash))
		if err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.engine.forUpdate(), t.UserID))
		if err != nil {
			return err
		}
		c, err := fn(t, u)
		if err != nil {
			return err
		}
		out, err = s.writeChange(ctx, tx, c)
		return err
	})
	return out, userConflict(err)
}
