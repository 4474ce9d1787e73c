package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// ErrWrongMasterKey means the database's data keys were wrapped under a
// master key that is not configured.
var ErrWrongMasterKey = errors.New("master key does not match the database")

// ErrDecrypt means a ciphertext is damaged, or was not made by this keyring,
// or belongs to another record (its associated data differs).
var ErrDecrypt = errors.New("cannot decrypt")

// WrappedKey is a data key as stored: encrypted under a master key.
type WrappedKey struct {
	ID          string
	MasterKeyID string
	Wrapped     []byte
	CreatedAt   time.Time
	Active      bool
}

// Store keeps wrapped data keys.
type Store interface {
	// KeyringKeys returns every wrapped data key.
	KeyringKeys(ctx context.Context) ([]WrappedKey, error)
	// CreateKeyringKey stores a new data key with its event. If k.Active,
	// every other key stops being active.
	CreateKeyringKey(ctx context.Context, k WrappedKey, e events.Event) error
	// RewrapKeyringKeys replaces every key with fn's result in one
	// transaction, writing e with it, and returns how many changed.
	RewrapKeyringKeys(ctx context.Context, fn func(WrappedKey) (WrappedKey, bool, error), e events.Event) (int, error)
}

const (
	dataKeyIDLen = 8 // bytes
	version1     = 1
	nonceSize    = 12
)

// Keyring encrypts and decrypts with the data keys. It is safe for
// concurrent use.
type Keyring struct {
	store   Store
	masters []MasterKey

	mu     sync.RWMutex
	aeads  map[string]cipher.AEAD
	active string
	// root is the oldest data key, from which Derive derives.
	root []byte
}

