package webhooks_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// clock is a settable clock for the dispatcher and the services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}
func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// received is one request a receiver got.
type received struct {
	ID, Type, Subject, EventID string
	Signature                  string
	Body                       []byte
	Header                     http.Header
}

// receiver is a real HTTP server that records what it is sent and
// answers with status (200 by default).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg struct {
			Type string `json:"type"`
			Data struct {
				EventID string `json:"event_id"`
				Subject string `json:"subject"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &msg)
		r.mu.Lock()
		status := r.status
		if status/100 == 2 {
			r.got = append(r.got, received{ID: req.Header.Get("webhook-id"), Type: msg.Type, Subject: msg.Data.Subject,
				EventID: msg.Data.EventID, Signature: req.Header.Get("webhook-signature"), Body: body, Header: req.Header.Clone()})
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer "+http.StatusText(status))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setStatus(code int) { r.mu.Lock(); r.status = code; r.mu.Unlock() }
func (r *receiver) all() []received    { r.mu.Lock(); defer r.mu.Unlock(); return slices.Clone(r.got) }

// fixture is a store, the services and a dispatcher on a settable clock.
type fixture struct {
	t     *testing.T
	st    *store.Store
	clock *clock
	svc   *webhooks.Service
	fan   *webhooks.Fanout
	disp  *webhooks.Dispatcher
	// handled is the last event position fanned out.
	handled int64
}

// local lets tests reach their receiver on 127.0.0.1 over http.
var local = webhooks.Policy{AllowHTTP: true, AllowPrivate: true}

func newFixture(t *testing.T, e storetest.Engine) *fixture {
	t.Helper()
	st := storetest.Open(t, e)
	master, _ := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	kr, err := keyring.Open(t.Context(), st, keyring.MasterKeys{Current: master}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	return &fixture{
		t: t, st: st, clock: c,
		svc: &webhooks.Service{Store: st, Cipher: kr, Policy: local, Now: c.Now},
		fan: &webhooks.Fanout{Store: st, Now: c.Now},
		disp: &webhooks.Dispatcher{Store: st, Cipher: kr, Client: local.Client(5 * time.Second), Holder: "test-node",
			Now: c.Now, Retry: webhooks.RetryPolicy{PauseAfter: 1000 * time.Hour}},
	}
}

func (f *fixture) subscribe(url string, types ...string) (webhooks.Subscription, string) {
	f.t.Helper()
	sub, secret, err := f.svc.Create(f.t.Context(), webhooks.Subscription{URL: url, EventTypes: types, Enabled: true}, "system:test")
	if err != nil {
		f.t.Fatalf("Create: %v", err)
	}
	return sub, secret
}

// emit appends events (one transaction each) and fans them out, as the
// webhooks consumer would.
func (f *fixture) emit(evs ...events.Event) {
	f.t.Helper()
	for _, ev := range evs {
		if err := f.st.AppendEvents(f.t.Context(), ev); err != nil {
			f.t.Fatalf("AppendEvents: %v", err)
		}
	}
	f.fanOut()
}

func (f *fixture) fanOut() {
	f.t.Helper()
	evs, err := f.st.EventsAfter(f.t.Context(), f.handled, 100_000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, ev := range evs {
		if err := f.fan.Handle(f.t.Context(), ev); err != nil {
			f.t.Fatalf("fan out %s: %v", ev.Type, err)
		}
		f.handled = ev.Position
	}
}

func (f *fixture) event(typ, subject string, data any) events.Event {
	f.t.Helper()
	ev, err := events.New(typ, subject, "system:test", f.clock.Now(), data)
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

// step runs one dispatcher step.
func (f *fixture) step() int {
	f.t.Helper()
	n, err := f.disp.Step(f.t.Context())
	if err != nil {
		f.t.Fatalf("Step: %v", err)
	}
	return n
}

// deliveries returns a subscription's deliveries of a status.
func (f *fixture) deliveries(sub string, status webhooks.Status) []webhooks.Delivery {
	f.t.Helper()
	ds, err := f.st.WebhookDeliveries(f.t.Context(), sub, status, 100_000)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

// toNextDue moves the clock to the earliest future attempt of a pending
// delivery of sub (those due already wait behind it) and reports whether
// any is pending.
func (f *fixture) toNextDue(sub string) bool {
	ds := f.deliveries(sub, webhooks.StatusPending)
	now := f.clock.Now()
	var next time.Time
	for _, d := range ds {
		if d.NextAttemptAt.After(now) && (next.IsZero() || d.NextAttemptAt.Before(next)) {
			next = d.NextAttemptAt
		}
	}
	f.clock.Set(next)
	return len(ds) > 0
}

func eventTypes(t *testing.T, st *store.Store, subject string) []string {
	t.Helper()
	evs, err := st.EventsFor(t.Context(), subject, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Type)
	}
	return out
}

func TestSignatureMatchesSpecificationVector(t *testing.T) {
	// The example of the Standard Webhooks specification.
	at := time.Unix(1614265330, 0)
	got, err := webhooks.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature: got %s, want %s", got, want)
	}
}

func TestSignatureVerifiedByStandardWebhooksLibrary(t *testing.T) {
	secret, old := webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"type":"user.created"}`)
	now := time.Now()
	sig, err := webhooks.Sign([]string{secret, old}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("signature header %q: got %d signatures, want 2", sig, n)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	for _, s := range []string{secret, old} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("verify with one of the two secrets: %v", err)
		}
	}
	other, _ := standardwebhooks.NewWebhook(webhooks.NewSecret())
	if err := other.Verify(body, h); err == nil {
		t.Error("a signature verified under an unrelated secret")
	}
	tampered, _ := standardwebhooks.NewWebhook(secret)
	if err := tampered.Verify([]byte(`{"type":"user.deleted"}`), h); err == nil {
		t.Error("a changed body verified")
	}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		ok       bool
	}{
		{"exact and prefix", []string{"user.created", "membership.*"}, true},
		{"everything", []string{"*"}, true},
		{"nested prefix", []string{"oidc.backchannel.*"}, true},
		{"empty", []string{" "}, false},
		{"bare word", []string{"user"}, false},
		{"glob in the middle", []string{"user.*.x"}, false},
		{"upper case", []string{"User.created"}, false},
		{"webhook events", []string{"webhook.*"}, false},
		{"one webhook event", []string{"webhook.paused"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhooks.ValidatePatterns(tc.patterns)
			if (err == nil) != tc.ok {
				t.Errorf("ValidatePatterns(%q): got error %v, want ok %t", tc.patterns, err, tc.ok)
			}
		})
	}
	for _, tc := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"user.*"}, "user.created", true},
		{[]string{"user.*"}, "users.created", false},
		{[]string{"user.created"}, "user.created", true},
		{[]string{"user.created"}, "user.created_again", false},
		{[]string{"membership.added"}, "membership.removed", false},
		{[]string{"*"}, "organization.deleted", true},
		{[]string{"*"}, "webhook.paused", false},
	} {
		if got := webhooks.Matches(tc.patterns, tc.typ); got != tc.want {
			t.Errorf("Matches(%q, %s): got %t, want %t", tc.patterns, tc.typ, got, tc.want)
		}
	}
}

