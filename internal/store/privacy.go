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
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/privacy"
)

var (
	_ privacy.Store       = (*Store)(nil)
	_ privacy.Profiles    = (*Store)(nil)
	_ privacy.SignIns     = (*Store)(nil)
	_ privacy.Memberships = (*Store)(nil)
	_ privacy.Activity    = (*Store)(nil)
)

// likeContains is a LIKE pattern (with ESCAPE '\') matching strings that
// contain s.
func likeContains(s string) string {
	return "%" + likeEscape(s) + "%"
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// placeholders returns "$n, $n+1, …" for count arguments starting at n.
func placeholders(n, count int) string {
	ps := make([]string, count)
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", n+i)
	}
	return strings.Join(ps, ", ")
}

// anyOf returns the values as arguments.
func anyOf(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// ---- pending deletions ----

// ScheduleDeletion implements privacy.Store.
func (s *Store) ScheduleDeletion(ctx context.Context, userID string, fn func(privacy.Pending) (privacy.Deletion, []events.Event, error)) (privacy.Deletion, error) {
	var d privacy.Deletion
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.engine.forUpdate(), userID))
		if err != nil {
			return err
		}
		sids, err := strings1(ctx, tx, `SELECT id_hash FROM sessions WHERE user_id = $1 ORDER BY created_at, id_hash`, userID)
		if err != nil {
			return fmt.Errorf("read sessions: %w", err)
		}
		p := privacy.Pending{User: u}
		for _, h := range sids {
			p.Sessions = append(p.Sessions, "session:"+h[:16])
		}
		var evs []events.Event
		if d, evs, err = fn(p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_deletions (user_id, requested_at, due_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET requested_at = excluded.requested_at, due_at = excluded.due_at`,
			userID, micros(d.RequestedAt), micros(d.DueAt)); err != nil {
			return fmt.Errorf("store the deletion: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		// The tokens stop working: refresh tokens are revoked, and access
		// tokens (JWTs checked by signature too) denied until they expire.
		// They stay, so that back-channel logout finds the applications of
		// the sessions that ended.
		if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_revoked_jtis (jti, expires_at)
			SELECT id, expires_at FROM oidc_tokens WHERE user_id = $1 AND kind = $2 AND revoked_at IS NULL AND expires_at > $3
			ON CONFLICT (jti) DO NOTHING`, userID, string(oidc.KindAccess), micros(d.RequestedAt)); err != nil {
			return fmt.Errorf("deny access tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			micros(d.RequestedAt), userID); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return d, err
}

// strings1 reads a one-column result of strings.
func strings1(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row scanner) (string, error) {
		var v string
		return v, row.Scan(&v)
	})
}

// CancelDeletion implements privacy.Store.
func (s *Store) CancelDeletion(ctx context.Context, userID string, ev events.Event) (bool, error) {
	// Every sign-in asks; almost none has a deletion pending. A read on the
	// read pool answers those without a write transaction.
	var pending int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM account_deletions WHERE user_id = $1`, userID).Scan(&pending); err != nil {
		return false, fmt.Errorf("read deletion: %w", err)
	}
	if pending == 0 {
		return false, nil
	}
	var found bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM account_deletions WHERE user_id = $1`, userID)
		if err != nil {
			return fmt.Errorf("cancel deletion: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		found = true
		return s.appendEvents(ctx, tx, ev)
	})
	return found, err
}

// DeletionOf implements privacy.Profiles.
func (s *Store) DeletionOf(ctx context.Context, userID string) (privacy.Deletion, error) {
	var requested, due int64
	err := s.read.QueryRowContext(ctx, `SELECT requested_at, due_at FROM account_deletions WHERE user_id = $1`, userID).Scan(&requested, &due)
	if errors.Is(err, sql.ErrNoRows) {
		return privacy.Deletion{}, fmt.Errorf("%w: %w", ErrNotFound, privacy.ErrNotFound)
	}
	if err != nil {
		return privacy.Deletion{}, fmt.Errorf("read deletion: %w", err)
	}
	return privacy.Deletion{RequestedAt: fromMicros(requested), DueAt: fromMicros(due)}, nil
}

