package web

import (
	"context"
	"errors"
	"testing"
)

// TestStops: the first pending stop wins, with where the person was going
// as its return_to; a provider's check skips stops that hold only
// sign-ins; nothing pending goes straight on; a failing check fails.
func TestStops(t *testing.T) {
	pending := map[string]bool{}
	h := &Handler{}
	check := func(name string) func(context.Context, string, string) (string, error) {
		return func(_ context.Context, userID, clientID string) (string, error) {
			if userID != "u1" {
				t.Errorf("stop %s asked about %q", name, userID)
			}
			if pending[name] {
				return "/stop/" + name, nil
			}
			return "", nil
		}
	}
	h.addStop(stop{Name: "profile", Pending: check("profile")})
	h.addStop(stop{Name: "terms", EveryRequest: true, Pending: check("terms")})
	ctx := context.Background()
	next := "/authorize/callback?id=abc"

	if got, err := h.nextStop(ctx, "u1", "", next); err != nil || got != next {
		t.Errorf("nothing pending: %q, %v", got, err)
	}
	if got, err := h.Pending(ctx, "u1", "app", next); err != nil || got != "" {
		t.Errorf("nothing pending, provider's check: %q, %v", got, err)
	}
	pending["profile"], pending["terms"] = true, true
	if got, _ := h.nextStop(ctx, "u1", "", next); got != "/stop/profile?return_to=%2Fauthorize%2Fcallback%3Fid%3Dabc" {
		t.Errorf("both pending at sign-in: %q", got)
	}
	if got, _ := h.Pending(ctx, "u1", "app", next); got != "/stop/terms?return_to=%2Fauthorize%2Fcallback%3Fid%3Dabc" {
		t.Errorf("both pending, provider's check: %q", got)
	}
	pending["terms"] = false
	if got, _ := h.Pending(ctx, "u1", "app", next); got != "" {
		t.Errorf("only a sign-in stop pending, provider's check: %q", got)
	}
	// A stop's page with a query of its own keeps it.
	h.stops[1].Pending = func(context.Context, string, string) (string, error) { return "/stop/terms?client_id=app", nil }
	if got, _ := h.Pending(ctx, "u1", "app", next); got != "/stop/terms?client_id=app&return_to=%2Fauthorize%2Fcallback%3Fid%3Dabc" {
		t.Errorf("a stop with a query: %q", got)
	}
	h.stops[1].Pending = check("terms")
	broken := errors.New("database down")
	h.addStop(stop{Name: "broken", EveryRequest: true, Pending: func(context.Context, string, string) (string, error) { return "", broken }})
	if _, err := h.Pending(ctx, "u1", "app", next); !errors.Is(err, broken) {
		t.Errorf("failing check: %v", err)
	}
}
