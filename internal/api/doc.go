// Package api is the management REST API under /api/v1: users,
// organizations, memberships and invitations for integrating systems such
// as a CRM. It is described by the OpenAPI 3.1 document it serves at
// /api/v1/openapi.json (openapi.json here), which the tests hold every
// request and answer to.
//
// Callers authenticate with access tokens from this deployment's own token
// endpoint (client credentials): a client's own token, never one issued
// for a person. Each route needs a scope (portvakt:users:read, …). Errors
// are RFC 9457 problem details with a stable type per error. Lists are
// read page by page with an opaque cursor; updates take If-Match (412 when
// the resource changed since, a lost update); a POST with an
// Idempotency-Key is served once.
package api
