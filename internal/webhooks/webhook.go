package webhooks

import (
	"context"
	"errors"
	"time"

	"github.com/portvakt/portvakt/internal/events"
)

// Sentinel errors, wrapped with context and matched with errors.Is.
var (
	// ErrNotFound means the subscription or delivery does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change does not fit the record's state, such
	// as replaying a delivery that is still pending.
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost means the dispatcher no longer holds a delivery's
	// lease: another node claimed it, and its outcome is not recorded.
	ErrLeaseLost = errors.New("delivery lease lost")
)

// FieldError is a field of a subscription that is not valid.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Subscription is a receiver of events: where they are posted, which
// types it wants, and the secrets they are signed with.
type Subscription struct {
	ID          string
	URL         string
	Description string
	// EventTypes are the patterns of the event types delivered: exact
	// types ("user.created") and prefixes ("user.*").
	EventTypes []string
	// Enabled subscriptions get deliveries; a disabled one gets none
	// for the events that happen while it is disabled.
	Enabled bool
	// Secret is the current signing secret, sealed by the keyring.
	Secret []byte
	// PreviousSecret is the secret replaced by the last rotation, sealed,
	// still used to sign until PreviousExpiresAt; nil when none is.
	PreviousSecret    []byte
	PreviousExpiresAt time.Time
	// StartPosition is the last event position before the subscription
	// was created; only later events are delivered to it.
	StartPosition int64
	// PausedAt is when the subscription was paused for failing, zero
	// while it is not. A paused subscription's deliveries wait (new ones
	// are still queued) until it is enabled again.
	PausedAt    time.Time
	PauseReason string
	// FailingSince is when the current run of failed attempts began,
	// zero after a success.
	FailingSince time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Subject is the subscription as the subject of events.
func (s Subscription) Subject() string { return "webhook:" + s.ID }

// Paused reports whether the subscription was paused for failing.
func (s Subscription) Paused() bool { return !s.PausedAt.IsZero() }

// Status is where a delivery stands.
type Status string

// The states of a delivery.
const (
	// StatusPending deliveries are waiting for their next attempt.
	StatusPending Status = "pending"
	// StatusDelivered deliveries were accepted with a 2xx answer.
	StatusDelivered Status = "delivered"
	// StatusDead deliveries failed for the whole retry period; they are
	// sent again only when replayed.
	StatusDead Status = "dead"
)

// Valid reports whether s is one of the states.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusDelivered || s == StatusDead
}

// Delivery is one event on its way to one subscription.
type Delivery struct {
	// ID is the webhook-id header: the same for every attempt, so that
	// receivers can drop duplicates.
	ID             string
	SubscriptionID string
	EventUUID      string
	EventPosition  int64
	EventType      string
	// Subject is the event's subject; deliveries of one subject to one
	// subscription are sent strictly in event order.
	Subject string
	// Payload is the request body, fixed when the delivery is made.
	Payload       []byte
	Status        Status
	Attempts      int
	NextAttemptAt time.Time
	// WindowStart is when the retry period began: at fan-out, or at the
	// last replay.
	WindowStart time.Time
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Attempt is one try at sending a delivery.
type Attempt struct {
	ID         int64
	DeliveryID string
	At         time.Time
	// StatusCode is the receiver's answer, 0 if none came.
	StatusCode int
	Latency    time.Duration
	// Response is the start of the answer's body (at most 1 KiB).
	Response string
	// Error says why the attempt failed; "" when it succeeded.
	Error string
}

// Outcome is what the dispatcher records after an attempt, in one
// transaction.
type Outcome struct {
	// Delivery is the delivery's new state.
	Delivery Delivery
	Attempt  Attempt
	// Succeeded ends the subscription's run of failures; otherwise a run
	// starts at Attempt.At unless one is under way.
	Succeeded bool
	// Events are appended with the record (webhook.delivery_failed when
	// the delivery is dead-lettered).
	Events []events.Event
	// Pause, if set, pauses the subscription unless it is paused already,
	// and is appended only if it was not.
	Pause *events.Event
}

// SubscriptionStore keeps subscriptions.
type SubscriptionStore interface {
	// CreateWebhook stores s with its event and returns it with
	// StartPosition set to the last event position before it. It returns
	// ErrConflict if the ID is taken.
	CreateWebhook(ctx context.Context, s Subscription, ev events.Event) (Subscription, error)
	// Webhook returns a subscription, or ErrNotFound.
	Webhook(ctx context.Context, id string) (Subscription, error)
	// Webhooks returns every subscription, oldest first.
	Webhooks(ctx context.Context) ([]Subscription, error)
	// UpdateWebhook replaces the subscription with fn's result and appends
	// fn's events, atomically; fn's error aborts the update.
	UpdateWebhook(ctx context.Context, id string, fn func(Subscription) (Subscription, []events.Event, error)) (Subscription, error)
	// DeleteWebhook deletes a subscription with its deliveries and
	// attempts and appends ev, or returns ErrNotFound.
	DeleteWebhook(ctx context.Context, id string, ev events.Event) error
}

// DeliveryLog lists deliveries and their attempts, and replays them.
type DeliveryLog interface {
	// WebhookDeliveries returns up to limit deliveries of a subscription,
	// of one status ("" for all), newest event first.
	WebhookDeliveries(ctx context.Context, subscriptionID string, status Status, limit int) ([]Delivery, error)
	// WebhookDelivery returns a delivery, or ErrNotFound.
	WebhookDelivery(ctx context.Context, id string) (Delivery, error)
	// WebhookAttempts returns a delivery's attempts, oldest first.
	WebhookAttempts(ctx context.Context, deliveryID string) ([]Attempt, error)
	// ReplayWebhookDeliveries makes deliveries pending again, due at now
	// with a new retry period, and appends ev(n) if n > 0 were. With
	// deliveryID set it replays that delivery if it is dead or delivered
	// (ErrConflict if pending, ErrNotFound if missing); otherwise every
	// dead delivery of subscriptionID.
	ReplayWebhookDeliveries(ctx context.Context, subscriptionID, deliveryID string, now time.Time, ev func(n int) (events.Event, error)) (int, error)
}
