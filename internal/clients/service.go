package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Change is what an update writes: the new client and its events.
type Change struct {
	Client Client
	Events []events.Event
}

// Store keeps clients. Every write takes the events that describe it and
// commits them in the same transaction.
type Store interface {
	// CreateClient inserts c with its events; ErrConflict if the ID is
	// taken.
	CreateClient(ctx context.Context, c Client, evs ...events.Event) error
	// ClientByID returns the client or ErrNotFound.
	ClientByID(ctx context.Context, id string) (Client, error)
	// ListClients returns up to limit clients with IDs after the cursor,
	// in ID order.
	ListClients(ctx context.Context, after string, limit int) ([]Client, error)
	// UpdateClient applies fn to the client atomically and writes the
	// change with its events; ErrNotFound if there is no such client. An
	// error from fn is returned as is and nothing is written.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Change, error)) (Client, error)
	// DeleteClient removes the client with its events; ErrNotFound if
	// there is none.
	DeleteClient(ctx context.Context, id string, evs ...events.Event) error
}

// Service applies the client rules on top of a Store.
type Service struct {
	Store Store
	// Scopes are the scopes clients may be allowed; the zero value means
	// DefaultScopes.
	Scopes ScopeSet
	// Levels are the acr values a client's min_acr may name (the ladder of
	// levels of assurance); empty means any value is accepted.
	Levels []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CacheTTL, when positive, lets Get and Authenticate answer from
	// memory for that long; writes through this Service are seen at once.
	CacheTTL time.Duration

	cache cache
}

// now is the clock at the precision the store keeps (microseconds), so that
// a client returned from a write equals the client read back.
func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Service) scopes() ScopeSet {
	if s.Scopes.IsZero() {
		return DefaultScopes()
	}
	return s.Scopes
}

// Create registers c on behalf of actor. It sets the ID (unless c has one),
// the times and, for a client that authenticates with a secret, the secret:
// the plain secret is returned here and never again. Other clients get an
// empty secret. Validation problems come back as FieldErrors, a taken ID as
// ErrConflict.
func (s *Service) Create(ctx context.Context, c Client, actor string) (Client, string, error) {
	now := s.now()
	c = c.clone()
	if c.ID == "" {
		c.ID = NewID()
	}
	c.CreatedAt, c.UpdatedAt = now, now
	c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", "", time.Time{}
	if err := errors.Join(c.Validate(s.scopes()), s.checkLevel(c)); err != nil {
		return Client{}, "", err
	}
	var plain string
	if c.UsesSecret() {
		plain, c.SecretHash = NewSecret()
	}
	ev, err := events.New("client.created", c.Subject(), actor, now, map[string]any{
		"name":                       c.Name,
		"type":                       c.Type,
		"application_type":           c.ApplicationType,
		"grant_types":                c.GrantTypes,
		"redirect_uris":              c.RedirectURIs,
		"scopes":                     c.Scopes,
		"first_party":                c.FirstParty,
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod,
	})
	if err != nil {
		return Client{}, "", err
	}
	if err := s.Store.CreateClient(ctx, c, ev); err != nil {
		return Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return c, plain, nil
}

// Get returns the client or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Client, error) {
	return s.lookup(ctx, id)
}

// List returns up to limit clients with IDs after the cursor, in ID order.
func (s *Service) List(ctx context.Context, after string, limit int) ([]Client, error) {
	return s.Store.ListClients(ctx, after, limit)
}

// Update changes a client on behalf of actor: fn gets a copy of the client
// and returns it changed. The ID, type, creation time and secret cannot be
// changed this way (RotateSecret changes the secret); changing to a method
// without a secret drops the secret. The result is validated as a whole. An
// update that changes nothing writes nothing; otherwise a client.updated
// event names the changed fields.
func (s *Service) Update(ctx context.Context, id string, fn func(Client) (Client, error), actor string) (Client, error) {
	defer s.cache.forget(id)
	return s.Store.UpdateClient(ctx, id, func(old Client) (Change, error) {
		c, err := fn(old.clone())
		if err != nil {
			return Change{}, err
		}
		var errs []error
		if c.ID != old.ID {
			errs = append(errs, FieldError{"id", "immutable", "cannot be changed"})
		}
		if c.Type != old.Type {
			errs = append(errs, FieldError{"type", "immutable", fmt.Sprintf("cannot be changed from %s: register a new client instead", old.Type)})
		}
		c.ID, c.Type, c.CreatedAt, c.UpdatedAt = old.ID, old.Type, old.CreatedAt, old.UpdatedAt
		c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt = old.SecretHash, old.PreviousSecretHash, old.PreviousSecretExpiresAt
		if err := errors.Join(c.Validate(s.scopes()), s.checkLevel(c)); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			return Change{}, err
		}
		if !c.UsesSecret() {
			c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", "", time.Time{}
		}
		changed := changedFields(old, c)
		if len(changed) == 0 {
			return Change{Client: old}, nil
		}
		now := s.now()
		c.UpdatedAt = now
		ev, err := events.New("client.updated", c.Subject(), actor, now, map[string]any{"changed": changed})
		return Change{Client: c, Events: []events.Event{ev}}, err
	})
}

