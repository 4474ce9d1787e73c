package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// NewSecret returns a new client secret, 256 random bits in base64url
// without padding (43 characters), and the digest to store. The plain
// secret is shown once and never stored.
func NewSecret() (plain, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	plain = base64.RawURLEncoding.EncodeToString(b)
	return plain, HashSecret(plain)
}

// HashSecret returns the stored form of a secret: its SHA-256 digest in
// hex. A secret of 256 random bits cannot be guessed, so a slow password
// hash would only cost time at every token request.
func HashSecret(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// dummyDigest stands in for a digest that does not exist (an unknown
// client, no previous secret), so that every check does the same work.
var dummyDigest = sha256.Sum256([]byte("portvakt: no such client secret"))

// digestBytes decodes a stored digest, or gives the dummy for an empty or
// malformed one.
func digestBytes(hash string) (d [sha256.Size]byte, ok bool) {
	if len(hash) != 2*sha256.Size {
		return dummyDigest, false
	}
	if _, err := hex.Decode(d[:], []byte(hash)); err != nil {
		return dummyDigest, false
	}
	return d, true
}

// checkSecret reports whether secret is c's current secret or its previous
// one before that expires. It always hashes once and compares twice in
// constant time, whatever c holds, so that the time it takes says nothing
// about which check failed.
func checkSecret(c Client, secret string, now time.Time) bool {
	got := sha256.Sum256([]byte(secret))
	cur, curOK := digestBytes(c.SecretHash)
	prev, prevOK := digestBytes(c.PreviousSecretHash)
	prevOK = prevOK && now.Before(c.PreviousSecretExpiresAt)
	matchCur := subtle.ConstantTimeCompare(got[:], cur[:]) == 1
	matchPrev := subtle.ConstantTimeCompare(got[:], prev[:]) == 1
	return c.UsesSecret() && ((curOK && matchCur) || (prevOK && matchPrev))
}
