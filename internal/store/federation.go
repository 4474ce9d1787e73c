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
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/federation"
)

var _ federation.Store = (*Store)(nil)

func fedConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: %w", federation.ErrConflict, err)
	}
	return err
}

func (s *Store) saveProvider(ctx context.Context, p federation.Provider, replace bool, evs ...events.Event) error {
	return fedConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		acrMap, err := json.Marshal(p.ACRMap)
		if err != nil {
			return err
		}
		claimMap, err := json.Marshal(p.ClaimMap)
		if err != nil {
			return err
		}
		options, err := json.Marshal(p.Options)
		if err != nil {
			return err
		}
		q := `INSERT INTO identity_providers (id, name, issuer, client_id, secret, scopes, trust_email, created_at, updated_at,
			proofing, acr_map, national_id_claim, kind, auth_url, token_url, userinfo_url, claim_map, options)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
		if replace {
			q += ` ON CONFLICT (id) DO UPDATE SET name = excluded.name, issuer = excluded.issuer, client_id = excluded.client_id,
			secret = excluded.secret, scopes = excluded.scopes, trust_email = excluded.trust_email, updated_at = excluded.updated_at,
			proofing = excluded.proofing, acr_map = excluded.acr_map, national_id_claim = excluded.national_id_claim, kind = excluded.kind,
			auth_url = excluded.auth_url, token_url = excluded.token_url, userinfo_url = excluded.userinfo_url,
			claim_map = excluded.claim_map, options = excluded.options`
		}
		if _, err := tx.ExecContext(ctx, q, p.ID, p.Name, p.Issuer, p.ClientID, p.Secret, strings.Join(p.Scopes, " "),
			p.TrustEmail, micros(p.CreatedAt), micros(p.UpdatedAt), p.Proofing, string(acrMap), p.NationalIDClaim,
			p.Kind, p.AuthURL, p.TokenURL, p.UserinfoURL, string(claimMap), string(options)); err != nil {
			return fmt.Errorf("insert identity provider: %w", err)
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// CreateProvider implements federation.Store.
func (s *Store) CreateProvider(ctx context.Context, p federation.Provider, evs ...events.Event) error {
	return s.saveProvider(ctx, p, false, evs...)
}

// PutProvider implements federation.Store.
func (s *Store) PutProvider(ctx context.Context, p federation.Provider, evs ...events.Event) error {
	return s.saveProvider(ctx, p, true, evs...)
}

const providerColumns = `id, name, issuer, client_id, secret, scopes, trust_email, created_at, updated_at, proofing, acr_map, national_id_claim,
	kind, auth_url, token_url, userinfo_url, claim_map, options`

func scanProvider(row scanner) (federation.Provider, error) {
	var p federation.Provider
	var scopes, acrMap, claimMap, options string
	var created, updated int64
	err := row.Scan(&p.ID, &p.Name, &p.Issuer, &p.ClientID, &p.Secret, &scopes, &p.TrustEmail, &created, &updated, &p.Proofing, &acrMap, &p.NationalIDClaim,
		&p.Kind, &p.AuthURL, &p.TokenURL, &p.UserinfoURL, &claimMap, &options)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: %w", ErrNotFound, federation.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("scan identity provider: %w", err)
	}
	p.Scopes, p.CreatedAt, p.UpdatedAt = strings.Fields(scopes), fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(options), &p.Options); err != nil {
		return p, fmt.Errorf("identity provider %s options: %w", p.ID, err)
	}
	for _, m := range []struct {
		raw string
		dst *map[string]string
	}{{acrMap, &p.ACRMap}, {claimMap, &p.ClaimMap}} {
		if m.raw != "" && m.raw != "null" {
			if err := json.Unmarshal([]byte(m.raw), m.dst); err != nil {
				return p, fmt.Errorf("identity provider %s: %w", p.ID, err)
			}
		}
	}
	return p, nil
}

// ProviderByID implements federation.Store.
func (s *Store) ProviderByID(ctx context.Context, id string) (federation.Provider, error) {
	return scanProvider(s.read.QueryRowContext(ctx, `SELECT `+providerColumns+` FROM identity_providers WHERE id = $1`, id))
}

// ListProviders implements federation.Store.
func (s *Store) ListProviders(ctx context.Context) ([]federation.Provider, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+providerColumns+` FROM identity_providers ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list identity providers: %w", err)
	}
	defer rows.Close()
	var out []federation.Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteProvider implements federation.Store.