// changedFields names the fields in which a and b differ, by their field
// names in FieldError (client_secret for the secret digests).
func changedFields(a, b Client) []string {
	var out []string
	add := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	add("name", a.Name == b.Name)
	add("application_type", a.ApplicationType == b.ApplicationType)
	add("grant_types", slices.Equal(a.GrantTypes, b.GrantTypes))
	add("redirect_uris", slices.Equal(a.RedirectURIs, b.RedirectURIs))
	add("post_logout_redirect_uris", slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs))
	add("scopes", slices.Equal(a.Scopes, b.Scopes))
	add("first_party", a.FirstParty == b.FirstParty)
	add("token_endpoint_auth_method", a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod)
	add("jwks", bytes.Equal(a.JWKS, b.JWKS))
	add("jwks_uri", a.JWKSURI == b.JWKSURI)
	add("id_token_alg", a.IDTokenAlg == b.IDTokenAlg)
	add("access_token_format", a.AccessTokenFormat == b.AccessTokenFormat)
	add("access_token_audience", slices.Equal(a.AccessTokenAudience, b.AccessTokenAudience))
	add("access_token_lifetime", a.AccessTokenLifetime == b.AccessTokenLifetime)
	add("id_token_lifetime", a.IDTokenLifetime == b.IDTokenLifetime)
	add("refresh_token_lifetime", a.RefreshTokenLifetime == b.RefreshTokenLifetime)
	add("subject_type", a.SubjectType == b.SubjectType)
	add("sector_identifier", a.SectorIdentifier == b.SectorIdentifier)
	add("require_par", a.RequirePAR == b.RequirePAR)
	add("min_acr", a.MinACR == b.MinACR)
	add("require_mfa", a.RequireMFA == b.RequireMFA)
	add("release_verified", slices.Equal(a.ReleaseVerified, b.ReleaseVerified))
	add("release_consents", a.ReleaseConsents == b.ReleaseConsents)
	add("app", a.App == b.App)
	add("organizations", a.Organizations == b.Organizations)
	add("organization", a.Organization == b.Organization)
	add("backchannel_logout_uri", a.BackchannelLogoutURI == b.BackchannelLogoutURI)
	add("initiate_login_uri", a.InitiateLoginURI == b.InitiateLoginURI)
	add("backchannel_logout_session_required", a.BackchannelLogoutSessionRequired == b.BackchannelLogoutSessionRequired)
	add("client_secret", a.SecretHash == b.SecretHash && a.PreviousSecretHash == b.PreviousSecretHash &&
		a.PreviousSecretExpiresAt.Equal(b.PreviousSecretExpiresAt))
	return out
}

// Delete removes a client on behalf of actor.
func (s *Service) Delete(ctx context.Context, id, actor string) error {
	defer s.cache.forget(id)
	c, err := s.Store.ClientByID(ctx, id)
	if err != nil {
		return err
	}
	ev, err := events.New("client.deleted", c.Subject(), actor, s.now(), map[string]any{"name": c.Name})
	if err != nil {
		return err
	}
	return s.Store.DeleteClient(ctx, id, ev)
}

// RotateSecret gives a client that authenticates with a secret a new one,
// returned in plain here and never again. The secret it replaces stays
// valid for overlap (at most MaxSecretOverlap), so that the client's
// deployments can switch over; an overlap of 0 revokes it at once. Only
// two secrets are ever valid: a secret kept from an earlier rotation is
// dropped. A client without a secret method gets a FieldError.
func (s *Service) RotateSecret(ctx context.Context, id string, overlap time.Duration, actor string) (Client, string, error) {
	defer s.cache.forget(id)
	if overlap < 0 || overlap > MaxSecretOverlap {
		return Client{}, "", FieldError{"overlap", "out_of_range", fmt.Sprintf("%v is not between 0 and %v", overlap, MaxSecretOverlap)}
	}
	plain, hash := NewSecret()
	c, err := s.Store.UpdateClient(ctx, id, func(c Client) (Change, error) {
		if !c.UsesSecret() {
			return Change{}, FieldError{"token_endpoint_auth_method", "no_secret",
				fmt.Sprintf("the client authenticates with %s and has no secret to rotate", c.TokenEndpointAuthMethod)}
		}
		now := s.now()
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", time.Time{}
		if c.SecretHash != "" && overlap > 0 {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(overlap)
		}
		c.SecretHash, c.UpdatedAt = hash, now
		var until any
		if c.PreviousSecretHash != "" {
			until = c.PreviousSecretExpiresAt
		}
		ev, err := events.New("client.secret_rotated", c.Subject(), actor, now, map[string]any{"previous_secret_valid_until": until})
		return Change{Client: c, Events: []events.Event{ev}}, err
	})
	if err != nil {
		return Client{}, "", err
	}
	return c, plain, nil
}

// Authenticate checks a client's secret against its current secret and
// its previous one until that expires, in constant time, and returns the
// client. Every failure — an unknown client, a wrong or expired secret, a
// client that has no secret — is ErrInvalidClient and costs the same: for
// an unknown client the secret is compared with a dummy digest. Only a
// failure of the store comes back as another error.
func (s *Service) Authenticate(ctx context.Context, id, secret string) (Client, error) {
	c, err := s.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		checkSecret(Client{}, secret, s.now())
		return Client{}, ErrInvalidClient
	}
	if err != nil {
		return Client{}, fmt.Errorf("authenticate client: %w", err)
	}
	if !checkSecret(c, secret, s.now()) {
		return Client{}, ErrInvalidClient
	}
	return c, nil
}

// checkLevel checks that the client's min_acr is a level of the ladder.
func (s *Service) checkLevel(c Client) error {
	if c.MinACR == "" || len(s.Levels) == 0 || slices.Contains(s.Levels, c.MinACR) {
		return nil
	}
	return FieldError{"min_acr", "invalid", fmt.Sprintf("%q is not a level of assurance here; use one of %s", c.MinACR, strings.Join(s.Levels, ", "))}
}