// DueDeletions implements privacy.Store.
func (s *Store) DueDeletions(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := strings1(ctx, s.read, `SELECT user_id FROM account_deletions WHERE due_at <= $1 ORDER BY due_at, user_id LIMIT $2`, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("read due deletions: %w", err)
	}
	return ids, nil
}

// UnverifiedAccounts implements privacy.Store. Who made the account, and
// when the person last signed in, are in the event log (by subject).
func (s *Store) UnverifiedAccounts(ctx context.Context, before time.Time, limit int) ([]string, error) {
	ids, err := strings1(ctx, s.read, `SELECT u.id FROM users u
		WHERE u.email_verified = FALSE AND u.created_at <= $1
			AND NOT EXISTS (SELECT 1 FROM user_identities i WHERE i.user_id = u.id)
			AND NOT EXISTS (SELECT 1 FROM auth_factors f WHERE f.user_id = u.id)
			AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id)
			AND EXISTS (SELECT 1 FROM events e WHERE e.subject = 'user:' || u.id AND e.type = 'user.registered')
			AND NOT EXISTS (SELECT 1 FROM events e WHERE e.subject = 'user:' || u.id AND e.type = 'user.login_succeeded' AND e.occurred_at > $1)
		ORDER BY u.created_at, u.id LIMIT $2`, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("read unverified accounts: %w", err)
	}
	return ids, nil
}

// ---- erasure ----

// EraseUser implements privacy.Store. What goes, table by table:
//
//   - users, and with it (foreign keys) sessions, one-time tokens,
//     factors, recovery codes, linked upstream accounts, verified
//     attributes, national identity number hashes, memberships and their
//     roles, roles outside organizations, join requests, external IDs and
//     the pending deletion;
//   - what names the user without a foreign key: authorization requests
//     (and those whose parameters hold the address), tokens and consents
//     of the OpenID Provider, invitations to the person's addresses or
//     accepted by them (with their sealed links), self-service flows,
//     throttle counts of the account, mail to the person's addresses, and
//     the management API's kept answers (idempotency) that name the user;
//   - scrubbed, not deleted: the data of events about the person and of
//     events of their organizations that name their address, the
//     payloads and errors of webhook deliveries of those events, and the
//     answers kept of their attempts.
//
// Kept as they are: events' subjects and actors (user:<id>, a pseudonym),
// invitations the person sent (the invitee's), join requests they decided
// (the requester's), back-channel logout and webhook delivery records, and
// everything that is not about people (clients, keys, providers,
// organizations, roles, subscriptions).
func (s *Store) EraseUser(ctx context.Context, userID string, now time.Time, fn func(privacy.Erasure) ([]events.Event, error)) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.engine.forUpdate(), userID))
		if err != nil {
			return err
		}
		e, err := s.erasureOf(ctx, tx, u, now)
		if err != nil {
			return err
		}
		evs, err := fn(e)
		if err != nil {
			return err
		}
		sc := privacy.NewScrubber(e)
		addrs := erasedAddresses(e)
		orgIDs, err := erasedOrgs(ctx, tx, userID, addrs)
		if err != nil {
			return err
		}
		if err := scrubEvents(ctx, tx, sc, u.Subject(), orgIDs); err != nil {
			return err
		}
		if err := scrubDeliveries(ctx, tx, sc, u.Subject(), orgIDs); err != nil {
			return err
		}
		if err := deleteNamed(ctx, tx, sc, userID, addrs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, userID); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// erasureOf reads what privacy.Erasure says of u, inside tx.
