package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/events"
)

var _ clients.Store = (*Store)(nil)

const clientColumns = `id, name, type, application_type, grant_types, redirect_uris, post_logout_redirect_uris, scopes,
	first_party, token_endpoint_auth_method, jwks, jwks_uri, id_token_alg, access_token_format, access_token_audience,
	access_token_lifetime_seconds, id_token_lifetime_seconds, refresh_token_lifetime_seconds, subject_type,
	sector_identifier, require_par, backchannel_logout_uri, backchannel_logout_session_required,
	secret_hash, previous_secret_hash, previous_secret_expires_at, created_at, updated_at, min_acr, require_mfa,
	release_verified, app, initiate_login_uri, organizations, organization, release_consents`

// clientArgs are c's values in the order of clientColumns.
func clientArgs(c clients.Client) ([]any, error) {
	lists := make([]string, 6)
	for i, l := range []any{c.GrantTypes, c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes, c.AccessTokenAudience, c.ReleaseVerified} {
		b, err := json.Marshal(l)
		if err != nil {
			return nil, fmt.Errorf("encode client lists: %w", err)
		}
		if string(b) == "null" {
			b = []byte("[]")
		}
		lists[i] = string(b)
	}
	return []any{
		c.ID, c.Name, string(c.Type), string(c.ApplicationType), lists[0], lists[1], lists[2], lists[3],
		c.FirstParty, string(c.TokenEndpointAuthMethod), string(c.JWKS), c.JWKSURI, string(c.IDTokenAlg),
		string(c.AccessTokenFormat), lists[4],
		seconds(c.AccessTokenLifetime), seconds(c.IDTokenLifetime), seconds(c.RefreshTokenLifetime), string(c.SubjectType),
		c.SectorIdentifier, c.RequirePAR, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
		c.SecretHash, c.PreviousSecretHash, nullMicros(c.PreviousSecretExpiresAt), micros(c.CreatedAt), micros(c.UpdatedAt),
		c.MinACR, c.RequireMFA, lists[5], c.App, c.InitiateLoginURI, orgMode(c.Organizations), c.Organization, c.ReleaseConsents,
	}, nil
}

// orgMode is a client's organization mode as stored: optional unless set.
func orgMode(m clients.OrgMode) string {
	if m == "" {
		return string(clients.OrgOptional)
	}
	return string(m)
}

// seconds is a lifetime as stored: whole seconds (clients.Validate allows
// no others).
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func scanClient(row scanner) (clients.Client, error) {
	var c clients.Client
	var typ, appType, method, alg, format, subject, jwks string
	var grants, redirects, postLogout, scopes, audience, release string
	var accessTTL, idTTL, refreshTTL, created, updated int64
	var prevExpires sql.NullInt64
	err := row.Scan(&c.ID, &c.Name, &typ, &appType, &grants, &redirects, &postLogout, &scopes,
		&c.FirstParty, &method, &jwks, &c.JWKSURI, &alg, &format, &audience,
		&accessTTL, &idTTL, &refreshTTL, &subject,
		&c.SectorIdentifier, &c.RequirePAR, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired,
		&c.SecretHash, &c.PreviousSecretHash, &prevExpires, &created, &updated, &c.MinACR, &c.RequireMFA,
		&release, &c.App, &c.InitiateLoginURI, &c.Organizations, &c.Organization, &c.ReleaseConsents)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: %w", ErrNotFound, clients.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("scan client: %w", err)
	}
	c.Type, c.ApplicationType = clients.Type(typ), clients.ApplicationType(appType)
	c.TokenEndpointAuthMethod, c.IDTokenAlg = clients.AuthMethod(method), clients.Alg(alg)
	c.AccessTokenFormat, c.SubjectType = clients.TokenFormat(format), clients.SubjectType(subject)
	if jwks != "" {
		c.JWKS = json.RawMessage(jwks)
	}
	c.AccessTokenLifetime = time.Duration(accessTTL) * time.Second
	c.IDTokenLifetime = time.Duration(idTTL) * time.Second
	c.RefreshTokenLifetime = time.Duration(refreshTTL) * time.Second
	c.PreviousSecretExpiresAt = fromNullMicros(prevExpires)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	for _, l := range []struct {
		raw string
		dst any
	}{{grants, &c.GrantTypes}, {redirects, &c.RedirectURIs}, {postLogout, &c.PostLogoutRedirectURIs}, {scopes, &c.Scopes}, {audience, &c.AccessTokenAudience},
		{release, &c.ReleaseVerified}} {
		if err := json.Unmarshal([]byte(l.raw), l.dst); err != nil {
			return c, fmt.Errorf("scan client %s: decode lists: %w", c.ID, err)
		}
	}
	// An empty list reads back as nil, the form clients.Validate gives it.
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = nil
	}
	for _, l := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.Scopes, &c.AccessTokenAudience, &c.ReleaseVerified} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return c, nil
}

// clientConflict adds the domain's sentinel to a unique-key violation.
func clientConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: %w", clients.ErrConflict, err)
	}
	return err
}

// CreateClient implements clients.Store.
func (s *Store) CreateClient(ctx context.Context, c clients.Client, evs ...events.Event) error {
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
			$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)`, args...)
		if err != nil {
			return fmt.Errorf("insert client: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return clientConflict(err)
}

// ClientByID implements clients.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (clients.Client, error) {
	return scanClient(s.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
}

// ListClients implements clients.Store.
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]clients.Client, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var out []clients.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateClient implements clients.Store.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(clients.Client) (clients.Change, error)) (clients.Client, error) {
	var out clients.Client
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`+s.engine.forUpdate(), id))
		if err != nil {
			return err
		}
		ch, err := fn(old)
		if err != nil {
			return err
		}
		c := ch.Client
		if c.ID != old.ID {
			return fmt.Errorf("update client %s: the update function changed the ID to %s", old.ID, c.ID)
		}
		args, err := clientArgs(c)
		if err != nil {
			return err
		}
		// The arguments are in the order of clientColumns: $1 is the ID.
		_, err = tx.ExecContext(ctx, `UPDATE clients SET name = $2, type = $3, application_type = $4, grant_types = $5,
			redirect_uris = $6, post_logout_redirect_uris = $7, scopes = $8, first_party = $9,
			token_endpoint_auth_method = $10, jwks = $11, jwks_uri = $12, id_token_alg = $13, access_token_format = $14,
			access_token_audience = $15, access_token_lifetime_seconds = $16, id_token_lifetime_seconds = $17,
			refresh_token_lifetime_seconds = $18, subject_type = $19, sector_identifier = $20, require_par = $21,
			backchannel_logout_uri = $22, backchannel_logout_session_required = $23, secret_hash = $24,
			previous_secret_hash = $25, previous_secret_expires_at = $26, created_at = $27, updated_at = $28, min_acr = $29, require_mfa = $30,
			release_verified = $31, app = $32, initiate_login_uri = $33, organizations = $34, organization = $35,
			release_consents = $36
			WHERE id = $1`, args...)
		if err != nil {
			return fmt.Errorf("update client: %w", err)
		}
		out = c
		return s.appendEvents(ctx, tx, ch.Events...)
	})
	return out, err
}

// DeleteClient implements clients.Store.
func (s *Store) DeleteClient(ctx context.Context, id string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete client: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %w", ErrNotFound, clients.ErrNotFound)
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}
