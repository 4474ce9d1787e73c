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
	"github.com/portvakt/portvakt/internal/oidc"
)

var _ oidc.Store = (*Store)(nil)

const authRequestColumns = `id, client_id, params, user_id, auth_time, amr, acr, session_id, done, code_hash, code_used_at, created_at, expires_at`

func notFoundOIDC() error { return fmt.Errorf("%w: %w", ErrNotFound, oidc.ErrNotFound) }

func scanAuthRequest(row scanner) (oidc.AuthRequest, error) {
	var ar oidc.AuthRequest
	var params, amr string
	var authTime, created, expires int64
	var codeHash sql.NullString
	var codeUsed sql.NullInt64
	err := row.Scan(&ar.ID, &ar.ClientID, &params, &ar.UserID, &authTime, &amr, &ar.ACR, &ar.SessionID, &ar.SignedIn,
		&codeHash, &codeUsed, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ar, notFoundOIDC()
	}
	if err != nil {
		return ar, fmt.Errorf("scan auth request: %w", err)
	}
	if err := json.Unmarshal([]byte(params), &ar.Params); err != nil {
		return ar, fmt.Errorf("auth request %s params: %w", ar.ID, err)
	}
	if authTime != 0 {
		ar.AuthTime = fromMicros(authTime)
	}
	ar.AMR = strings.Fields(amr)
	ar.CodeHash = codeHash.String
	ar.CodeUsedAt = fromNullMicros(codeUsed)
	ar.CreatedAt, ar.ExpiresAt = fromMicros(created), fromMicros(expires)
	return ar, nil
}

func authRequestArgs(ar oidc.AuthRequest) ([]any, error) {
	params, err := json.Marshal(ar.Params)
	if err != nil {
		return nil, err
	}
	var authTime int64
	if !ar.AuthTime.IsZero() {
		authTime = micros(ar.AuthTime)
	}
	return []any{ar.ID, ar.ClientID, string(params), ar.UserID, authTime, strings.Join(ar.AMR, " "), ar.ACR, ar.SessionID,
		ar.SignedIn, nullString(ar.CodeHash), nullMicros(ar.CodeUsedAt), micros(ar.CreatedAt), micros(ar.ExpiresAt)}, nil
}

