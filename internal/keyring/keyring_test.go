package keyring_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

var now = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// newStore returns a fresh, migrated SQLite store.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	return storetest.OpenURL(t, storetest.SQLiteURL(t))
}

// newMasterKey returns a new random master key.
func newMasterKey(t *testing.T) keyring.MasterKey {
	t.Helper()
	k, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatalf("ParseMasterKey(GenerateMasterKey()): %v", err)
	}
	return k
}

// open opens a keyring on s, failing the test on error.
func open(t *testing.T, s keyring.Store, masters keyring.MasterKeys) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Open(t.Context(), s, masters, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return kr
}

// encrypt encrypts plaintext with aad, failing the test on error.
func encrypt(t *testing.T, kr *keyring.Keyring, plaintext, aad string) []byte {
	t.Helper()
	ct, err := kr.Encrypt([]byte(plaintext), []byte(aad))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

// checkDecrypts checks that kr decrypts ct with aad to want.
func checkDecrypts(t *testing.T, kr *keyring.Keyring, ct []byte, aad, want string) {
	t.Helper()
	got, err := kr.Decrypt(t.Context(), ct, []byte(aad))
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(got) != want {
		t.Fatalf("Decrypt: got %q, want %q", got, want)
	}
}

func TestParseMasterKey(t *testing.T) {
	// Bytes whose base64 uses the characters that differ between the
	// standard and the URL alphabet.
	raw := make([]byte, keyring.MasterKeySize)
	for i := range raw {
		raw[i] = byte(0xf8 + 37*i)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	url := base64.URLEncoding.EncodeToString(raw)
	if std == url || !strings.HasSuffix(std, "=") {
		t.Fatalf("test key %q does not exercise both alphabets and padding", std)
	}
	ref, err := keyring.ParseMasterKey(hex.EncodeToString(raw))
	if err != nil {
		t.Fatalf("ParseMasterKey(hex): %v", err)
	}
	if id := ref.ID(); len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("ID: got %q, want 16 hex digits", id)
	}

	t.Run("valid", func(t *testing.T) {
		tests := []struct {
			name, in string
		}{
			{"hex", hex.EncodeToString(raw)},
			{"upper-case hex", strings.ToUpper(hex.EncodeToString(raw))},
			{"standard base64", std},
			{"standard base64 without padding", base64.RawStdEncoding.EncodeToString(raw)},
			{"URL base64", url},
			{"URL base64 without padding", base64.RawURLEncoding.EncodeToString(raw)},
			{"surrounded by white space", " \t" + std + "\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				k, err := keyring.ParseMasterKey(tt.in)
				if err != nil {
					t.Fatalf("ParseMasterKey(%q): %v", tt.in, err)
				}
				if k.ID() != ref.ID() {
					t.Errorf("ParseMasterKey(%q): got key %s, want %s (the same bytes)", tt.in, k.ID(), ref.ID())
				}
			})
		}
	})

	t.Run("invalid", func(t *testing.T) {
		tests := []struct {
			name, in string
			wantMsg  string
		}{
			{"empty", "", "empty"},
			{"white space", " \n", "empty"},
			{"31 bytes of base64", base64.StdEncoding.EncodeToString(raw[:31]), "32 random bytes in base64 or hex"},
			{"33 bytes of base64", base64.StdEncoding.EncodeToString(append(raw, 1)), "32 random bytes in base64 or hex"},
			{"16 bytes of hex", hex.EncodeToString(raw[:16]), "32 random bytes in base64 or hex"},
			{"64 bytes of hex", hex.EncodeToString(append(raw, raw...)), "32 random bytes in base64 or hex"},
			{"odd-length hex", hex.EncodeToString(raw)[1:], "32 random bytes in base64 or hex"},
			{"base64 with a bad character", "*" + std[1:], "32 random bytes in base64 or hex"},
			{"a passphrase", "correct horse battery staple", "32 random bytes in base64 or hex"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := keyring.ParseMasterKey(tt.in)
				if err == nil {
					t.Fatalf("ParseMasterKey(%q): got no error, want one", tt.in)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("ParseMasterKey(%q): got message %q, want it to say %q", tt.in, err, tt.wantMsg)
				}
				// A mistyped key is still a secret.
				if in := strings.TrimSpace(tt.in); in != "" && strings.Contains(err.Error(), in) {
					t.Errorf("ParseMasterKey(%q): message %q repeats the key", tt.in, err)
				}
			})
		}
	})
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	encoded := keyring.GenerateMasterKey()
	k, err := keyring.ParseMasterKey(encoded)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(encoded)
	for _, format := range []string{"%v", "%s", "%+v"} {
		out := fmt.Sprintf(format, k)
		if strings.Contains(out, encoded) || strings.Contains(out, hex.EncodeToString(raw)) || !strings.Contains(out, k.ID()) {
			t.Errorf("Sprintf(%q, key): got %q, want the key's ID and not the key", format, out)
		}
	}
}

