package keyring

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MasterKeySize is the length of a master key in bytes (AES-256).
const MasterKeySize = 32

// MasterKey is a key that wraps data keys.
type MasterKey struct {
	id  string
	key []byte
}

// ID names the key without revealing it: the first 8 bytes of a SHA-256
// over it, in hex. Wrapped data keys record it, so the right master key is
// found during a rotation.
func (m MasterKey) ID() string { return m.id }

// String never shows the key.
func (m MasterKey) String() string { return "master key " + m.id }

func newMasterKey(key []byte) MasterKey {
	sum := sha256.Sum256(append([]byte("portvakt master key id\x00"), key...))
	return MasterKey{id: hex.EncodeToString(sum[:8]), key: key}
}

// ParseMasterKey reads a master key written as base64 (standard or URL
// alphabet, padded or not) or hex, of exactly 32 bytes.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return MasterKey{}, errors.New("master key is empty")
	}
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	for _, dec := range decoders {
		if b, err := dec(s); err == nil && len(b) == MasterKeySize {
			return newMasterKey(b), nil
		}
	}
	return MasterKey{}, fmt.Errorf("master key must be %d random bytes in base64 or hex (generate one with: openssl rand -base64 32)", MasterKeySize)
}

// GenerateMasterKey returns a new random master key in base64.
func GenerateMasterKey() string {
	return base64.StdEncoding.EncodeToString(randomBytes(MasterKeySize))
}

// Files kept in the data directory when no master key is configured.
const (
	MasterKeyFile     = "master.key"
	nextMasterKeyFile = "master.key.next"
	oldMasterKeyFile  = "master.key.previous"
)

// MasterKeys is the current master key and the ones it replaces.
type MasterKeys struct {
	// Current wraps new data keys and is the target of a rotation.
	Current MasterKey
	// Previous still unwrap data keys wrapped before a rotation.
	Previous []MasterKey
	// File is the key file in use, or "" when the key came from the
	// configuration.
	File string
	// Created is true when the key file was created just now.
	Created bool
}

// All returns the current key first, then the previous ones.
func (m MasterKeys) All() []MasterKey {
	return append([]MasterKey{m.Current}, m.Previous...)
}

// LoadMasterKeys returns the configured master keys. With current empty it
// uses the key file in dataDir, creating it (mode 0600) if it does not exist;
// the caller must then tell the operator to back it up.
func LoadMasterKeys(dataDir, current string, previous []string) (MasterKeys, error) {
	var mk MasterKeys
	for i, p := range previous {
		k, err := ParseMasterKey(p)
		if err != nil {
			return mk, fmt.Errorf("previous master key %d: %w", i+1, err)
		}
		mk.Previous = append(mk.Previous, k)
	}
	if current != "" {
		k, err := ParseMasterKey(current)
		if err != nil {
			return mk, err
		}
		mk.Current = k
		return mk, nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	k, err := readKeyFile(path)
	next := filepath.Join(dataDir, nextMasterKeyFile)
	if _, nerr := os.Stat(next); errors.Is(err, fs.ErrNotExist) && nerr == nil {
		// RotateMasterFile was interrupted between its renames: it moves
		// master.key away only once every data key is wrapped under the
		// next key. Finish it instead of creating a key that wraps nothing.
		// (If the rename finds no file, another process just did it.)
		if err := os.Rename(next, path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return mk, fmt.Errorf("finish master key rotation: %w", err)
		}
		if err := syncDir(dataDir); err != nil {
			return mk, fmt.Errorf("finish master key rotation: %w", err)
		}
		k, err = readKeyFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeKeyFile(path, GenerateMasterKey()); err != nil {
			return mk, err
		}
		k, err = readKeyFile(path)
		mk.Created = true
	}
	if err != nil {
		return mk, err
	}
	mk.Current, mk.File = k, path
	// A rotation interrupted by a crash may leave the next or the previous
	// key beside the current one; either may still be needed to unwrap.
	for _, name := range []string{nextMasterKeyFile, oldMasterKeyFile} {
		if k, err := readKeyFile(filepath.Join(dataDir, name)); err == nil {
			mk.Previous = append(mk.Previous, k)
		}
	}
	return mk, nil
}

func readKeyFile(path string) (MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKey{}, err
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		return MasterKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// writeKeyFile writes a key file durably: to a temporary file, synced, then
// linked into place, so a crash leaves either no file or a whole one. It
// never replaces an existing file: if another process created it first (two
// processes starting together on a new data directory), that one is kept, so
// that both use the same key.
func writeKeyFile(path, encoded string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if _, err := f.WriteString(encoded + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		// A file system without hard links: a rename is atomic too, but may
		// replace a file created at the same moment.
		if err := os.Rename(f.Name(), path); err != nil {
			return fmt.Errorf("write master key: %w", err)
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not supported everywhere; the rename is what matters
	return nil
}

// RotateMasterFile replaces the master key kept in the data directory: it
// writes a new key beside the old one, re-wraps every data key under it, then
// moves the new key into place and keeps the old one as master.key.previous
// until the next rotation. A crash at any step leaves a set of files that
// LoadMasterKeys can still unwrap with.
func RotateMasterFile(ctx context.Context, store Store, mk MasterKeys, actor string, now time.Time) (MasterKeys, int, error) {
	if mk.File == "" {
		return mk, 0, errors.New("the master key comes from the configuration, not a file")
	}
	dir := filepath.Dir(mk.File)
	next := filepath.Join(dir, nextMasterKeyFile)
	// A next key left by an interrupted rotation may already wrap data
	// keys: finish that rotation with it instead of replacing it.
	newKey, err := readKeyFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeKeyFile(next, GenerateMasterKey()); err != nil {
			return mk, 0, err
		}
		newKey, err = readKeyFile(next)
	}
	if err != nil {
		return mk, 0, err
	}
	rotated := MasterKeys{Current: newKey, Previous: mk.All(), File: mk.File}
	n, err := RotateMaster(ctx, store, rotated, actor, now)
	if err != nil {
		return mk, 0, err
	}
	if err := os.Rename(mk.File, filepath.Join(dir, oldMasterKeyFile)); err != nil {
		return rotated, n, fmt.Errorf("keep previous master key: %w", err)
	}
	if err := os.Rename(next, mk.File); err != nil {
		return rotated, n, fmt.Errorf("move new master key into place: %w", err)
	}
	return rotated, n, syncDir(dir)
}