func (s *Store) erasureOf(ctx context.Context, tx *sql.Tx, u accounts.User, now time.Time) (privacy.Erasure, error) {
	e := privacy.Erasure{User: u, ExternalIDs: map[string]string{}}
	rows, err := tx.QueryContext(ctx, `SELECT source, value FROM user_external_ids WHERE user_id = $1`, u.ID)
	if err != nil {
		return e, fmt.Errorf("read external IDs: %w", err)
	}
	pairs, err := collect(rows, func(row scanner) ([2]string, error) {
		var p [2]string
		return p, row.Scan(&p[0], &p[1])
	})
	if err != nil {
		return e, fmt.Errorf("read external IDs: %w", err)
	}
	for _, p := range pairs {
		e.ExternalIDs[p[0]] = p[1]
	}
	var requested, due sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT requested_at, due_at FROM account_deletions WHERE user_id = $1`, u.ID).Scan(&requested, &due)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("read deletion: %w", err)
	}
	e.Deletion = privacy.Deletion{RequestedAt: fromNullMicros(requested), DueAt: fromNullMicros(due)}
	if e.Addresses, err = strings1(ctx, tx, `SELECT email FROM user_identities WHERE user_id = $1 AND email <> ''
		UNION SELECT email FROM join_requests WHERE user_id = $1
		UNION SELECT email FROM invitations WHERE accepted_by = $1`, u.ID); err != nil {
		return e, fmt.Errorf("read addresses: %w", err)
	}
	former, err := formerAddresses(ctx, tx, u)
	if err != nil {
		return e, err
	}
	e.Addresses = append(e.Addresses, former...)
	var registered int
	var lastSignIn sql.NullInt64
	for _, c := range []struct {
		query string
		dest  any
		arg   string
	}{
		{`SELECT COUNT(*) FROM user_identities WHERE user_id = $1`, &e.Identities, u.ID},
		{`SELECT COUNT(*) FROM auth_factors WHERE user_id = $1`, &e.Factors, u.ID},
		{`SELECT COUNT(*) FROM memberships WHERE user_id = $1`, &e.Memberships, u.ID},
		{`SELECT COUNT(*) FROM events WHERE subject = $1 AND type = 'user.registered'`, &registered, u.Subject()},
		{`SELECT MAX(occurred_at) FROM events WHERE subject = $1 AND type = 'user.login_succeeded'`, &lastSignIn, u.Subject()},
	} {
		if err := tx.QueryRowContext(ctx, c.query, c.arg).Scan(c.dest); err != nil {
			return e, fmt.Errorf("read what the account has: %w", err)
		}
	}
	e.SelfRegistered, e.LastSignIn = registered > 0, fromNullMicros(lastSignIn)
	// The applications to log out: those holding live tokens, and those
	// given a code or a token in a session that ends now.
	rows, err = tx.QueryContext(ctx, `SELECT client_id, session_id FROM oidc_tokens
			WHERE user_id = $1 AND ((used_at IS NULL AND revoked_at IS NULL AND expires_at > $2)
				OR (session_id <> '' AND session_id IN (SELECT substr(id_hash, 1, 16) FROM sessions WHERE user_id = $1)))
		UNION
		SELECT client_id, session_id FROM oidc_auth_requests
			WHERE user_id = $1 AND code_hash IS NOT NULL
				AND session_id <> '' AND session_id IN (SELECT substr(id_hash, 1, 16) FROM sessions WHERE user_id = $1)
		ORDER BY client_id, session_id`, u.ID, micros(now))
	if err != nil {
		return e, fmt.Errorf("read the applications to log out: %w", err)
	}
	e.Logout, err = collect(rows, func(row scanner) (privacy.LogoutTarget, error) {
		var t privacy.LogoutTarget
		return t, row.Scan(&t.ClientID, &t.SID)
	})
	if err != nil {
		return e, fmt.Errorf("read the applications to log out: %w", err)
	}
	return e, nil
}

// erasedAddresses are the lower-case addresses whose records go.
func erasedAddresses(e privacy.Erasure) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range append([]string{e.User.EmailNormalized, e.User.Email}, e.Addresses...) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// erasedOrgs are the organizations whose events may name the person: of
// their memberships, join requests and invitations.
func erasedOrgs(ctx context.Context, tx *sql.Tx, userID string, addrs []string) ([]string, error) {
	args := append([]any{userID}, anyOf(addrs)...)
	ids, err := strings1(ctx, tx, `SELECT org_id FROM memberships WHERE user_id = $1
		UNION SELECT org_id FROM join_requests WHERE user_id = $1
		UNION SELECT org_id FROM invitations WHERE accepted_by = $1 OR email IN (`+placeholders(2, len(addrs))+`)
		ORDER BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the person's organizations: %w", err)
	}
	return ids, nil
}