func TestGenerateMasterKey(t *testing.T) {
	a, b := keyring.GenerateMasterKey(), keyring.GenerateMasterKey()
	if a == b {
		t.Errorf("GenerateMasterKey twice: got %q both times, want different keys", a)
	}
	for _, s := range []string{a, b} {
		if _, err := keyring.ParseMasterKey(s); err != nil {
			t.Errorf("ParseMasterKey(GenerateMasterKey()): %v", err)
		}
	}
}

func TestEncryptDecrypt(t *testing.T) {
	kr := open(t, newStore(t), keyring.MasterKeys{Current: newMasterKey(t)})
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 16<<10)
	tests := []struct {
		name           string
		plaintext, aad []byte
	}{
		{"empty", nil, []byte("user:1/totp")},
		{"text", []byte("JBSWY3DPEHPK3PXP"), []byte("user:1/totp")},
		{"binary, 64 KiB", big, []byte("client:9/secret")},
		{"no associated data", []byte("secret"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := kr.Encrypt(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if len(tt.plaintext) > 0 && bytes.Contains(ct, tt.plaintext) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := kr.Decrypt(t.Context(), ct, tt.aad)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Decrypt(Encrypt(x)): got %d bytes, want the %d bytes of x", len(got), len(tt.plaintext))
			}
		})
	}
}

func TestCiphertextsDiffer(t *testing.T) {
	kr := open(t, newStore(t), keyring.MasterKeys{Current: newMasterKey(t)})
	a, b := encrypt(t, kr, "same secret", "user:1/totp"), encrypt(t, kr, "same secret", "user:1/totp")
	if bytes.Equal(a, b) {
		t.Error("two encryptions of the same plaintext: got equal ciphertexts, want different (random nonces)")
	}
}