func TestFanoutByPatternAndPayload(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	r := newReceiver(t)
	f.emit(f.event("user.created", "user:before", nil)) // before any subscription: never delivered
	users, _ := f.subscribe(r.URL, "user.*")
	added, _ := f.subscribe(r.URL+"/m", "membership.added")
	all, _ := f.subscribe(r.URL+"/all", "*")
	off, _ := f.subscribe(r.URL+"/off", "*")
	if _, err := f.svc.Update(t.Context(), off.ID, webhooks.Change{Enabled: new(false)}, "system:test"); err != nil {
		t.Fatal(err)
	}
	created := f.event("user.created", "user:1", map[string]any{"email_verified": true})
	f.emit(created, f.event("membership.added", "org:1", map[string]any{"user_id": "1"}),
		f.event("membership.removed", "org:1", nil), f.event("webhook.updated", "webhook:x", nil))
	stored, err := f.st.EventsFor(t.Context(), "user:1", 1)
	if err != nil || len(stored) != 1 {
		t.Fatalf("EventsFor: %v", err)
	}
	if err := f.fan.Handle(t.Context(), stored[0]); err != nil { // handled again: nothing is queued twice
		t.Fatal(err)
	}
	count := func(sub string) int { return len(f.deliveries(sub, "")) }
	for _, tc := range []struct {
		name string
		sub  string
		want int
	}{{"user.*", users.ID, 1}, {"membership.added", added.ID, 1}, {"*", all.ID, 3}, {"disabled", off.ID, 0}} {
		if got := count(tc.sub); got != tc.want {
			t.Errorf("%s: got %d deliveries, want %d", tc.name, got, tc.want)
		}
	}
	for f.step() > 0 {
	}
	got := r.all()
	if len(got) != 5 {
		t.Fatalf("receiver got %d messages, want 5", len(got))
	}
	i := slices.IndexFunc(got, func(m received) bool { return m.Type == "user.created" })
	if i < 0 {
		t.Fatal("no user.created message")
	}
	var msg map[string]any
	body := got[i].Body
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	data, _ := msg["data"].(map[string]any)
	details, _ := data["details"].(map[string]any)
	if msg["type"] != "user.created" || msg["timestamp"] != created.Time.Format(time.RFC3339Nano) || data["event_id"] != created.UUID ||
		data["subject"] != "user:1" || data["actor"] != "system:test" || details["email_verified"] != true {
		t.Errorf("payload: got %s", body)
	}
	h := got[i].Header
	if id := h.Get("webhook-id"); h.Get("Content-Type") != "application/json" ||
		(id != webhooks.MessageID(users.ID, created.UUID) && id != webhooks.MessageID(all.ID, created.UUID)) {
		t.Errorf("headers: got %v", h)
	}
	if got := eventTypes(t, f.st, "webhook:"+users.ID); !slices.Equal(got, []string{"webhook.created"}) {
		t.Errorf("events about the subscription: got %v, want webhook.created alone (deliveries are rows)", got)
	}
}

