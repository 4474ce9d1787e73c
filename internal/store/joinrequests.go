package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/orgs"
)

var _ orgs.JoinRequestStore = (*Store)(nil)

const joinRequestColumns = `id, org_id, user_id, email, status, created_at, decided_at, decided_by`

// CreateJoinRequest implements orgs.JoinRequestStore.
func (s *Store) CreateJoinRequest(ctx context.Context, jr orgs.JoinRequest, roles []orgs.Grant, evs ...events.Event) error {
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, "organization "+jr.OrgID, `SELECT 1 FROM organizations WHERE id = $1`, jr.OrgID); err != nil {
			return err
		}
		if err := exists(ctx, tx, "user "+jr.UserID, `SELECT 1 FROM users WHERE id = $1`, jr.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO join_requests (`+joinRequestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			jr.ID, jr.OrgID, jr.UserID, jr.Email, jr.Status, micros(jr.CreatedAt), nullMicros(jr.DecidedAt), jr.DecidedBy); err != nil {
			return fmt.Errorf("insert join request: %w", err)
		}
		if jr.Status == orgs.JoinApproved {
			if err := admit(ctx, tx, jr.OrgID, jr.UserID, jr.DecidedAt, roles); err != nil {
				return err
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// admit makes userID a member of orgID with those of roles that exist,
// keeping any roles they hold there.
func admit(ctx context.Context, tx *sql.Tx, orgID, userID string, at time.Time, roles []orgs.Grant) error {
	roles, err := existingGrants(ctx, tx, roles)
	if err != nil {
		return err
	}
	m := orgs.Membership{OrgID: orgID, UserID: userID, Roles: roles, CreatedAt: at, UpdatedAt: at}
	if roles, err = upsertMembership(ctx, tx, m); err != nil {
		return err
	}
	return addMembershipRoles(ctx, tx, orgID, userID, roles)
}

func scanJoinRequest(row scanner) (orgs.JoinRequest, error) {
	var jr orgs.JoinRequest
	var created int64
	var decided sql.NullInt64
	if err := row.Scan(&jr.ID, &jr.OrgID, &jr.UserID, &jr.Email, &jr.Status, &created, &decided, &jr.DecidedBy); err != nil {
		return jr, fmt.Errorf("scan join request: %w", err)
	}
	jr.CreatedAt, jr.DecidedAt = fromMicros(created), fromNullMicros(decided)
	return jr, nil
}

// readJoinRequest reads the one request cond selects, through q.
func readJoinRequest(ctx context.Context, q rowReader, what, cond string, args ...any) (orgs.JoinRequest, error) {
	return readOrgRow(ctx, q, what, scanJoinRequest, `SELECT `+joinRequestColumns+` FROM join_requests `+cond, args...)
}

// JoinRequestByID implements orgs.JoinRequestStore.
func (s *Store) JoinRequestByID(ctx context.Context, id string) (orgs.JoinRequest, error) {
	return readJoinRequest(ctx, s.read, "join request "+id, `WHERE id = $1`, id)
}

// PendingJoinRequest implements orgs.JoinRequestStore.
func (s *Store) PendingJoinRequest(ctx context.Context, orgID, userID string) (orgs.JoinRequest, error) {
	return readJoinRequest(ctx, s.read, "pending join request of user "+userID+" to organization "+orgID,
		`WHERE org_id = $1 AND user_id = $2 AND status = $3`, orgID, userID, orgs.JoinPending)
}

// JoinRequests implements orgs.JoinRequestStore. Requests made at the same
// microsecond come in ascending ID order.
func (s *Store) JoinRequests(ctx context.Context, orgID, status string) ([]orgs.JoinRequest, error) {
	const q = `SELECT ` + joinRequestColumns + ` FROM join_requests WHERE org_id = $1`
	const order = ` ORDER BY created_at, id`
	var rows *sql.Rows
	var err error
	if status == "" {
		rows, err = s.read.QueryContext(ctx, q+order, orgID)
	} else {
		rows, err = s.read.QueryContext(ctx, q+` AND status = $2`+order, orgID, status)
	}
	if err != nil {
		return nil, fmt.Errorf("read join requests: %w", err)
	}
	return collect(rows, scanJoinRequest)
}

// DecideJoinRequest implements orgs.JoinRequestStore. Of two decisions at
// once, the second finds the request decided.
func (s *Store) DecideJoinRequest(ctx context.Context, id, status, decidedBy string, at time.Time, roles []orgs.Grant, evs ...events.Event) (orgs.JoinRequest, error) {
	if status != orgs.JoinApproved && status != orgs.JoinDeclined {
		return orgs.JoinRequest{}, fmt.Errorf("decide join request %s: %q is not approved or declined", id, status)
	}
	var jr orgs.JoinRequest
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		jr, err = readJoinRequest(ctx, tx, "join request "+id, `WHERE id = $1`+s.engine.forUpdate(), id)
		if err != nil {
			return err
		}
		if jr.Status != orgs.JoinPending {
			return fmt.Errorf("join request %s is %s: %w", id, jr.Status, orgs.ErrJoinRequestDecided)
		}
		jr.Status, jr.DecidedAt, jr.DecidedBy = status, fromMicros(micros(at)), decidedBy
		if _, err := tx.ExecContext(ctx, `UPDATE join_requests SET status = $2, decided_at = $3, decided_by = $4 WHERE id = $1`,
			id, status, micros(at), decidedBy); err != nil {
			return fmt.Errorf("decide join request: %w", err)
		}
		if status == orgs.JoinApproved {
			if err := admit(ctx, tx, jr.OrgID, jr.UserID, at, roles); err != nil {
				return err
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	if err != nil {
		return orgs.JoinRequest{}, err
	}
	return jr, nil
}
