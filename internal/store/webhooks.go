package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/webhooks"
)

var (
	_ webhooks.Store         = (*Store)(nil)
	_ webhooks.FanoutStore   = (*Store)(nil)
	_ webhooks.DispatchStore = (*Store)(nil)
)

const webhookColumns = `id, url, description, event_types, enabled, secret, previous_secret, previous_expires_at,
	start_position, paused_at, pause_reason, failing_since, created_at, updated_at`

func scanWebhook(row scanner) (webhooks.Subscription, error) {
	var w webhooks.Subscription
	var types string
	var prevExp, paused, failing sql.NullInt64
	var created, updated int64
	if err := row.Scan(&w.ID, &w.URL, &w.Description, &types, &w.Enabled, &w.Secret, &w.PreviousSecret, &prevExp,
		&w.StartPosition, &paused, &w.PauseReason, &failing, &created, &updated); err != nil {
		return webhooks.Subscription{}, err
	}
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return webhooks.Subscription{}, fmt.Errorf("webhook %s: event types: %w", w.ID, err)
	}
	if len(w.PreviousSecret) == 0 {
		w.PreviousSecret = nil
	}
	w.PreviousExpiresAt, w.PausedAt, w.FailingSince = fromNullMicros(prevExp), fromNullMicros(paused), fromNullMicros(failing)
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	return w, nil
}

func webhookNotFound(id string) error {
	return fmt.Errorf("webhook %s: %w", id, webhooks.ErrNotFound)
}

// CreateWebhook implements webhooks.SubscriptionStore. It takes the event
// log's lock before reading the last position, so no event can commit
// between the subscription's start and its creation.
func (s *Store) CreateWebhook(ctx context.Context, w webhooks.Subscription, ev events.Event) (webhooks.Subscription, error) {
	types, err := json.Marshal(w.EventTypes)
	if err != nil {
		return webhooks.Subscription{}, err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.engine.lockEventLog(ctx, tx); err != nil {
			return fmt.Errorf("lock event log: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&w.StartPosition); err != nil {
			return fmt.Errorf("read the last event position: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_subscriptions (`+webhookColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			w.ID, w.URL, w.Description, string(types), w.Enabled, w.Secret, w.PreviousSecret, nullMicros(w.PreviousExpiresAt),
			w.StartPosition, nullMicros(w.PausedAt), w.PauseReason, nullMicros(w.FailingSince), micros(w.CreatedAt), micros(w.UpdatedAt)); err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		return s.appendEvents(ctx, tx, ev)
	})
	if errors.Is(err, ErrConflict) {
		return webhooks.Subscription{}, fmt.Errorf("webhook %s: %w: %w", w.ID, webhooks.ErrConflict, err)
	}
	if err != nil {
		return webhooks.Subscription{}, err
	}
	return w, nil
}

// Webhook implements webhooks.SubscriptionStore.
func (s *Store) Webhook(ctx context.Context, id string) (webhooks.Subscription, error) {
	w, err := scanWebhook(s.read.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return webhooks.Subscription{}, webhookNotFound(id)
	}
	if err != nil {
		return webhooks.Subscription{}, fmt.Errorf("read webhook %s: %w", id, err)
	}
	return w, nil
}

// Webhooks implements webhooks.SubscriptionStore.
func (s *Store) Webhooks(ctx context.Context) ([]webhooks.Subscription, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	return collect(rows, scanWebhook)
}

// UpdateWebhook implements webhooks.SubscriptionStore.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(webhooks.Subscription) (webhooks.Subscription, []events.Event, error)) (webhooks.Subscription, error) {
	var out webhooks.Subscription
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhook_subscriptions WHERE id = $1`+s.engine.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return webhookNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("read webhook %s: %w", id, err)
		}
		w, evs, err := fn(old)
		if err != nil {
			return err
		}
		types, err := json.Marshal(w.EventTypes)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_subscriptions SET url = $2, description = $3, event_types = $4, enabled = $5,
			secret = $6, previous_secret = $7, previous_expires_at = $8, paused_at = $9, pause_reason = $10, failing_since = $11, updated_at = $12
			WHERE id = $1`,
			id, w.URL, w.Description, string(types), w.Enabled, w.Secret, w.PreviousSecret, nullMicros(w.PreviousExpiresAt),
			nullMicros(w.PausedAt), w.PauseReason, nullMicros(w.FailingSince), micros(w.UpdatedAt)); err != nil {
			return fmt.Errorf("update webhook %s: %w", id, err)
		}
		out = w
		out.ID, out.StartPosition, out.CreatedAt = old.ID, old.StartPosition, old.CreatedAt
		return s.appendEvents(ctx, tx, evs...)
	})
	if err != nil {
		return webhooks.Subscription{}, err
	}
	return out, nil
}

