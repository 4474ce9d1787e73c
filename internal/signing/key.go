package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// State is where a key is in its life.
type State string

// The states of a key, in the order a key passes through them.
const (
	// StateNext is a key that is published but does not sign yet.
	StateNext State = "next"
	// StateActive is the key that signs; there is at most one per
	// algorithm.
	StateActive State = "active"
	// StateRetired is a key that signs no more but stays published until
	// the tokens it signed have expired.
	StateRetired State = "retired"
)

// rank orders states for listing: active keys first.
func (s State) rank() int {
	switch s {
	case StateActive:
		return 0
	case StateNext:
		return 1
	default:
		return 2
	}
}

// supported are the algorithms Portvakt signs with, in the order they are
// listed.
var supported = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// DefaultAlgorithms returns the algorithms keys are kept for by default:
// RS256, ES256 and EdDSA, so that every client can have its tokens signed
// with any of them.
func DefaultAlgorithms() []jose.SignatureAlgorithm { return slices.Clone(supported) }

// ParseAlgorithm reads an algorithm name (RS256, ES256 or EdDSA; any case).
func ParseAlgorithm(s string) (jose.SignatureAlgorithm, error) {
	for _, a := range supported {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w %q: use RS256, ES256 or EdDSA", ErrUnsupported, s)
}

func algRank(a jose.SignatureAlgorithm) int {
	if i := slices.Index(supported, a); i >= 0 {
		return i
	}
	return len(supported)
}

// Record is a signing key as stored. It holds the private key only sealed.
type Record struct {
	// ID is the key ID (kid): random and URL-safe.
	ID string
	// Algorithm is the JWS algorithm the key signs with.
	Algorithm jose.SignatureAlgorithm
	// State is next, active or retired.
	State State
	// SealedPrivate is the private key in PKCS #8 DER, encrypted with the
	// keyring under the associated data "signing-key:" + ID.
	SealedPrivate []byte
	// PublicJWK is the public key as a JSON Web Key with kid, alg and use.
	PublicJWK []byte
	// CreatedAt is when the key was made (and published).
	CreatedAt time.Time
	// ActivatedAt is when the key began to sign; zero while it is next.
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing; zero unless retired.
	RetiredAt time.Time
	// RetireUntil is when a retired key is deleted: RetiredAt plus the
	// longest token lifetime. Zero unless retired.
	RetireUntil time.Time
}

// aad returns the associated data the key's private part is sealed under,
// which binds the ciphertext to this key's row.
func aad(id string) []byte { return []byte("signing-key:" + id) }

// newID returns a random key ID: 16 bytes in unpadded URL-safe base64.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// generate makes a fresh key for alg, sealed with sealer. Its state and
// times are left for the caller to set.
func generate(sealer Sealer, alg jose.SignatureAlgorithm, rsaBits int) (Record, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Record{}, fmt.Errorf("%w %q", ErrUnsupported, alg)
	}
	if err != nil {
		return Record{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	id := newID()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Record{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	sealed, err := sealer.Encrypt(der, aad(id))
	clear(der)
	if err != nil {
		return Record{}, fmt.Errorf("seal %s key: %w", alg, err)
	}
	pub, err := jose.JSONWebKey{Key: priv.Public(), KeyID: id, Algorithm: string(alg), Use: use}.MarshalJSON()
	if err != nil {
		return Record{}, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	return Record{ID: id, Algorithm: alg, SealedPrivate: sealed, PublicJWK: pub}, nil
}

// use is the JWK "use" of every key: signatures.
const use = "sig"

// PublicKey is a published key: what relying parties verify tokens with.
// It is an op.Key.
type PublicKey struct {
	id    string
	alg   jose.SignatureAlgorithm
	state State
	key   crypto.PublicKey
}

var _ op.Key = PublicKey{}

// ID returns the key ID (kid).
func (k PublicKey) ID() string { return k.id }

// Algorithm returns the algorithm the key verifies.
func (k PublicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }

// Use returns "sig".
func (k PublicKey) Use() string { return use }

// Key returns the public key: *rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey.
func (k PublicKey) Key() any { return k.key }

// State returns the key's state when it was read.
func (k PublicKey) State() State { return k.state }

// JWK returns the key as a JSON Web Key.
func (k PublicKey) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.key, KeyID: k.id, Algorithm: string(k.alg), Use: use}
}

// parsePublic reads a record's public JWK, refusing anything but a public
// key of the record's algorithm and ID.
func parsePublic(r Record) (PublicKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(r.PublicJWK, &jwk); err != nil {
		return PublicKey{}, fmt.Errorf("signing key %s: public JWK: %w", r.ID, err)
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return PublicKey{}, fmt.Errorf("signing key %s: public JWK is not a valid public key", r.ID)
	}
	if jwk.KeyID != r.ID || jwk.Algorithm != string(r.Algorithm) {
		return PublicKey{}, fmt.Errorf("signing key %s: public JWK names kid %q and alg %q, want %q and %q", r.ID, jwk.KeyID, jwk.Algorithm, r.ID, r.Algorithm)
	}
	if err := checkKeyType(r.Algorithm, jwk.Key); err != nil {
		return PublicKey{}, fmt.Errorf("signing key %s: public JWK: %w", r.ID, err)
	}
	return PublicKey{id: r.ID, alg: r.Algorithm, state: r.State, key: jwk.Key}, nil
}

// checkKeyType reports whether key (public or private) is of the type alg
// needs.
func checkKeyType(alg jose.SignatureAlgorithm, key any) error {
	ok := false
	switch alg {
	case jose.RS256:
		switch k := key.(type) {
		case *rsa.PublicKey:
			ok = k.N.BitLen() >= 2048
		case *rsa.PrivateKey:
			ok = k.N.BitLen() >= 2048
		}
	case jose.ES256:
		switch k := key.(type) {
		case *ecdsa.PublicKey:
			ok = k.Curve == elliptic.P256()
		case *ecdsa.PrivateKey:
			ok = k.Curve == elliptic.P256()
		}
	case jose.EdDSA:
		switch key.(type) {
		case ed25519.PublicKey, ed25519.PrivateKey:
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("a %T is not a key for %s", key, alg)
	}
	return nil
}

// PrivateKey is an active key with its private part, decrypted in memory:
// what tokens are signed with. It is an op.SigningKey. Formatting it prints
// its ID only.
type PrivateKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

var _ op.SigningKey = (*PrivateKey)(nil)

// ID returns the key ID (kid) that goes into the JWS header.
func (k *PrivateKey) ID() string { return k.id }

// SignatureAlgorithm returns the algorithm the key signs with.
func (k *PrivateKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key returns the private key, a crypto.Signer: *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey. It must not be stored or sent
// anywhere.
func (k *PrivateKey) Key() any { return k.key }

// String names the key without showing it.
func (k *PrivateKey) String() string { return fmt.Sprintf("%s signing key %s", k.alg, k.id) }

// GoString names the key without showing it, for %#v.
func (k *PrivateKey) GoString() string { return k.String() }

// openPrivate decrypts a record's private key and checks that it is the
// private half of the published key.
func openPrivate(der []byte, r Record, pub PublicKey) (*PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: private key: %w", r.ID, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: private key of type %T cannot sign", r.ID, parsed)
	}
	if err := checkKeyType(r.Algorithm, signer); err != nil {
		return nil, fmt.Errorf("signing key %s: private key: %w", r.ID, err)
	}
	eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(pub.key) {
		return nil, fmt.Errorf("signing key %s: private key does not match the published public key", r.ID)
	}
	return &PrivateKey{id: r.ID, alg: r.Algorithm, key: signer}, nil
}

// Info describes a key for people and scripts; it holds no key material.
type Info struct {
	ID        string                  `json:"kid"`
	Algorithm jose.SignatureAlgorithm `json:"alg"`
	State     State                   `json:"state"`
	CreatedAt time.Time               `json:"created_at"`
	// ActivatedAt is when the key began to sign.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	// ActivatesAt is, for a next key, when Maintain will make it active.
	ActivatesAt time.Time `json:"activates_at,omitzero"`
	// RotatesAt is, for an active key whose algorithm is configured, when
	// its scheduled successor will take over at the earliest.
	RotatesAt time.Time `json:"rotates_at,omitzero"`
	// RetiredAt is when the key stopped signing.
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// RetireUntil is when a retired key leaves the JWKS.
	RetireUntil time.Time `json:"retire_until,omitzero"`
}

// sortRecords puts keys in publishing order: active, next, retired; then by
// algorithm, newest first, and ID.
func sortRecords(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int {
		if d := a.State.rank() - b.State.rank(); d != 0 {
			return d
		}
		if d := algRank(a.Algorithm) - algRank(b.Algorithm); d != 0 {
			return d
		}
		if d := b.CreatedAt.Compare(a.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Errors of the package.
var (
	// ErrUnsupported means an algorithm Portvakt does not sign with, or one
	// that is not configured.
	ErrUnsupported = errors.New("unsupported signing algorithm")
	// ErrNoKey means there is no active key for an algorithm (Ensure has not
	// run, or the algorithm is not configured).
	ErrNoKey = errors.New("no active signing key")
)
