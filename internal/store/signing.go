package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/portvakt/portvakt/internal/signing"
)

var _ signing.Store = (*Store)(nil)

const signingKeyColumns = `id, alg, state, sealed_private, public_jwk, created_at, activated_at, retired_at, expires_at`

// SigningKeys implements signing.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]signing.Record, error) {
	return signingKeys(ctx, s.read)
}

func signingKeys(ctx context.Context, q queryer) ([]signing.Record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	defer rows.Close()
	var out []signing.Record
	for rows.Next() {
		var r signing.Record
		var alg, state, jwk string
		var created int64
		var activated, retired, expires sql.NullInt64
		if err := rows.Scan(&r.ID, &alg, &state, &r.SealedPrivate, &jwk, &created, &activated, &retired, &expires); err != nil {
			return nil, fmt.Errorf("scan signing key: %w", err)
		}
		r.Algorithm, r.State, r.PublicJWK = jose.SignatureAlgorithm(alg), signing.State(state), []byte(jwk)
		r.CreatedAt = fromMicros(created)
		r.ActivatedAt, r.RetiredAt, r.RetireUntil = fromNullMicros(activated), fromNullMicros(retired), fromNullMicros(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return out, nil
}

// SigningKeysVersion implements signing.Store.
func (s *Store) SigningKeysVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.read.QueryRowContext(ctx, `SELECT version FROM signing_keys_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read signing keys version: %w", err)
	}
	return v, nil
}

// errNoChange makes UpdateSigningKeys roll back a transaction that changed
// nothing but the version, which it incremented to take the lock.
var errNoChange = errors.New("no change")

// UpdateSigningKeys implements signing.Store. Incrementing the version row
// first is the lock: on PostgreSQL the row lock is held until the
// transaction ends, and the keys are read after it is granted (each
// statement of a READ COMMITTED transaction sees what committed before it),
// so a second node sees the first one's keys. On SQLite the transaction
// holds the database's write lock from its start.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func([]signing.Record) (signing.Changes, error)) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys_version SET version = version + 1 WHERE id = 1`)
		if err != nil {
			return fmt.Errorf("lock signing keys: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("lock signing keys: %w", err)
		} else if n != 1 {
			return errors.New("lock signing keys: signing_keys_version has no row")
		}
		keys, err := signingKeys(ctx, tx)
		if err != nil {
			return err
		}
		ch, err := fn(keys)
		if err != nil {
			return err
		}
		if ch.Empty() {
			return errNoChange
		}
		if len(ch.Events) == 0 {
			return errors.New("update signing keys: changes without events")
		}
		for _, id := range ch.Delete {
			if err := execOne(ctx, tx, `DELETE FROM signing_keys WHERE id = $1`, id); err != nil {
				return fmt.Errorf("delete signing key %s: %w", id, err)
			}
		}
		// Keys leave the active and next states before others enter
		// them, so that one-per-algorithm holds after every statement.
		updates := slices.Clone(ch.Update)
		slices.SortStableFunc(updates, func(a, b signing.Record) int { return updateOrder(a.State) - updateOrder(b.State) })
		for _, r := range updates {
			if err := execOne(ctx, tx,
				`UPDATE signing_keys SET state = $2, activated_at = $3, retired_at = $4, expires_at = $5 WHERE id = $1`,
				r.ID, string(r.State), nullMicros(r.ActivatedAt), nullMicros(r.RetiredAt), nullMicros(r.RetireUntil)); err != nil {
				return fmt.Errorf("update signing key %s: %w", r.ID, err)
			}
		}
		for _, r := range ch.Create {
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				r.ID, string(r.Algorithm), string(r.State), r.SealedPrivate, string(r.PublicJWK), micros(r.CreatedAt),
				nullMicros(r.ActivatedAt), nullMicros(r.RetiredAt), nullMicros(r.RetireUntil))
			if err != nil {
				return fmt.Errorf("insert signing key %s: %w", r.ID, err)
			}
		}
		return s.appendEvents(ctx, tx, ch.Events...)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// updateOrder ranks the target states of updates: retiring first, then
// activating, then anything else.
func updateOrder(s signing.State) int {
	switch s {
	case signing.StateRetired:
		return 0
	case signing.StateActive:
		return 1
	default:
		return 2
	}
}

// execOne runs a statement that must affect exactly one row; none is
// ErrNotFound.
func execOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
