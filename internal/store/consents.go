package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/privacy"
)

var _ consents.Store = (*Store)(nil)

const receiptColumns = `id, user_id, purpose, version, action, recorded_at, channel, client_id, actor, method`

// CreateUserWithConsents implements accounts.Store: the user, the
// receipts of what the registration form was ticked for, and the events,
// in one transaction.
func (s *Store) CreateUserWithConsents(ctx context.Context, u accounts.User, receipts []consents.Receipt, evs ...events.Event) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := s.writeReceipts(ctx, tx, receipts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return userConflict(err)
}

// writeReceipts appends receipts, in order, and moves each one's state
// on, inside tx.
func (s *Store) writeReceipts(ctx context.Context, tx *sql.Tx, receipts []consents.Receipt) error {
	for _, r := range receipts {
		if r.ID == "" || r.UserID == "" {
			return errors.New("consent receipt without an ID or user")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consent_receipts (`+receiptColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.UserID, r.Purpose, r.Version, string(r.Action), micros(r.At), string(r.Channel), r.ClientID, r.Actor, r.Method); err != nil {
			return fmt.Errorf("insert consent receipt: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consent_states (user_id, purpose, granted, version, recorded_at, receipt_id)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id, purpose) DO UPDATE SET granted = excluded.granted, version = excluded.version,
				recorded_at = excluded.recorded_at, receipt_id = excluded.receipt_id`,
			r.UserID, r.Purpose, r.Action == consents.Granted, r.Version, micros(r.At), r.ID); err != nil {
			return fmt.Errorf("consent state: %w", err)
		}
	}
	return nil
}

// ConsentStates implements consents.Store: one indexed read, since it is
// asked at every authorization when required purposes are configured.
func (s *Store) ConsentStates(ctx context.Context, userID string) ([]consents.State, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT purpose, version, granted, recorded_at, receipt_id FROM consent_states WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("consent states: %w", err)
	}
	return collect(rows, scanState)
}

func scanState(row scanner) (consents.State, error) {
	var st consents.State
	var at int64
	if err := row.Scan(&st.Purpose, &st.Version, &st.Granted, &at, &st.ReceiptID); err != nil {
		return st, fmt.Errorf("scan consent state: %w", err)
	}
	st.At = fromMicros(at)
	return st, nil
}

// ConsentReceipts implements consents.Store.
func (s *Store) ConsentReceipts(ctx context.Context, userID string) ([]consents.Receipt, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE user_id = $1 ORDER BY recorded_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("consent receipts: %w", err)
	}
	return collect(rows, func(row scanner) (consents.Receipt, error) {
		var r consents.Receipt
		var action, channel string
		var at int64
		if err := row.Scan(&r.ID, &r.UserID, &r.Purpose, &r.Version, &action, &at, &channel, &r.ClientID, &r.Actor, &r.Method); err != nil {
			return r, fmt.Errorf("scan consent receipt: %w", err)
		}
		r.Action, r.Channel, r.At = consents.Action(action), consents.Channel(channel), fromMicros(at)
		return r, nil
	})
}

// UpdateConsents implements consents.Store. The user's row is locked
// first, so that two changes of one person's consents take turns.
func (s *Store) UpdateConsents(ctx context.Context, userID string, fn func([]consents.State) (consents.Change, error)) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = $1`+s.engine.forUpdate(), userID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %w", ErrNotFound, consents.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT purpose, version, granted, recorded_at, receipt_id FROM consent_states WHERE user_id = $1`, userID)
		if err != nil {
			return fmt.Errorf("consent states: %w", err)
		}
		states, err := collect(rows, scanState)
		if err != nil {
			return err
		}
		c, err := fn(states)
		if err != nil {
			return err
		}
		for _, r := range c.Receipts {
			if r.UserID != userID {
				return fmt.Errorf("consent receipt for %s in a change of %s", r.UserID, userID)
			}
		}
		if err := s.writeReceipts(ctx, tx, c.Receipts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, c.Events...)
	})
}

// ConsentsOf implements privacy.Consents: the person's receipts, oldest
// first, as the export shows them.
func (s *Store) ConsentsOf(ctx context.Context, userID string) ([]privacy.Consent, error) {
	rs, err := s.ConsentReceipts(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]privacy.Consent, 0, len(rs))
	for _, r := range rs {
		out = append(out, privacy.Consent{Purpose: r.Purpose, Version: r.Version, Decision: string(r.Action), DecidedAt: r.At,
			Channel: string(r.Channel), ClientID: r.ClientID, Actor: r.Actor, Method: r.Method, Receipt: r.ID})
	}
	return out, nil
}
