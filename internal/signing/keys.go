package signing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
)

// Store keeps the signing keys.
type Store interface {
	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]Record, error)
	// SigningKeysVersion returns a number that changes whenever a change to
	// the keys commits. It is cheap to read.
	SigningKeysVersion(ctx context.Context) (int64, error)
	// UpdateSigningKeys calls fn with every stored key, inside a
	// transaction that excludes every other UpdateSigningKeys on the
	// database (from any process), and applies the changes fn returns in
	// that transaction with their events. If fn fails, nothing is written
	// and its error is returned; if it returns no changes, nothing is
	// written. Changes without events are refused. A change that would give
	// an algorithm a second active or a second next key fails with a
	// conflict and writes nothing.
	UpdateSigningKeys(ctx context.Context, fn func(keys []Record) (Changes, error)) error
}

// Changes are what one UpdateSigningKeys writes.
type Changes struct {
	// Create holds new keys.
	Create []Record
	// Update holds keys whose state and times (ActivatedAt, RetiredAt,
	// RetireUntil) change; nothing else of a stored key ever changes.
	Update []Record
	// Delete holds the IDs of keys to delete.
	Delete []string
	// Events describe the changes; every change has at least one.
	Events []events.Event
}

// Empty reports whether c changes nothing.
func (c Changes) Empty() bool {
	return len(c.Create) == 0 && len(c.Update) == 0 && len(c.Delete) == 0
}

// Sealer encrypts private keys at rest; *keyring.Keyring is one.
type Sealer interface {
	// Encrypt seals plaintext, bound to aad.
	Encrypt(plaintext, aad []byte) ([]byte, error)
	// Decrypt opens a ciphertext from Encrypt with the same aad.
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

var _ Sealer = (*keyring.Keyring)(nil)

// Options configure Keys. The zero value of each field means its default.
type Options struct {
	// Algorithms are the algorithms an active key is kept for (default
	// DefaultAlgorithms). Keys of other algorithms that are stored already
	// are left alone: still published, still signing if active.
	Algorithms []jose.SignatureAlgorithm
	// RotateEvery is how long a key signs before its successor takes over
	// (default 90 days).
	RotateEvery time.Duration
	// PublishAhead is how long a next key is published before it begins to
	// sign (default 24 hours); it should exceed how long relying parties
	// cache the JWKS.
	PublishAhead time.Duration
	// MaxTokenLifetime is the longest lifetime of a signed token, and so
	// how long a retired key stays published (default 24 hours).
	MaxTokenLifetime time.Duration
	// RSABits is the size of new RS256 keys: 2048 (default), 3072 or 4096.
	RSABits int
	// Refresh is how long a node trusts its cached keys before it checks
	// the database's version of them again (default 5 seconds).
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives Run's failures (default: discarded).
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultRotateEvery      = 90 * 24 * time.Hour
	DefaultPublishAhead     = 24 * time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultRSABits          = 2048
	DefaultRefresh          = 5 * time.Second
)

// withDefaults fills in defaults and reports every invalid option at once.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if len(o.Algorithms) == 0 {
		o.Algorithms = DefaultAlgorithms()
	}
	o.Algorithms = slices.Clone(o.Algorithms)
	for i, a := range o.Algorithms {
		if !slices.Contains(supported, a) {
			errs = append(errs, fmt.Errorf("%w %q: use RS256, ES256 or EdDSA", ErrUnsupported, a))
		} else if slices.Index(o.Algorithms, a) != i {
			errs = append(errs, fmt.Errorf("algorithm %s is listed twice", a))
		}
	}
	def := func(d *time.Duration, v time.Duration, name string) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			errs = append(errs, fmt.Errorf("%s is negative (%v)", name, *d))
		}
	}
	def(&o.RotateEvery, DefaultRotateEvery, "rotation interval")
	def(&o.PublishAhead, DefaultPublishAhead, "publish-ahead time")
	def(&o.MaxTokenLifetime, DefaultMaxTokenLifetime, "maximum token lifetime")
	def(&o.Refresh, DefaultRefresh, "refresh interval")
	switch o.RSABits {
	case 0:
		o.RSABits = DefaultRSABits
	case 2048, 3072, 4096:
	default:
		errs = append(errs, fmt.Errorf("RSA key size %d bits is not one of 2048, 3072 and 4096", o.RSABits))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("signing options: %w", err)
	}
	return o, nil
}

// Keys manages the signing keys and serves them, from a cache that follows
// the database. It is safe for concurrent use.
type Keys struct {
	store  Store
	sealer Sealer
	opts   Options

	// loadMu lets one goroutine at a time reload the cache.
	loadMu sync.Mutex

	mu      sync.Mutex
	snap    *snapshot
	checked time.Time              // when snap was last found current
	private map[string]*PrivateKey // decrypted active keys, by ID
	// invalidated counts calls of invalidate; seen is its value when snap
	// was last found current. While they differ, the cache checks the
	// version before its next use, however recent the last check.
	invalidated, seen uint64
}

var _ op.KeyProvider = (*Keys)(nil)

