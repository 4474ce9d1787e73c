package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
)

var _ externalids.Store = (*Store)(nil)

// externalTable is where the IDs of kind are, and its subject column.
func externalTable(kind externalids.Kind) (table, subject, parent string) {
	if kind == externalids.Organization {
		return "organization_external_ids", "org_id", "organizations"
	}
	return "user_external_ids", "user_id", "users"
}

// ExternalIDs implements externalids.Store.
func (s *Store) ExternalIDs(ctx context.Context, kind externalids.Kind, ids []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	table, subject, _ := externalTable(kind)
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i], marks[i] = id, fmt.Sprintf("$%d", i+1)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+subject+`, source, value FROM `+table+` WHERE `+subject+` IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read external IDs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, src, v string
		if err := rows.Scan(&id, &src, &v); err != nil {
			return nil, fmt.Errorf("read external IDs: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		out[id][src] = v
	}
	return out, rows.Err()
}

// FindExternal implements externalids.Store.
func (s *Store) FindExternal(ctx context.Context, kind externalids.Kind, source, value string) (string, error) {
	table, subject, _ := externalTable(kind)
	var id string
	err := s.read.QueryRowContext(ctx, `SELECT `+subject+` FROM `+table+` WHERE source = $1 AND value = $2`, source, value).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %w", ErrNotFound, externalids.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("find external ID: %w", err)
	}
	return id, nil
}

// SetExternalIDs implements externalids.Store.
func (s *Store) SetExternalIDs(ctx context.Context, kind externalids.Kind, id string, set map[string]string, evs ...events.Event) error {
	table, subject, parent := externalTable(kind)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+parent+` WHERE id = $1`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %w", ErrNotFound, externalids.ErrNotFound)
		} else if err != nil {
			return err
		}
		for _, src := range slices.Sorted(maps.Keys(set)) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+subject+` = $1 AND source = $2`, id, src); err != nil {
				return fmt.Errorf("set external ID: %w", err)
			}
			if set[src] == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+subject+`, source, value) VALUES ($1, $2, $3)`, id, src, set[src]); err != nil {
				if errors.Is(s.engine.mapError(err), ErrConflict) {
					return fmt.Errorf("%w: %w", ErrConflict, externalids.ErrConflict)
				}
				return fmt.Errorf("set external ID: %w", err)
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return err
}
