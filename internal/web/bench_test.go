package web_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/portvakt/portvakt/internal/password"
)

// BenchmarkSignIn measures successful sign-ins per second through the real
// handler on SQLite (form post with CSRF, throttle checks, argon2id verify,
// session creation with its event, redirect), with the default hashing
// parameters, and beside it the bound: raw argon2id hashes per second with
// the same parameters and the same concurrency, measured in the same run.
// The handler should reach at least 90% of the bound.
func BenchmarkSignIn(b *testing.B) {
	params := password.DefaultParams()
	workers := runtime.NumCPU()
	s := newStackWith(b, sqlite, params, workers)
	s.createUser("bench@example.com", goodPassword, true)

	before := argon2Rate(params, workers, 2*time.Second)

	// One browser per worker, each with its own sign-in flow.
	browsers := make(chan *browser, 4*workers)
	for i := 0; i < 4*workers; i++ {
		br := s.browser()
		br.page = br.get("/login")
		// Measure the sign-in post alone, not the account page after it.
		br.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		browsers <- br
	}
	var failures atomic.Int64
	// Four requests per core in flight, so that one waiting for the disk
	// does not leave a core idle; the hasher still runs one hash per core.
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		br := <-browsers
		for pb.Next() {
			res := br.submit(br.page, map[string]string{"email": "bench@example.com", "password": goodPassword})
			if res.status != http.StatusSeeOther {
				failures.Add(1)
			}
		}
		browsers <- br
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d sign-ins failed", n)
	}
	// The bound is measured before and after the sign-ins and averaged, so
	// that a change in the machine's speed during the run affects both.
	bound := (before + argon2Rate(params, workers, 2*time.Second)) / 2
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "signins/s")
	b.ReportMetric(bound, "argon2id-hashes/s")
	b.ReportMetric(rate/bound, "ratio")
}

// argon2Rate hashes with params on workers goroutines for d and returns
// hashes per second.
func argon2Rate(p password.Params, workers int, d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	salt := make([]byte, p.SaltLen)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				argon2.IDKey([]byte(goodPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
