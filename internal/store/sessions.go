package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/throttle"
)

var (
	_ session.Store  = (*Store)(nil)
	_ flows.Store    = (*Store)(nil)
	_ throttle.Store = (*Store)(nil)
)

// CreateSession implements session.Store.
func (s *Store) CreateSession(ctx context.Context, ss session.Session, replaces string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if replaces != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, replaces); err != nil {
				return fmt.Errorf("delete replaced session: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, auth_time, methods, acr, expires_at, client_ip, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			ss.IDHash, ss.UserID, micros(ss.CreatedAt), micros(ss.LastSeenAt), micros(ss.AuthTime),
			strings.Join(ss.Methods, " "), ss.ACR, micros(ss.ExpiresAt), ss.ClientIP, ss.UserAgent)
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

const sessionColumns = `id_hash, user_id, created_at, last_seen_at, auth_time, methods, acr, expires_at, client_ip, user_agent`

func scanSession(row scanner) (session.Session, error) {
	var ss session.Session
	var created, seen, auth, expires int64
	var methods string
	err := row.Scan(&ss.IDHash, &ss.UserID, &created, &seen, &auth, &methods, &ss.ACR, &expires, &ss.ClientIP, &ss.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("%w: %w", ErrNotFound, session.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("read session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.AuthTime, ss.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(auth), fromMicros(expires)
	ss.Methods = strings.Fields(methods)
	return ss, nil
}

// SessionByHash implements session.Store.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (session.Session, error) {
	return scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id_hash = $1`, idHash))
}

// SessionsOf implements session.Store.
func (s *Store) SessionsOf(ctx context.Context, userID string) ([]session.Session, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY last_seen_at DESC, id_hash`, userID)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return collect(rows, scanSession)
}

// TouchSession implements session.Store.
func (s *Store) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2`, micros(at), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements session.Store.
func (s *Store) DeleteSession(ctx context.Context, idHash string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// CreateFlow implements flows.Store.
func (s *Store) CreateFlow(ctx context.Context, f flows.Flow, evs ...events.Event) error {
	data, err := flowData(f)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO flows (id, kind, state, data, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			f.ID, string(f.Kind), string(f.State), data, micros(f.CreatedAt), micros(f.UpdatedAt), micros(f.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert flow: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// FlowByID implements flows.Store.
func (s *Store) FlowByID(ctx context.Context, id string) (flows.Flow, error) {
	return scanFlow(s.read.QueryRowContext(ctx, `SELECT id, kind, state, data, created_at, updated_at, expires_at FROM flows WHERE id = $1`, id))
}

// UpdateFlow implements flows.Store.
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(flows.Flow) (flows.Flow, error)) (flows.Flow, error) {
	var out flows.Flow
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		f, err := scanFlow(tx.QueryRowContext(ctx, `SELECT id, kind, state, data, created_at, updated_at, expires_at FROM flows WHERE id = $1`+s.engine.forUpdate(), id))
		if err != nil {
			return err
		}
		nf, err := fn(f)
		if err != nil {
			return err
		}
		data, err := flowData(nf)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE flows SET state = $2, data = $3, updated_at = $4 WHERE id = $1`,
			id, string(nf.State), data, micros(nf.UpdatedAt)); err != nil {
			return fmt.Errorf("update flow: %w", err)
		}
		out = nf
		return nil
	})
	return out, err
}

