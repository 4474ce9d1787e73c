// Package signing owns the keys that sign Portvakt's tokens: ID tokens
// (RS256 by default, as OpenID Connect requires, ES256 or EdDSA per client)
// and JWT access tokens (ES256 by default).
//
// A key lives through three states. A next key is published in the JWKS but
// does not sign yet, so that relying parties that cache the JWKS learn it
// before they see a token it signed. An active key signs; there is at most
// one per algorithm. A retired key signs no more but stays published until
// every token it signed has expired (RetireUntil, its retirement plus the
// longest token lifetime), and is then deleted.
//
// Keys are made on first start (Ensure) and rotated on a schedule (Maintain,
// run periodically by Run): PublishAhead before the active key is due, a next
// key is made; when it is due, the next key becomes active and the old one
// retires. An operator can also rotate at once (Rotate, "portvakt keys
// rotate"), for example after a suspected compromise; such a rotation cannot
// publish the new key ahead of its first signature.
//
// Private keys are kept in the database only as PKCS #8 sealed with the
// keyring (associated data "signing-key:" + key ID), and are decrypted in
// memory only. Every change to the keys runs in one transaction that excludes
// every other change on the database, whichever node makes it, so that nodes
// starting or rotating together end with one active key per algorithm, and
// writes its events (signing_key.created, .activated, .retired, .deleted)
// with it. Nodes cache the keys and check a version number in the database
// every few seconds, so that all of them serve the same JWKS.
//
// The types fit the OpenID Provider framework (github.com/zitadel/oidc/v3
// package op) directly: PrivateKey is an op.SigningKey, PublicKey an op.Key
// and Keys an op.KeyProvider.
package signing