// mentions is a condition on column (lower-cased) containing any of the
// patterns, as arguments numbered from n, with the arguments.
func mentions(column string, n int, patterns []string) (string, []any) {
	if len(patterns) == 0 {
		return "FALSE", nil
	}
	var conds []string
	var args []any
	for i, p := range patterns {
		conds = append(conds, fmt.Sprintf("LOWER(%s) LIKE $%d ESCAPE '\\'", column, n+i))
		args = append(args, likeContains(p))
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// scrubRow is one row to scrub: its key and texts.
type scrubRow struct {
	key   any
	about bool
	texts []string
}

// readScrubRows reads rows of (key, text…) through tx.
func readScrubRows(ctx context.Context, tx *sql.Tx, n int, about bool, query string, args ...any) ([]scrubRow, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row scanner) (scrubRow, error) {
		r := scrubRow{about: about, texts: make([]string, n)}
		dest := []any{&r.key}
		for i := range r.texts {
			dest = append(dest, &r.texts[i])
		}
		return r, row.Scan(dest...)
	})
}

// scrubEvents scrubs the data of the events about the person, and of
// their organizations' events that name one of their addresses.
func scrubEvents(ctx context.Context, tx *sql.Tx, sc *privacy.Scrubber, subject string, orgIDs []string) error {
	rows, err := readScrubRows(ctx, tx, 1, true, `SELECT position, data FROM events WHERE subject = $1`, subject)
	if err != nil {
		return fmt.Errorf("read the person's events: %w", err)
	}
	for _, id := range orgIDs {
		cond, args := mentions("data", 2, sc.Patterns())
		more, err := readScrubRows(ctx, tx, 1, false, `SELECT position, data FROM events WHERE subject = $1 AND `+cond,
			append([]any{"org:" + id}, args...)...)
		if err != nil {
			return fmt.Errorf("read organization events: %w", err)
		}
		rows = append(rows, more...)
	}
	for _, r := range rows {
		if data, changed := sc.Data([]byte(r.texts[0]), r.about); changed {
			if _, err := tx.ExecContext(ctx, `UPDATE events SET data = $2 WHERE position = $1`, r.key, string(data)); err != nil {
				return fmt.Errorf("scrub event: %w", err)
			}
		}
	}
	return nil
}

