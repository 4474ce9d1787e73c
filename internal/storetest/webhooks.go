package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/retention"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// RunWebhooks is the conformance suite for webhooks' storage (the
// webhooks.Store, FanoutStore and DispatchStore methods: subscriptions,
// the delivery queue with its leases and order, attempts and replays) on
// engine e. Call it once per engine, typically through ForEachEngine.
func RunWebhooks(t *testing.T, e Engine) {
	t.Run("Subscriptions", func(t *testing.T) { testWebhookSubscriptions(t, e) })
	t.Run("QueueOrderAndLeases", func(t *testing.T) { testWebhookQueue(t, e) })
	t.Run("OutcomesAndPause", func(t *testing.T) { testWebhookOutcomes(t, e) })
	t.Run("Replay", func(t *testing.T) { testWebhookReplay(t, e) })
}

// webhookFixture is an enabled subscription to every user event.
// wbase is base as stored: to the microsecond, in UTC.
var wbase = base.Truncate(time.Microsecond).UTC()

func webhookFixture(id string) webhooks.Subscription {
	return webhooks.Subscription{
		ID: id, URL: "https://crm.example/hooks/" + id, EventTypes: []string{"user.*"}, Enabled: true,
		Secret: []byte("sealed-" + id), CreatedAt: wbase, UpdatedAt: wbase,
	}
}

func createWebhook(t *testing.T, s *store.Store, id string) webhooks.Subscription {
	t.Helper()
	w := webhookFixture(id)
	got, err := s.CreateWebhook(t.Context(), w, newEvent(t, "webhook.created", w.Subject(), nil))
	must(t, err, "CreateWebhook(%s)", id)
	return got
}

// queueDelivery queues the delivery of a new event about subject to sub,
// due at wbase, and returns it.
func queueDelivery(t *testing.T, s *store.Store, sub, subject string, position int64) webhooks.Delivery {
	t.Helper()
	ev := newEvent(t, "user.updated", subject, nil)
	ev.Position = position
	d := webhooks.NewDelivery(sub, ev, []byte(`{"type":"user.updated"}`), wbase)
	must(t, s.EnqueueWebhookDeliveries(t.Context(), []webhooks.Delivery{d}), "EnqueueWebhookDeliveries")
	return d
}

func testWebhookSubscriptions(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	must(t, s.AppendEvents(ctx, newEvent(t, "user.created", "user:1", nil), newEvent(t, "user.created", "user:2", nil)), "AppendEvents")
	w := createWebhook(t, s, "w1")
	if w.StartPosition != 2 {
		t.Errorf("StartPosition: got %d, want 2 (the last event before the subscription)", w.StartPosition)
	}
	if _, err := s.CreateWebhook(ctx, webhookFixture("w1"), newEvent(t, "webhook.created", "webhook:w1", nil)); !errors.Is(err, webhooks.ErrConflict) {
		t.Errorf("CreateWebhook with a taken ID: got %v, want ErrConflict", err)
	}
	got, err := s.Webhook(ctx, "w1")
	must(t, err, "Webhook")
	if got.URL != w.URL || !slices.Equal(got.EventTypes, w.EventTypes) || !got.Enabled || string(got.Secret) != "sealed-w1" ||
		got.PreviousSecret != nil || !got.CreatedAt.Equal(wbase) || got.StartPosition != 2 {
		t.Errorf("Webhook: got %+v, want %+v", got, w)
	}
	if _, err := s.Webhook(ctx, "nope"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Webhook(nope): got %v, want ErrNotFound", err)
	}
	expires := wbase.Add(time.Hour)
	upd, err := s.UpdateWebhook(ctx, "w1", func(w webhooks.Subscription) (webhooks.Subscription, []events.Event, error) {
		w.EventTypes, w.Enabled, w.PreviousSecret, w.PreviousExpiresAt = []string{"membership.added", "user.*"}, false, w.Secret, expires
		w.Secret = []byte("sealed-new")
		return w, []events.Event{newEvent(t, "webhook.updated", w.Subject(), nil)}, nil
	})
	must(t, err, "UpdateWebhook")
	got, _ = s.Webhook(ctx, "w1")
	if got.Enabled || string(got.Secret) != "sealed-new" || string(got.PreviousSecret) != "sealed-w1" || !got.PreviousExpiresAt.Equal(expires) ||
		len(got.EventTypes) != 2 || upd.StartPosition != 2 {
		t.Errorf("after UpdateWebhook: got %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateWebhook(ctx, "w1", func(webhooks.Subscription) (webhooks.Subscription, []events.Event, error) {
		return webhooks.Subscription{}, nil, boom
	}); !errors.Is(err, boom) {
		t.Errorf("UpdateWebhook whose fn fails: got %v, want its error", err)
	}
	if _, err := s.UpdateWebhook(ctx, "nope", func(w webhooks.Subscription) (webhooks.Subscription, []events.Event, error) { return w, nil, nil }); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("UpdateWebhook(nope): got %v, want ErrNotFound", err)
	}
	createWebhook(t, s, "w2")
	list, err := s.Webhooks(ctx)
	must(t, err, "Webhooks")
	if len(list) != 2 || list[0].ID != "w1" || list[1].ID != "w2" {
		t.Errorf("Webhooks: got %d, want w1 and w2", len(list))
	}
	d := queueDelivery(t, s, "w2", "user:1", 5)
	must(t, s.DeleteWebhook(ctx, "w2", newEvent(t, "webhook.deleted", "webhook:w2", nil)), "DeleteWebhook")
	if _, err := s.WebhookDelivery(ctx, d.ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("a deleted subscription's delivery: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebhook(ctx, "w2", newEvent(t, "webhook.deleted", "webhook:w2", nil)); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("DeleteWebhook twice: got %v, want ErrNotFound", err)
	}
	if got := eventTypesAbout(t, s, "webhook:w1"); !slices.Equal(got, []string{"webhook.created", "webhook.updated"}) {
		t.Errorf("events about w1: got %v", got)
	}
	if got := eventTypesAbout(t, s, "webhook:w2"); !slices.Equal(got, []string{"webhook.created", "webhook.deleted"}) {
		t.Errorf("events about w2: got %v", got)
	}
}

