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
	"github.com/portvakt/portvakt/internal/orgs"
)

var _ orgs.InvitationStore = (*Store)(nil)

const invitationColumns = `id, org_id, email, given_name, family_name, phone, locale, roles, return_to, token_hash,
	status, invited_by, created_at, updated_at, expires_at, accepted_at, accepted_by, client_id, reference, delivery, sealed_token, locked_fields`

// CreateInvitation implements orgs.InvitationStore. A token hash already
// taken is a conflict as well.
func (s *Store) CreateInvitation(ctx context.Context, inv orgs.Invitation, evs ...events.Event) error {
	roles, err := encodeInvitationRoles(inv.Roles)
	if err != nil {
		return err
	}
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, "organization "+inv.OrgID, `SELECT 1 FROM organizations WHERE id = $1`, inv.OrgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (`+invitationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			inv.ID, inv.OrgID, inv.Email, inv.GivenName, inv.FamilyName, inv.Phone, inv.Locale, roles, inv.ReturnTo, inv.TokenHash,
			inv.Status, inv.InvitedBy, micros(inv.CreatedAt), micros(inv.UpdatedAt), micros(inv.ExpiresAt),
			nullMicros(inv.AcceptedAt), nullString(inv.AcceptedBy), inv.ClientID, inv.Reference, delivery(inv.Delivery), inv.SealedToken, fieldList(inv.LockedFields)); err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// UpdateInvitation implements orgs.InvitationStore. The organization and
// the creation time stay as stored.
func (s *Store) UpdateInvitation(ctx context.Context, inv orgs.Invitation, evs ...events.Event) error {
	roles, err := encodeInvitationRoles(inv.Roles)
	if err != nil {
		return err
	}
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET email = $2, given_name = $3, family_name = $4, phone = $5, locale = $6,
			roles = $7, return_to = $8, token_hash = $9, status = $10, invited_by = $11, updated_at = $12, expires_at = $13,
			accepted_at = $14, accepted_by = $15, client_id = $16, reference = $17, delivery = $18, sealed_token = $19, locked_fields = $20
			WHERE id = $1`,
			inv.ID, inv.Email, inv.GivenName, inv.FamilyName, inv.Phone, inv.Locale,
			roles, inv.ReturnTo, inv.TokenHash, inv.Status, inv.InvitedBy, micros(inv.UpdatedAt), micros(inv.ExpiresAt),
			nullMicros(inv.AcceptedAt), nullString(inv.AcceptedBy), inv.ClientID, inv.Reference, delivery(inv.Delivery), inv.SealedToken, fieldList(inv.LockedFields))
		if err != nil {
			return fmt.Errorf("update invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return orgNotFound("invitation " + inv.ID)
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// delivery is an invitation's delivery as stored: email unless set.
func delivery(d string) string {
	if d == "" {
		return orgs.DeliveryEmail
	}
	return d
}

// encodeInvitationRoles is roles as stored: a JSON array of "app/role"
// names, [] for none.
func encodeInvitationRoles(roles []orgs.Grant) (string, error) {
	keys := make([]string, 0, len(roles))
	for _, g := range roles {
		keys = append(keys, g.App+"/"+g.Role)
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return "", fmt.Errorf("encode invitation roles: %w", err)
	}
	return string(b), nil
}

func scanInvitation(row scanner) (orgs.Invitation, error) {
	var inv orgs.Invitation
	var roles, locked string
	var created, updated, expires int64
	var accepted sql.NullInt64
	var acceptedBy sql.NullString
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.GivenName, &inv.FamilyName, &inv.Phone, &inv.Locale, &roles,
		&inv.ReturnTo, &inv.TokenHash, &inv.Status, &inv.InvitedBy, &created, &updated, &expires, &accepted, &acceptedBy, &inv.ClientID, &inv.Reference, &inv.Delivery, &inv.SealedToken, &locked); err != nil {
		return inv, fmt.Errorf("scan invitation: %w", err)
	}
	inv.CreatedAt, inv.UpdatedAt, inv.ExpiresAt = fromMicros(created), fromMicros(updated), fromMicros(expires)
	inv.AcceptedAt, inv.AcceptedBy = fromNullMicros(accepted), acceptedBy.String
	var err error
	if inv.LockedFields, err = parseFieldList(locked); err != nil {
		return inv, fmt.Errorf("invitation %s locked fields: %w", inv.ID, err)
	}
	var keys []string
	if err := json.Unmarshal([]byte(roles), &keys); err != nil {
		return inv, fmt.Errorf("invitation %s roles: %w", inv.ID, err)
	}
	// Application names have no slash: the first one ends it.
	for _, k := range keys {
		app, role, _ := strings.Cut(k, "/")
		inv.Roles = append(inv.Roles, orgs.Grant{App: app, Role: role})
	}
	return inv, nil
}

// rowReader is the store's reader or a transaction.
type rowReader interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// readOrgRow reads the one row query selects through q, with scan; not
// found (naming what, for both the orgs and the store sentinel) when there
// is none.
func readOrgRow[T any](ctx context.Context, q rowReader, what string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, orgNotFound(what)
	}
	return v, err
}

// readInvitation reads the one invitation cond selects, through q.
func readInvitation(ctx context.Context, q rowReader, what, cond string, args ...any) (orgs.Invitation, error) {
	return readOrgRow(ctx, q, what, scanInvitation, `SELECT `+invitationColumns+` FROM invitations `+cond, args...)
}

// InvitationByID implements orgs.InvitationStore.
func (s *Store) InvitationByID(ctx context.Context, id string) (orgs.Invitation, error) {
	return readInvitation(ctx, s.read, "invitation "+id, `WHERE id = $1`, id)
}

// InvitationByTokenHash implements orgs.InvitationStore.
func (s *Store) InvitationByTokenHash(ctx context.Context, hash string) (orgs.Invitation, error) {
	return readInvitation(ctx, s.read, "invitation with the token", `WHERE token_hash = $1`, hash)
}

// PendingInvitation implements orgs.InvitationStore. An invitation past
// its expiry that has not been marked expired yet is still pending, and
// still keeps the address from being invited again.
func (s *Store) PendingInvitation(ctx context.Context, orgID, email string) (orgs.Invitation, error) {
	return readInvitation(ctx, s.read, "pending invitation of "+email+" to organization "+orgID,
		`WHERE org_id = $1 AND email = $2 AND status = $3`, orgID, email, orgs.InvitationPending)
}

// Invitations implements orgs.InvitationStore. Invitations made at the
// same microsecond come in descending ID order.
func (s *Store) Invitations(ctx context.Context, orgID, status string) ([]orgs.Invitation, error) {
	const q = `SELECT ` + invitationColumns + ` FROM invitations WHERE org_id = $1`
	const order = ` ORDER BY created_at DESC, id DESC`
	var rows *sql.Rows
	var err error
	if status == "" {
		rows, err = s.read.QueryContext(ctx, q+order, orgID)
	} else {
		rows, err = s.read.QueryContext(ctx, q+` AND status = $2`+order, orgID, status)
	}
	if err != nil {
		return nil, fmt.Errorf("read invitations: %w", err)
	}
	return collect(rows, scanInvitation)
}

// AcceptInvitation implements orgs.InvitationStore. An invitation expires
// at its ExpiresAt: one accepted then is refused, marked expired or not.
// Roles deleted since it was sent are not given, as they would have been
// taken back had they been given before.
func (s *Store) AcceptInvitation(ctx context.Context, hash, userID string, at time.Time, evs ...events.Event) (orgs.Invitation, error) {
	var inv orgs.Invitation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		// Lock it on PostgreSQL: of two acceptances, the second sees it
		// accepted.
		inv, err = readInvitation(ctx, tx, "invitation with the token", `WHERE token_hash = $1`+s.engine.forUpdate(), hash)
		if err != nil {
			return err
		}
		if inv.Status != orgs.InvitationPending {
			return fmt.Errorf("invitation %s is %s: %w", inv.ID, inv.Status, orgs.ErrInvitationUsed)
		}
		// Compared as stored, as ExpireInvitations compares.
		if micros(at) >= micros(inv.ExpiresAt) {
			return fmt.Errorf("invitation %s expired at %v: %w", inv.ID, inv.ExpiresAt, orgs.ErrInvitationUsed)
		}
		inv.Status, inv.AcceptedAt, inv.AcceptedBy, inv.UpdatedAt = orgs.InvitationAccepted, at, userID, at
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET status = $2, accepted_at = $3, accepted_by = $4, updated_at = $5 WHERE id = $1`,
			inv.ID, inv.Status, micros(at), userID, micros(at)); err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		roles, err := existingGrants(ctx, tx, inv.Roles)
		if err != nil {
			return err
		}
		m := orgs.Membership{OrgID: inv.OrgID, UserID: userID, Roles: roles, CreatedAt: at, UpdatedAt: at}
		if roles, err = upsertMembership(ctx, tx, m); err != nil {
			return err
		}
		if err := addMembershipRoles(ctx, tx, m.OrgID, m.UserID, roles); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	if err != nil {
		return orgs.Invitation{}, err
	}
	// As stored: UTC, in microseconds.
	inv.AcceptedAt, inv.UpdatedAt = fromMicros(micros(at)), fromMicros(micros(at))
	return inv, nil
}

// existingGrants returns those of roles that exist.
func existingGrants(ctx context.Context, tx *sql.Tx, roles []orgs.Grant) ([]orgs.Grant, error) {
	var out []orgs.Grant
	for _, g := range roles {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM roles WHERE app = $1 AND name = $2`, g.App, g.Role).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read role %s/%s: %w", g.App, g.Role, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// ExpireInvitations implements orgs.InvitationStore. An invitation expires
// at its ExpiresAt; the ones that expired first go first. The batch is one
// transaction: an error from ev leaves every invitation as it was.
func (s *Store) ExpireInvitations(ctx context.Context, now time.Time, limit int, ev func(orgs.Invitation) (events.Event, error)) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+invitationColumns+` FROM invitations
			WHERE status = $1 AND expires_at <= $2 ORDER BY expires_at, id LIMIT $3`+s.engine.forUpdate(),
			orgs.InvitationPending, micros(now), limit)
		if err != nil {
			return fmt.Errorf("read expired invitations: %w", err)
		}
		list, err := collect(rows, scanInvitation)
		if err != nil {
			return err
		}
		evs := make([]events.Event, 0, len(list))
		for _, inv := range list {
			inv.Status, inv.UpdatedAt = orgs.InvitationExpired, fromMicros(micros(now))
			e, err := ev(inv)
			if err != nil {
				return fmt.Errorf("event for invitation %s: %w", inv.ID, err)
			}
			evs = append(evs, e)
			if _, err := tx.ExecContext(ctx, `UPDATE invitations SET status = $2, updated_at = $3 WHERE id = $1`,
				inv.ID, inv.Status, micros(now)); err != nil {
				return fmt.Errorf("expire invitation %s: %w", inv.ID, err)
			}
		}
		n = len(list)
		return s.appendEvents(ctx, tx, evs...)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