// scrubDeliveries scrubs the webhook deliveries of the events
// scrubEvents scrubs (their payloads carry the events' data), with the
// errors and answers kept of their attempts.
func scrubDeliveries(ctx context.Context, tx *sql.Tx, sc *privacy.Scrubber, subject string, orgIDs []string) error {
	const cols = `SELECT id, payload, last_error FROM webhook_deliveries`
	rows, err := readScrubRows(ctx, tx, 2, true, cols+` WHERE subject = $1`, subject)
	if err != nil {
		return fmt.Errorf("read the person's webhook deliveries: %w", err)
	}
	for _, id := range orgIDs {
		cond, args := mentions("payload", 2, sc.Patterns())
		more, err := readScrubRows(ctx, tx, 2, false, cols+` WHERE subject = $1 AND `+cond, append([]any{"org:" + id}, args...)...)
		if err != nil {
			return fmt.Errorf("read organization webhook deliveries: %w", err)
		}
		rows = append(rows, more...)
	}
	for _, r := range rows {
		payload, c1 := sc.Data([]byte(r.texts[0]), r.about)
		lastErr, c2 := scrubNote(sc, r.texts[1], r.about)
		if c1 || c2 {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET payload = $2, last_error = $3 WHERE id = $1`,
				r.key, string(payload), lastErr); err != nil {
				return fmt.Errorf("scrub webhook delivery: %w", err)
			}
		}
		attempts, err := readScrubRows(ctx, tx, 2, r.about, `SELECT id, response, error FROM webhook_attempts WHERE delivery_id = $1`, r.key)
		if err != nil {
			return fmt.Errorf("read webhook attempts: %w", err)
		}
		for _, a := range attempts {
			response, c1 := scrubNote(sc, a.texts[0], a.about)
			msg, c2 := scrubNote(sc, a.texts[1], a.about)
			if c1 || c2 {
				if _, err := tx.ExecContext(ctx, `UPDATE webhook_attempts SET response = $2, error = $3 WHERE id = $1`,
					a.key, response, msg); err != nil {
					return fmt.Errorf("scrub webhook attempt: %w", err)
				}
			}
		}
	}
	return nil
}

// scrubNote scrubs a receiver's answer or an error kept with a delivery.
// Of a delivery about the person it goes whole: free text may echo the
// payload, old names and all, and it only ever helped to debug that
// delivery.
func scrubNote(sc *privacy.Scrubber, v string, about bool) (string, bool) {
	if about {
		if v == "" || v == privacy.Erased {
			return v, false
		}
		return privacy.Erased, true
	}
	return sc.Text(v)
}

// deleteNamed deletes the rows that name the user or their addresses
// without a foreign key to the user.
func deleteNamed(ctx context.Context, tx *sql.Tx, sc *privacy.Scrubber, userID string, addrs []string) error {
	exec := func(what, query string, args ...any) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("delete %s: %w", what, err)
		}
		return nil
	}
	inAddrs := placeholders(2, len(addrs))
	withAddrs := append([]any{userID}, anyOf(addrs)...)
	if err := exec("invitations", `DELETE FROM invitations WHERE accepted_by = $1 OR email IN (`+inAddrs+`)`, withAddrs...); err != nil {
		return err
	}
	if err := exec("mail", `DELETE FROM mails WHERE recipient IN (`+placeholders(1, len(addrs))+`) OR LOWER(recipient) IN (`+
		placeholders(1, len(addrs))+`)`, anyOf(addrs)...); err != nil {
		return err
	}
	// Throttle keys end in the account's ID or address (login:account:<address>).
	keys := []string{"%:" + likeEscape(userID)}
	for _, a := range addrs {
		keys = append(keys, "%:"+likeEscape(a))
	}
	for _, k := range keys {
		if err := exec("throttle counts", `DELETE FROM throttle WHERE LOWER(key) LIKE $1 ESCAPE '\'`, k); err != nil {
			return err
		}
	}
	id := likeContains(userID)
	cond, args := mentions("data", 2, sc.Patterns())
	if err := exec("flows", `DELETE FROM flows WHERE data LIKE $1 ESCAPE '\' OR `+cond, append([]any{id}, args...)...); err != nil {
		return err
	}
	cond, args = mentions("params", 2, sc.Patterns())
	if err := exec("authorization requests", `DELETE FROM oidc_auth_requests WHERE user_id = $1 OR `+cond, append([]any{userID}, args...)...); err != nil {
		return err
	}
	if err := exec("tokens", `DELETE FROM oidc_tokens WHERE user_id = $1`, userID); err != nil {
		return err
	}
	if err := exec("consents", `DELETE FROM oidc_consents WHERE user_id = $1`, userID); err != nil {
		return err
	}
	cond, args = mentions("body", 2, sc.Patterns())
	return exec("kept API answers", `DELETE FROM api_idempotency WHERE body LIKE $1 ESCAPE '\' OR location LIKE $1 ESCAPE '\' OR `+cond,
		append([]any{id}, args...)...)
}

// emailChangeKeys are where the events of an address change name the
// addresses involved.
var emailChangeKeys = []string{"old_email", "new_email", "restored_email", "replaced_email"}

// formerAddresses are the addresses the user had, or asked for, besides the
// current one: named by the events of their address changes and by the
// tokens of changes not yet confirmed. Mail went to them.
func formerAddresses(ctx context.Context, q queryer, u accounts.User) ([]string, error) {
	out, err := strings1(ctx, q, `SELECT LOWER(target_email) FROM account_tokens WHERE user_id = $1 AND target_email <> ''`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("read addresses of changes: %w", err)
	}
	datas, err := strings1(ctx, q, `SELECT data FROM events WHERE subject = $1
		AND type IN ('user.email_change_requested', 'user.email_changed', 'user.email_change_undone')`, u.Subject())
	if err != nil {
		return nil, fmt.Errorf("read address changes: %w", err)
	}
	for _, d := range datas {
		var m map[string]any
		if json.Unmarshal([]byte(d), &m) != nil {
			continue
		}
		for _, k := range emailChangeKeys {
			if a, ok := m[k].(string); ok && a != "" && a != privacy.Erased {
				out = append(out, strings.ToLower(strings.TrimSpace(a)))
			}
		}
	}
	return out, nil
}

