package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

var _ events.Store = (*Store)(nil)

// appendEvents writes events to the outbox inside tx. Call it last in a
// transaction: on PostgreSQL it takes the event-log lock, held to commit.
func (s *Store) appendEvents(ctx context.Context, tx *sql.Tx, evs ...events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := s.engine.lockEventLog(ctx, tx); err != nil {
		return fmt.Errorf("lock event log: %w", err)
	}
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			return err
		}
		_, err := s.txExec(ctx, tx,
			`INSERT INTO events (uuid, type, subject, actor, occurred_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.UUID, e.Type, e.Subject, e.Actor, micros(e.Time), string(e.Data))
		if err != nil {
			return fmt.Errorf("append event %s: %w", e.Type, err)
		}
	}
	return nil
}

// AppendEvents writes events that accompany no other state change (a failed
// sign-in, say) in a transaction of their own.
func (s *Store) AppendEvents(ctx context.Context, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.appendEvents(ctx, tx, evs...) })
}

// EventsAfter implements events.Store.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]events.Event, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT position, uuid, type, subject, actor, occurred_at, data FROM events WHERE position > $1 ORDER BY position LIMIT $2`,
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return scanEvents(rows)
}

// QueryEvents returns the events q selects, in position order.
func (s *Store) QueryEvents(ctx context.Context, q events.Query) ([]events.Event, error) {
	where, args := []string{"position > $1"}, []any{q.After}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var kinds []string
	for _, t := range q.Types {
		kinds = append(kinds, "type = "+arg(t))
	}
	for _, p := range q.Prefixes {
		// Type names are [a-z0-9_.]: no LIKE wildcard but _ to escape.
		kinds = append(kinds, "type LIKE "+arg(strings.ReplaceAll(p, "_", `\_`)+"%")+` ESCAPE '\'`)
	}
	if len(kinds) > 0 {
		where = append(where, "("+strings.Join(kinds, " OR ")+")")
	}
	if q.Subject != "" {
		where = append(where, "subject = "+arg(q.Subject))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT position, uuid, type, subject, actor, occurred_at, data FROM events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY position LIMIT `+arg(q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return scanEvents(rows)
}

// EventsFor returns the newest events about subject, newest first.
func (s *Store) EventsFor(ctx context.Context, subject string, limit int) ([]events.Event, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT position, uuid, type, subject, actor, occurred_at, data FROM events WHERE subject = $1 ORDER BY position DESC LIMIT $2`,
		subject, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return scanEvents(rows)
}

func scanEvents(rows *sql.Rows) ([]events.Event, error) {
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var e events.Event
		var at int64
		var data string
		if err := rows.Scan(&e.Position, &e.UUID, &e.Type, &e.Subject, &e.Actor, &at, &data); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		e.Time = fromMicros(at)
		e.Data = []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Checkpoint implements events.Store.
func (s *Store) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	var pos int64
	err := s.read.QueryRowContext(ctx, `SELECT position FROM event_checkpoints WHERE consumer = $1`, consumer).Scan(&pos)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", consumer, err)
	}
	return pos, nil
}

// SaveCheckpoint implements events.Store. The lease check and the write are
// one statement, so no other holder can slip in between.
func (s *Store) SaveCheckpoint(ctx context.Context, consumer, holder string, position int64, now time.Time) error {
	res, err := s.exec(ctx,
		`INSERT INTO event_checkpoints (consumer, position, updated_at)
		 SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS BIGINT)
		 WHERE EXISTS (SELECT 1 FROM leases WHERE name = CAST($1 AS TEXT) AND holder = $4 AND expires_at > CAST($3 AS BIGINT))
		 ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
		consumer, position, micros(now), holder)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", consumer, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", consumer, err)
	} else if n == 0 {
		return events.ErrLeaseLost
	}
	return nil
}

// AcquireLease implements events.Store.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var held bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
			 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4`,
			name, holder, micros(until), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return held, nil
}

// ReleaseLease implements events.Store.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// LastEventAt returns when the last event of type typ about subject
// occurred; the zero time if there was none.
func (s *Store) LastEventAt(ctx context.Context, subject, typ string) (time.Time, error) {
	var at sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT MAX(occurred_at) FROM events WHERE subject = $1 AND type = $2`, subject, typ).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("read the last %s of %s: %w", typ, subject, err)
	}
	return fromNullMicros(at), nil
}