func (s *Store) DeleteProvider(ctx context.Context, id string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM identity_providers WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete identity provider: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return federation.ErrNotFound
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

const identityColumns = `provider_id, subject, user_id, email, created_at, last_used_at`

func scanIdentity(row scanner) (federation.Identity, error) {
	var id federation.Identity
	var created, used int64
	err := row.Scan(&id.ProviderID, &id.Subject, &id.UserID, &id.Email, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return id, fmt.Errorf("%w: %w", ErrNotFound, federation.ErrNotFound)
	}
	if err != nil {
		return id, fmt.Errorf("scan identity: %w", err)
	}
	id.CreatedAt, id.LastUsedAt = fromMicros(created), fromMicros(used)
	return id, nil
}

// IdentityBySubject implements federation.Store.
func (s *Store) IdentityBySubject(ctx context.Context, providerID, subject string) (federation.Identity, error) {
	return scanIdentity(s.read.QueryRowContext(ctx, `SELECT `+identityColumns+` FROM user_identities WHERE provider_id = $1 AND subject = $2`, providerID, subject))
}

// Identities implements federation.Store.
func (s *Store) Identities(ctx context.Context, userID string) ([]federation.Identity, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+identityColumns+` FROM user_identities WHERE user_id = $1 ORDER BY created_at, provider_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	var out []federation.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func insertIdentity(ctx context.Context, tx *sql.Tx, id federation.Identity) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO user_identities (`+identityColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		id.ProviderID, id.Subject, id.UserID, id.Email, micros(id.CreatedAt), micros(id.LastUsedAt))
	if err != nil {
		return fmt.Errorf("insert identity: %w", err)
	}
	return nil
}

// LinkIdentity implements federation.Store.
func (s *Store) LinkIdentity(ctx context.Context, id federation.Identity, evs ...events.Event) error {
	return fedConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		if err := insertIdentity(ctx, tx, id); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// CreateUserWithIdentity implements federation.Store.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u accounts.User, id federation.Identity, receipts []consents.Receipt, evs ...events.Event) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := insertIdentity(ctx, tx, id); err != nil {
			return err
		}
		if err := s.writeReceipts(ctx, tx, receipts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs...)
	})
	return userConflict(err)
}

// UnlinkIdentity implements federation.Store.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, providerID, subject string, evs ...events.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The other ways in: a password, a passkey, another identity.
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash <> '') +
			(SELECT COUNT(*) FROM auth_factors WHERE user_id = $1 AND kind = 'passkey') +
			(SELECT COUNT(*) FROM user_identities WHERE user_id = $1 AND NOT (provider_id = $2 AND subject = $3))`,
			userID, providerID, subject).Scan(&others); err != nil {
			return fmt.Errorf("count sign-in methods: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_identities WHERE user_id = $1 AND provider_id = $2 AND subject = $3`, userID, providerID, subject)
		if err != nil {
			return fmt.Errorf("delete identity: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return federation.ErrNotFound
		}
		if others == 0 {
			return federation.ErrLastMethod // rolls the delete back
		}
		return s.appendEvents(ctx, tx, evs...)
	})
}

// TouchIdentity implements federation.Store.
func (s *Store) TouchIdentity(ctx context.Context, providerID, subject string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE user_identities SET last_used_at = $1 WHERE provider_id = $2 AND subject = $3`, micros(at), providerID, subject); err != nil {
		return fmt.Errorf("touch identity: %w", err)
	}
	return nil
}

// SaveProofing implements federation.Store.
func (s *Store) SaveProofing(ctx context.Context, userID string, attrs []federation.VerifiedAttribute, nationalIDDigest string, evs ...events.Event) error {
	return fedConflict(s.inTx(ctx, func(tx *sql.Tx) error {
		for _, a := range attrs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO verified_attributes (user_id, name, value, source, verified_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, source = excluded.source, verified_at = excluded.verified_at`,
				userID, a.Name, a.Value, a.Source, micros(a.VerifiedAt)); err != nil {
				return fmt.Errorf("save verified attribute: %w", err)
			}
		}
		if nationalIDDigest != "" {
			var owner string
			err := tx.QueryRowContext(ctx, `SELECT user_id FROM national_ids WHERE digest = $1`, nationalIDDigest).Scan(&owner)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO national_ids (digest, user_id) VALUES ($1, $2)`, nationalIDDigest, userID); err != nil {
					return fmt.Errorf("save national identity number: %w", err)
				}
			case err != nil:
				return fmt.Errorf("read national identity number: %w", err)
			case owner != userID:
				return fmt.Errorf("%w: the national identity number belongs to another user", ErrConflict)
			}
		}
		return s.appendEvents(ctx, tx, evs...)
	}))
}

// UserByNationalID implements federation.Store.
func (s *Store) UserByNationalID(ctx context.Context, digest string) (string, error) {
	var id string
	err := s.read.QueryRowContext(ctx, `SELECT user_id FROM national_ids WHERE digest = $1`, digest).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %w", ErrNotFound, federation.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read national identity number: %w", err)
	}
	return id, nil
}

// VerifiedAttributes implements federation.Store.
func (s *Store) VerifiedAttributes(ctx context.Context, userID string) ([]federation.VerifiedAttribute, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name, value, source, verified_at FROM verified_attributes WHERE user_id = $1 ORDER BY name`, userID)
	if err != nil {
		return nil, fmt.Errorf("read verified attributes: %w", err)
	}
	defer rows.Close()
	var out []federation.VerifiedAttribute
	for rows.Next() {
		var a federation.VerifiedAttribute
		var at int64
		if err := rows.Scan(&a.Name, &a.Value, &a.Source, &at); err != nil {
			return nil, fmt.Errorf("scan verified attribute: %w", err)
		}
		a.VerifiedAt = fromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}