// FormerAddresses implements privacy.Activity.
func (s *Store) FormerAddresses(ctx context.Context, u accounts.User) ([]string, error) {
	return formerAddresses(ctx, s.read, u)
}

// ---- reads for the export ----

// JoinRequestsOf implements privacy.Memberships.
func (s *Store) JoinRequestsOf(ctx context.Context, userID string) ([]orgs.JoinRequest, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+joinRequestColumns+` FROM join_requests WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read join requests: %w", err)
	}
	return collect(rows, scanJoinRequest)
}

// InvitationsOf implements privacy.Memberships.
func (s *Store) InvitationsOf(ctx context.Context, addresses []string, userID, inviter string) ([]orgs.Invitation, error) {
	args := append([]any{userID, inviter}, anyOf(addresses)...)
	rows, err := s.read.QueryContext(ctx, `SELECT `+invitationColumns+` FROM invitations
		WHERE accepted_by = $1 OR invited_by = $2 OR email IN (`+placeholders(3, len(addresses))+`)
		ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read invitations: %w", err)
	}
	return collect(rows, scanInvitation)
}

// GrantsOf implements privacy.Activity.
func (s *Store) GrantsOf(ctx context.Context, userID string) ([]privacy.Application, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT g.client_id, COALESCE(c.name, ''), g.scopes, g.created_at, g.updated_at
		FROM oidc_consents g LEFT JOIN clients c ON c.id = g.client_id WHERE g.user_id = $1 ORDER BY g.created_at, g.client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	return collect(rows, func(row scanner) (privacy.Application, error) {
		var a privacy.Application
		var scopes string
		var created, updated int64
		err := row.Scan(&a.ClientID, &a.ClientName, &scopes, &created, &updated)
		a.Scopes, a.GrantedAt, a.UpdatedAt = nonNilFields(scopes), fromMicros(created), fromMicros(updated)
		return a, err
	})
}

func nonNilFields(s string) []string {
	if f := strings.Fields(s); f != nil {
		return f
	}
	return []string{}
}

// TokensOf implements privacy.Activity.
func (s *Store) TokensOf(ctx context.Context, userID string) ([]privacy.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT t.client_id, COALESCE(c.name, ''), t.kind, t.scopes, t.created_at, t.expires_at, t.used_at, t.revoked_at
		FROM oidc_tokens t LEFT JOIN clients c ON c.id = t.client_id WHERE t.user_id = $1 ORDER BY t.created_at, t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	return collect(rows, func(row scanner) (privacy.Token, error) {
		var t privacy.Token
		var scopes string
		var created, expires int64
		var used, revoked sql.NullInt64
		err := row.Scan(&t.ClientID, &t.ClientName, &t.Kind, &scopes, &created, &expires, &used, &revoked)
		t.Scopes, t.IssuedAt, t.ExpiresAt = nonNilFields(scopes), fromMicros(created), fromMicros(expires)
		t.UsedAt, t.RevokedAt = optionalMicros(used), optionalMicros(revoked)
		return t, err
	})
}

func optionalMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// MailsTo implements privacy.Activity.
func (s *Store) MailsTo(ctx context.Context, addresses []string) ([]privacy.Mail, error) {
	if len(addresses) == 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT template, lang, status, created_at, sent_at FROM mails
		WHERE recipient IN (`+placeholders(1, len(addresses))+`) OR LOWER(recipient) IN (`+placeholders(1, len(addresses))+`)
		ORDER BY created_at, id`, anyOf(addresses)...)
	if err != nil {
		return nil, fmt.Errorf("read mail: %w", err)
	}
	return collect(rows, func(row scanner) (privacy.Mail, error) {
		var m privacy.Mail
		var created int64
		var sent sql.NullInt64
		err := row.Scan(&m.Template, &m.Language, &m.Status, &created, &sent)
		m.CreatedAt, m.SentAt = fromMicros(created), optionalMicros(sent)
		return m, err
	})
}

// EventsOf implements privacy.Activity. The actor column has no index:
// this reads the whole log, as an export is rare.
func (s *Store) EventsOf(ctx context.Context, subject string) ([]events.Event, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT position, uuid, type, subject, actor, occurred_at, data FROM events
		WHERE subject = $1 OR actor = $1 ORDER BY position`, subject)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return scanEvents(rows)
}