// snapshot is the keys as read at one version. It is never modified.
type snapshot struct {
	version int64
	records []Record // publishing order
	public  []PublicKey
}

// New returns Keys on store, sealing private keys with sealer. It reads
// nothing yet; call Ensure at start.
func New(store Store, sealer Sealer, opts Options) (*Keys, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Keys{store: store, sealer: sealer, opts: opts, private: map[string]*PrivateKey{}}, nil
}

// Algorithms returns the configured algorithms, for which an active key is
// kept.
func (k *Keys) Algorithms() []jose.SignatureAlgorithm { return slices.Clone(k.opts.Algorithms) }

// Ensure makes an active key for every configured algorithm that has none
// (the first start), then decrypts the active keys, so that a node whose
// keyring cannot open them fails at start rather than at its first token.
// Nodes may run it at the same moment on one database: one active key per
// algorithm results. It does not rotate anything.
func (k *Keys) Ensure(ctx context.Context) error {
	if _, err := k.update(ctx, task{actor: "system:signing"}); err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	for _, alg := range k.opts.Algorithms {
		if _, err := k.Signer(ctx, alg); err != nil {
			return err
		}
	}
	return nil
}

// Maintain runs the schedule once, as of now: it makes an active key where
// one is missing, makes the next key PublishAhead before the active one is
// due, makes the next key active (and retires the old one) when due, and
// deletes retired keys whose tokens have all expired. It is idempotent, and
// nodes may run it at the same moment.
func (k *Keys) Maintain(ctx context.Context) error {
	if _, err := k.update(ctx, task{maintain: true, actor: "system:signing"}); err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	return nil
}

// Rotation is the outcome of Rotate.
type Rotation struct {
	// Algorithm is the algorithm rotated.
	Algorithm jose.SignatureAlgorithm `json:"alg"`
	// Active is the ID of the key that signs now.
	Active string `json:"active"`
	// WasPublished reports whether the new active key had been published
	// (as the next key) before it began to sign.
	WasPublished bool `json:"was_published"`
	// Retired is the ID of the key that stopped signing, if there was one.
	Retired string `json:"retired,omitempty"`
	// RetireUntil is when the retired key leaves the JWKS.
	RetireUntil time.Time `json:"retire_until,omitzero"`
}

// Rotate rotates alg's key at once, for actor: the next key, or a fresh
// key if there is none, becomes active, and the active key retires (it
// stays published for MaxTokenLifetime). Other nodes start signing with
// the new key within Refresh.
//
// Unlike a scheduled rotation, this cannot honour publish-before-sign: a
// fresh key signs before any relying party has seen it in the JWKS, and even
// a next key may not have been published for long. Relying parties that
// fetch the JWKS again on an unknown kid (most do) are not affected; others
// reject tokens until their cache expires. Prefer Maintain's schedule for
// routine rotation and keep this for when a key must stop signing now.
func (k *Keys) Rotate(ctx context.Context, alg jose.SignatureAlgorithm, actor string) (Rotation, error) {
	if !slices.Contains(k.opts.Algorithms, alg) {
		return Rotation{}, fmt.Errorf("rotate: %w %q: the configured algorithms are %v", ErrUnsupported, alg, k.opts.Algorithms)
	}
	p, err := k.update(ctx, task{rotate: alg, actor: actor})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate %s signing key: %w", alg, err)
	}
	return p.rotation, nil
}

// maxAttempts bounds how often update generates keys and tries again when
// other nodes changed the keys in between.
const maxAttempts = 4

// update plans t on the stored keys and applies the plan in one locked
// transaction. Fresh keys are generated before the transaction (RSA keys
// take a while), from a plan on an unlocked read; the plan is then made
// again on the locked keys, and if those need a key the first read did not
// foresee, the transaction writes nothing and update tries again.
//
// Whatever happens, the cache checks the database's version before its next
// use: this node or another may have changed the keys.
func (k *Keys) update(ctx context.Context, t task) (*planner, error) {
	defer k.invalidate()
	// As stored: UTC, in microseconds.
	now := k.opts.Now().UTC().Truncate(time.Microsecond)
	fresh := map[jose.SignatureAlgorithm]Record{}
	for range maxAttempts {
		keys, err := k.store.SigningKeys(ctx)
		if err != nil {
			return nil, err
		}
		// A plan takes the fresh keys it uses: each gets a copy.
		p := plan(keys, k.opts, now, t, maps.Clone(fresh))
		if p.err != nil {
			return nil, p.err
		}
		if p.ch.Empty() && len(p.missing) == 0 {
			return p, nil
		}
		for _, alg := range p.missing {
			r, err := generate(k.sealer, alg, k.opts.RSABits)
			if err != nil {
				return nil, err
			}
			fresh[alg] = r
		}
		var applied *planner
		err = k.store.UpdateSigningKeys(ctx, func(keys []Record) (Changes, error) {
			p := plan(keys, k.opts, now, t, maps.Clone(fresh))
			if p.err != nil {
				return Changes{}, p.err
			}
			if len(p.missing) > 0 {
				return Changes{}, nil // write nothing; generate more and try again
			}
			applied = p
			return p.ch, nil
		})
		if err != nil {
			return nil, err
		}
		if applied != nil {
			return applied, nil
		}
	}
	return nil, fmt.Errorf("the keys kept changing under %d attempts", maxAttempts)
}