func flowData(f flows.Flow) (string, error) {
	b, err := json.Marshal(struct {
		ReturnTo   string   `json:"return_to,omitempty"`
		UILocales  string   `json:"ui_locales,omitempty"`
		Email      string   `json:"email,omitempty"`
		GivenName  string   `json:"given_name,omitempty"`
		FamilyName string   `json:"family_name,omitempty"`
		UserID     string   `json:"user_id,omitempty"`
		Attempts   int      `json:"attempts,omitempty"`
		SignIn     bool     `json:"sign_in_on_verify,omitempty"`
		ACR        string   `json:"acr,omitempty"`
		Methods    []string `json:"methods,omitempty"`
		Binding    string   `json:"binding,omitempty"`
		Challenge  string   `json:"challenge,omitempty"`
		MFA        bool     `json:"mfa,omitempty"`
		Upstream   string   `json:"upstream,omitempty"`
		Link       string   `json:"pending_link,omitempty"`
		Proofed    string   `json:"proofed,omitempty"`
		Profile    string   `json:"pending_profile,omitempty"`
		Org        string   `json:"org,omitempty"`
	}{f.ReturnTo, f.UILocales, f.Email, f.GivenName, f.FamilyName, f.UserID, f.Attempts, f.SignInOnVerify, f.ACR, f.Methods, f.Binding, f.Challenge, f.MFA,
		f.Upstream, f.PendingLink, f.Proofed, f.PendingProfile, f.Org})
	return string(b), err
}

func scanFlow(row scanner) (flows.Flow, error) {
	var f flows.Flow
	var kind, state, data string
	var created, updated, expires int64
	err := row.Scan(&f.ID, &kind, &state, &data, &created, &updated, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("%w: %w", ErrNotFound, flows.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("scan flow: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return f, fmt.Errorf("flow %s data: %w", f.ID, err)
	}
	f.Kind, f.State = flows.Kind(kind), flows.State(state)
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = fromMicros(created), fromMicros(updated), fromMicros(expires)
	return f, nil
}

// ThrottleStates implements throttle.Store.
func (s *Store) ThrottleStates(ctx context.Context, keys []string) (map[string]throttle.State, error) {
	out := map[string]throttle.State{}
	for _, k := range keys {
		var failures int
		var start, blocked int64
		err := s.read.QueryRowContext(ctx, `SELECT failures, window_start, blocked_until FROM throttle WHERE key = $1`, k).Scan(&failures, &start, &blocked)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read throttle: %w", err)
		}
		out[k] = throttle.State{Failures: failures, WindowStart: fromMicros(start), BlockedUntil: fromMicros(blocked)}
	}
	return out, nil
}

// UpdateThrottle implements throttle.Store.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(throttle.State) throttle.State) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// FOR UPDATE locks only a row that exists: two first failures of a
		// key would both read no state and one would be lost. So the row is
		// created first; a concurrent insert of the same key waits for this
		// transaction to end and then finds the row.
		res, err := tx.ExecContext(ctx, `INSERT INTO throttle (key, failures, window_start, blocked_until) VALUES ($1, 0, 0, 0)
			ON CONFLICT (key) DO NOTHING`, key)
		if err != nil {
			return fmt.Errorf("create throttle: %w", err)
		}
		var st throttle.State
		if created, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("create throttle: %w", err)
		} else if created == 0 {
			var failures int
			var start, blocked int64
			err := tx.QueryRowContext(ctx, `SELECT failures, window_start, blocked_until FROM throttle WHERE key = $1`+s.engine.forUpdate(), key).Scan(&failures, &start, &blocked)
			switch {
			case errors.Is(err, sql.ErrNoRows): // deleted meanwhile
			case err != nil:
				return fmt.Errorf("read throttle: %w", err)
			default:
				st = throttle.State{Failures: failures, WindowStart: fromMicros(start), BlockedUntil: fromMicros(blocked)}
			}
		}
		n := fn(st)
		_, err = tx.ExecContext(ctx, `INSERT INTO throttle (key, failures, window_start, blocked_until) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, blocked_until = excluded.blocked_until`,
			key, n.Failures, micros(n.WindowStart), micros(n.BlockedUntil))
		return err
	})
}

// DeleteThrottle implements throttle.Store.
func (s *Store) DeleteThrottle(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if _, err := s.exec(ctx, `DELETE FROM throttle WHERE key = $1`, k); err != nil {
			return fmt.Errorf("delete throttle: %w", err)
		}
	}
	return nil
}
