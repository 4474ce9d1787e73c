package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/orgs"
)

var _ orgs.Store = (*Store)(nil)

// orgConflict adds the domain's sentinel to a unique-key violation.
func orgConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: %w", orgs.ErrConflict, err)
	}
	return err
}

// orgNotFound says what is missing, matching both not-found sentinels.
func orgNotFound(what string) error {
	return fmt.Errorf("%s: %w: %w", what, ErrNotFound, orgs.ErrNotFound)
}

// ---- Organizations ----

// CreateOrganization implements orgs.Store.
func (s *Store) CreateOrganization(ctx context.Context, o orgs.Organization, evs ...events.Event) error {
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		settings, err := json.Marshal(o.Settings)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, name, slug, external_id, status, metadata, created_at, updated_at, settings)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			o.ID, o.Name, o.Slug, nullString(o.ExternalID), string(o.Status), orgMetadata(o), micros(o.CreatedAt), micros(o.UpdatedAt), string(settings)); err != nil {
			return fmt.Errorf("insert organization: %w", err)
		}
		if err := insertDomains(ctx, tx, o); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// UpdateOrganization implements orgs.Store. The creation time stays as
// stored.
func (s *Store) UpdateOrganization(ctx context.Context, o orgs.Organization, prev time.Time, evs ...events.Event) error {
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		settings, err := json.Marshal(o.Settings)
		if err != nil {
			return err
		}
		var was int64 // 0: any
		if !prev.IsZero() {
			was = micros(prev)
		}
		res, err := tx.ExecContext(ctx, `UPDATE organizations SET name = $2, slug = $3, external_id = $4, status = $5, metadata = $6, updated_at = $7,
			settings = $8 WHERE id = $1 AND (CAST($9 AS BIGINT) = 0 OR updated_at = CAST($9 AS BIGINT))`,
			o.ID, o.Name, o.Slug, nullString(o.ExternalID), string(o.Status), orgMetadata(o), micros(o.UpdatedAt), string(settings), was)
		if err != nil {
			return fmt.Errorf("update organization: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := exists(ctx, tx, "organization "+o.ID, `SELECT 1 FROM organizations WHERE id = $1`, o.ID); err != nil {
				return err
			}
			return orgs.ErrStale
		}
		// The domains are replaced as a set; one kept is deleted and
		// inserted again, which no other organization can take meanwhile.
		if _, err := tx.ExecContext(ctx, `DELETE FROM organization_domains WHERE org_id = $1`, o.ID); err != nil {
			return fmt.Errorf("delete organization domains: %w", err)
		}
		if err := insertDomains(ctx, tx, o); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// orgMetadata is o's metadata as stored: {} when unset, as Validate makes
// it.
func orgMetadata(o orgs.Organization) string {
	if len(o.Metadata) == 0 {
		return "{}"
	}
	return string(o.Metadata)
}

func insertDomains(ctx context.Context, tx *sql.Tx, o orgs.Organization) error {
	for _, d := range o.Domains {
		if _, err := tx.ExecContext(ctx, `INSERT INTO organization_domains (domain, org_id) VALUES ($1, $2)`, d, o.ID); err != nil {
			return fmt.Errorf("insert organization domain %s: %w", d, err)
		}
	}
	return nil
}

// DeleteOrganization implements orgs.Store. Its domains and memberships,
// with the roles held in it, go with it.
func (s *Store) DeleteOrganization(ctx context.Context, id string, at time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete organization: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return orgNotFound("organization " + id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE org_id = $2 AND revoked_at IS NULL`, micros(at), id); err != nil {
			return fmt.Errorf("revoke the organization's tokens: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// orgsQuery reads the organizations that cond (a WHERE clause over
// organizations, with what may follow it) selects, with their domains in
// the same statement, so that an organization and its domains are read
// from one state of the database: one row per domain, or one with a NULL
// domain for an organization without any, in slug then domain order.
func orgsQuery(cond string) string {
	return `SELECT o.id, o.name, o.slug, o.external_id, o.status, o.metadata, o.created_at, o.updated_at, o.settings, d.domain
		FROM (SELECT id, name, slug, external_id, status, metadata, created_at, updated_at, settings FROM organizations ` + cond + `) o
		LEFT JOIN organization_domains d ON d.org_id = o.id
		ORDER BY o.slug, d.domain`
}

// readOrgs runs a query made by orgsQuery.
func (s *Store) readOrgs(ctx context.Context, query string, args ...any) ([]orgs.Organization, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read organizations: %w", err)
	}
	defer rows.Close()
	var out []orgs.Organization
	for rows.Next() {
		var o orgs.Organization
		var external, domain sql.NullString
		var status, metadata, settings string
		var created, updated int64
		if err := rows.Scan(&o.ID, &o.Name, &o.Slug, &external, &status, &metadata, &created, &updated, &settings, &domain); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		// An organization's rows are next to each other: the slug orders
		// them and is unique.
		if n := len(out); n == 0 || out[n-1].ID != o.ID {
			o.ExternalID, o.Status, o.Metadata = external.String, orgs.Status(status), json.RawMessage(metadata)
			o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
			if err := json.Unmarshal([]byte(settings), &o.Settings); err != nil {
				return nil, fmt.Errorf("organization %s settings: %w", o.ID, err)
			}
			out = append(out, o)
		}
		if domain.Valid {
			last := &out[len(out)-1]
			last.Domains = append(last.Domains, domain.String)
		}
	}
	return out, rows.Err()
}

// readOrg reads the one organization cond selects.
func (s *Store) readOrg(ctx context.Context, what, cond string, args ...any) (orgs.Organization, error) {
	list, err := s.readOrgs(ctx, orgsQuery(cond), args...)
	if err != nil {
		return orgs.Organization{}, err
	}
	if len(list) == 0 {
		return orgs.Organization{}, orgNotFound(what)
	}
	return list[0], nil
}

// OrganizationByID implements orgs.Store.
func (s *Store) OrganizationByID(ctx context.Context, id string) (orgs.Organization, error) {
	return s.readOrg(ctx, "organization "+id, `WHERE id = $1`, id)
}

// OrganizationBySlug implements orgs.Store.
func (s *Store) OrganizationBySlug(ctx context.Context, slug string) (orgs.Organization, error) {
	return s.readOrg(ctx, "organization with slug "+slug, `WHERE slug = $1`, slug)
}

// OrganizationByExternalID implements orgs.Store. No organization has the
// empty external ID: it is stored as NULL.
func (s *Store) OrganizationByExternalID(ctx context.Context, externalID string) (orgs.Organization, error) {
	return s.readOrg(ctx, "organization with external ID "+externalID, `WHERE external_id = $1`, externalID)
}

// OrganizationByDomain implements orgs.Store. The domain is matched as
// stored: in lower case, without a trailing dot.
func (s *Store) OrganizationByDomain(ctx context.Context, domain string) (orgs.Organization, error) {
	return s.readOrg(ctx, "organization with domain "+domain,
		`WHERE id = (SELECT org_id FROM organization_domains WHERE domain = $1)`, domain)
}

// ListOrganizations implements orgs.Store.
func (s *Store) ListOrganizations(ctx context.Context, after string, limit int) ([]orgs.Organization, error) {
	return s.readOrgs(ctx, orgsQuery(`WHERE slug > $1 ORDER BY slug LIMIT $2`), after, limit)
}

// ---- Roles ----

// CreateRole implements orgs.Store.
func (s *Store) CreateRole(ctx context.Context, r orgs.Role, evs ...events.Event) error {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	permissions, err := json.Marshal(perms)
	if err != nil {
		return fmt.Errorf("encode role permissions: %w", err)
	}
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO roles (app, name, description, permissions, delegable, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.App, r.Name, r.Description, string(permissions), r.Delegable, micros(r.CreatedAt)); err != nil {
			return fmt.Errorf("insert role %s: %w", r.Key(), err)
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// DeleteRole implements orgs.Store. The grants of the role, in
// organizations and outside them, go with it.
func (s *Store) DeleteRole(ctx context.Context, app, name string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE app = $1 AND name = $2`, app, name)
		if err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return orgNotFound("role " + app + "/" + name)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// Roles implements orgs.Store.
func (s *Store) Roles(ctx context.Context, app string) ([]orgs.Role, error) {
	const q = `SELECT app, name, description, permissions, delegable, created_at FROM roles`
	var rows *sql.Rows
	var err error
	if app == "" {
		rows, err = s.read.QueryContext(ctx, q+` ORDER BY app, name`)
	} else {
		rows, err = s.read.QueryContext(ctx, q+` WHERE app = $1 ORDER BY app, name`, app)
	}
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	return collect(rows, scanRole)
}

func scanRole(row scanner) (orgs.Role, error) {
	var r orgs.Role
	var permissions string
	var created int64
	if err := row.Scan(&r.App, &r.Name, &r.Description, &permissions, &r.Delegable, &created); err != nil {
		return r, fmt.Errorf("scan role: %w", err)
	}
	r.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(permissions), &r.Permissions); err != nil {
		return r, fmt.Errorf("role %s permissions: %w", r.Key(), err)
	}
	// None reads back as nil, as a role without permissions is built.
	if len(r.Permissions) == 0 {
		r.Permissions = nil
	}
	return r, nil
}

// ---- Grants ----

// checkGrants returns roles sorted, each once, or a not-found error naming
// the first that does not exist. The foreign keys would refuse such a role
// as well, but with an engine's message rather than one that names it.
func checkGrants(ctx context.Context, tx *sql.Tx, roles []orgs.Grant) ([]orgs.Grant, error) {
	roles = slices.Clone(roles)
	slices.SortFunc(roles, compareGrants)
	roles = slices.Compact(roles)
	for _, g := range roles {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM roles WHERE app = $1 AND name = $2`, g.App, g.Role).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, orgNotFound("role " + g.App + "/" + g.Role)
		}
		if err != nil {
			return nil, fmt.Errorf("read role %s/%s: %w", g.App, g.Role, err)
		}
	}
	return roles, nil
}

func compareGrants(a, b orgs.Grant) int {
	return cmp.Or(strings.Compare(a.App, b.App), strings.Compare(a.Role, b.Role))
}

// exists fails with a not-found error naming what unless query, run in tx,
// finds a row.
func exists(ctx context.Context, tx *sql.Tx, what, query string, args ...any) error {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return orgNotFound(what)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// ---- Memberships ----

// PutMembership implements orgs.Store. A membership replaced keeps its
// creation time. Roles given twice are held once.
func (s *Store) PutMembership(ctx context.Context, m orgs.Membership, evs ...events.Event) error {
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		roles, err := upsertMembership(ctx, tx, m)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM membership_roles WHERE org_id = $1 AND user_id = $2`, m.OrgID, m.UserID); err != nil {
			return fmt.Errorf("delete membership roles: %w", err)
		}
		if err := addMembershipRoles(ctx, tx, m.OrgID, m.UserID, roles); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// upsertMembership creates m in tx without its roles or, if it exists,
// sets its update time, keeping its creation time. It checks that the
// organization, the person and m's roles exist first, and returns the
// roles sorted, each once, for the caller to give.
func upsertMembership(ctx context.Context, tx *sql.Tx, m orgs.Membership) ([]orgs.Grant, error) {
	if err := exists(ctx, tx, "organization "+m.OrgID, `SELECT 1 FROM organizations WHERE id = $1`, m.OrgID); err != nil {
		return nil, err
	}
	if err := exists(ctx, tx, "user "+m.UserID, `SELECT 1 FROM users WHERE id = $1`, m.UserID); err != nil {
		return nil, err
	}
	roles, err := checkGrants(ctx, tx, m.Roles)
	if err != nil {
		return nil, err
	}
	// The upsert locks the membership on PostgreSQL: two writes of one
	// membership's roles happen one after the other.
	if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, user_id) DO UPDATE SET updated_at = excluded.updated_at`,
		m.OrgID, m.UserID, micros(m.CreatedAt), micros(m.UpdatedAt)); err != nil {
		return nil, fmt.Errorf("save membership: %w", err)
	}
	return roles, nil
}

// addMembershipRoles gives the person roles in the organization, keeping
// those they hold there already.
func addMembershipRoles(ctx context.Context, tx *sql.Tx, orgID, userID string, roles []orgs.Grant) error {
	for _, g := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO membership_roles (org_id, user_id, app, role) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, user_id, app, role) DO NOTHING`,
			orgID, userID, g.App, g.Role); err != nil {
			return fmt.Errorf("insert membership role %s/%s: %w", g.App, g.Role, err)
		}
	}
	return nil
}