// Open loads the data keys, unwrapping them with masters, and creates the
// first data key if the database has none.
func Open(ctx context.Context, store Store, masters MasterKeys, now time.Time) (*Keyring, error) {
	k := &Keyring{store: store, masters: masters.All(), aeads: map[string]cipher.AEAD{}}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	if k.active != "" {
		return k, nil
	}
	// The first data key of a database has a fixed ID, so that nodes
	// starting together on an empty database cannot each create one: the
	// first insert wins and the others fail on the primary key, reload and
	// use the winner's key.
	id := hex.EncodeToString(randomBytes(dataKeyIDLen))
	if len(k.aeads) == 0 {
		id = firstDataKeyID
	}
	wk, err := newDataKey(masters.Current, id, now)
	if err != nil {
		return nil, err
	}
	ev, err := events.New("keyring.key_created", "keyring_key:"+wk.ID, "system:keyring", now,
		map[string]string{"master_key_id": wk.MasterKeyID})
	if err != nil {
		return nil, err
	}
	if err := store.CreateKeyringKey(ctx, wk, ev); err != nil {
		// Another node may have created it first.
		if lerr := k.load(ctx); lerr != nil {
			return nil, lerr
		}
		if k.active != "" {
			return k, nil
		}
		return nil, fmt.Errorf("create data key: %w", err)
	}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// firstDataKeyID is the ID of a database's first data key (dataKeyIDLen
// bytes in hex).
const firstDataKeyID = "0000000000000001"

func newDataKey(master MasterKey, id string, now time.Time) (WrappedKey, error) {
	wrapped, err := wrap(master, id, randomBytes(32))
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{ID: id, MasterKeyID: master.ID(), Wrapped: wrapped, CreatedAt: now.UTC(), Active: true}, nil
}

func (k *Keyring) load(ctx context.Context) error {
	keys, err := k.store.KeyringKeys(ctx)
	if err != nil {
		return fmt.Errorf("load data keys: %w", err)
	}
	aeads := map[string]cipher.AEAD{}
	active := ""
	var root []byte
	for _, wk := range keys { // oldest first
		master, ok := k.master(wk.MasterKeyID)
		if !ok {
			return fmt.Errorf("%w: data key %s is wrapped under master key %s, but the configured master keys are %s; set PORTVAKT_MASTER_KEY to the key this database was created with",
				ErrWrongMasterKey, wk.ID, wk.MasterKeyID, k.masterIDs())
		}
		raw, err := unwrap(master, wk.ID, wk.Wrapped)
		if err != nil {
			return fmt.Errorf("%w: data key %s: %w", ErrWrongMasterKey, wk.ID, err)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return err
		}
		aeads[wk.ID] = aead
		if wk.Active {
			active = wk.ID
		}
		if root == nil {
			root = raw
		}
	}
	k.mu.Lock()
	k.aeads, k.active, k.root = aeads, active, root
	k.mu.Unlock()
	return nil
}

func (k *Keyring) master(id string) (MasterKey, bool) {
	for _, m := range k.masters {
		if m.ID() == id {
			return m, true
		}
	}
	return MasterKey{}, false
}

func (k *Keyring) masterIDs() string {
	ids := make([]string, len(k.masters))
	for i, m := range k.masters {
		ids[i] = m.ID()
	}
	return strings.Join(ids, ", ")
}

// Encrypt seals plaintext under the active data key. aad binds the
// ciphertext to its context (for example "user:ID/totp"): decrypting with
// other aad fails, so a ciphertext cannot be moved to another record.
func (k *Keyring) Encrypt(plaintext, aad []byte) ([]byte, error) {
	k.mu.RLock()
	id, aead := k.active, k.aeads[k.active]
	k.mu.RUnlock()
	if aead == nil {
		return nil, errors.New("keyring has no active data key")
	}
	idBytes, _ := hex.DecodeString(id)
	out := make([]byte, 0, 1+dataKeyIDLen+nonceSize+len(plaintext)+aead.Overhead())
	out = append(out, version1)
	out = append(out, idBytes...)
	nonce := randomBytes(nonceSize)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Decrypt opens a ciphertext made by Encrypt with the same aad. A data key
// this node has not seen yet (made by another node) is loaded on demand.
func (k *Keyring) Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < 1+dataKeyIDLen+nonceSize || ciphertext[0] != version1 {
		return nil, fmt.Errorf("%w: not a keyring ciphertext", ErrDecrypt)
	}
	id := hex.EncodeToString(ciphertext[1 : 1+dataKeyIDLen])
	k.mu.RLock()
	aead := k.aeads[id]
	k.mu.RUnlock()
	if aead == nil {
		if err := k.load(ctx); err != nil {
			return nil, err
		}
		k.mu.RLock()
		aead = k.aeads[id]
		k.mu.RUnlock()
		if aead == nil {
			return nil, fmt.Errorf("%w: unknown data key %s", ErrDecrypt, id)
		}
	}
	nonce := ciphertext[1+dataKeyIDLen : 1+dataKeyIDLen+nonceSize]
	plain, err := aead.Open(nil, nonce, ciphertext[1+dataKeyIDLen+nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrDecrypt)
	}
	return plain, nil
}

// RotateMaster re-wraps every data key under masters.Current, unwrapping
// with whichever configured key wrapped it. It is idempotent: keys already
// under the current key are left alone. It returns how many were re-wrapped.
func RotateMaster(ctx context.Context, store Store, masters MasterKeys, actor string, now time.Time) (int, error) {
	k := &Keyring{masters: masters.All()}
	current := masters.Current
	ev, err := events.New("keyring.master_rotated", "keyring:master", actor, now,
		map[string]string{"master_key_id": current.ID()})
	if err != nil {
		return 0, err
	}
	return store.RewrapKeyringKeys(ctx, func(wk WrappedKey) (WrappedKey, bool, error) {
		if wk.MasterKeyID == current.ID() {
			return wk, false, nil
		}
		old, ok := k.master(wk.MasterKeyID)
		if !ok {
			return wk, false, fmt.Errorf("%w: data key %s is wrapped under master key %s, which is not among %s; pass it as a previous master key",
				ErrWrongMasterKey, wk.ID, wk.MasterKeyID, k.masterIDs())
		}
		raw, err := unwrap(old, wk.ID, wk.Wrapped)
		if err != nil {
			return wk, false, fmt.Errorf("%w: data key %s: %w", ErrWrongMasterKey, wk.ID, err)
		}
		wrapped, err := wrap(current, wk.ID, raw)
		if err != nil {
			return wk, false, err
		}
		wk.Wrapped, wk.MasterKeyID = wrapped, current.ID()
		return wk, true, nil
	}, ev)
}

func wrap(master MasterKey, dataKeyID string, raw []byte) ([]byte, error) {
	aead, err := newAEAD(master.key)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(nonceSize)
	return aead.Seal(nonce, nonce, raw, []byte("portvakt data key "+dataKeyID)), nil
}

func unwrap(master MasterKey, dataKeyID string, wrapped []byte) ([]byte, error) {
	aead, err := newAEAD(master.key)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < nonceSize {
		return nil, errors.New("wrapped key is truncated")
	}
	raw, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], []byte("portvakt data key "+dataKeyID))
	if err != nil {
		return nil, errors.New("unwrap failed: wrong master key or damaged data")
	}
	return raw, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// Derive returns a 32-byte key for purpose, derived (HKDF-SHA256) from the
// oldest data key: the same on every node and across master-key rotations,
// never stored. Use it for symmetric keys that other nodes must share, such
// as the one that encrypts opaque access tokens.
func (k *Keyring) Derive(purpose string) ([32]byte, error) {
	var out [32]byte
	k.mu.RLock()
	root := k.root
	k.mu.RUnlock()
	if root == nil {
		return out, errors.New("keyring has no data key")
	}
	b, err := hkdf.Key(sha256.New, root, nil, "portvakt derived key: "+purpose, len(out))
	if err != nil {
		return out, err
	}
	copy(out[:], b)
	return out, nil
}