func TestDecryptRefuses(t *testing.T) {
	kr := open(t, newStore(t), keyring.MasterKeys{Current: newMasterKey(t)})
	ct := encrypt(t, kr, "JBSWY3DPEHPK3PXP", "user:1/totp")

	t.Run("other associated data", func(t *testing.T) {
		for _, aad := range []string{"user:2/totp", "user:1/totp ", ""} {
			if _, err := kr.Decrypt(t.Context(), ct, []byte(aad)); !errors.Is(err, keyring.ErrDecrypt) {
				t.Errorf("Decrypt with aad %q instead of %q: got %v, want ErrDecrypt", aad, "user:1/totp", err)
			}
		}
	})

	t.Run("every flipped bit", func(t *testing.T) {
		// Version, data key ID, nonce, ciphertext and tag are all
		// covered: changing any byte must make decryption fail.
		for i := range ct {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(ct)
				bad[i] ^= bit
				if _, err := kr.Decrypt(t.Context(), bad, []byte("user:1/totp")); !errors.Is(err, keyring.ErrDecrypt) {
					t.Errorf("Decrypt with byte %d of %d xored with %#x: got %v, want ErrDecrypt", i, len(ct), bit, err)
				}
			}
		}
	})

	t.Run("wrong length", func(t *testing.T) {
		tests := []struct {
			name string
			ct   []byte
		}{
			{"empty", nil},
			{"version only", ct[:1]},
			{"header only", ct[:1+8+12]},
			{"truncated tag", ct[:len(ct)-1]},
			{"extra byte", append(bytes.Clone(ct), 0)},
		}
		for _, tt := range tests {
			if _, err := kr.Decrypt(t.Context(), tt.ct, []byte("user:1/totp")); !errors.Is(err, keyring.ErrDecrypt) {
				t.Errorf("Decrypt of %s: got %v, want ErrDecrypt", tt.name, err)
			}
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("creates one data key and then reuses it", func(t *testing.T) {
		s := newStore(t)
		mk := keyring.MasterKeys{Current: newMasterKey(t)}
		kr1 := open(t, s, mk)
		ct := encrypt(t, kr1, "secret", "aad")
		kr2 := open(t, s, mk)
		checkDecrypts(t, kr2, ct, "aad", "secret")

		keys, err := s.KeyringKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || !keys[0].Active || keys[0].MasterKeyID != mk.Current.ID() {
			t.Errorf("data keys: got %+v, want one active key wrapped under %s", keys, mk.Current.ID())
		}
		evs, err := s.EventsAfter(t.Context(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Type != "keyring.key_created" {
			t.Errorf("events: got %+v, want one keyring.key_created", evs)
		}
	})

	t.Run("wrong master key", func(t *testing.T) {
		s := newStore(t)
		right, wrong := newMasterKey(t), newMasterKey(t)
		ct := encrypt(t, open(t, s, keyring.MasterKeys{Current: right}), "secret", "aad")

		_, err := keyring.Open(t.Context(), s, keyring.MasterKeys{Current: wrong}, now)
		if !errors.Is(err, keyring.ErrWrongMasterKey) {
			t.Fatalf("Open with another master key: got %v, want ErrWrongMasterKey", err)
		}
		for _, id := range []string{right.ID(), wrong.ID()} {
			if !strings.Contains(err.Error(), id) {
				t.Errorf("Open with another master key: got message %q, want it to name master key %s", err, id)
			}
		}
		// The failed Open did not create a data key of its own.
		if keys, _ := s.KeyringKeys(t.Context()); len(keys) != 1 {
			t.Errorf("data keys after the refused Open: got %d, want 1", len(keys))
		}
		// The right key among previous ones is enough.
		kr := open(t, s, keyring.MasterKeys{Current: wrong, Previous: []keyring.MasterKey{right}})
		checkDecrypts(t, kr, ct, "aad", "secret")
	})

	t.Run("concurrently on an empty database", func(t *testing.T) {
		storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
			s := storetest.Open(t, e)
			mk := keyring.MasterKeys{Current: newMasterKey(t)}
			const nodes = 4
			krs := make([]*keyring.Keyring, nodes)
			errs := make([]error, nodes)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range nodes {
				wg.Go(func() {
					<-start
					krs[i], errs[i] = keyring.Open(t.Context(), s, mk, now)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Open on node %d: %v", i, err)
				}
			}
			if keys, _ := s.KeyringKeys(t.Context()); len(keys) != 1 {
				t.Errorf("data keys after concurrent Opens: got %d, want 1", len(keys))
			}
			// Every node reads what every other wrote.
			for i, kr := range krs {
				ct := encrypt(t, kr, fmt.Sprint("from ", i), "aad")
				for _, other := range krs {
					checkDecrypts(t, other, ct, "aad", fmt.Sprint("from ", i))
				}
			}
		})
	})
}

func TestConcurrentUse(t *testing.T) {
	kr := open(t, newStore(t), keyring.MasterKeys{Current: newMasterKey(t)})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				msg := fmt.Sprintf("%d/%d", i, j)
				ct, err := kr.Encrypt([]byte(msg), []byte("aad"))
				if err == nil {
					var got []byte
					got, err = kr.Decrypt(t.Context(), ct, []byte("aad"))
					if err == nil && string(got) != msg {
						err = fmt.Errorf("got %q, want %q", got, msg)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// fileMode returns the permission bits of path.
func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// keyFileID returns the ID of the master key in path.
func keyFileID(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.ParseMasterKey(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k.ID()
}

// exists reports whether path exists.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// loadFromDir loads the master keys kept in dir.
func loadFromDir(t *testing.T, dir string) keyring.MasterKeys {
	t.Helper()
	mk, err := keyring.LoadMasterKeys(dir, "", nil)
	if err != nil {
		t.Fatalf("LoadMasterKeys(%s): %v", dir, err)
	}
	return mk
}

func TestLoadMasterKeys(t *testing.T) {
	t.Run("key file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data") // not there yet
		mk := loadFromDir(t, dir)
		path := filepath.Join(dir, keyring.MasterKeyFile)
		if !mk.Created || mk.File != path || len(mk.Previous) != 0 {
			t.Errorf("first LoadMasterKeys: got Created %v, File %q, %d previous, want true, %q, 0", mk.Created, mk.File, len(mk.Previous), path)
		}
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("mode of %s: got %v, want 0600", path, got)
		}
		if got := keyFileID(t, path); got != mk.Current.ID() {
			t.Errorf("key in %s: got %s, want %s", path, got, mk.Current.ID())
		}

		again := loadFromDir(t, dir)
		if again.Created || again.File != path || again.Current.ID() != mk.Current.ID() {
			t.Errorf("second LoadMasterKeys: got Created %v, File %q, key %s, want false, %q, %s", again.Created, again.File, again.Current.ID(), path, mk.Current.ID())
		}
	})

	t.Run("configured", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		cur, prev := keyring.GenerateMasterKey(), keyring.GenerateMasterKey()
		mk, err := keyring.LoadMasterKeys(dir, cur, []string{prev})
		if err != nil {
			t.Fatal(err)
		}
		wantCur, _ := keyring.ParseMasterKey(cur)
		wantPrev, _ := keyring.ParseMasterKey(prev)
		if mk.Created || mk.File != "" || mk.Current.ID() != wantCur.ID() || len(mk.Previous) != 1 || mk.Previous[0].ID() != wantPrev.ID() {
			t.Errorf("LoadMasterKeys with configured keys: got %+v, want current %s, previous %s, no file", mk, wantCur.ID(), wantPrev.ID())
		}
		if exists(t, dir) {
			t.Errorf("LoadMasterKeys with a configured key created %s", dir)
		}
	})

	t.Run("errors", func(t *testing.T) {
		damaged := t.TempDir()
		if err := os.WriteFile(filepath.Join(damaged, keyring.MasterKeyFile), []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		good := keyring.GenerateMasterKey()
		tests := []struct {
			name              string
			dir, cur          string
			prev              []string
			wantMsg, notInMsg string
		}{
			{"bad configured key", t.TempDir(), "c2VjcmV0", nil, "32 random bytes", "c2VjcmV0"},
			{"bad previous key", t.TempDir(), good, []string{good, "c2VjcmV0"}, "previous master key 2", "c2VjcmV0"},
			{"damaged key file", damaged, "", nil, filepath.Join(damaged, keyring.MasterKeyFile), "not a key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := keyring.LoadMasterKeys(tt.dir, tt.cur, tt.prev)
				if err == nil {
					t.Fatal("LoadMasterKeys: got no error, want one")
				}
				if !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), tt.notInMsg) {
					t.Errorf("LoadMasterKeys: got %q, want a message with %q and without %q", err, tt.wantMsg, tt.notInMsg)
				}
			})
		}
	})
}

func TestRotateMaster(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	k1, k2, k3 := newMasterKey(t), newMasterKey(t), newMasterKey(t)
	kr := open(t, s, keyring.MasterKeys{Current: k1})
	ct := encrypt(t, kr, "before", "aad")

	n, err := keyring.RotateMaster(ctx, s, keyring.MasterKeys{Current: k2, Previous: []keyring.MasterKey{k1}}, "system:test", now)
	if err != nil || n != 1 {
		t.Fatalf("RotateMaster: got %d, %v, want 1 re-wrapped", n, err)
	}
	// Only the new key is needed from now on.
	after := open(t, s, keyring.MasterKeys{Current: k2})
	checkDecrypts(t, after, ct, "aad", "before")
	if _, err := keyring.Open(ctx, s, keyring.MasterKeys{Current: k1}, now); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Errorf("Open with the old master key after the rotation: got %v, want ErrWrongMasterKey", err)
	}
	// A running keyring keeps its unwrapped data keys across the rotation.
	checkDecrypts(t, kr, ct, "aad", "before")
	checkDecrypts(t, after, encrypt(t, kr, "during", "aad"), "aad", "during")

	// Running it again changes nothing.
	n, err = keyring.RotateMaster(ctx, s, keyring.MasterKeys{Current: k2, Previous: []keyring.MasterKey{k1}}, "system:test", now)
	if err != nil || n != 0 {
		t.Errorf("second RotateMaster: got %d, %v, want 0 re-wrapped", n, err)
	}

	// A rotation without the key the data keys are under fails and
	// changes nothing.
	n, err = keyring.RotateMaster(ctx, s, keyring.MasterKeys{Current: k3, Previous: []keyring.MasterKey{k1}}, "system:test", now)
	if !errors.Is(err, keyring.ErrWrongMasterKey) || n != 0 {
		t.Errorf("RotateMaster without the current master key: got %d, %v, want 0, ErrWrongMasterKey", n, err)
	}
	checkDecrypts(t, open(t, s, keyring.MasterKeys{Current: k2}), ct, "aad", "before")

	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var rotated int
	for _, e := range evs {
		if e.Type == "keyring.master_rotated" {
			rotated++
			if e.Actor != "system:test" {
				t.Errorf("keyring.master_rotated event: got actor %q, want system:test", e.Actor)
			}
		}
	}
	if rotated != 1 {
		t.Errorf("keyring.master_rotated events: got %d, want 1 (only the rotation that re-wrapped)", rotated)
	}
}