// CreateAuthRequest implements oidc.Store.
func (s *Store) CreateAuthRequest(ctx context.Context, ar oidc.AuthRequest) error {
	args, err := authRequestArgs(ar)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `INSERT INTO oidc_auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, args...); err != nil {
		return fmt.Errorf("insert auth request: %w", s.engine.mapError(err))
	}
	return nil
}

// AuthRequestByID implements oidc.Store.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (oidc.AuthRequest, error) {
	return scanAuthRequest(s.queryRow(ctx, `SELECT `+authRequestColumns+` FROM oidc_auth_requests WHERE id = $1`, id))
}

// UpdateAuthRequest implements oidc.Store.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(oidc.AuthRequest) (oidc.AuthRequest, error)) (oidc.AuthRequest, error) {
	var out oidc.AuthRequest
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ar, err := scanAuthRequest(s.txQueryRow(ctx, tx, `SELECT `+authRequestColumns+` FROM oidc_auth_requests WHERE id = $1`+s.engine.forUpdate(), id))
		if err != nil {
			return err
		}
		if out, err = fn(ar); err != nil {
			return err
		}
		return s.writeAuthRequest(ctx, tx, out)
	})
	return out, err
}

func (s *Store) writeAuthRequest(ctx context.Context, tx *sql.Tx, ar oidc.AuthRequest) error {
	args, err := authRequestArgs(ar)
	if err != nil {
		return err
	}
	_, err = s.txExec(ctx, tx, `UPDATE oidc_auth_requests SET client_id = $2, params = $3, user_id = $4, auth_time = $5,
		amr = $6, acr = $7, session_id = $8, done = $9, code_hash = $10, code_used_at = $11, created_at = $12, expires_at = $13
		WHERE id = $1`, args...)
	if err != nil {
		return fmt.Errorf("update auth request: %w", err)
	}
	return nil
}

// RedeemCode implements oidc.Store.
func (s *Store) RedeemCode(ctx context.Context, codeHash string, now time.Time, issue func(oidc.AuthRequest) ([]oidc.Token, []events.Event, error), reuse func(oidc.AuthRequest) []events.Event) (oidc.AuthRequest, error) {
	var out oidc.AuthRequest
	reused := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ar, err := scanAuthRequest(s.txQueryRow(ctx, tx, `SELECT `+authRequestColumns+` FROM oidc_auth_requests WHERE code_hash = $1`+s.engine.forUpdate(), codeHash))
		if err != nil {
			return err
		}
		out = ar
		if !ar.CodeUsedAt.IsZero() {
			reused = true
			return s.revokeFamily(ctx, tx, ar.ID, now, reuse(ar)...)
		}
		issued, evs, err := issue(ar)
		if err != nil {
			return err
		}
		out.CodeUsedAt = now
		if _, err := s.txExec(ctx, tx, `UPDATE oidc_auth_requests SET code_used_at = $1 WHERE id = $2`, micros(now), ar.ID); err != nil {
			return fmt.Errorf("redeem code: %w", err)
		}
		if err := s.insertTokens(ctx, tx, issued); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	if err == nil && reused {
		err = oidc.ErrCodeReused
	}
	return out, err
}

const tokenCols = `id, kind, family_id, token_hash, client_id, user_id, scopes, audience, auth_time, amr, session_id, created_at, expires_at, used_at, revoked_at, acr, claims, org_id`

func scanOIDCToken(row scanner) (oidc.Token, error) {
	var t oidc.Token
	var kind, scopes, audience, amr, claims string
	var hash sql.NullString
	var authTime, created, expires int64
	var used, revoked sql.NullInt64
	err := row.Scan(&t.ID, &kind, &t.FamilyID, &hash, &t.ClientID, &t.UserID, &scopes, &audience, &authTime, &amr,
		&t.SessionID, &created, &expires, &used, &revoked, &t.ACR, &claims, &t.OrgID)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFoundOIDC()
	}
	if err != nil {
		return t, fmt.Errorf("scan token: %w", err)
	}
	t.Kind, t.Hash = oidc.TokenKind(kind), hash.String
	if claims != "" {
		t.Claims = json.RawMessage(claims)
	}
	t.Scopes, t.Audience, t.AMR = strings.Fields(scopes), strings.Fields(audience), strings.Fields(amr)
	if authTime != 0 {
		t.AuthTime = fromMicros(authTime)
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	t.UsedAt, t.RevokedAt = fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

func (s *Store) insertTokens(ctx context.Context, tx *sql.Tx, ts []oidc.Token) error {
	for _, t := range ts {
		var authTime int64
		if !t.AuthTime.IsZero() {
			authTime = micros(t.AuthTime)
		}
		_, err := s.txExec(ctx, tx, `INSERT INTO oidc_tokens (`+tokenCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			t.ID, string(t.Kind), t.FamilyID, nullString(t.Hash), t.ClientID, t.UserID, strings.Join(t.Scopes, " "),
			strings.Join(t.Audience, " "), authTime, strings.Join(t.AMR, " "), t.SessionID, micros(t.CreatedAt),
			micros(t.ExpiresAt), nullMicros(t.UsedAt), nullMicros(t.RevokedAt), t.ACR, string(t.Claims), t.OrgID)
		if err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
	}
	return nil
}

// SaveGrantTokens implements oidc.Store.
func (s *Store) SaveGrantTokens(ctx context.Context, ts []oidc.Token, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertTokens(ctx, tx, ts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// GrantTokenByHash implements oidc.Store.
func (s *Store) GrantTokenByHash(ctx context.Context, hash string) (oidc.Token, error) {
	return scanOIDCToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM oidc_tokens WHERE token_hash = $1`, hash))
}

// GrantTokenDenied implements oidc.Store.
func (s *Store) GrantTokenDenied(ctx context.Context, id string) (oidc.Token, bool, error) {
	var denied bool
	t, err := scanOIDCToken(denyScanner{row: s.queryRow(ctx, `SELECT `+tokenCols+`,
		EXISTS (SELECT 1 FROM oidc_revoked_jtis WHERE jti = $1) FROM oidc_tokens WHERE id = $1`, id), denied: &denied})
	return t, denied, err
}

// GrantTokenWithUser implements oidc.Store: one query for what userinfo
// needs (a round trip less on PostgreSQL).
func (s *Store) GrantTokenWithUser(ctx context.Context, id string) (oidc.Token, bool, accounts.User, error) {
	var denied bool
	var u accounts.User
	var userErr error
	t, err := scanOIDCToken(joinedScan{row: s.queryRow(ctx, `SELECT `+prefixColumns("t.", tokenCols)+`,
		EXISTS (SELECT 1 FROM oidc_revoked_jtis WHERE jti = $1), `+prefixColumns("u.", userColumns)+`
		FROM oidc_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1`, id), denied: &denied, user: &u, userErr: &userErr})
	if err == nil {
		err = userErr
	}
	return t, denied, u, err
}

// joinedScan scans one row of a token's columns, the deny flag and a
// user's columns, letting scanOIDCToken and scanUser each read their part.
type joinedScan struct {
	row     scanner
	denied  *bool
	user    *accounts.User
	userErr *error
}