// DeleteWebhook implements webhooks.SubscriptionStore.
func (s *Store) DeleteWebhook(ctx context.Context, id string, ev events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete webhook %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return webhookNotFound(id)
		}
		return s.appendEvents(ctx, tx, ev)
	})
}

// EnqueueWebhookDeliveries implements webhooks.FanoutStore.
func (s *Store) EnqueueWebhookDeliveries(ctx context.Context, ds []webhooks.Delivery) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, d := range ds {
			if _, err := s.txExec(ctx, tx, `INSERT INTO webhook_deliveries (id, subscription_id, event_uuid, event_position, event_type, subject,
				payload, status, attempts, next_attempt_at, window_start, last_error, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
				d.ID, d.SubscriptionID, d.EventUUID, d.EventPosition, d.EventType, d.Subject, string(d.Payload), string(d.Status),
				d.Attempts, micros(d.NextAttemptAt), micros(d.WindowStart), d.LastError, micros(d.CreatedAt), micros(d.UpdatedAt)); err != nil {
				return fmt.Errorf("queue webhook delivery %s: %w", d.ID, err)
			}
		}
		return nil
	})
}

const deliveryColumns = `id, subscription_id, event_uuid, event_position, event_type, subject, payload, status, attempts,
	next_attempt_at, window_start, last_error, created_at, updated_at`

func scanDelivery(row scanner) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	var payload, status string
	var next, window, created, updated int64
	if err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventUUID, &d.EventPosition, &d.EventType, &d.Subject, &payload, &status,
		&d.Attempts, &next, &window, &d.LastError, &created, &updated); err != nil {
		return webhooks.Delivery{}, err
	}
	d.Payload, d.Status = []byte(payload), webhooks.Status(status)
	d.NextAttemptAt, d.WindowStart, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(window), fromMicros(created), fromMicros(updated)
	return d, nil
}

// ClaimWebhookDeliveries implements webhooks.DispatchStore. The lease
// condition is checked again by the UPDATE itself, on the row as it is
// when the statement reaches it, so of two nodes claiming at once only
// one gets a delivery.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, holder string, now, until time.Time, limit int) ([]webhooks.Delivery, error) {
	// An idle dispatcher polls: look on the read pool first, so that
	// polling with nothing due takes no write transaction.
	var due bool
	if err := s.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= $1 AND lease_until <= $1)`, micros(now)).Scan(&due); err != nil {
		return nil, fmt.Errorf("look for due webhook deliveries: %w", err)
	}
	if !due {
		return nil, nil
	}
	var out []webhooks.Delivery
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET lease_holder = $1, lease_until = $2
			WHERE id IN (
				SELECT d.id FROM webhook_deliveries d JOIN webhook_subscriptions w ON w.id = d.subscription_id
				WHERE d.status = 'pending' AND d.next_attempt_at <= $3 AND d.lease_until <= $3
					AND w.enabled AND w.paused_at IS NULL
					AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
						WHERE e.subscription_id = d.subscription_id AND e.subject = d.subject
							AND e.status = 'pending' AND e.event_position < d.event_position)
				ORDER BY d.next_attempt_at, d.event_position
				LIMIT $4)
			AND status = 'pending' AND lease_until <= $3
			RETURNING `+deliveryColumns, holder, micros(until), micros(now), limit)
		if err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		out, err = collect(rows, scanDelivery)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b webhooks.Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	return out, nil
}

// RecordWebhookAttempt implements webhooks.DispatchStore.
func (s *Store) RecordWebhookAttempt(ctx context.Context, holder string, o webhooks.Outcome) error {
	d, a := o.Delivery, o.Attempt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5, last_error = $6,
			updated_at = $7, lease_holder = '', lease_until = 0
			WHERE id = $1 AND lease_holder = $2 AND status = 'pending'`,
			d.ID, holder, string(d.Status), d.Attempts, micros(d.NextAttemptAt), d.LastError, micros(d.UpdatedAt))
		if err != nil {
			return fmt.Errorf("record webhook delivery %s: %w", d.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return webhooks.ErrLeaseLost
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_us, response, error)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			d.ID, micros(a.At), a.StatusCode, a.Latency.Microseconds(), a.Response, a.Error); err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		q := `UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`
		args := []any{d.SubscriptionID}
		if !o.Succeeded {
			q = `UPDATE webhook_subscriptions SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL`
			args = append(args, micros(a.At))
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("record webhook failures: %w", err)
		}
		evs := o.Events
		if o.Pause != nil {
			var reason string
			var data struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(o.Pause.Data, &data) == nil {
				reason = data.Reason
			}
			res, err := tx.ExecContext(ctx, `UPDATE webhook_subscriptions SET paused_at = $2, pause_reason = $3, updated_at = $2
				WHERE id = $1 AND paused_at IS NULL`, d.SubscriptionID, micros(a.At), reason)
			if err != nil {
				return fmt.Errorf("pause webhook: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				evs = append(slices.Clone(evs), *o.Pause)
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// WebhookDeliveries implements webhooks.DeliveryLog.
func (s *Store) WebhookDeliveries(ctx context.Context, subscriptionID string, status webhooks.Status, limit int) ([]webhooks.Delivery, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE subscription_id = $1 AND ($2 = '' OR status = $2) ORDER BY event_position DESC LIMIT $3`,
		subscriptionID, string(status), limit)
	if err != nil {
		return nil, fmt.Errorf("read webhook deliveries: %w", err)
	}
	return collect(rows, scanDelivery)
}

// WebhookDelivery implements webhooks.DeliveryLog.
func (s *Store) WebhookDelivery(ctx context.Context, id string) (webhooks.Delivery, error) {
	d, err := scanDelivery(s.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return webhooks.Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, webhooks.ErrNotFound)
	}
	if err != nil {
		return webhooks.Delivery{}, fmt.Errorf("read webhook delivery %s: %w", id, err)
	}
	return d, nil
}

// WebhookAttempts implements webhooks.DeliveryLog.
func (s *Store) WebhookAttempts(ctx context.Context, deliveryID string) ([]webhooks.Attempt, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, delivery_id, attempted_at, status_code, latency_us, response, error
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("read webhook attempts: %w", err)
	}
	return collect(rows, func(row scanner) (webhooks.Attempt, error) {
		var a webhooks.Attempt
		var at, latency int64
		err := row.Scan(&a.ID, &a.DeliveryID, &at, &a.StatusCode, &latency, &a.Response, &a.Error)
		a.At, a.Latency = fromMicros(at), time.Duration(latency)*time.Microsecond
		return a, err
	})
}

// ReplayWebhookDeliveries implements webhooks.DeliveryLog.
func (s *Store) ReplayWebhookDeliveries(ctx context.Context, subscriptionID, deliveryID string, now time.Time, ev func(n int) (events.Event, error)) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		const set = `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, window_start = $1,
			last_error = '', lease_holder = '', lease_until = 0, updated_at = $1 `
		var res sql.Result
		var err error
		if deliveryID != "" {
			var status string
			err = tx.QueryRowContext(ctx, `SELECT status FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2`+s.engine.forUpdate(),
				deliveryID, subscriptionID).Scan(&status)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("webhook delivery %s: %w", deliveryID, webhooks.ErrNotFound)
			case err != nil:
				return fmt.Errorf("read webhook delivery %s: %w", deliveryID, err)
			case status == string(webhooks.StatusPending):
				return fmt.Errorf("webhook delivery %s is pending, not dead or delivered: %w", deliveryID, webhooks.ErrConflict)
			}
			res, err = tx.ExecContext(ctx, set+`WHERE id = $2`, micros(now), deliveryID)
		} else {
			res, err = tx.ExecContext(ctx, set+`WHERE subscription_id = $2 AND status = 'dead'`, micros(now), subscriptionID)
		}
		if err != nil {
			return fmt.Errorf("replay webhook deliveries: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		e, err := ev(int(n))
		if err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, e)
	})
	return int(n), err
}
