package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/api"
)

var _ api.IdempotencyStore = (*Store)(nil)

const idempotencyColumns = `client_id, idem_key, request_hash, status, location, etag, body, created_at`

// StartIdempotent implements api.IdempotencyStore: the first of two
// concurrent requests with a key wins the insert; the other reads it.
func (s *Store) StartIdempotent(ctx context.Context, r api.IdempotentRequest, ttl time.Duration) (api.IdempotentRequest, bool, error) {
	var prev api.IdempotentRequest
	seen := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A key older than the TTL is forgotten first.
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_idempotency WHERE client_id = $1 AND idem_key = $2 AND created_at < $3`,
			r.ClientID, r.Key, micros(r.CreatedAt.Add(-ttl))); err != nil {
			return fmt.Errorf("forget an expired idempotency key: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO api_idempotency (client_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (client_id, idem_key) DO NOTHING`, r.ClientID, r.Key, r.RequestHash, micros(r.CreatedAt))
		if err != nil {
			return fmt.Errorf("record an idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		seen = true
		var body string
		var created int64
		err = tx.QueryRowContext(ctx, `SELECT `+idempotencyColumns+` FROM api_idempotency WHERE client_id = $1 AND idem_key = $2`, r.ClientID, r.Key).
			Scan(&prev.ClientID, &prev.Key, &prev.RequestHash, &prev.Status, &prev.Location, &prev.ETag, &body, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read an idempotency key: %w", err)
		}
		prev.Body, prev.CreatedAt = []byte(body), fromMicros(created)
		return err
	})
	return prev, seen, err
}

// FinishIdempotent implements api.IdempotencyStore.
func (s *Store) FinishIdempotent(ctx context.Context, r api.IdempotentRequest) error {
	_, err := s.write.ExecContext(ctx, `UPDATE api_idempotency SET status = $3, location = $4, etag = $5, body = $6
		WHERE client_id = $1 AND idem_key = $2`, r.ClientID, r.Key, r.Status, r.Location, r.ETag, string(r.Body))
	if err != nil {
		return fmt.Errorf("record an idempotent answer: %w", err)
	}
	return nil
}

// AbandonIdempotent implements api.IdempotencyStore.
func (s *Store) AbandonIdempotent(ctx context.Context, clientID, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM api_idempotency WHERE client_id = $1 AND idem_key = $2`, clientID, key); err != nil {
		return fmt.Errorf("forget an idempotency key: %w", err)
	}
	return nil
}
