package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/demo"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/signing"
	"github.com/portvakt/portvakt/internal/web"
)

// pairwisePurpose names the key of pairwise subjects in the keyring.
const pairwisePurpose = "oidc pairwise subjects"

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}

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
	oc := oidc.Client{
		ID:                     c.ID,
		Name:                   c.Name,
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
		IDTokenAlg:             string(c.IDTokenAlg),
		RequirePAR:             c.RequirePAR,
		MinACR:                 c.MinACR,
		RequireMFA:             c.RequireMFA,
		ReleaseVerified:        c.ReleaseVerified,
		ReleaseConsents:        c.ReleaseConsents,
		App:                    c.App,
		Organizations:          string(c.Organizations),
		JWKS:                   c.JWKS,
		JWKSURI:                c.JWKSURI,

		BackchannelLogoutURI:             c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
	}
	if c.SubjectType == clients.SubjectPairwise {
		oc.Sector = c.Sector()
	}
	return oc, nil
}

func (p providerClients) CheckClientSecret(ctx context.Context, id, secret string) error {
	_, err := p.svc.Authenticate(ctx, id, secret)
	return err
}

// consentsClaim gives the provider the consents claim.
type consentsClaim struct{ svc *consents.Service }

func (c consentsClaim) ConsentsClaim(ctx context.Context, userID, clientID string) (any, error) {
	return c.svc.Claim(ctx, userID, clientID)
}

// provider builds the OpenID Provider on the services; the signing keys
// are created on first start.
func (a *app) provider(ctx context.Context, svc *services, pages *web.Handler) (*oidc.Handler, error) {
	if err := svc.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	// The provider framework writes some of its log lines (its routes, the
	// protocol errors it answers) to the process's default logger: make
	// that Portvakt's, at warning level, so that the log stays JSON and
	// routine client errors do not flood it.
	slog.SetDefault(slog.New(minLevel{Handler: a.log.With("component", "oidc").Handler(), min: slog.LevelWarn}))
	crypto, err := a.keyring.Derive("oidc opaque access tokens")
	if err != nil {
		return nil, err
	}
	pairwise, err := a.keyring.Derive(pairwisePurpose)
	if err != nil {
		return nil, err
	}
	return oidc.New(oidc.Config{
		Issuer:        a.cfg.issuerURL(),
		Grants:        a.store,
		Clients:       providerClients{svc.clients},
		Keys:          providerKeys{svc.keys},
		Users:         a.store,
		Sessions:      svc.sessions,
		Levels:        svc.authn,
		Proofing:      pages.Federation, // opens verified attributes for the clients registered for them
		Organizations: pages.Orgs,
		Consents:      consentsClaim{pages.Consents},
		MFARequired:   svc.authn.Policy == authn.PolicyRequired,
		Pages:         pages,
		Stops:         pages, // new terms to accept before an application is answered
		CryptoKey:     crypto,
		PairwiseKey:   pairwise,
		Assertions:    a.store,
		Ping:          a.store.Ping,
		Logger:        a.log.With("component", "oidc"),
		Now:           a.now,
	})
}

// backchannelLogout builds the consumer that sends logout tokens to the
// clients of a session that ended, with the sub each client knows (public
// or pairwise, as in its ID tokens).
func (a *app) backchannelLogout(svc *services) (*oidc.BackchannelLogout, error) {
	pairwise, err := a.keyring.Derive(pairwisePurpose)
	if err != nil {
		return nil, err
	}
	return &oidc.BackchannelLogout{
		Issuer:  strings.TrimSuffix(a.cfg.issuerURL().String(), "/"),
		Subject: oidc.SubjectFunc(pairwise),
		Store:   a.store,
		Clients: providerClients{svc.clients},
		Keys:    providerKeys{svc.keys},
		Logger:  a.log.With("component", "oidc-backchannel"),
		Now:     a.now,
	}, nil
}

// registerDemo registers (or refreshes) the demo application's client and
// returns its secret, new at every start.
func (a *app) registerDemo(ctx context.Context, svc *services) (string, error) {
	issuer := a.cfg.issuerURL()
	want := clients.Client{
		ID: demo.ClientID, Name: "Portvakt demo application", Type: clients.TypeConfidential,
		GrantTypes:             []clients.GrantType{clients.GrantAuthorizationCode, clients.GrantRefreshToken},
		RedirectURIs:           []string{demo.RedirectURI(issuer)},
		PostLogoutRedirectURIs: []string{demo.HomeURI(issuer)},
		Scopes:                 []string{"openid", "profile", "email", "phone", "offline_access"},
		FirstParty:             true,
	}
	if _, err := svc.clients.Get(ctx, demo.ClientID); errors.Is(err, clients.ErrNotFound) {
		_, secret, err := svc.clients.Create(ctx, want, "system:demo")
		return secret, err
	} else if err != nil {
		return "", err
	}
	// The issuer may have changed since the last start.
	if _, err := svc.clients.Update(ctx, demo.ClientID, func(c clients.Client) (clients.Client, error) {
		c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes, c.GrantTypes = want.RedirectURIs, want.PostLogoutRedirectURIs, want.Scopes, want.GrantTypes
		return c, nil
	}, "system:demo"); err != nil {
		return "", err
	}
	_, secret, err := svc.clients.RotateSecret(ctx, demo.ClientID, 0, "system:demo")
	return secret, err
}