func TestRotateMasterFile(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	dir := t.TempDir()
	mk := loadFromDir(t, dir)
	ct := encrypt(t, open(t, s, mk), "before", "aad")
	path := filepath.Join(dir, keyring.MasterKeyFile)

	for round := 1; round <= 2; round++ {
		old := mk.Current.ID()
		rotated, n, err := keyring.RotateMasterFile(ctx, s, mk, "system:test", now)
		if err != nil || n != 1 {
			t.Fatalf("RotateMasterFile round %d: got %d, %v, want 1 re-wrapped", round, n, err)
		}
		if rotated.Current.ID() == old || rotated.File != path {
			t.Errorf("RotateMasterFile round %d: got current %s in %q, want a new key in %q", round, rotated.Current.ID(), rotated.File, path)
		}
		if got := keyFileID(t, path); got != rotated.Current.ID() {
			t.Errorf("round %d: %s holds %s, want the new key %s", round, keyring.MasterKeyFile, got, rotated.Current.ID())
		}
		if got := keyFileID(t, path+".previous"); got != old {
			t.Errorf("round %d: master.key.previous holds %s, want the old key %s", round, got, old)
		}
		if exists(t, path+".next") {
			t.Errorf("round %d: master.key.next is left behind", round)
		}
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("round %d: mode of %s: got %v, want 0600", round, path, got)
		}

		mk = loadFromDir(t, dir)
		if mk.Current.ID() != rotated.Current.ID() || mk.Created {
			t.Errorf("round %d: LoadMasterKeys after the rotation: got key %s (created %v), want %s", round, mk.Current.ID(), mk.Created, rotated.Current.ID())
		}
		// The new key alone opens the keyring and reads the old data.
		checkDecrypts(t, open(t, s, keyring.MasterKeys{Current: mk.Current}), ct, "aad", "before")
	}

	if _, _, err := keyring.RotateMasterFile(ctx, s, keyring.MasterKeys{Current: newMasterKey(t)}, "system:test", now); err == nil {
		t.Error("RotateMasterFile of a configured key: got no error, want one")
	}
}

