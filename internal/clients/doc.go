// Package clients owns the applications registered with Portvakt as OAuth 2
// and OpenID Connect clients: what a valid client is (its redirect URIs,
// grants, scopes, authentication method and token settings), how a
// requested redirect URI is matched against the registered ones, and the
// client's secret: issued once, stored as a SHA-256 digest, rotated with an
// overlap during which the previous secret still works, and checked in
// constant time. Every change is written together with its event in the
// outbox; events never carry secrets or their digests.
//
// The values of GrantType, AuthMethod and the other string types are the
// protocol's own names ("authorization_code", "client_secret_basic", …), so
// the OpenID Provider converts them to its framework's types with a plain
// conversion. For github.com/zitadel/oidc/v3/pkg/op, a Client maps to
// op.Client as follows:
//
//	GetID                   ID
//	RedirectURIs            RedirectURIs (matched with MatchRedirectURI)
//	PostLogoutRedirectURIs  PostLogoutRedirectURIs
//	ApplicationType         native: Native; web confidential: Web; web public: UserAgent
//	AuthMethod              oidc.AuthMethod(TokenEndpointAuthMethod)
//	ResponseTypes           ResponseTypes()
//	GrantTypes              oidc.GrantType of each of GrantTypes
//	AccessTokenType         AccessTokenFormat jwt: JWT; opaque: Bearer
//	IDTokenLifetime         IDTokenLifetime
//	IsScopeAllowed          AllowsScope
package clients
