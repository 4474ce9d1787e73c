package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
)

var _ oidc.ConnectionStore = (*Store)(nil)

// UserGrants implements oidc.ConnectionStore.
func (s *Store) UserGrants(ctx context.Context, userID string, now time.Time) ([]oidc.UserGrant, error) {
	byClient := map[string]*oidc.UserGrant{}
	grant := func(clientID string) *oidc.UserGrant {
		g, ok := byClient[clientID]
		if !ok {
			g = &oidc.UserGrant{ClientID: clientID}
			byClient[clientID] = g
		}
		return g
	}
	rows, err := s.read.QueryContext(ctx, `SELECT client_id, scopes, created_at, updated_at FROM oidc_consents WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	consents, err := collect(rows, func(row scanner) (oidc.Consent, error) {
		c := oidc.Consent{UserID: userID}
		var scopes string
		var created, updated int64
		err := row.Scan(&c.ClientID, &scopes, &created, &updated)
		c.Scopes, c.CreatedAt, c.UpdatedAt = strings.Fields(scopes), fromMicros(created), fromMicros(updated)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	for _, c := range consents {
		grant(c.ClientID).Consent = &c
	}
	// Live refresh tokens, each with when its family (the grant it
	// descends from through every rotation) began.
	rows, err = s.read.QueryContext(ctx, `SELECT t.client_id, t.scopes,
			(SELECT MIN(f.created_at) FROM oidc_tokens f WHERE f.family_id = t.family_id)
		FROM oidc_tokens t
		WHERE t.user_id = $1 AND t.kind = $2 AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $3`,
		userID, string(oidc.KindRefresh), micros(now))
	if err != nil {
		return nil, fmt.Errorf("read live refresh tokens: %w", err)
	}
	type live struct {
		client, scopes string
		began          int64
	}
	tokens, err := collect(rows, func(row scanner) (live, error) {
		var l live
		return l, row.Scan(&l.client, &l.scopes, &l.began)
	})
	if err != nil {
		return nil, fmt.Errorf("read live refresh tokens: %w", err)
	}
	for _, l := range tokens {
		g := grant(l.client)
		for _, sc := range strings.Fields(l.scopes) {
			if !slices.Contains(g.TokenScopes, sc) {
				g.TokenScopes = append(g.TokenScopes, sc)
			}
		}
		if began := fromMicros(l.began); g.FirstGrantAt.IsZero() || began.Before(g.FirstGrantAt) {
			g.FirstGrantAt = began
		}
	}
	if len(byClient) == 0 {
		return nil, nil
	}
	rows, err = s.read.QueryContext(ctx, `SELECT client_id, MAX(created_at) FROM oidc_tokens WHERE user_id = $1 GROUP BY client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read last tokens: %w", err)
	}
	type last struct {
		client string
		at     int64
	}
	lasts, err := collect(rows, func(row scanner) (last, error) {
		var l last
		return l, row.Scan(&l.client, &l.at)
	})
	if err != nil {
		return nil, fmt.Errorf("read last tokens: %w", err)
	}
	for _, l := range lasts {
		if g, ok := byClient[l.client]; ok {
			g.LastTokenAt = fromMicros(l.at)
		}
	}
	out := make([]oidc.UserGrant, 0, len(byClient))
	for _, g := range byClient {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out, nil
}

// errNothingToRevoke rolls back a revocation that found nothing.
var errNothingToRevoke = errors.New("nothing to revoke")

// RevokeUserGrant implements oidc.ConnectionStore.
func (s *Store) RevokeUserGrant(ctx context.Context, userID, clientID string, now time.Time, evs ...events.Event) (bool, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		at := micros(now)
		// Access tokens first: their IDs are denied while they could be
		// used, whether JWTs or looked up.
		if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_revoked_jtis (jti, expires_at)
			SELECT id, expires_at FROM oidc_tokens
			WHERE user_id = $1 AND client_id = $2 AND kind = $3 AND revoked_at IS NULL AND expires_at > $4
			ON CONFLICT (jti) DO NOTHING`, userID, clientID, string(oidc.KindAccess), at); err != nil {
			return fmt.Errorf("deny access tokens: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1
			WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $1`, at, userID, clientID)
		if err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		tokens, _ := res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return fmt.Errorf("delete consent: %w", err)
		}
		consents, _ := res.RowsAffected()
		// A code issued but not exchanged would bring new tokens.
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_auth_requests SET expires_at = $1
			WHERE user_id = $2 AND client_id = $3 AND code_used_at IS NULL AND expires_at > $1`, at, userID, clientID); err != nil {
			return fmt.Errorf("end pending codes: %w", err)
		}
		if tokens == 0 && consents == 0 {
			return errNothingToRevoke
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	if errors.Is(err, errNothingToRevoke) {
		return false, nil
	}
	return err == nil, err
}

// ClientSessionGrants implements oidc.BackchannelStore. Tokens revoked at
// at itself count as live: a revocation revokes them at the time of its
// event.
func (s *Store) ClientSessionGrants(ctx context.Context, userID, clientID string, at time.Time) ([]oidc.SessionGrant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT client_id, session_id FROM oidc_tokens
		WHERE user_id = $1 AND client_id = $2 AND expires_at > $3
			AND (used_at IS NULL OR used_at >= $3) AND (revoked_at IS NULL OR revoked_at >= $3)
		ORDER BY client_id, session_id`, userID, clientID, micros(at))
	if err != nil {
		return nil, fmt.Errorf("read client grants: %w", err)
	}
	return collect(rows, func(row scanner) (oidc.SessionGrant, error) {
		var g oidc.SessionGrant
		return g, row.Scan(&g.ClientID, &g.SessionID)
	})
}
