package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
)

var _ keyring.Store = (*Store)(nil)

// KeyringKeys implements keyring.Store.
func (s *Store) KeyringKeys(ctx context.Context) ([]keyring.WrappedKey, error) {
	return keyringKeys(ctx, s.read)
}

func keyringKeys(ctx context.Context, q queryer) ([]keyring.WrappedKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, master_key_id, wrapped, created_at, active FROM keyring_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read keyring keys: %w", err)
	}
	defer rows.Close()
	var out []keyring.WrappedKey
	for rows.Next() {
		var k keyring.WrappedKey
		var created int64
		if err := rows.Scan(&k.ID, &k.MasterKeyID, &k.Wrapped, &created, &k.Active); err != nil {
			return nil, fmt.Errorf("scan keyring key: %w", err)
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// CreateKeyringKey implements keyring.Store.
func (s *Store) CreateKeyringKey(ctx context.Context, k keyring.WrappedKey, e events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if k.Active {
			if _, err := tx.ExecContext(ctx, `UPDATE keyring_keys SET active = $1 WHERE active = $2`, false, true); err != nil {
				return fmt.Errorf("deactivate keyring keys: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO keyring_keys (id, master_key_id, wrapped, created_at, active) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.MasterKeyID, k.Wrapped, micros(k.CreatedAt), k.Active)
		if err != nil {
			return fmt.Errorf("insert keyring key: %w", err)
		}
		return s.appendEvents(ctx, tx, e)
	})
}

// RewrapKeyringKeys implements keyring.Store.
func (s *Store) RewrapKeyringKeys(ctx context.Context, fn func(keyring.WrappedKey) (keyring.WrappedKey, bool, error), e events.Event) (int, error) {
	changed := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		keys, err := keyringKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			nk, ok, err := fn(k)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE keyring_keys SET master_key_id = $1, wrapped = $2 WHERE id = $3`,
				nk.MasterKeyID, nk.Wrapped, k.ID); err != nil {
				return fmt.Errorf("rewrap keyring key %s: %w", k.ID, err)
			}
			changed++
		}
		if changed == 0 {
			return nil
		}
		return s.appendEvents(ctx, tx, e)
	})
	if err != nil {
		// The transaction rolled back: nothing changed.
		return 0, err
	}
	return changed, nil
}
