package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
)

var _ oidc.BackchannelStore = (*Store)(nil)

// SessionClients implements oidc.BackchannelStore. A code counts only once
// issued: a request still at the consent page gave the client nothing.
func (s *Store) SessionClients(ctx context.Context, userID, sessionID string) ([]string, error) {
	if sessionID == "" {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT client_id FROM oidc_tokens WHERE session_id = $1 AND user_id = $2
		UNION
		SELECT client_id FROM oidc_auth_requests WHERE session_id = $1 AND user_id = $2 AND code_hash IS NOT NULL
		ORDER BY client_id`, sessionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read session clients: %w", err)
	}
	return collect(rows, func(row scanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	})
}

// LiveGrants implements oidc.BackchannelStore.
func (s *Store) LiveGrants(ctx context.Context, userID string, at time.Time) ([]oidc.SessionGrant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT client_id, session_id FROM oidc_tokens
		WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
		ORDER BY client_id, session_id`, userID, micros(at))
	if err != nil {
		return nil, fmt.Errorf("read live grants: %w", err)
	}
	return collect(rows, func(row scanner) (oidc.SessionGrant, error) {
		var g oidc.SessionGrant
		return g, row.Scan(&g.ClientID, &g.SessionID)
	})
}

// OrgSessionGrants implements oidc.BackchannelStore. Tokens revoked, used
// or ended at at itself count as live: the membership's removal revokes
// them at the time of its event.
func (s *Store) OrgSessionGrants(ctx context.Context, userID, orgID string, at time.Time) ([]oidc.SessionGrant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT client_id, session_id FROM oidc_tokens
		WHERE user_id = $1 AND org_id = $2 AND org_id <> '' AND session_id <> '' AND expires_at > $3
			AND (used_at IS NULL OR used_at >= $3) AND (revoked_at IS NULL OR revoked_at >= $3)
		ORDER BY client_id, session_id`, userID, orgID, micros(at))
	if err != nil {
		return nil, fmt.Errorf("read organization grants: %w", err)
	}
	return collect(rows, func(row scanner) (oidc.SessionGrant, error) {
		var g oidc.SessionGrant
		return g, row.Scan(&g.ClientID, &g.SessionID)
	})
}

// BackchannelDeliveries implements oidc.BackchannelStore.
func (s *Store) BackchannelDeliveries(ctx context.Context, eventUUID string) ([]oidc.BackchannelDelivery, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT event_uuid, client_id, sid, delivered, attempts, created_at
		FROM oidc_backchannel_deliveries WHERE event_uuid = $1 ORDER BY client_id, sid`, eventUUID)
	if err != nil {
		return nil, fmt.Errorf("read back-channel deliveries: %w", err)
	}
	return collect(rows, func(row scanner) (oidc.BackchannelDelivery, error) {
		var d oidc.BackchannelDelivery
		var created int64
		err := row.Scan(&d.EventUUID, &d.ClientID, &d.SID, &d.Delivered, &d.Attempts, &created)
		d.CreatedAt = fromMicros(created)
		return d, err
	})
}

// RecordBackchannelDelivery implements oidc.BackchannelStore.
func (s *Store) RecordBackchannelDelivery(ctx context.Context, d oidc.BackchannelDelivery, ev events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO oidc_backchannel_deliveries (event_uuid, client_id, sid, delivered, attempts, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_uuid, client_id, sid) DO NOTHING`,
			d.EventUUID, d.ClientID, d.SID, d.Delivered, d.Attempts, micros(d.CreatedAt))
		if err != nil {
			return fmt.Errorf("record back-channel delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("record back-channel delivery: %w", err)
		} else if n == 0 {
			return nil // recorded before: the event was written then
		}
		return s.appendEvents(ctx, tx, ev)
	})
}