func TestRotateMasterFileAfterCrash(t *testing.T) {
	// A crash interrupts RotateMasterFile after it wrote master.key.next and
	// re-wrapped the data keys under it, at each point before its end.
	tests := []struct {
		name string
		// crash leaves the files as the interrupted rotation would.
		crash func(t *testing.T, dir string)
		// finished: LoadMasterKeys completes the rotation (master.key is
		// gone, so nothing but the next key can be current); otherwise the
		// next RotateMasterFile does, with the next key.
		finished bool
	}{
		{"before the renames", func(*testing.T, string) {}, false},
		{"between the renames", func(t *testing.T, dir string) {
			path := filepath.Join(dir, keyring.MasterKeyFile)
			if err := os.Rename(path, path+".previous"); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t)
			dir := t.TempDir()
			old := loadFromDir(t, dir)
			ct := encrypt(t, open(t, s, old), "before", "aad")

			path := filepath.Join(dir, keyring.MasterKeyFile)
			encoded := keyring.GenerateMasterKey()
			if err := os.WriteFile(path+".next", []byte(encoded+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			next, _ := keyring.ParseMasterKey(encoded)
			n, err := keyring.RotateMaster(ctx, s, keyring.MasterKeys{Current: next, Previous: []keyring.MasterKey{old.Current}}, "system:test", now)
			if err != nil || n != 1 {
				t.Fatalf("RotateMaster: got %d, %v, want 1 re-wrapped", n, err)
			}
			tt.crash(t, dir)

			// The node restarts: it still opens the keyring, and makes no
			// key of its own (which would wrap nothing).
			mk := loadFromDir(t, dir)
			if mk.Created {
				t.Error("LoadMasterKeys after the crash created a new master key")
			}
			wantCurrent := old.Current.ID()
			if tt.finished {
				wantCurrent = next.ID()
			}
			if mk.Current.ID() != wantCurrent {
				t.Errorf("LoadMasterKeys after the crash: got current key %s, want %s", mk.Current.ID(), wantCurrent)
			}
			if got := exists(t, path+".next"); got == tt.finished {
				t.Errorf("master.key.next exists after LoadMasterKeys: got %v, want %v", got, !tt.finished)
			}
			checkDecrypts(t, open(t, s, mk), ct, "aad", "before")

			// The next rotation completes: it finishes the interrupted one
			// with its key, or (if LoadMasterKeys did) makes a new one.
			rotated, n, err := keyring.RotateMasterFile(ctx, s, mk, "system:test", now)
			if err != nil {
				t.Fatalf("RotateMasterFile after the crash: %v", err)
			}
			switch {
			case !tt.finished && (n != 0 || rotated.Current.ID() != next.ID()):
				t.Errorf("RotateMasterFile after the crash: got %d re-wrapped to %s, want 0 to the existing next key %s", n, rotated.Current.ID(), next.ID())
			case tt.finished && (n != 1 || rotated.Current.ID() == next.ID() || rotated.Current.ID() == old.Current.ID()):
				t.Errorf("RotateMasterFile after the finished rotation: got %d re-wrapped to %s, want 1 to a new key", n, rotated.Current.ID())
			}
			if got := keyFileID(t, path); got != rotated.Current.ID() {
				t.Errorf("%s holds %s, want the current key %s", keyring.MasterKeyFile, got, rotated.Current.ID())
			}
			if exists(t, path+".next") {
				t.Error("master.key.next is left behind")
			}
			mk = loadFromDir(t, dir)
			checkDecrypts(t, open(t, s, keyring.MasterKeys{Current: mk.Current}), ct, "aad", "before")
		})
	}
}

func TestDeriveIsStableAndSeparated(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite())
	mk := keyring.MasterKeys{Current: mustKey(t, keyring.GenerateMasterKey())}
	a, err := keyring.Open(ctx, st, mk, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := keyring.Open(ctx, st, mk, time.Now()) // another node
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := a.Derive("oidc tokens")
	x2, _ := b.Derive("oidc tokens")
	y, _ := a.Derive("something else")
	if x1 != x2 {
		t.Error("two nodes derived different keys for one purpose")
	}
	if x1 == y {
		t.Error("two purposes derived the same key")
	}
	if x1 == ([32]byte{}) {
		t.Error("derived key is zero")
	}
}

func mustKey(t *testing.T, s string) keyring.MasterKey {
	t.Helper()
	k, err := keyring.ParseMasterKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
