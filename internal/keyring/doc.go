// Package keyring encrypts secrets at rest (upstream client secrets, TOTP
// seeds, signing keys) with AES-256-GCM.
//
// It uses envelope encryption: data is encrypted under data keys, and the
// data keys are stored in the database wrapped (encrypted) under the master
// key, which never touches the database. Rotating the master key therefore
// re-encrypts only the few wrapped data keys, in one transaction, while
// servers keep running: they hold the unwrapped data keys in memory and
// accept the previous master key until every node has the new one.
package keyring
