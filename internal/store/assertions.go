package store

import (
	"context"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/oidc"
)

var _ oidc.AssertionStore = (*Store)(nil)

// UseClientAssertion implements oidc.AssertionStore. One statement both
// checks and records, so two nodes that see the same assertion at once
// cannot both accept it: the insert loses on the primary key, and the
// update of a conflicting row happens only if that row has expired (and
// was not purged yet).
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) error {
	res, err := s.exec(ctx, `INSERT INTO oidc_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE oidc_client_assertions.expires_at <= $4`, clientID, jti, micros(expires), micros(now))
	if err != nil {
		return fmt.Errorf("record client assertion: %w", s.engine.mapError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record client assertion: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("client %q assertion %q: %w", clientID, jti, oidc.ErrAssertionReplayed)
	}
	return nil
}
