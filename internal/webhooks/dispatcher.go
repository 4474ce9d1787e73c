package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Defaults of Dispatcher and RetryPolicy.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultRetryFor   = 72 * time.Hour
	DefaultBackoff    = 30 * time.Second
	DefaultMaxBackoff = 6 * time.Hour
	DefaultPauseAfter = 24 * time.Hour

	defaultParallel = 16
	defaultPoll     = time.Second
	// excerptBytes is how much of a response body an attempt keeps.
	excerptBytes = 1024
	// drainBytes is how much more of a response is read (and dropped) so
	// that its connection can be reused.
	drainBytes = 64 << 10
	userAgent  = "Portvakt-Webhooks/1"
)

// DispatchStore is what the dispatcher needs from storage.
type DispatchStore interface {
	// ClaimWebhookDeliveries leases up to limit due deliveries to holder
	// until until and returns them. A delivery is due when it is pending,
	// its next attempt is at or before now, no other lease on it runs at
	// now, its subscription is enabled and not paused, and no earlier
	// delivery (by event position) of the same subscription and subject
	// is pending: deliveries of a subject go out one at a time, in order.
	ClaimWebhookDeliveries(ctx context.Context, holder string, now, until time.Time, limit int) ([]Delivery, error)
	// Webhook returns a subscription, or ErrNotFound.
	Webhook(ctx context.Context, id string) (Subscription, error)
	// RecordWebhookAttempt records an attempt and the delivery's new state
	// (releasing its lease) with the outcome's events, in one
	// transaction, or returns ErrLeaseLost if holder no longer holds the
	// delivery's lease.
	RecordWebhookAttempt(ctx context.Context, holder string, o Outcome) error
}

// RetryPolicy says when a failed delivery is tried again, and when it and
// its subscription are given up on.
type RetryPolicy struct {
	// RetryFor is how long a delivery is retried before it is dead
	// (default 72 h).
	RetryFor time.Duration
	// Backoff is the shortest wait after a failure (default 30 s); the
	// ceiling of the wait doubles after each failure, up to MaxBackoff
	// (default 6 h).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// PauseAfter is how long every attempt to a subscription may fail
	// before it is paused (default 24 h).
	PauseAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.RetryFor <= 0 {
		p.RetryFor = DefaultRetryFor
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	if p.PauseAfter <= 0 {
		p.PauseAfter = DefaultPauseAfter
	}
	return p
}

// Wait is the wait after the failures-th failure in a row (1 for the
// first), given r uniform in [0, 1): exponential back-off with jitter,
// uniform between Backoff and a ceiling of Backoff·2^(failures−1),
// capped at MaxBackoff. The jitter spreads the retries of deliveries that
// failed together (a receiver that was down) so they do not return
// together.
func (p RetryPolicy) Wait(failures int, r float64) time.Duration {
	p = p.withDefaults()
	ceiling := p.Backoff
	for i := 1; i < failures && ceiling < p.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxBackoff)
	return p.Backoff + time.Duration(r*float64(ceiling-p.Backoff))
}

// Dispatcher sends due deliveries. Run it on every node: deliveries are
// claimed under leases, so each attempt is made by one node.
type Dispatcher struct {
	Store  DispatchStore
	Cipher Cipher
	// Client sends the requests; Policy.Client builds one that keeps to
	// the policy's addresses, has a timeout and follows no redirect.
	Client *http.Client
	Retry  RetryPolicy
	// Holder names this node in leases; it must be unique per process.
	Holder string
	// Parallel is how many deliveries are sent at once (default 16).
	Parallel int
	// LeaseTTL is how long a claim lasts; it must outlast a request and
	// its record (default 1 min).
	LeaseTTL time.Duration
	// PollInterval is how often an idle dispatcher looks for due
	// deliveries (default 1 s); Wake cuts the wait short.
	PollInterval time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
	// Rand returns a number in [0, 1) for the jitter (default
	// math/rand/v2).
	Rand func() float64

	wakeOnce   sync.Once
	wake       chan struct{}
	clientOnce sync.Once
}

