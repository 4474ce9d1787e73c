package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portvakt/portvakt/internal/mail"
)

var _ mail.Store = (*Store)(nil)

const mailColumns = `id, event_uuid, recipient, template, lang, subject, body, status, attempts, last_error, created_at, sent_at, track`

// CreateMail implements mail.Store.
func (s *Store) CreateMail(ctx context.Context, r mail.Record) error {
	_, err := s.exec(ctx, `INSERT INTO mails (`+mailColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.ID, r.EventUUID, r.To, r.Template, r.Lang, r.Subject, r.Sealed, string(r.Status), r.Attempts, r.LastError,
		micros(r.CreatedAt), nullMicros(r.SentAt), string(r.Track))
	if err = s.engine.mapError(err); errors.Is(err, ErrConflict) {
		return fmt.Errorf("insert mail: %w: %w", mail.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("insert mail: %w", err)
	}
	return nil
}

// MailByEvent implements mail.Store.
func (s *Store) MailByEvent(ctx context.Context, eventUUID string) (mail.Record, error) {
	return scanMail(s.read.QueryRowContext(ctx, `SELECT `+mailColumns+` FROM mails WHERE event_uuid = $1`, eventUUID))
}

// MailByID implements mail.Store.
func (s *Store) MailByID(ctx context.Context, id string) (mail.Record, error) {
	return scanMail(s.read.QueryRowContext(ctx, `SELECT `+mailColumns+` FROM mails WHERE id = $1`, id))
}

// UpdateMailStatus implements mail.Store.
func (s *Store) UpdateMailStatus(ctx context.Context, id string, u mail.Update) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE mails SET status = $2, attempts = $3, last_error = $4, sent_at = $5 WHERE id = $1`,
			id, string(u.Status), u.Attempts, u.LastError, nullMicros(u.SentAt))
		if err != nil {
			return fmt.Errorf("update mail %s: %w", id, s.engine.mapError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update mail %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("update mail %s: %w: %w", id, ErrNotFound, mail.ErrNotFound)
		}
		return s.appendEvents(ctx, tx, u.Events...)
	})
}

// ListMails implements mail.Store.
func (s *Store) ListMails(ctx context.Context, limit int) ([]mail.Record, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+mailColumns+` FROM mails ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list mails: %w", err)
	}
	defer rows.Close()
	var out []mail.Record
	for rows.Next() {
		r, err := scanMail(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list mails: %w", err)
	}
	return out, nil
}

func scanMail(row interface{ Scan(dest ...any) error }) (mail.Record, error) {
	var r mail.Record
	var status string
	var created int64
	var sent sql.NullInt64
	var track string
	err := row.Scan(&r.ID, &r.EventUUID, &r.To, &r.Template, &r.Lang, &r.Subject, &r.Sealed, &status, &r.Attempts,
		&r.LastError, &created, &sent, &track)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: %w", ErrNotFound, mail.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("scan mail: %w", err)
	}
	r.Status = mail.Status(status)
	r.CreatedAt, r.SentAt = fromMicros(created), fromNullMicros(sent)
	if track != "" {
		r.Track = []byte(track)
	}
	return r, nil
}
