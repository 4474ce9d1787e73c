package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/api"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/retention"
)

var _ retention.Store = (*Store)(nil)

// Purge implements retention.Store.
func (s *Store) Purge(ctx context.Context, now, mailBefore time.Time, event func(retention.Counts) (events.Event, error)) (retention.Counts, error) {
	var counts retention.Counts
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		counts = retention.Counts{}
		for _, q := range []struct {
			name, sql string
			arg       int64
		}{
			{"sessions", `DELETE FROM sessions WHERE expires_at <= $1`, micros(now)},
			{"flows", `DELETE FROM flows WHERE expires_at <= $1`, micros(now)},
			{"account_tokens", `DELETE FROM account_tokens WHERE expires_at <= $1`, micros(now)},
			// A throttle row matters until its block ends and its window
			// (at most a day) has passed.
			{"throttle", `DELETE FROM throttle WHERE blocked_until <= $1 AND window_start <= $1`, micros(now.Add(-24 * time.Hour))},
			{"mails", `DELETE FROM mails WHERE created_at <= $1 AND status <> 'queued'`, micros(mailBefore)},
			{"oidc_auth_requests", `DELETE FROM oidc_auth_requests WHERE expires_at <= $1`, micros(now)},
			{"oidc_tokens", `DELETE FROM oidc_tokens WHERE expires_at <= $1`, micros(now)},
			{"oidc_revoked_jtis", `DELETE FROM oidc_revoked_jtis WHERE expires_at <= $1`, micros(now)},
			// A delivery record stops a replayed event from logging out
			// twice; events are replayed within minutes, not weeks.
			{"oidc_backchannel_deliveries", `DELETE FROM oidc_backchannel_deliveries WHERE created_at <= $1`, micros(now.Add(-7 * 24 * time.Hour))},
			{"oidc_client_assertions", `DELETE FROM oidc_client_assertions WHERE expires_at <= $1`, micros(now)},
			// The sealed link of an invitation waits for the mailer only
			// while the invitation can be accepted.
			{"invitation_links", `UPDATE invitations SET sealed_token = NULL
				WHERE sealed_token IS NOT NULL AND (status <> 'pending' OR expires_at <= $1)`, micros(now)},
			{"api_idempotency", `DELETE FROM api_idempotency WHERE created_at <= $1`, micros(now.Add(-api.IdempotencyTTL))},
			// Delivered webhooks are kept a month for looking into; dead
			// ones until they are replayed or their subscription goes.
			// Their attempts go with them.
			{"webhook_deliveries", `DELETE FROM webhook_deliveries WHERE status = 'delivered' AND updated_at <= $1`, micros(now.Add(-30 * 24 * time.Hour))},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.arg)
			if err != nil {
				return fmt.Errorf("purge %s: %w", q.name, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				counts[q.name] = n
			}
		}
		if len(counts) == 0 {
			return nil
		}
		ev, err := event(counts)
		if err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, ev)
	})
	return counts, err
}
