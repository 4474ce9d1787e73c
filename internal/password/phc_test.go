package password

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// A valid argon2id hash of "password" from the reference implementation.
const refHash = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"

const (
	refSalt = "c29tZXNhbHQ"                                 // "somesalt"
	refKey  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4" // 32 bytes
)

func TestVerifyParseErrors(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrMalformed},
		{"no leading $", "argon2id$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"empty identifier", "$$v=19", ErrMalformed},
		{"upper-case identifier", "$ARGON2ID$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"long identifier", "$" + strings.Repeat("a", 33) + "$", ErrMalformed},
		{"bcrypt", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrUnknownAlgorithm},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrUnknownAlgorithm},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrUnknownAlgorithm},
		{"identifier only", "$argon2id", ErrMalformed},
		{"version 16", "$argon2id$v=16$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrVersion},
		{"version 20", "$argon2id$v=20$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrVersion},
		{"no version field", "$argon2id$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrVersion},
		{"version leading zero", "$argon2id$v=019$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"version not a number", "$argon2id$v=x$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"version key", "$argon2id$version=19$m=256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"missing parameter", "$argon2id$v=19$m=256,t=2$" + refSalt + "$" + refKey, ErrMalformed},
		{"extra parameter", "$argon2id$v=19$m=256,t=2,p=1,keyid=a$" + refSalt + "$" + refKey, ErrMalformed},
		{"parameters out of order", "$argon2id$v=19$t=2,m=256,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"empty number", "$argon2id$v=19$m=,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"signed number", "$argon2id$v=19$m=+256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"negative number", "$argon2id$v=19$m=256,t=-2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"leading zero", "$argon2id$v=19$m=0256,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"space in number", "$argon2id$v=19$m=256,t= 2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"11-digit number", "$argon2id$v=19$m=10000000000,t=2,p=1$" + refSalt + "$" + refKey, ErrMalformed},
		{"memory above 1 GiB", "$argon2id$v=19$m=1048577,t=2,p=1$" + refSalt + "$" + refKey, ErrParams},
		{"memory above uint32", "$argon2id$v=19$m=4294967296,t=2,p=1$" + refSalt + "$" + refKey, ErrParams},
		{"memory below 8 KiB", "$argon2id$v=19$m=7,t=2,p=1$" + refSalt + "$" + refKey, ErrParams},
		{"memory below 8 per lane", "$argon2id$v=19$m=16,t=2,p=4$" + refSalt + "$" + refKey, ErrParams},
		{"time zero", "$argon2id$v=19$m=256,t=0,p=1$" + refSalt + "$" + refKey, ErrParams},
		{"time above 100", "$argon2id$v=19$m=256,t=101,p=1$" + refSalt + "$" + refKey, ErrParams},
		{"parallelism zero", "$argon2id$v=19$m=256,t=2,p=0$" + refSalt + "$" + refKey, ErrParams},
		{"parallelism above 255", "$argon2id$v=19$m=4096,t=2,p=256$" + refSalt + "$" + refKey, ErrParams},
		{"salt padded", "$argon2id$v=19$m=256,t=2,p=1$" + refSalt + "=$" + refKey, ErrMalformed},
		{"salt URL alphabet", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ-_w$" + refKey, ErrMalformed},
		{"salt stray bits", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + refKey, ErrMalformed},
		{"salt impossible length", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQAA$" + refKey, ErrMalformed},
		{"salt with newline", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNh\nbHQ$" + refKey, ErrMalformed},
		{"salt below 8 bytes", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbA$" + refKey, ErrParams},
		{"salt above 64 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + strings.Repeat("A", 88) + "$" + refKey, ErrParams},
		{"empty salt", "$argon2id$v=19$m=256,t=2,p=1$$" + refKey, ErrParams},
		{"key padded", "$argon2id$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey + "=", ErrMalformed},
		{"key below 16 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey[:20], ErrParams},
		{"key with space", "$argon2id$v=19$m=256,t=2,p=1$" + refSalt + "$ " + refKey, ErrMalformed},
		{"trailing $", refHash + "$", ErrMalformed},
		{"extra field", refHash + "$AAAA", ErrMalformed},
		{"trailing newline", refHash + "\n", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(t.Context(), "password", tc.encoded)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify(%q): got error %v, want %v", tc.encoded, err, tc.want)
			}
			if ok || rehash {
				t.Errorf("Verify(%q) = (%v, %v) with error, want (false, false)", tc.encoded, ok, rehash)
			}
		})
	}
	// The unchanged reference hash parses and matches: the table above
	// fails for the reasons named, not because of a bad base.
	if ok, _, err := h.Verify(t.Context(), "password", refHash); err != nil || !ok {
		t.Fatalf("Verify(reference) = (%v, %v), want (true, nil)", ok, err)
	}
}

// FuzzVerifyEncoded feeds arbitrary stored hashes to Verify, which must never
// panic, must fail only with the package's errors, and must accept only
// canonical strings: whatever parses encodes back to the same text.
func FuzzVerifyEncoded(f *testing.F) {
	for _, s := range []string{
		refHash,
		"$argon2id$v=19$m=19456,t=2,p=1$" + refSalt + "$" + refKey,
		"$argon2id$v=19$m=1048576,t=100,p=255$" + refSalt + "$" + refKey,
		"$argon2id$v=16$m=256,t=2,p=1$" + refSalt + "$" + refKey,
		"$argon2id$m=256,t=2,p=1$" + refSalt + "$" + refKey,
		"$argon2id$v=19$m=256,t=2,p=1$" + refSalt + "$",
		"$argon2id$v=19$m=256,t=2,p=1$$",
		"$argon2i$v=19$m=256,t=2,p=1$" + refSalt + "$" + refKey,
		"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=4294967295$A$A",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$" + refKey,
		"$", "$$", "", "argon2id",
	} {
		f.Add("password", s)
	}
	h, err := NewHasher(testParams, 4)
	if err != nil {
		f.Fatal(err)
	}
	// Parameters that parse may still ask for up to 1 GiB and 100 passes:
	// run the real KDF only for cheap ones, so the fuzzer stays fast.
	kdf := h.kdf
	h.kdf = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		if memory <= 1024 && time <= 4 {
			return kdf(password, salt, time, memory, threads, keyLen)
		}
		sum := sha256.Sum256(append(append([]byte{}, password...), salt...))
		key := make([]byte, keyLen)
		for i := range key {
			key[i] = sum[i%len(sum)]
		}
		return key
	}
	f.Fuzz(func(t *testing.T, password, encoded string) {
		ok, rehash, err := h.Verify(t.Context(), password, encoded)
		if err != nil {
			if ok || rehash {
				t.Errorf("Verify(%q) = (%v, %v, %v): an error came with a result", encoded, ok, rehash, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownAlgorithm) &&
				!errors.Is(err, ErrVersion) && !errors.Is(err, ErrParams) {
				t.Errorf("Verify(%q): got error %v, want one of the package's", encoded, err)
			}
		}
		if rehash && !ok {
			t.Errorf("Verify(%q) = (false, true): needsRehash without a match", encoded)
		}
		if p, salt, key, err := parseArgon2id(encoded); err == nil {
			if again := encodeArgon2id(p, salt, key); again != encoded {
				t.Errorf("parseArgon2id accepted %q, which encodes back as %q", encoded, again)
			}
		}
	})
}
