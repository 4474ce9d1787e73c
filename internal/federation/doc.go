// Package federation signs people in with identities they already have at
// upstream OpenID providers ("Continue with …"): the providers' registry,
// the code flow with PKCE, state and nonce (ID tokens checked by
// github.com/coreos/go-oidc), the identities linked to users, and the
// rules for linking them: an upstream account is linked to an existing
// one only after the person proves they own it, never silently.
package federation