// invalidate makes the cache check the database's version before its next
// use.
func (k *Keys) invalidate() {
	k.mu.Lock()
	k.invalidated++
	k.mu.Unlock()
}

// current returns the cached keys, first checking the database's version
// if the cache is older than Refresh, and reloading if it changed.
func (k *Keys) current(ctx context.Context) (*snapshot, error) {
	fresh := func(now time.Time) (*snapshot, uint64, bool) {
		k.mu.Lock()
		defer k.mu.Unlock()
		ok := k.snap != nil && k.seen == k.invalidated && !now.Before(k.checked) && now.Sub(k.checked) < k.opts.Refresh
		return k.snap, k.invalidated, ok
	}
	if snap, _, ok := fresh(k.opts.Now()); ok {
		return snap, nil
	}
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	now := k.opts.Now()
	snap, gen, ok := fresh(now) // another goroutine may have reloaded meanwhile
	if ok {
		return snap, nil
	}
	// The version is read before the keys: a change that commits in
	// between makes the next check reload again instead of going unseen.
	version, err := k.store.SigningKeysVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("check signing keys: %w", err)
	}
	if snap == nil || snap.version != version {
		records, err := k.store.SigningKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		sortRecords(records)
		snap = &snapshot{version: version, records: records, public: make([]PublicKey, 0, len(records))}
		for _, r := range records {
			pub, err := parsePublic(r)
			if err != nil {
				return nil, err
			}
			snap.public = append(snap.public, pub)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.snap, k.checked, k.seen = snap, now, gen
	// Forget decrypted keys that no longer sign.
	for id := range k.private {
		if !slices.ContainsFunc(snap.records, func(r Record) bool { return r.ID == id && r.State == StateActive }) {
			delete(k.private, id)
		}
	}
	return snap, nil
}

// Signer returns the active key for alg, decrypted, for signing tokens.
// It fails with ErrNoKey if alg has no active key, and with an error that
// wraps keyring.ErrDecrypt if the keyring cannot open it (a master key
// other than the database's).
func (k *Keys) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (*PrivateKey, error) {
	snap, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(snap.records, func(r Record) bool { return r.Algorithm == alg && r.State == StateActive })
	if i < 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	r := snap.records[i]
	k.mu.Lock()
	pk := k.private[r.ID]
	k.mu.Unlock()
	if pk != nil {
		return pk, nil
	}
	der, err := k.sealer.Decrypt(ctx, r.SealedPrivate, aad(r.ID))
	if err != nil {
		return nil, fmt.Errorf("signing key %s (%s): open the private key: %w (is the master key the one this database was set up with?)", r.ID, r.Algorithm, err)
	}
	pk, err = openPrivate(der, r, snap.public[i])
	clear(der)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.snap == snap {
		k.private[r.ID] = pk
	}
	return pk, nil
}

// PublicKeys returns every published key (active, next and retired) in a
// stable order: active keys first. Every node whose cache is current returns
// the same list.
func (k *Keys) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	snap, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(snap.public), nil
}

// KeySet returns the published keys as op.Keys; it makes Keys an
// op.KeyProvider, the JWKS endpoint's source.
func (k *Keys) KeySet(ctx context.Context) ([]op.Key, error) {
	pub, err := k.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(pub))
	for i, p := range pub {
		out[i] = p
	}
	return out, nil
}

// JWKS returns the published keys as a JSON Web Key Set.
func (k *Keys) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	pub, err := k.PublicKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(pub))}
	for i, p := range pub {
		set.Keys[i] = p.JWK()
	}
	return set, nil
}

// List describes every stored key, read from the database rather than the
// cache, in publishing order. It shows no key material.
func (k *Keys) List(ctx context.Context) ([]Info, error) {
	records, err := k.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	byAlg := slots(records)
	sortRecords(records)
	out := make([]Info, len(records))
	for i, r := range records {
		info := Info{
			ID: r.ID, Algorithm: r.Algorithm, State: r.State, CreatedAt: r.CreatedAt,
			ActivatedAt: r.ActivatedAt, RetiredAt: r.RetiredAt, RetireUntil: r.RetireUntil,
		}
		s := byAlg[r.Algorithm]
		switch {
		case r.State == StateNext:
			info.ActivatesAt = k.opts.activatesAt(s.active, r)
		case r.State == StateActive && slices.Contains(k.opts.Algorithms, r.Algorithm):
			info.RotatesAt = r.ActivatedAt.Add(k.opts.RotateEvery)
		}
		out[i] = info
	}
	return out, nil
}

// Run calls Maintain at once and then every interval (default one minute)
// until ctx ends. Failures are logged and retried at the next tick.
func (k *Keys) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := k.Maintain(ctx); err != nil && ctx.Err() == nil {
			k.opts.Logger.Error("signing keys: scheduled maintenance failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
