package password

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testParams are cheap parameters, so that tests (under -race too) are fast.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTestHasher(t testing.TB, p Params, concurrency int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, concurrency)
	if err != nil {
		t.Fatalf("NewHasher(%+v, %d): %v", p, concurrency, err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, testParams, 1)
	encoded, err := h.Hash(ctx, "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(encoded, want) {
		t.Errorf("Hash = %q, want prefix %q", encoded, want)
	}
	again, err := h.Hash(ctx, "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if again == encoded {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", again)
	}

	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "violet-kettle-morning-drum", true},
		{"wrong password", "violet-kettle-morning-drun", false},
		{"empty password", "", false},
		{"case differs", "Violet-kettle-morning-drum", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tc.password, encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tc.wantOK || rehash {
				t.Errorf("Verify = (%v, %v), want (%v, false)", ok, rehash, tc.wantOK)
			}
		})
	}
}

func TestHashDefaultParams(t *testing.T) {
	h := newTestHasher(t, Params{}, 1)
	encoded, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 {
		t.Fatalf("Hash = %q, want 6 '$'-separated fields", encoded)
	}
	if got, want := strings.Join(fields[:4], "$"), "$argon2id$v=19$m=19456,t=2,p=1"; got != want {
		t.Errorf("Hash prefix = %q, want %q", got, want)
	}
	for i, want := range map[int]int{4: 16, 5: 32} {
		b, err := base64.RawStdEncoding.DecodeString(fields[i])
		if err != nil || len(b) != want {
			t.Errorf("field %d = %q: got %d bytes (err %v), want %d", i, fields[i], len(b), err, want)
		}
	}
	ok, rehash, err := h.Verify(t.Context(), "correct horse battery staple", encoded)
	if err != nil || !ok || rehash {
		t.Errorf("Verify = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
	}
}

// TestVerifyReference checks interoperability with hashes made by the
// argon2 reference implementation (phc-winner-argon2's test vectors for
// password "password" and salt "somesalt").
func TestVerifyReference(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	tests := []struct {
		name    string
		encoded string
	}{
		{"m=256", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"m=65536", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(t.Context(), "password", tc.encoded)
			if err != nil || !ok || !rehash {
				t.Errorf("Verify(right) = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(t.Context(), "passwore", tc.encoded)
			if err != nil || ok || rehash {
				t.Errorf("Verify(wrong) = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestVerifyNormalizes(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	// U+FB01 LATIN SMALL LIGATURE FI is "fi" under NFKC; "é" may be typed
	// precomposed or as e + COMBINING ACUTE ACCENT.
	encoded, err := h.Hash(t.Context(), "\ufb01sh caf\u00e9 at noon")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	ok, _, err := h.Verify(t.Context(), "fish cafe\u0301 at noon", encoded)
	if err != nil || !ok {
		t.Errorf("Verify(equivalent spelling) = (%v, %v), want (true, nil)", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := t.Context()
	old := newTestHasher(t, testParams, 1)
	encoded, err := old.Hash(ctx, "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Params)
		want   bool
	}{
		{"same", func(*Params) {}, false},
		{"memory", func(p *Params) { p.Memory *= 2 }, true},
		{"time", func(p *Params) { p.Time++ }, true},
		{"threads", func(p *Params) { p.Threads++ }, true},
		{"salt length", func(p *Params) { p.SaltLen = 32 }, true},
		{"key length", func(p *Params) { p.KeyLen = 16 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams
			tc.change(&p)
			h := newTestHasher(t, p, 1)
			ok, rehash, err := h.Verify(ctx, "violet-kettle-morning-drum", encoded)
			if err != nil || !ok || rehash != tc.want {
				t.Errorf("Verify(right) = (%v, %v, %v), want (true, %v, nil)", ok, rehash, err, tc.want)
			}
			ok, rehash, err = h.Verify(ctx, "wrong", encoded)
			if err != nil || ok || rehash {
				t.Errorf("Verify(wrong) = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestVerifyTampered(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, testParams, 1)
	encoded, err := h.Hash(ctx, "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	fields := strings.Split(encoded, "$")
	flip := func(s string) string {
		b, _ := base64.RawStdEncoding.DecodeString(s)
		b[0] ^= 1
		return base64.RawStdEncoding.EncodeToString(b)
	}
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return strings.Join(f, "$")
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"key bit", with(5, flip(fields[5]))},
		{"salt bit", with(4, flip(fields[4]))},
		{"memory", with(3, "m=65,t=1,p=1")},
		{"time", with(3, "m=64,t=2,p=1")},
		{"threads", with(3, "m=64,t=1,p=2")},
		{"key truncated", with(5, fields[5][:len(fields[5])-11])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, "violet-kettle-morning-drum", tc.encoded)
			if err != nil || ok || rehash {
				t.Errorf("Verify(%q) = (%v, %v, %v), want (false, false, nil)", tc.encoded, ok, rehash, err)
			}
		})
	}
}

func TestNewHasherRejectsParams(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Params)
	}{
		{"memory below 8 KiB", func(p *Params) { p.Memory = 7 }},
		{"memory below 8 per thread", func(p *Params) { p.Memory, p.Threads = 16, 4 }},
		{"memory above 1 GiB", func(p *Params) { p.Memory = 1<<20 + 1 }},
		{"time zero", func(p *Params) { p.Time = 0 }},
		{"time above 100", func(p *Params) { p.Time = 101 }},
		{"threads zero", func(p *Params) { p.Threads = 0 }},
		{"salt below 16", func(p *Params) { p.SaltLen = 8 }},
		{"salt above 64", func(p *Params) { p.SaltLen = 65 }},
		{"key below 16", func(p *Params) { p.KeyLen = 15 }},
		{"key above 128", func(p *Params) { p.KeyLen = 129 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultParams()
			tc.change(&p)
			if _, err := NewHasher(p, 1); err == nil {
				t.Errorf("NewHasher(%+v): got nil error, want one", p)
			}
		})
	}
}

// call records the arguments of one key derivation.
type call struct {
	memory, time, saltLen, keyLen uint32
	threads                       uint8
}

func TestVerifyDummy(t *testing.T) {
	ctx := t.Context()
	h := newTestHasher(t, testParams, 1)
	var calls []call
	kdf := h.kdf
	h.kdf = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		calls = append(calls, call{memory, time, uint32(len(salt)), keyLen, threads})
		return kdf(password, salt, time, memory, threads, keyLen)
	}
	encoded, err := h.Hash(ctx, "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	calls = nil
	if _, _, err := h.Verify(ctx, "violet-kettle-morning-drum", encoded); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	h.VerifyDummy(ctx, "violet-kettle-morning-drum")
	if len(calls) != 2 {
		t.Fatalf("got %d key derivations for Verify and VerifyDummy, want 2", len(calls))
	}
	if calls[0] != calls[1] {
		t.Errorf("VerifyDummy derived with %+v, Verify with %+v: want the same work", calls[1], calls[0])
	}
	for _, pw := range []string{"", "violet-kettle-morning-drum", "password"} {
		if ok, _, err := h.Verify(ctx, pw, h.dummy); err != nil || ok {
			t.Errorf("Verify(%q, dummy) = (%v, %v), want (false, nil)", pw, ok, err)
		}
	}
}

func TestPoolLimitsConcurrency(t *testing.T) {
	const limit, callers = 2, 6
	ctx := t.Context()
	h := newTestHasher(t, testParams, limit)

	var (
		mu                    sync.Mutex
		inFlight, peak, calls int
	)
	entered := make(chan struct{}, callers)
	release := make(chan struct{})
	kdf := h.kdf
	h.kdf = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		mu.Lock()
		inFlight++
		calls++
		peak = max(peak, inFlight)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return kdf(password, salt, time, memory, threads, keyLen)
	}

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := h.Hash(ctx, "violet-kettle-morning-drum")
			errs <- err
		})
	}
	for range limit {
		<-entered
	}
	select {
	case <-entered:
		t.Errorf("a key derivation started while %d were running, want at most %d at once", limit, limit)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Hash: %v", err)
		}
	}
	if peak != limit || calls != callers {
		t.Errorf("got peak %d of %d derivations, want peak %d of %d", peak, calls, limit, callers)
	}
}

func TestPoolWaitRespectsContext(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	encoded, err := h.Hash(t.Context(), "violet-kettle-morning-drum")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	kdf := h.kdf
	h.kdf = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		entered <- struct{}{}
		<-release
		return kdf(password, salt, time, memory, threads, keyLen)
	}
	// Occupy the only slot.
	busy := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "x")
		busy <- err
	}()
	<-entered

	t.Run("Hash canceled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := h.Hash(ctx, "violet-kettle-morning-drum")
			done <- err
		}()
		time.Sleep(20 * time.Millisecond) // let it queue
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want %v", err, context.Canceled)
		}
	})
	t.Run("Verify deadline while waiting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		ok, rehash, err := h.Verify(ctx, "violet-kettle-morning-drum", encoded)
		if !errors.Is(err, context.DeadlineExceeded) || ok || rehash {
			t.Errorf("Verify = (%v, %v, %v), want (false, false, %v)", ok, rehash, err, context.DeadlineExceeded)
		}
	})
	t.Run("VerifyDummy returns", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		h.VerifyDummy(ctx, "violet-kettle-morning-drum")
	})

	close(release)
	if err := <-busy; err != nil {
		t.Fatalf("Hash holding the slot: %v", err)
	}

	t.Run("ended context with a free slot", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.Hash(ctx, "violet-kettle-morning-drum"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want %v", err, context.Canceled)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := newTestHasher(b, DefaultParams(), 1)
	ctx := b.Context()
	n := 0
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "hashes/s")
}