// TestReceiverDownThenUp: every event arrives once the receiver is back,
// none lost, in order per subject, duplicates with the same webhook-id;
// the waits grow with jitter within bounds.
func TestReceiverDownThenUp(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		f := newFixture(t, e)
		f.disp.Retry.Backoff, f.disp.Retry.MaxBackoff = 30*time.Second, 10*time.Minute
		r := newReceiver(t)
		sub, secret := f.subscribe(r.URL, "user.*", "organization.*")
		r.setStatus(http.StatusServiceUnavailable)
		subjects := []string{"user:a", "user:b", "org:c", "user:d"}
		var want = map[string][]string{} // subject → event IDs in order
		for i := range 40 {
			subj := subjects[i%len(subjects)]
			typ := "user.updated"
			if strings.HasPrefix(subj, "org:") {
				typ = "organization.updated"
			}
			ev := f.event(typ, subj, map[string]any{"n": i})
			f.emit(ev)
			want[subj] = append(want[subj], ev.UUID)
		}
		f.emit(f.event("session.started", "user:a", nil)) // not subscribed
		start := f.clock.Now()
		// Down for a while: every due head fails; each wait is within
		// [Backoff, min(Backoff·2^(n−1), MaxBackoff)].
		for range 8 {
			f.step()
			for _, d := range f.deliveries(sub.ID, webhooks.StatusPending) {
				if d.Attempts == 0 {
					continue
				}
				wait := d.NextAttemptAt.Sub(d.UpdatedAt)
				ceiling := min(30*time.Second<<(d.Attempts-1), 10*time.Minute)
				if wait < 30*time.Second || wait > ceiling {
					t.Errorf("after %d failures: wait %v, want within [30s, %v]", d.Attempts, wait, ceiling)
				}
			}
			f.toNextDue(sub.ID)
		}
		heads := 0
		for _, d := range f.deliveries(sub.ID, webhooks.StatusPending) {
			if d.Attempts > 0 {
				heads++
			}
		}
		if heads != len(subjects) {
			t.Errorf("while down: %d deliveries were tried, want only the %d heads of their subjects", heads, len(subjects))
		}
		r.setStatus(http.StatusNoContent)
		for i := 0; i < 1000 && f.toNextDue(sub.ID); i++ {
			f.step()
		}
		if left := f.deliveries(sub.ID, webhooks.StatusPending); len(left) > 0 {
			t.Fatalf("%d deliveries still pending after the receiver came back", len(left))
		}
		got := map[string][]string{}
		ids := map[string]string{}
		wh, _ := standardwebhooks.NewWebhook(secret)
		for _, m := range r.all() {
			got[m.Subject] = append(got[m.Subject], m.EventID)
			if prev, ok := ids[m.EventID]; ok && prev != m.ID {
				t.Errorf("event %s came with webhook-ids %s and %s", m.EventID, prev, m.ID)
			}
			ids[m.EventID] = m.ID
			if err := wh.VerifyIgnoringTimestamp(m.Body, m.Header); err != nil {
				t.Errorf("signature of %s: %v", m.ID, err)
			}
		}
		for subj, w := range want {
			if !slices.Equal(got[subj], w) {
				t.Errorf("subject %s: got %d events %v, want %d in order %v", subj, len(got[subj]), got[subj], len(w), w)
			}
		}
		t.Logf("all %d events delivered %v after the first failure", len(ids), f.clock.Now().Sub(start))
	})
}

