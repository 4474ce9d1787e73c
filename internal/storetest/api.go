package storetest

import (
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/api"
)

// RunIdempotency is the conformance suite of the management API's
// idempotency keys (api.IdempotencyStore) on engine e.
func RunIdempotency(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	first := api.IdempotentRequest{ClientID: "crm", Key: "k1", RequestHash: "h1", CreatedAt: base}
	if _, seen, err := s.StartIdempotent(ctx, first, time.Hour); err != nil || seen {
		t.Fatalf("StartIdempotent(first) = seen %v, %v; want a new key", seen, err)
	}
	// While it is served, a retry sees it, unanswered.
	prev, seen, err := s.StartIdempotent(ctx, api.IdempotentRequest{ClientID: "crm", Key: "k1", RequestHash: "h2", CreatedAt: base.Add(time.Second)}, time.Hour)
	if err != nil || !seen || prev.Status != 0 || prev.RequestHash != "h1" {
		t.Fatalf("StartIdempotent(retry) = %+v, %v, %v; want the first request, unanswered", prev, seen, err)
	}
	done := first
	done.Status, done.Location, done.ETag, done.Body = 201, "/api/v1/invitations/x", `"v1"`, []byte(`{"id":"x","name":"Åsa"}`)
	must(t, s.FinishIdempotent(ctx, done), "FinishIdempotent")
	prev, seen, err = s.StartIdempotent(ctx, api.IdempotentRequest{ClientID: "crm", Key: "k1", RequestHash: "h1", CreatedAt: base.Add(time.Minute)}, time.Hour)
	if err != nil || !seen || prev.Status != 201 || prev.Location != done.Location || prev.ETag != done.ETag || string(prev.Body) != string(done.Body) {
		t.Fatalf("StartIdempotent(after the answer) = %+v, %v, %v; want the recorded answer", prev, seen, err)
	}
	// Keys are per client.
	if _, seen, err := s.StartIdempotent(ctx, api.IdempotentRequest{ClientID: "other", Key: "k1", RequestHash: "h9", CreatedAt: base}, time.Hour); err != nil || seen {
		t.Errorf("another client's same key: seen %v, %v; want new", seen, err)
	}
	// Forgotten: usable again.
	must(t, s.AbandonIdempotent(ctx, "other", "k1"), "AbandonIdempotent")
	if _, seen, err := s.StartIdempotent(ctx, api.IdempotentRequest{ClientID: "other", Key: "k1", RequestHash: "h8", CreatedAt: base}, time.Hour); err != nil || seen {
		t.Errorf("an abandoned key: seen %v, %v; want new", seen, err)
	}
	// After the TTL, the key is new again.
	if _, seen, err := s.StartIdempotent(ctx, api.IdempotentRequest{ClientID: "crm", Key: "k1", RequestHash: "h3", CreatedAt: base.Add(2 * time.Hour)}, time.Hour); err != nil || seen {
		t.Errorf("a key past its TTL: seen %v, %v; want new", seen, err)
	}
}
