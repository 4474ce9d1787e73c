// Package password owns customer passwords: how they are hashed and checked
// at sign-in, and which new passwords are accepted.
//
// # Hashing
//
// A [Hasher] derives argon2id keys (golang.org/x/crypto/argon2) and stores
// them as PHC strings such as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with unpadded standard base64. Passwords are normalized to Unicode NFKC
// before hashing, as NIST SP 800-63B asks, so the same password typed on
// different keyboards gives the same hash. A stored hash is untrusted input
// (it may come from an import or a damaged row): it is parsed strictly and
// its parameters must lie within sane bounds before any work is done.
//
// Each key derivation takes Params.Memory KiB for its duration, so a Hasher
// runs at most a fixed number of them at once (by default one per CPU);
// further callers wait their turn, or give up when their context ends. Peak
// memory for hashing is therefore about concurrency × Memory (19 MiB × CPUs
// with the defaults), plus the memory of whatever stored parameters are being
// verified (at most 1 GiB each). A burst of sign-ins queues instead of
// exhausting memory.
//
// Verify dispatches on the PHC identifier ("argon2id"), so other formats,
// such as hashes imported from another system, can be added beside argon2id
// without changing callers; a hash in any format other than the Hasher's own
// current one reports needsRehash, so it is replaced at the next sign-in.
// VerifyDummy takes as long as a real Verify, so that an unknown account is
// not told apart from a wrong password by timing.
//
// # Policy
//
// A [Policy] follows NIST SP 800-63B: length limits counted in Unicode code
// points after NFKC normalization, no composition rules (no "one digit and
// one symbol"), and a block-list check: passwords that are common, guessable
// (scored by zxcvbn, which carries frequency lists of leaked passwords and
// common words) or built from the user's own details or the product name are
// refused. Refusals are [*PolicyError] values with a stable [Reason] that the
// web layer translates; this package holds no text meant for people.
//
// [PwnedChecker] optionally asks the Have I Been Pwned range API whether a
// password appears in known breaches, sending only the first five hex digits
// of its SHA-1. Nothing in this package uses the network unless the caller
// calls it.
package password
