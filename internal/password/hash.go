package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB (19456 = 19 MiB by default). Each
	// running key derivation holds this much memory.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived key in bytes.
	KeyLen uint32
}

// Bounds on argon2id parameters. They apply both to a Hasher's own Params and
// to parameters read from stored hashes, which must not be able to demand
// unbounded memory or time.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 100
	minSalt    = 8 // the argon2 minimum; new hashes use at least minNewSalt
	minNewSalt = 16
	maxSalt    = 64
	minKey     = 16
	maxKey     = 128
)

// DefaultParams returns the parameters new hashes are made with unless
// configured otherwise: 19 MiB, 2 passes, 1 lane, a 16-byte salt and a 32-byte
// key (the OWASP recommendation for argon2id).
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports every parameter outside the accepted bounds: Memory from
// 8×Threads KiB to 1 GiB, Time 1–100, Threads at least 1, SaltLen 16–64 and
// KeyLen 16–128 bytes.
func (p Params) Validate() error {
	errs := p.check()
	if p.SaltLen < minNewSalt {
		errs = append(errs, fmt.Errorf("salt length %d is below %d bytes", p.SaltLen, minNewSalt))
	}
	return errors.Join(errs...)
}

// check reports the parameters outside the bounds that stored hashes must
// also meet (a salt may be as short as 8 bytes there).
func (p Params) check() []error {
	var errs []error
	if p.Threads < 1 {
		errs = append(errs, errors.New("threads must be at least 1"))
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory < 8 || p.Memory > maxMemory {
		errs = append(errs, fmt.Errorf("memory %d KiB is outside [%d, %d]", p.Memory, max(8, 8*uint32(p.Threads)), maxMemory))
	}
	if p.Time < 1 || p.Time > maxTime {
		errs = append(errs, fmt.Errorf("time %d is outside [1, %d]", p.Time, maxTime))
	}
	if p.SaltLen < minSalt || p.SaltLen > maxSalt {
		errs = append(errs, fmt.Errorf("salt length %d is outside [%d, %d] bytes", p.SaltLen, minSalt, maxSalt))
	}
	if p.KeyLen < minKey || p.KeyLen > maxKey {
		errs = append(errs, fmt.Errorf("key length %d is outside [%d, %d] bytes", p.KeyLen, minKey, maxKey))
	}
	return errs
}

// kdfFunc derives a key; it has the signature of argon2.IDKey.
type kdfFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// verifyFunc checks password against a hash in one format. needsRehash is
// true only when ok is, and says the hash is not in the Hasher's current
// format and parameters. A malformed hash is an error, not a mismatch.
type verifyFunc func(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)

// Hasher hashes passwords with argon2id and verifies them. It runs a bounded
// number of key derivations at once (see the package documentation). A
// Hasher is safe for concurrent use; make one with NewHasher.
type Hasher struct {
	params Params
	// sem holds one token per running key derivation.
	sem chan struct{}
	// formats maps a PHC identifier to the verifier of that format.
	formats map[string]verifyFunc
	// dummy is a hash in the current parameters that no password matches.
	dummy string

	// kdf and rand are argon2.IDKey and crypto/rand.Reader; tests replace
	// them.
	kdf  kdfFunc
	rand io.Reader
}

// NewHasher returns a Hasher that makes new hashes with p and runs at most
// concurrency key derivations at a time: runtime.NumCPU() when concurrency is
// zero or less. A zero p means DefaultParams().
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if p == (Params{}) {
		p = DefaultParams()
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("argon2id parameters: %w", err)
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	h := &Hasher{
		params: p,
		sem:    make(chan struct{}, concurrency),
		kdf:    argon2.IDKey,
		rand:   rand.Reader,
	}
	h.formats = map[string]verifyFunc{
		argon2idID: h.verifyArgon2id,
	}
	// The dummy's salt and key are random: no password derives that key.
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return nil, fmt.Errorf("read dummy salt: %w", err)
	}
	if _, err := io.ReadFull(h.rand, key); err != nil {
		return nil, fmt.Errorf("read dummy key: %w", err)
	}
	h.dummy = encodeArgon2id(p, salt, key)
	return h, nil
}

// Hash returns the PHC-encoded argon2id hash of password (after NFKC
// normalization) under a fresh random salt. It waits for a free slot in the
// pool and returns ctx.Err() if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodeArgon2id(h.params, salt, key), nil
}

// Verify reports whether password matches the encoded hash. needsRehash is
// true when the password matches but the hash was made with another format
// or other parameters than the Hasher's, so the caller should store a fresh
// Hash of the password. A hash that cannot be parsed is an error wrapping
// ErrUnknownAlgorithm, ErrVersion, ErrParams or ErrMalformed; an error never
// comes with ok. Verify waits for a free slot in the pool and returns
// ctx.Err() if ctx ends first.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	id, err := phcID(encoded)
	if err != nil {
		return false, false, err
	}
	verify, found := h.formats[id]
	if !found {
		return false, false, fmt.Errorf("%w %q", ErrUnknownAlgorithm, id)
	}
	return verify(ctx, password, encoded)
}

// VerifyDummy does the work of a Verify against a hash with the current
// parameters that nothing matches, and discards the result. Call it when the
// account does not exist (or has no password) so that the answer takes as
// long as for a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	_, _, _ = h.Verify(ctx, password, h.dummy)
}

// verifyArgon2id is the verifier of the "argon2id" format.
func (h *Hasher) verifyArgon2id(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parseArgon2id(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// derive runs the KDF on the normalized password once a slot in the pool is
// free. p.SaltLen is ignored: salt is used as it is.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	// An ended context wins even when a slot is free.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	return h.kdf([]byte(norm.NFKC.String(password)), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}