func (j joinedScan) Scan(tokenDest ...any) error {
	var rowErr error
	u, err := scanUser(scanFunc(func(userDest ...any) error {
		dest := append(append(append([]any{}, tokenDest...), j.denied), userDest...)
		rowErr = j.row.Scan(dest...)
		return rowErr
	}))
	if rowErr != nil {
		return rowErr
	}
	*j.user, *j.userErr = u, err
	return nil
}

// scanFunc is a function as a scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// prefixColumns qualifies each column of a column list with p.
func prefixColumns(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// denyScanner scans a token row with one more column, the deny flag.
type denyScanner struct {
	row    scanner
	denied *bool
}

func (d denyScanner) Scan(dest ...any) error { return d.row.Scan(append(dest, d.denied)...) }

// GrantTokenByID returns the token with ID id, or ErrNotFound.
func (s *Store) GrantTokenByID(ctx context.Context, id string) (oidc.Token, error) {
	return scanOIDCToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM oidc_tokens WHERE id = $1`, id))
}

// RotateRefresh implements oidc.Store.
func (s *Store) RotateRefresh(ctx context.Context, hash string, now time.Time, next func(old oidc.Token) ([]oidc.Token, []events.Event, error), reuseEvents func(old oidc.Token) []events.Event) ([]oidc.Token, error) {
	var out []oidc.Token
	reused := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := scanOIDCToken(s.txQueryRow(ctx, tx, `SELECT `+tokenCols+` FROM oidc_tokens WHERE token_hash = $1 AND kind = $2`+s.engine.forUpdate(), hash, string(oidc.KindRefresh)))
		if err != nil {
			return err
		}
		if !old.UsedAt.IsZero() || !old.RevokedAt.IsZero() {
			reused = true
			return s.revokeFamily(ctx, tx, old.FamilyID, now, reuseEvents(old)...)
		}
		if !now.Before(old.ExpiresAt) {
			return notFoundOIDC()
		}
		ts, evs, err := next(old)
		if err != nil {
			return err
		}
		if _, err := s.txExec(ctx, tx, `UPDATE oidc_tokens SET used_at = $1 WHERE id = $2`, micros(now), old.ID); err != nil {
			return fmt.Errorf("mark refresh token used: %w", err)
		}
		if err := s.insertTokens(ctx, tx, ts); err != nil {
			return err
		}
		out = ts
		return s.appendEvents(ctx, tx, evs...)
	})
	if err == nil && reused {
		err = oidc.ErrRefreshReused
	}
	return out, err
}

// RevokeFamily implements oidc.Store.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.revokeFamily(ctx, tx, familyID, now, evs...) })
}

func (s *Store) revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, now time.Time, evs ...events.Event) error {
	if familyID == "" {
		return s.appendEvents(ctx, tx, evs...)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL`, micros(now), familyID); err != nil {
		return fmt.Errorf("revoke token family: %w", err)
	}
	// JWT access tokens of the family are denied until they expire.
	if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_revoked_jtis (jti, expires_at)
		SELECT id, expires_at FROM oidc_tokens WHERE family_id = $1 AND kind = $2
		ON CONFLICT (jti) DO NOTHING`, familyID, string(oidc.KindAccess)); err != nil {
		return fmt.Errorf("deny access tokens of family: %w", err)
	}
	return s.appendEvents(ctx, tx, evs...)
}

// RevokeJTI implements oidc.Store.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expires time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`,
			jti, micros(expires)); err != nil {
			return fmt.Errorf("revoke jti: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// JTIRevoked implements oidc.Store.
func (s *Store) JTIRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM oidc_revoked_jtis WHERE jti = $1`, jti).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check revoked jti: %w", err)
	}
	return n > 0, nil
}

// ConsentFor implements oidc.Store.
func (s *Store) ConsentFor(ctx context.Context, userID, clientID string) (oidc.Consent, error) {
	c := oidc.Consent{UserID: userID, ClientID: clientID}
	var scopes string
	var created, updated int64
	err := s.queryRow(ctx, `SELECT scopes, created_at, updated_at FROM oidc_consents WHERE user_id = $1 AND client_id = $2`,
		userID, clientID).Scan(&scopes, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFoundOIDC()
	}
	if err != nil {
		return c, fmt.Errorf("read consent: %w", err)
	}
	c.Scopes = strings.Fields(scopes)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// SaveConsent implements oidc.Store.
func (s *Store) SaveConsent(ctx context.Context, c oidc.Consent, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_consents (user_id, client_id, scopes, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
			c.UserID, c.ClientID, strings.Join(c.Scopes, " "), micros(c.CreatedAt), micros(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("save consent: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// DeleteConsent implements oidc.Store.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return fmt.Errorf("delete consent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFoundOIDC()
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}