func TestDeadLetterAfterThreeDaysAndReplay(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	r := newReceiver(t)
	sub, _ := f.subscribe(r.URL, "user.*")
	r.setStatus(http.StatusInternalServerError)
	f.emit(f.event("user.deleted", "user:1", nil), f.event("user.deleted", "user:2", nil), f.event("user.created", "user:3", nil))
	start := f.clock.Now()
	for i := 0; i < 200 && f.toNextDue(sub.ID); i++ {
		f.step()
	}
	dead := f.deliveries(sub.ID, webhooks.StatusDead)
	if len(dead) != 3 {
		t.Fatalf("dead deliveries: got %d, want 3", len(dead))
	}
	for _, d := range dead {
		if age := d.UpdatedAt.Sub(start); age < 72*time.Hour || age > 73*time.Hour {
			t.Errorf("delivery %s died %v after its first attempt, want 72h", d.ID, age)
		}
		atts, err := f.svc.Attempts(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		// 30 s doubling to 6 h, jittered: more than 12, fewer than 72·2+1.
		if len(atts) < 12 || len(atts) > 145 || atts[0].StatusCode != 500 || atts[0].Response != "answer Internal Server Error" || atts[0].Error != "status 500" {
			t.Errorf("attempts of %s: got %d, first %+v", d.ID, len(atts), atts[0])
		}
	}
	types := eventTypes(t, f.st, "webhook:"+sub.ID)
	if n := strings.Count(strings.Join(types, " "), "webhook.delivery_failed"); n != 3 {
		t.Errorf("events: got %v, want 3 webhook.delivery_failed", types)
	}
	r.setStatus(http.StatusOK)
	if err := f.svc.Replay(t.Context(), dead[0].ID, "system:test"); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	for f.step() > 0 {
	}
	if got := r.all(); len(got) != 1 || got[0].ID != dead[0].ID {
		t.Fatalf("after replaying one: receiver got %v, want %s", got, dead[0].ID)
	}
	if err := f.svc.Replay(t.Context(), "msg_nope", "system:test"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("replay of a missing delivery: got %v, want ErrNotFound", err)
	}
	n, err := f.svc.ReplayDead(t.Context(), sub.ID, "system:test")
	if err != nil || n != 2 {
		t.Fatalf("ReplayDead: got %d, %v, want 2", n, err)
	}
	for f.step() > 0 {
	}
	if got := r.all(); len(got) != 3 {
		t.Errorf("after replaying all: receiver got %d, want 3", len(got))
	}
	if left := len(f.deliveries(sub.ID, webhooks.StatusDelivered)); left != 3 {
		t.Errorf("delivered: got %d, want 3", left)
	}
}

func TestPauseAfterSustainedFailure(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	f.disp.Retry.PauseAfter = 24 * time.Hour
	r := newReceiver(t)
	sub, _ := f.subscribe(r.URL, "user.*")
	r.setStatus(http.StatusBadGateway)
	f.emit(f.event("user.created", "user:1", nil))
	start := f.clock.Now()
	for i := 0; i < 200 && f.toNextDue(sub.ID); i++ {
		if f.step() == 0 {
			break
		}
	}
	got, _ := f.svc.Get(t.Context(), sub.ID)
	if !got.Paused() {
		t.Fatalf("subscription not paused after failing since %v (now %v)", start, f.clock.Now())
	}
	if d := got.PausedAt.Sub(start); d < 24*time.Hour || d > 31*time.Hour {
		t.Errorf("paused %v after the first failure, want 24h (plus at most one wait)", d)
	}
	if types := eventTypes(t, f.st, "webhook:"+sub.ID); !slices.Contains(types, "webhook.paused") {
		t.Errorf("events: got %v, want webhook.paused", types)
	}
	f.clock.Advance(100 * time.Hour)
	if n := f.step(); n != 0 {
		t.Errorf("a paused subscription's delivery was sent (%d)", n)
	}
	r.setStatus(http.StatusOK)
	if _, err := f.svc.Update(t.Context(), sub.ID, webhooks.Change{Enabled: new(true)}, "system:test"); err != nil {
		t.Fatal(err)
	}
	if types := eventTypes(t, f.st, "webhook:"+sub.ID); types[len(types)-1] != "webhook.resumed" {
		t.Errorf("events after enabling: got %v, want webhook.resumed last", types)
	}
	for f.step() > 0 {
	}
	if n := len(r.all()); n != 1 {
		t.Errorf("after resuming: receiver got %d, want 1", n)
	}
}

func TestRotationSignsWithBothSecretsDuringOverlap(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	r := newReceiver(t)
	sub, oldSecret := f.subscribe(r.URL, "user.*")
	_, newSecret, err := f.svc.RotateSecret(t.Context(), sub.ID, time.Hour, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("rotated secret %q", newSecret)
	}
	f.emit(f.event("user.created", "user:1", nil))
	f.step()
	f.clock.Advance(time.Hour)
	f.emit(f.event("user.created", "user:2", nil))
	f.step()
	got := r.all()
	if len(got) != 2 {
		t.Fatalf("receiver got %d, want 2", len(got))
	}
	verify := func(m received, secret string) error {
		wh, _ := standardwebhooks.NewWebhook(secret)
		return wh.VerifyIgnoringTimestamp(m.Body, m.Header)
	}
	if n := len(strings.Fields(got[0].Signature)); n != 2 {
		t.Errorf("during the overlap: %d signatures, want 2", n)
	}
	if verify(got[0], oldSecret) != nil || verify(got[0], newSecret) != nil {
		t.Error("during the overlap: a message did not verify under both secrets")
	}
	if n := len(strings.Fields(got[1].Signature)); n != 1 {
		t.Errorf("after the overlap: %d signatures, want 1", n)
	}
	if verify(got[1], newSecret) != nil || verify(got[1], oldSecret) == nil {
		t.Error("after the overlap: want the new secret alone to verify")
	}
	if _, _, err := f.svc.RotateSecret(t.Context(), sub.ID, -time.Second, "system:test"); err == nil {
		t.Error("a negative overlap was accepted")
	}
	if types := eventTypes(t, f.st, "webhook:"+sub.ID); !slices.Equal(types, []string{"webhook.created", "webhook.secret_rotated"}) {
		t.Errorf("events: got %v", types)
	}
}

// TestPayloadCarriesExternalIDs: a webhook about a user (or organization)
// carries the IDs other systems gave it, so that a receiver finds its own
// record; other subjects carry none.
func TestPayloadCarriesExternalIDs(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	ctx := t.Context()
	u := accounts.User{ID: accounts.NewID(), Email: "ext@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetExternalIDs(ctx, externalids.User, u.ID, map[string]string{"erp": "E-1"}); err != nil {
		t.Fatal(err)
	}
	f.fan.ExternalIDs = f.st
	r := newReceiver(t)
	sub, _ := f.subscribe(r.URL, "*")
	f.emit(f.event("user.updated", "user:"+u.ID, nil), f.event("membership.added", "org:none", nil))
	for f.step() > 0 {
	}
	got := r.all()
	if len(got) != 2 {
		t.Fatalf("receiver got %d messages, want 2 (subscription %s)", len(got), sub.ID)
	}
	for _, m := range got {
		var msg struct {
			Type string `json:"type"`
			Data struct {
				ExternalIDs map[string]string `json:"external_ids"`
			} `json:"data"`
		}
		if err := json.Unmarshal(m.Body, &msg); err != nil {
			t.Fatal(err)
		}
		switch msg.Type {
		case "user.updated":
			if msg.Data.ExternalIDs["erp"] != "E-1" {
				t.Errorf("user.updated payload: %s", m.Body)
			}
		default:
			if msg.Data.ExternalIDs != nil {
				t.Errorf("%s payload carries external IDs: %s", msg.Type, m.Body)
			}
		}
	}
}
