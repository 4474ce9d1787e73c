package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// runLoad appends n events about 100 subjects, runs the fan-out consumer
// and the dispatcher as serve does against a local receiver until every
// event has arrived, and returns how long that took from the start of the
// workers. It fails if an event is lost or arrives out of order for its
// subject.
func runLoad(tb testing.TB, e storetest.Engine, n int) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := storetest.Open(tb, e)
	master, _ := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	kr, err := keyring.Open(ctx, st, keyring.MasterKeys{Current: master}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	last := map[string]int{}
	disorder := 0
	all := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Data struct {
				Subject string `json:"subject"`
				Details struct {
					N int `json:"n"`
				} `json:"details"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &msg)
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		if !seen[id] {
			seen[id] = true
			if msg.Data.Details.N <= last[msg.Data.Subject] {
				disorder++
			}
			last[msg.Data.Subject] = msg.Data.Details.N
			if len(seen) == n {
				close(all)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	svc := &webhooks.Service{Store: st, Cipher: kr, Policy: local}
	if _, _, err := svc.Create(ctx, webhooks.Subscription{URL: recv.URL, EventTypes: []string{"user.*"}, Enabled: true}, "system:test"); err != nil {
		tb.Fatal(err)
	}
	const subjects = 100
	batch := make([]events.Event, 0, 500)
	for i := range n {
		ev, err := events.New("user.updated", fmt.Sprintf("user:%d", i%subjects), "system:test", time.Now(), map[string]any{"n": i/subjects + 1})
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, ev)
		if len(batch) == cap(batch) || i == n-1 {
			if err := st.AppendEvents(ctx, batch...); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	disp := &webhooks.Dispatcher{Store: st, Cipher: kr, Client: local.Client(5 * time.Second), Holder: "load", PollInterval: 5 * time.Millisecond}
	runner := &events.Runner{Store: st, Holder: "load", PollInterval: 5 * time.Millisecond}
	runner.Add(events.Consumer{Name: webhooks.ConsumerName, Handle: (&webhooks.Fanout{Store: st, Wake: disp.Wake}).Handle})
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() { _ = runner.Run(wctx) })
	wg.Go(func() { disp.Run(wctx) })
	select {
	case <-all:
	case <-ctx.Done():
	}
	took := time.Since(start)
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		tb.Fatalf("%d of %d events arrived", len(seen), n)
	}
	if disorder > 0 {
		tb.Errorf("%d events arrived out of order for their subject", disorder)
	}
	return took
}

// TestLoadNoneLost delivers a few hundred events; BenchmarkDelivery does
// the full count.
func TestLoadNoneLost(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		took := runLoad(t, e, 500)
		t.Logf("%s: 500 events delivered in %v", e.Name, took.Round(time.Millisecond))
	})
}

// BenchmarkDelivery fans out and delivers 10,000 events to a local
// receiver (-benchtime=1x) and reports events per second, fan-out and
// delivery together.
func BenchmarkDelivery(b *testing.B) {
	for _, e := range storetest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) {
			const n = 10_000
			var total, bound time.Duration
			for range b.N {
				bound += bareDelivery(b, n) / 2
				total += runLoad(b, e, n)
				bound += bareDelivery(b, n) / 2
			}
			rate, boundRate := float64(n*b.N)/total.Seconds(), float64(n*b.N)/bound.Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(boundRate, "bound-posts/s")
			b.ReportMetric(rate/boundRate, "ratio")
		})
	}
}

// bareDelivery is the bound of a delivery: the same signed POSTs to the
// same kind of receiver, 16 at once as the dispatcher sends them, with no
// database (no fan-out, no claim, no record). It returns how long n took,
// averaged before and after the measured run by the caller.
func bareDelivery(tb testing.TB, n int) time.Duration {
	tb.Helper()
	var mu sync.Mutex
	got := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		got++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body, _ := json.Marshal(map[string]any{"type": "user.updated", "timestamp": time.Now(), "data": map[string]any{
		"event_id": "0193", "subject": "user:1", "actor": "system:test", "details": map[string]any{"n": 1}}})
	client := local.Client(5 * time.Second)
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				id := fmt.Sprintf("msg_%d", i)
				now := time.Now()
				sig, err := webhooks.Sign([]string{secret}, id, now, body)
				if err != nil {
					tb.Error(err)
					return
				}
				req, _ := http.NewRequest(http.MethodPost, recv.URL, bytes.NewReader(body))
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
				req.Header.Set("webhook-signature", sig)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					tb.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if got != n {
		tb.Fatalf("the bare receiver got %d of %d", got, n)
	}
	return took
}
