package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/events"
)

var _ authn.Store = (*Store)(nil)

// Factors implements authn.Store.
func (s *Store) Factors(ctx context.Context, userID string) ([]authn.Factor, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, user_id, kind, name, secret, last_step, created_at, last_used_at
		FROM auth_factors WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read factors: %w", err)
	}
	defer rows.Close()
	var out []authn.Factor
	for rows.Next() {
		var f authn.Factor
		var kind string
		var created, used int64
		if err := rows.Scan(&f.ID, &f.UserID, &kind, &f.Name, &f.Secret, &f.LastStep, &created, &used); err != nil {
			return nil, fmt.Errorf("read factors: %w", err)
		}
		f.Kind, f.CreatedAt, f.LastUsedAt = authn.Kind(kind), fromMicros(created), fromMicros(used)
		out = append(out, f)
	}
	return out, rows.Err()
}

// AddFactor implements authn.Store.
func (s *Store) AddFactor(ctx context.Context, f authn.Factor, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_factors (id, user_id, kind, name, secret, last_step, created_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			f.ID, f.UserID, string(f.Kind), f.Name, f.Secret, f.LastStep, micros(f.CreatedAt), micros(f.LastUsedAt)); err != nil {
			return fmt.Errorf("insert factor: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// DeleteFactor implements authn.Store.
func (s *Store) DeleteFactor(ctx context.Context, userID, id string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_factors WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return fmt.Errorf("delete factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return authn.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1
			AND NOT EXISTS (SELECT 1 FROM auth_factors WHERE user_id = $1)`, userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// UseFactorStep implements authn.Store.
func (s *Store) UseFactorStep(ctx context.Context, id string, step int64, at time.Time, evs ...events.Event) (bool, error) {
	fresh := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_factors SET last_step = $1, last_used_at = $2 WHERE id = $3 AND last_step < $1`, step, micros(at), id)
		if err != nil {
			return fmt.Errorf("use factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a replay: nothing to record
		}
		fresh = true
		return s.appendEvents(ctx, tx, evs...)
	})
	return fresh, err
}

// UpdateFactorSecret implements authn.Store.
func (s *Store) UpdateFactorSecret(ctx context.Context, id string, secret []byte, at time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_factors SET secret = $1, last_used_at = $2 WHERE id = $3`, secret, micros(at), id)
		if err != nil {
			return fmt.Errorf("update factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return authn.ErrNotFound
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// ReplaceRecoveryCodes implements authn.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, digests []string, at time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		for _, d := range digests {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, digest, created_at) VALUES ($1, $2, $3)`, userID, d, micros(at)); err != nil {
				return fmt.Errorf("insert recovery code: %w", err)
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// UseRecoveryCode implements authn.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time, evs func(remaining int) ([]events.Event, error)) (int, error) {
	left := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL`, micros(at), userID, digest)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return authn.ErrNotFound
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&left); err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		if evs == nil {
			return nil
		}
		list, err := evs(left)
		if err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, list...)
	})
	return left, err
}

// RecoveryCodesLeft implements authn.Store.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}