// RemoveMembership implements orgs.Store. The roles held in the
// organization go with the membership.
func (s *Store) RemoveMembership(ctx context.Context, orgID, userID string, at time.Time, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID)
		if err != nil {
			return fmt.Errorf("delete membership: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return orgNotFound("membership of user " + userID + " in organization " + orgID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE user_id = $2 AND org_id = $3 AND revoked_at IS NULL`,
			micros(at), userID, orgID); err != nil {
			return fmt.Errorf("revoke the leaver's tokens: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// membershipsQuery reads the memberships that cond (a WHERE clause over
// memberships, with what may follow it) selects, with their roles in the
// same statement: one row per role, or one with NULL app and role for a
// membership without any, ordered by order (over the membership's
// columns, as m) then app and role.
func membershipsQuery(cond, order string) string {
	return `SELECT m.org_id, m.user_id, m.created_at, m.updated_at, r.app, r.role
		FROM (SELECT org_id, user_id, created_at, updated_at FROM memberships ` + cond + `) m
		LEFT JOIN membership_roles r ON r.org_id = m.org_id AND r.user_id = m.user_id
		ORDER BY ` + order + `, r.app, r.role`
}

// readMemberships runs a query made by membershipsQuery, whose order
// keeps each membership's rows together.
func (s *Store) readMemberships(ctx context.Context, query string, args ...any) ([]orgs.Membership, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	defer rows.Close()
	var out []orgs.Membership
	for rows.Next() {
		var m orgs.Membership
		var created, updated int64
		var app, role sql.NullString
		if err := rows.Scan(&m.OrgID, &m.UserID, &created, &updated, &app, &role); err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].OrgID != m.OrgID || out[n-1].UserID != m.UserID {
			m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
			out = append(out, m)
		}
		if app.Valid {
			last := &out[len(out)-1]
			last.Roles = append(last.Roles, orgs.Grant{App: app.String, Role: role.String})
		}
	}
	return out, rows.Err()
}

// Membership implements orgs.Store.
func (s *Store) Membership(ctx context.Context, orgID, userID string) (orgs.Membership, error) {
	list, err := s.readMemberships(ctx, membershipsQuery(`WHERE org_id = $1 AND user_id = $2`, `m.user_id`), orgID, userID)
	if err != nil {
		return orgs.Membership{}, err
	}
	if len(list) == 0 {
		return orgs.Membership{}, orgNotFound("membership of user " + userID + " in organization " + orgID)
	}
	return list[0], nil
}

// Members implements orgs.Store.
func (s *Store) Members(ctx context.Context, orgID, after string, limit int) ([]orgs.Membership, error) {
	return s.readMemberships(ctx, membershipsQuery(`WHERE org_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`, `m.user_id`),
		orgID, after, limit)
}

// MembershipsOf implements orgs.Store. Memberships made at the same
// microsecond come in organization ID order.
func (s *Store) MembershipsOf(ctx context.Context, userID string) ([]orgs.Membership, error) {
	return s.readMemberships(ctx, membershipsQuery(`WHERE user_id = $1`, `m.created_at, m.org_id`), userID)
}

// ---- Roles outside organizations ----

// PutUserRoles implements orgs.Store. Roles given twice are held once.
func (s *Store) PutUserRoles(ctx context.Context, userID string, roles []orgs.Grant, evs ...events.Event) error {
	return orgConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		// Lock the user on PostgreSQL: two puts for one person replace the
		// roles one after the other.
		if err := exists(ctx, tx, "user "+userID, `SELECT 1 FROM users WHERE id = $1`+s.engine.forUpdate(), userID); err != nil {
			return err
		}
		roles, err := checkGrants(ctx, tx, roles)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete user roles: %w", err)
		}
		for _, g := range roles {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, app, role) VALUES ($1, $2, $3)`, userID, g.App, g.Role); err != nil {
				return fmt.Errorf("insert user role %s/%s: %w", g.App, g.Role, err)
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// UserRoles implements orgs.Store: the roles ordered by app and role, none
// for a person without any (or unknown).
func (s *Store) UserRoles(ctx context.Context, userID string) ([]orgs.Grant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT app, role FROM user_roles WHERE user_id = $1 ORDER BY app, role`, userID)
	if err != nil {
		return nil, fmt.Errorf("read user roles: %w", err)
	}
	return collect(rows, func(row scanner) (orgs.Grant, error) {
		var g orgs.Grant
		if err := row.Scan(&g.App, &g.Role); err != nil {
			return g, fmt.Errorf("scan user role: %w", err)
		}
		return g, nil
	})
}
