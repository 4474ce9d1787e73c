package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
)

// ConsumerName names the fan-out consumer's checkpoint and lease. It must
// never change.
const ConsumerName = "webhooks"

// FanoutStore is what the fan-out needs from storage.
type FanoutStore interface {
	// Webhooks returns every subscription.
	Webhooks(ctx context.Context) ([]Subscription, error)
	// EnqueueWebhookDeliveries stores new pending deliveries. A delivery
	// of the same event to the same subscription that exists already is
	// left as it is, so handling an event again queues nothing twice.
	EnqueueWebhookDeliveries(ctx context.Context, ds []Delivery) error
}

// ExternalIDs reads the IDs other systems give users and organizations
// (externalids.Store).
type ExternalIDs interface {
	ExternalIDs(ctx context.Context, kind externalids.Kind, ids []string) (map[string]map[string]string, error)
}

// Fanout turns events into deliveries. Its Handle method is an events
// consumer; register it under ConsumerName.
type Fanout struct {
	Store FanoutStore
	// ExternalIDs, if set, adds the subject's IDs in other source systems
	// to each payload (data.external_ids), so that a receiver finds its
	// own record.
	ExternalIDs ExternalIDs
	// Wake, if set, is called after deliveries were queued, so that the
	// dispatcher need not wait for its next poll.
	Wake   func()
	Logger *slog.Logger
	Now    func() time.Time
}

// Handle queues a delivery of e for every enabled subscription created
// before it whose patterns match its type. webhook.* events are skipped.
func (f *Fanout) Handle(ctx context.Context, e events.Event) error {
	if !Matches([]string{"*"}, e.Type) {
		return nil
	}
	subs, err := f.Store.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	var ds []Delivery
	var payload []byte
	for _, s := range subs {
		if !s.Enabled || e.Position <= s.StartPosition || !Matches(s.EventTypes, e.Type) {
			continue
		}
		if payload == nil {
			ext, err := f.externalIDs(ctx, e.Subject)
			if err != nil {
				return fmt.Errorf("webhooks: %w", err)
			}
			if payload, err = PayloadWith(e, ext); err != nil {
				return err
			}
		}
		ds = append(ds, NewDelivery(s.ID, e, payload, f.now()))
	}
	if len(ds) == 0 {
		return nil
	}
	if err := f.Store.EnqueueWebhookDeliveries(ctx, ds); err != nil {
		return fmt.Errorf("webhooks: queue deliveries of event %s: %w", e.UUID, err)
	}
	if f.Wake != nil {
		f.Wake()
	}
	return nil
}

// NewDelivery is a pending delivery of e to a subscription, due at now.
func NewDelivery(subscriptionID string, e events.Event, payload []byte, now time.Time) Delivery {
	return Delivery{
		ID: MessageID(subscriptionID, e.UUID), SubscriptionID: subscriptionID,
		EventUUID: e.UUID, EventPosition: e.Position, EventType: e.Type, Subject: e.Subject,
		Payload: payload, Status: StatusPending, NextAttemptAt: now, WindowStart: now, CreatedAt: now, UpdatedAt: now,
	}
}

// MessageID is the webhook-id of an event's delivery to a subscription:
// derived from both, so every attempt and every replay of it, on any node,
// carries the same one.
func MessageID(subscriptionID, eventUUID string) string {
	h := sha256.Sum256([]byte(subscriptionID + "\x00" + eventUUID))
	return "msg_" + hex.EncodeToString(h[:16])
}

// message is the body of a webhook, per the Standard Webhooks payload
// structure: type, timestamp and data.
type message struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      messageData `json:"data"`
}

type messageData struct {
	// EventID is the event's UUID, the same in every delivery of it.
	EventID string `json:"event_id"`
	Subject string `json:"subject"`
	Actor   string `json:"actor"`
	// Details are the event's type-specific data.
	Details json.RawMessage `json:"details"`
	// ExternalIDs are the subject's IDs in other source systems, when it
	// has any (source → ID).
	ExternalIDs map[string]string `json:"external_ids,omitempty"`
}

// externalIDs are the IDs of a user:<id> or org:<id> subject in other
// source systems; none for other subjects or without a lookup.
func (f *Fanout) externalIDs(ctx context.Context, subject string) (map[string]string, error) {
	kind, id, _ := strings.Cut(subject, ":")
	if f.ExternalIDs == nil || (kind != string(externalids.User) && kind != string(externalids.Organization)) {
		return nil, nil
	}
	m, err := f.ExternalIDs.ExternalIDs(ctx, externalids.Kind(kind), []string{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// PayloadWith is the body that delivers e, with the subject's external IDs.
func PayloadWith(e events.Event, ext map[string]string) ([]byte, error) {
	details := e.Data
	if len(details) == 0 {
		details = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(message{Type: e.Type, Timestamp: e.Time.UTC(), Data: messageData{
		EventID: e.UUID, Subject: e.Subject, Actor: e.Actor, Details: details, ExternalIDs: ext,
	}})
	if err != nil {
		return nil, fmt.Errorf("webhook payload of event %s: %w", e.UUID, err)
	}
	return b, nil
}

// Payload is the body that delivers e.
func Payload(e events.Event) ([]byte, error) { return PayloadWith(e, nil) }

func (f *Fanout) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}
