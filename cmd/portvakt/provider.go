package main

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/signing"
)

// providerKeys gives the provider the signing keys.
type providerKeys struct{ k *signing.Keys }

func (p providerKeys) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error) {
	return p.k.Signer(ctx, alg)
}

func (p providerKeys) PublicKeys(ctx context.Context) ([]op.Key, error) { return p.k.KeySet(ctx) }

// providerClients gives the provider the client registry.
type providerClients struct{ svc *clients.Service }

func (p providerClients) LookupClient(ctx context.Context, id string) (oidc.Client, error) {
	c, err := p.svc.Get(ctx, id)
	if errors.Is(err, clients.ErrNotFound) {
		return oidc.Client{}, fmt.Errorf("client %s: %w", id, oidc.ErrNotFound)
	}
	if err != nil {
		return oidc.Client{}, err
	}
	grants := make([]string, len(c.GrantTypes))
	for i, g := range c.GrantTypes {
		grants[i] = string(g)
	}
	return oidc.Client{
		ID:                     c.ID,
		RedirectURIs:           c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Native:                 c.ApplicationType == clients.ApplicationTypeNative,
		AuthMethod:             string(c.TokenEndpointAuthMethod),
		GrantTypes:             grants,
		Scopes:                 c.Scopes,
		FirstParty:             c.FirstParty,
		JWTAccessTokens:        c.AccessTokenFormat != clients.TokenFormatOpaque,
		AccessTokenLifetime:    c.AccessTokenLifetime,
		IDTokenLifetime:        c.IDTokenLifetime,
		RefreshTokenLifetime:   c.RefreshTokenLifetime,
		Audience:               c.AccessTokenAudience,
	}, nil
}

func (p providerClients) CheckClientSecret(ctx context.Context, id, secret string) error {
	_, err := p.svc.Authenticate(ctx, id, secret)
	return err
}

// provider builds the OpenID Provider on the services; the signing keys
// are created on first start.
func (a *app) provider(ctx context.Context, svc *services) (*oidc.Handler, error) {
	if err := svc.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	crypto, err := a.keyring.Derive("oidc opaque access tokens")
	if err != nil {
		return nil, err
	}
	return oidc.New(oidc.Config{
		Issuer:    a.cfg.issuerURL(),
		Grants:    a.store,
		Clients:   providerClients{svc.clients},
		Keys:      providerKeys{svc.keys},
		Users:     a.store,
		Sessions:  svc.sessions,
		CryptoKey: crypto,
		Ping:      a.store.Ping,
		Logger:    a.log.With("component", "oidc"),
		Now:       a.now,
	})
}