// Wake tells an idle dispatcher that deliveries may be due. It never
// blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wakeChan() <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) wakeChan() chan struct{} {
	d.wakeOnce.Do(func() { d.wake = make(chan struct{}, 1) })
	return d.wake
}

// Run sends deliveries until ctx ends. A delivery in flight when ctx ends
// is abandoned unrecorded; its lease runs out and it is sent again (with
// the same webhook-id).
func (d *Dispatcher) Run(ctx context.Context) {
	log := d.logger()
	parallel := d.parallel()
	poll := d.PollInterval
	if poll <= 0 {
		poll = defaultPoll
	}
	done := make(chan struct{}, parallel)
	inflight := 0
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		claimed := 0
		if free := parallel - inflight; free > 0 {
			ds, err := d.claim(ctx, free)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				log.Error("claim webhook deliveries", "error", err)
			}
			claimed = len(ds)
			for _, del := range ds {
				inflight++
				wg.Go(func() {
					defer func() { done <- struct{}{} }()
					d.deliver(ctx, del, nil)
				})
			}
		}
		if claimed > 0 && inflight < parallel {
			continue // more may be due
		}
		// Idle, or every slot busy: wait for a slot, a wake or the poll.
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-done:
			inflight--
		case <-d.wakeChan():
		case <-t.C:
		}
		t.Stop()
		for drained := false; !drained; {
			select {
			case <-done:
				inflight--
			default:
				drained = true
			}
		}
	}
}

// Step claims the deliveries due now (up to Parallel), sends them and
// records the outcomes, and returns how many it sent. It is Run's work
// once, for tests and tools that drive the clock.
func (d *Dispatcher) Step(ctx context.Context) (int, error) {
	ds, err := d.claim(ctx, d.parallel())
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	cache := &subCache{m: map[string]subEntry{}}
	for _, del := range ds {
		wg.Go(func() { d.deliver(ctx, del, cache) })
	}
	wg.Wait()
	return len(ds), ctx.Err()
}

func (d *Dispatcher) claim(ctx context.Context, limit int) ([]Delivery, error) {
	now := d.now()
	ttl := d.LeaseTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	return d.Store.ClaimWebhookDeliveries(ctx, d.Holder, now, now.Add(ttl), limit)
}

// subCache shares subscriptions among the deliveries of one step.
type subCache struct {
	mu sync.Mutex
	m  map[string]subEntry
}

type subEntry struct {
	sub     Subscription
	secrets []string
	err     error
}

// target returns the subscription of a delivery and its signing secrets
// at at.
func (d *Dispatcher) target(ctx context.Context, id string, at time.Time, cache *subCache) (Subscription, []string, error) {
	if cache != nil {
		cache.mu.Lock()
		defer cache.mu.Unlock()
		if e, ok := cache.m[id]; ok {
			return e.sub, e.secrets, e.err
		}
	}
	sub, err := d.Store.Webhook(ctx, id)
	var secrets []string
	if err == nil {
		secrets, err = openSecrets(ctx, d.Cipher, sub, at)
	}
	if cache != nil {
		cache.m[id] = subEntry{sub, secrets, err}
	}
	return sub, secrets, err
}

// deliver makes one attempt at del and records it.
func (d *Dispatcher) deliver(ctx context.Context, del Delivery, cache *subCache) {
	log := d.logger().With("webhook", del.SubscriptionID, "delivery", del.ID)
	now := d.now()
	sub, secrets, err := d.target(ctx, del.SubscriptionID, now, cache)
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, ErrNotFound) {
		return // deleted meanwhile, and its deliveries with it
	}
	var a Attempt
	if err != nil {
		log.Error("webhook delivery: subscription", "error", err)
		a = Attempt{DeliveryID: del.ID, At: now, Error: "cannot sign: the signing secret could not be opened"}
	} else {
		a = d.send(ctx, sub, secrets, del, now)
		if ctx.Err() != nil {
			return // shutting down: the lease runs out and it is sent again
		}
	}
	o, err := d.outcome(sub, del, a)
	if err != nil {
		log.Error("webhook delivery: outcome", "error", err)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch err := d.Store.RecordWebhookAttempt(rctx, d.Holder, o); {
	case errors.Is(err, ErrLeaseLost):
		log.Warn("webhook delivery: lease lost to another node; its attempt is not recorded")
	case err != nil:
		log.Error("webhook delivery: record attempt", "error", err)
	}
	if o.Pause != nil {
		log.Warn("webhook paused: its deliveries have failed for too long; enable it again once the receiver works",
			"failing_since", sub.FailingSince, "last_error", a.Error)
	}
}

