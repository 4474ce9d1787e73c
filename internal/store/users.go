package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
)

var _ accounts.Store = (*Store)(nil)

const userColumns = `id, email, email_normalized, email_verified, given_name, family_name, phone, locale, status,
	external_id, attributes, password_hash, created_at, updated_at, profile_confirmed_at`

// CreateUser implements accounts.Store.
func (s *Store) CreateUser(ctx context.Context, u accounts.User, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			u.ID, u.Email, u.EmailNormalized, u.EmailVerified, u.GivenName, u.FamilyName, u.Phone, u.Locale,
			string(u.Status), nullString(u.ExternalID), string(u.Attributes), u.PasswordHash,
			micros(u.CreatedAt), micros(u.UpdatedAt), nullMicros(u.ProfileConfirmedAt))
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// UserByID implements accounts.Store.
func (s *Store) UserByID(ctx context.Context, id string) (accounts.User, error) {
	return scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
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
	defer rows.Close()
	var out []accounts.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (accounts.User, error) {
	var u accounts.User
	var status, attrs string
	var external sql.NullString
	var created, updated int64
	var confirmed sql.NullInt64
	err := row.Scan(&u.ID, &u.Email, &u.EmailNormalized, &u.EmailVerified, &u.GivenName, &u.FamilyName, &u.Phone,
		&u.Locale, &status, &external, &attrs, &u.PasswordHash, &created, &updated, &confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user: %w", ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("scan user: %w", err)
	}
	u.Status = accounts.Status(status)
	u.ExternalID = external.String
	u.Attributes = []byte(attrs)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.ProfileConfirmedAt = fromNullMicros(confirmed)
	return u, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