func claimIDs(t *testing.T, s *store.Store, holder string, now time.Time) []string {
	t.Helper()
	ds, err := s.ClaimWebhookDeliveries(t.Context(), holder, now, now.Add(time.Minute), 100)
	must(t, err, "ClaimWebhookDeliveries(%s)", holder)
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

func delivered(d webhooks.Delivery, at time.Time) webhooks.Outcome {
	d.Status, d.Attempts, d.UpdatedAt = webhooks.StatusDelivered, d.Attempts+1, at
	return webhooks.Outcome{Delivery: d, Attempt: webhooks.Attempt{DeliveryID: d.ID, At: at, StatusCode: 204, Latency: time.Millisecond}, Succeeded: true}
}

func failed(d webhooks.Delivery, at, next time.Time, status webhooks.Status) webhooks.Outcome {
	d.Status, d.Attempts, d.UpdatedAt, d.NextAttemptAt, d.LastError = status, d.Attempts+1, at, next, "status 503"
	return webhooks.Outcome{Delivery: d, Attempt: webhooks.Attempt{DeliveryID: d.ID, At: at, StatusCode: 503, Response: "down", Error: "status 503"}}
}

func testWebhookQueue(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	createWebhook(t, s, "w1")
	a1 := queueDelivery(t, s, "w1", "user:a", 10)
	a2 := queueDelivery(t, s, "w1", "user:a", 11)
	a3 := queueDelivery(t, s, "w1", "user:a", 12)
	b1 := queueDelivery(t, s, "w1", "user:b", 13)
	// Queued twice (the event handled again): still one delivery.
	again := a1
	again.Payload = []byte(`{"changed":true}`)
	must(t, s.EnqueueWebhookDeliveries(ctx, []webhooks.Delivery{again}), "EnqueueWebhookDeliveries again")
	if got, _ := s.WebhookDelivery(ctx, a1.ID); string(got.Payload) != string(a1.Payload) {
		t.Errorf("a delivery queued again: payload %s, want the first %s", got.Payload, a1.Payload)
	}

	if got := claimIDs(t, s, "node-1", wbase.Add(-time.Second)); len(got) != 0 {
		t.Errorf("claim before anything is due: got %v, want none", got)
	}
	now := wbase
	if got, want := claimIDs(t, s, "node-1", now), sorted(a1.ID, b1.ID); !slices.Equal(got, want) {
		t.Fatalf("first claim: got %v, want the head of each subject %v", got, want)
	}
	if got := claimIDs(t, s, "node-2", now.Add(30*time.Second)); len(got) != 0 {
		t.Errorf("claim by another node while the leases run: got %v, want none", got)
	}
	must(t, s.RecordWebhookAttempt(ctx, "node-1", delivered(a1, now)), "RecordWebhookAttempt(a1)")
	if got, want := claimIDs(t, s, "node-2", now.Add(30*time.Second)), []string{a2.ID}; !slices.Equal(got, want) {
		t.Errorf("claim after a1 was delivered: got %v, want %v (b1 is still leased)", got, want)
	}
	// node-1's lease on b1 runs out; node-2 takes it over, and node-1's
	// late outcome is refused.
	if got, want := claimIDs(t, s, "node-2", now.Add(65*time.Second)), []string{b1.ID}; !slices.Equal(got, want) {
		t.Errorf("claim after b1's lease ran out: got %v, want %v", got, want)
	}
	if err := s.RecordWebhookAttempt(ctx, "node-1", delivered(b1, now)); !errors.Is(err, webhooks.ErrLeaseLost) {
		t.Errorf("outcome from a node whose lease was taken over: got %v, want ErrLeaseLost", err)
	}
	must(t, s.RecordWebhookAttempt(ctx, "node-2", delivered(b1, now.Add(66*time.Second))), "RecordWebhookAttempt(b1)")
	// a2 fails: a3 waits behind it until a2 is dead.
	later := now.Add(3 * time.Minute)
	must(t, s.RecordWebhookAttempt(ctx, "node-2", failed(a2, later, later.Add(time.Hour), webhooks.StatusPending)), "RecordWebhookAttempt(a2 failed)")
	if got := claimIDs(t, s, "node-2", later.Add(30*time.Minute)); len(got) != 0 {
		t.Errorf("claim while a2 waits for its retry: got %v, want none (a3 is behind it)", got)
	}
	if got, want := claimIDs(t, s, "node-2", later.Add(time.Hour)), []string{a2.ID}; !slices.Equal(got, want) {
		t.Fatalf("claim when a2's retry is due: got %v, want %v", got, want)
	}
	a2got, _ := s.WebhookDelivery(ctx, a2.ID)
	if a2got.Attempts != 1 || a2got.LastError != "status 503" {
		t.Errorf("a2 after a failure: got attempts %d, error %q", a2got.Attempts, a2got.LastError)
	}
	must(t, s.RecordWebhookAttempt(ctx, "node-2", failed(a2got, later.Add(time.Hour), time.Time{}, webhooks.StatusDead)), "RecordWebhookAttempt(a2 dead)")
	if got, want := claimIDs(t, s, "node-2", later.Add(time.Hour)), []string{a3.ID}; !slices.Equal(got, want) {
		t.Errorf("claim after a2 is dead: got %v, want %v", got, want)
	}

	// A disabled or paused subscription's deliveries wait.
	createWebhook(t, s, "w2")
	c1 := queueDelivery(t, s, "w2", "user:c", 20)
	for _, tc := range []struct {
		name string
		fn   func(*webhooks.Subscription)
	}{
		{"disabled", func(w *webhooks.Subscription) { w.Enabled = false }},
		{"paused", func(w *webhooks.Subscription) { w.PausedAt = wbase }},
	} {
		_, err := s.UpdateWebhook(ctx, "w2", func(w webhooks.Subscription) (webhooks.Subscription, []events.Event, error) {
			w.Enabled, w.PausedAt = true, time.Time{}
			tc.fn(&w)
			return w, nil, nil
		})
		must(t, err, "UpdateWebhook(%s)", tc.name)
		if got := claimIDs(t, s, "node-3", later.Add(2*time.Hour)); slices.Contains(got, c1.ID) {
			t.Errorf("%s subscription: its delivery was claimed", tc.name)
		}
	}

	ds, err := s.WebhookDeliveries(ctx, "w1", "", 10)
	must(t, err, "WebhookDeliveries")
	if len(ds) != 4 || ds[0].ID != b1.ID || ds[3].ID != a1.ID {
		t.Errorf("WebhookDeliveries: got %d, want 4 newest first", len(ds))
	}
	for status, want := range map[webhooks.Status][]string{
		webhooks.StatusDelivered: sorted(a1.ID, b1.ID), webhooks.StatusDead: {a2.ID}, webhooks.StatusPending: {a3.ID},
	} {
		ds, err := s.WebhookDeliveries(ctx, "w1", status, 10)
		must(t, err, "WebhookDeliveries(%s)", status)
		var got []string
		for _, d := range ds {
			got = append(got, d.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("WebhookDeliveries(%s): got %v, want %v", status, got, want)
		}
	}
	atts, err := s.WebhookAttempts(ctx, a2.ID)
	must(t, err, "WebhookAttempts")
	if len(atts) != 2 || atts[0].StatusCode != 503 || atts[0].Response != "down" || atts[0].Error != "status 503" || !atts[0].At.Equal(later) {
		t.Errorf("WebhookAttempts(a2): got %+v", atts)
	}
	if got := eventTypesAbout(t, s, "webhook:w1"); !slices.Equal(got, []string{"webhook.created"}) {
		t.Errorf("events about w1: got %v (attempts are rows, not events)", got)
	}
}

func testWebhookOutcomes(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	createWebhook(t, s, "w1")
	d := queueDelivery(t, s, "w1", "user:a", 10)
	claim := func(at time.Time) webhooks.Delivery {
		t.Helper()
		ds, err := s.ClaimWebhookDeliveries(ctx, "node", at, at.Add(time.Minute), 10)
		must(t, err, "ClaimWebhookDeliveries")
		if len(ds) != 1 {
			t.Fatalf("claim at %v: got %d deliveries, want 1", at, len(ds))
		}
		return ds[0]
	}
	sub := func() webhooks.Subscription {
		w, err := s.Webhook(ctx, "w1")
		must(t, err, "Webhook")
		return w
	}
	t1 := wbase.Add(time.Minute)
	must(t, s.RecordWebhookAttempt(ctx, "node", failed(claim(t1), t1, t1, webhooks.StatusPending)), "record failure 1")
	if got := sub().FailingSince; !got.Equal(t1) {
		t.Errorf("FailingSince after the first failure: got %v, want %v", got, t1)
	}
	t2 := t1.Add(time.Minute)
	must(t, s.RecordWebhookAttempt(ctx, "node", failed(claim(t2), t2, t2, webhooks.StatusPending)), "record failure 2")
	if got := sub().FailingSince; !got.Equal(t1) {
		t.Errorf("FailingSince after the second failure: got %v, want still %v", got, t1)
	}
	t3 := t2.Add(time.Minute)
	must(t, s.RecordWebhookAttempt(ctx, "node", delivered(claim(t3), t3)), "record success")
	if got := sub().FailingSince; !got.IsZero() {
		t.Errorf("FailingSince after a success: got %v, want zero", got)
	}
	// A pause is recorded once, with its event, however many outcomes ask.
	d2 := queueDelivery(t, s, "w1", "user:b", 11)
	d3 := queueDelivery(t, s, "w1", "user:c", 12)
	pause := newEvent(t, "webhook.paused", "webhook:w1", map[string]any{"reason": "failing"})
	o := failed(d2, t3, t3.Add(time.Hour), webhooks.StatusPending)
	o.Pause = &pause
	ds, err := s.ClaimWebhookDeliveries(ctx, "node", t3, t3.Add(time.Minute), 10)
	must(t, err, "ClaimWebhookDeliveries")
	if len(ds) != 2 {
		t.Fatalf("claim: got %d, want 2", len(ds))
	}
	must(t, s.RecordWebhookAttempt(ctx, "node", o), "record with pause")
	pause2 := newEvent(t, "webhook.paused", "webhook:w1", map[string]any{"reason": "failing"})
	o3 := failed(d3, t3, t3.Add(time.Hour), webhooks.StatusPending)
	o3.Pause = &pause2
	must(t, s.RecordWebhookAttempt(ctx, "node", o3), "record with a second pause")
	w := sub()
	if !w.Paused() || !w.PausedAt.Equal(t3) || w.PauseReason != "failing" {
		t.Errorf("after the pause: paused at %v, reason %q", w.PausedAt, w.PauseReason)
	}
	if got := eventTypesAbout(t, s, "webhook:w1"); !slices.Equal(got, []string{"webhook.created", "webhook.paused"}) {
		t.Errorf("events about w1: got %v, want one webhook.paused", got)
	}
	_ = d
}

func testWebhookReplay(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	createWebhook(t, s, "w1")
	var dead []webhooks.Delivery
	for i := range 3 {
		dead = append(dead, queueDelivery(t, s, "w1", fmt.Sprintf("user:%d", i), int64(10+i)))
	}
	pending := queueDelivery(t, s, "w1", "user:p", 20)
	ds, err := s.ClaimWebhookDeliveries(ctx, "node", wbase, wbase.Add(time.Minute), 10)
	must(t, err, "ClaimWebhookDeliveries")
	for _, d := range ds {
		if d.ID != pending.ID {
			must(t, s.RecordWebhookAttempt(ctx, "node", failed(d, wbase, time.Time{}, webhooks.StatusDead)), "record dead")
		}
	}
	replayed := func(n int) (events.Event, error) {
		return events.New("webhook.replayed", "webhook:w1", "system:test", wbase, map[string]any{"count": n})
	}
	now := wbase.Add(96 * time.Hour)
	if _, err := s.ReplayWebhookDeliveries(ctx, "w1", pending.ID, now, replayed); !errors.Is(err, webhooks.ErrConflict) {
		t.Errorf("replay a pending delivery: got %v, want ErrConflict", err)
	}
	if _, err := s.ReplayWebhookDeliveries(ctx, "w1", "msg_nope", now, replayed); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("replay a missing delivery: got %v, want ErrNotFound", err)
	}
	n, err := s.ReplayWebhookDeliveries(ctx, "w1", dead[0].ID, now, replayed)
	must(t, err, "replay one")
	got, _ := s.WebhookDelivery(ctx, dead[0].ID)
	if n != 1 || got.Status != webhooks.StatusPending || got.Attempts != 0 || !got.NextAttemptAt.Equal(now) || !got.WindowStart.Equal(now) || got.LastError != "" {
		t.Errorf("after replaying one: n=%d, delivery %+v", n, got)
	}
	n, err = s.ReplayWebhookDeliveries(ctx, "w1", "", now, replayed)
	must(t, err, "replay all dead")
	if n != 2 {
		t.Errorf("replay all dead: got %d, want 2", n)
	}
	n, err = s.ReplayWebhookDeliveries(ctx, "w1", "", now, replayed)
	must(t, err, "replay all dead again")
	if n != 0 {
		t.Errorf("replay with none dead: got %d, want 0", n)
	}
	if got := eventTypesAbout(t, s, "webhook:w1"); !slices.Equal(got, []string{"webhook.created", "webhook.replayed", "webhook.replayed"}) {
		t.Errorf("events about w1: got %v, want two webhook.replayed (none for a replay of nothing)", got)
	}
	atts, _ := s.WebhookAttempts(ctx, dead[0].ID)
	if len(atts) != 1 {
		t.Errorf("attempts after a replay: got %d, want the 1 before it kept", len(atts))
	}

	// Retention: delivered deliveries go after a month, with their
	// attempts; pending and dead ones stay.
	ds, err = s.ClaimWebhookDeliveries(ctx, "node", now, now.Add(time.Minute), 10)
	must(t, err, "ClaimWebhookDeliveries")
	for _, d := range ds {
		if d.ID == dead[0].ID {
			must(t, s.RecordWebhookAttempt(ctx, "node", delivered(d, now)), "record delivered")
		} else {
			must(t, s.RecordWebhookAttempt(ctx, "node", failed(d, now, time.Time{}, webhooks.StatusDead)), "record dead")
		}
	}
	purge := func(at time.Time) int64 {
		counts, err := s.Purge(ctx, at, at.Add(-time.Hour), func(c retention.Counts) (events.Event, error) {
			return events.New("retention.purged", "system:retention", "system:test", at, map[string]any{"counts": c})
		})
		must(t, err, "Purge")
		return counts["webhook_deliveries"]
	}
	if n := purge(now.Add(29 * 24 * time.Hour)); n != 0 {
		t.Errorf("purge after 29 days: %d deliveries, want none", n)
	}
	if n := purge(now.Add(31 * 24 * time.Hour)); n != 1 {
		t.Errorf("purge after 31 days: %d deliveries, want the delivered one", n)
	}
	if _, err := s.WebhookDelivery(ctx, dead[0].ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("a purged delivery: got %v", err)
	}
	if atts, _ := s.WebhookAttempts(ctx, dead[0].ID); len(atts) != 0 {
		t.Errorf("a purged delivery's attempts: got %d, want none", len(atts))
	}
	if left := len(mustDeliveries(t, s, "w1")); left != 3 {
		t.Errorf("deliveries after the purge: got %d, want the dead and pending 3", left)
	}
}

func mustDeliveries(t *testing.T, s *store.Store, sub string) []webhooks.Delivery {
	t.Helper()
	ds, err := s.WebhookDeliveries(t.Context(), sub, "", 1000)
	must(t, err, "WebhookDeliveries")
	return ds
}