// outcome decides what an attempt means for its delivery and subscription.
func (d *Dispatcher) outcome(sub Subscription, del Delivery, a Attempt) (Outcome, error) {
	p := d.Retry.withDefaults()
	del.Attempts++
	del.UpdatedAt = a.At
	o := Outcome{Attempt: a, Succeeded: a.Error == ""}
	if o.Succeeded {
		del.Status, del.LastError = StatusDelivered, ""
		o.Delivery = del
		return o, nil
	}
	del.LastError = a.Error
	deadline := del.WindowStart.Add(p.RetryFor)
	if !a.At.Before(deadline) {
		del.Status = StatusDead
		ev, err := events.New("webhook.delivery_failed", sub.Subject(), "system:webhooks", a.At, map[string]any{
			"delivery_id": del.ID, "event_id": del.EventUUID, "event_type": del.EventType, "subject": del.Subject,
			"attempts": del.Attempts, "last_error": a.Error,
		})
		if err != nil {
			return Outcome{}, err
		}
		o.Events = append(o.Events, ev)
	} else {
		del.NextAttemptAt = a.At.Add(p.Wait(del.Attempts, d.rand()))
		if del.NextAttemptAt.After(deadline) {
			del.NextAttemptAt = deadline // the last try is at the end of the period
		}
	}
	o.Delivery = del
	if !sub.FailingSince.IsZero() && !sub.Paused() && a.At.Sub(sub.FailingSince) >= p.PauseAfter {
		reason := fmt.Sprintf("every attempt has failed since %s", sub.FailingSince.Format(time.RFC3339))
		ev, err := events.New("webhook.paused", sub.Subject(), "system:webhooks", a.At, map[string]any{
			"reason": reason, "failing_since": sub.FailingSince, "last_error": a.Error,
		})
		if err != nil {
			return Outcome{}, err
		}
		o.Pause = &ev
	}
	return o, nil
}

// send posts del once and returns the attempt.
func (d *Dispatcher) send(ctx context.Context, sub Subscription, secrets []string, del Delivery, now time.Time) Attempt {
	a := Attempt{DeliveryID: del.ID, At: now}
	sig, err := Sign(secrets, del.ID, now, del.Payload)
	if err != nil {
		a.Error = "cannot sign: " + err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(del.Payload))
	if err != nil {
		a.Error = "invalid URL"
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", del.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	res, err := d.client().Do(req)
	if err != nil {
		a.Latency = time.Since(start)
		a.Error = requestError(err)
		return a
	}
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, excerptBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, drainBytes))
	_ = res.Body.Close()
	a.Latency = time.Since(start)
	a.StatusCode = res.StatusCode
	a.Response = cleanExcerpt(excerpt)
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
	case code >= 300 && code < 400:
		a.Error = fmt.Sprintf("redirect (status %d), not followed", code)
	default:
		a.Error = fmt.Sprintf("status %d", code)
	}
	return a
}

// requestError says why a request got no answer, without the URL (it
// may carry a receiver's token).
func requestError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, ErrAddressRefused):
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return oe.Err.Error()
		}
		return err.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// cleanExcerpt makes a response excerpt safe to store as text.
func cleanExcerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

func (d *Dispatcher) client() *http.Client {
	d.clientOnce.Do(func() {
		if d.Client == nil {
			d.Client = Policy{}.Client(DefaultTimeout)
		}
	})
	return d.Client
}

func (d *Dispatcher) parallel() int {
	if d.Parallel > 0 {
		return d.Parallel
	}
	return defaultParallel
}

func (d *Dispatcher) rand() float64 {
	if d.Rand != nil {
		return d.Rand()
	}
	return rand.Float64()
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}
