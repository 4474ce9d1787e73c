package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portvakt/portvakt/internal/events"
)

// DefaultOverlap is how long the previous secret still signs after a
// rotation, unless another overlap is asked for.
const DefaultOverlap = 24 * time.Hour

// MaxOverlap is the longest overlap a rotation accepts.
const MaxOverlap = 30 * 24 * time.Hour

// Cipher seals signing secrets at rest (the keyring).
type Cipher interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Store is what the management of subscriptions needs from storage.
type Store interface {
	SubscriptionStore
	DeliveryLog
}

// Service manages subscriptions and their deliveries, each change with its
// event: webhook.created|updated|deleted|secret_rotated|resumed|replayed.
type Service struct {
	Store  Store
	Cipher Cipher
	// Policy decides which URLs are accepted.
	Policy Policy
	Now    func() time.Time
}

// Change is a partial update of a subscription: nil fields stay.
type Change struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	// Enabled true also resumes a paused subscription.
	Enabled *bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// secretAAD binds a sealed secret to its subscription.
func secretAAD(id string) []byte { return []byte("webhook-secret:" + id) }

// check validates the fields a person sets and cleans them.
func (s *Service) check(sub *Subscription) error {
	var errs []error
	sub.URL = strings.TrimSpace(sub.URL)
	if err := s.Policy.CheckURL(sub.URL); err != nil {
		errs = append(errs, err)
	}
	types, err := ValidatePatterns(sub.EventTypes)
	if err != nil {
		errs = append(errs, err)
	}
	sub.EventTypes = types
	sub.Description = strings.TrimSpace(sub.Description)
	if len(sub.Description) > 500 {
		errs = append(errs, FieldError{"description", "is longer than 500 characters"})
	}
	return errors.Join(errs...)
}

// safeURL is a URL as events show it: without its query, which may hold a
// receiver's token.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}

// Create validates and stores a new subscription with a new secret, which
// it returns: this is the only time the secret is shown.
func (s *Service) Create(ctx context.Context, sub Subscription, actor string) (Subscription, string, error) {
	if err := s.check(&sub); err != nil {
		return Subscription{}, "", err
	}
	now := s.now()
	sub.ID = uuid.Must(uuid.NewV7()).String()
	secret := NewSecret()
	sealed, err := s.Cipher.Encrypt([]byte(secret), secretAAD(sub.ID))
	if err != nil {
		return Subscription{}, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	sub.Secret, sub.PreviousSecret, sub.PreviousExpiresAt = sealed, nil, time.Time{}
	sub.PausedAt, sub.PauseReason, sub.FailingSince = time.Time{}, "", time.Time{}
	sub.CreatedAt, sub.UpdatedAt = now, now
	ev, err := events.New("webhook.created", sub.Subject(), actor, now, map[string]any{
		"url": safeURL(sub.URL), "event_types": sub.EventTypes, "enabled": sub.Enabled, "description": sub.Description,
	})
	if err != nil {
		return Subscription{}, "", err
	}
	sub, err = s.Store.CreateWebhook(ctx, sub, ev)
	if err != nil {
		return Subscription{}, "", err
	}
	return sub, secret, nil
}

// Get returns a subscription.
func (s *Service) Get(ctx context.Context, id string) (Subscription, error) {
	return s.Store.Webhook(ctx, id)
}

// List returns every subscription.
func (s *Service) List(ctx context.Context) ([]Subscription, error) {
	return s.Store.Webhooks(ctx)
}

// Update applies c. The webhook.updated event names each changed field
// with its old and new value; enabling a paused subscription resumes it
// (webhook.resumed).
func (s *Service) Update(ctx context.Context, id string, c Change, actor string) (Subscription, error) {
	return s.Store.UpdateWebhook(ctx, id, func(old Subscription) (Subscription, []events.Event, error) {
		sub := old
		if c.URL != nil {
			sub.URL = *c.URL
		}
		if c.Description != nil {
			sub.Description = *c.Description
		}
		if c.EventTypes != nil {
			sub.EventTypes = *c.EventTypes
		}
		if c.Enabled != nil {
			sub.Enabled = *c.Enabled
		}
		if err := s.check(&sub); err != nil {
			return Subscription{}, nil, err
		}
		now := s.now()
		changes := map[string]any{}
		change := func(field string, o, n any) { changes[field] = map[string]any{"old": o, "new": n} }
		if sub.URL != old.URL {
			change("url", safeURL(old.URL), safeURL(sub.URL))
		}
		if sub.Description != old.Description {
			change("description", old.Description, sub.Description)
		}
		if !slices.Equal(sub.EventTypes, old.EventTypes) {
			change("event_types", old.EventTypes, sub.EventTypes)
		}
		if sub.Enabled != old.Enabled {
			change("enabled", old.Enabled, sub.Enabled)
		}
		var evs []events.Event
		if len(changes) > 0 {
			ev, err := events.New("webhook.updated", sub.Subject(), actor, now, map[string]any{"changes": changes})
			if err != nil {
				return Subscription{}, nil, err
			}
			evs = append(evs, ev)
		}
		if c.Enabled != nil && *c.Enabled && old.Paused() {
			sub.PausedAt, sub.PauseReason, sub.FailingSince = time.Time{}, "", time.Time{}
			ev, err := events.New("webhook.resumed", sub.Subject(), actor, now, map[string]any{"paused_at": old.PausedAt})
			if err != nil {
				return Subscription{}, nil, err
			}
			evs = append(evs, ev)
		}
		if len(evs) > 0 {
			sub.UpdatedAt = now
		}
		return sub, evs, nil
	})
}

// Delete deletes a subscription with its deliveries and their attempts.
func (s *Service) Delete(ctx context.Context, id, actor string) error {
	sub, err := s.Store.Webhook(ctx, id)
	if err != nil {
		return err
	}
	ev, err := events.New("webhook.deleted", sub.Subject(), actor, s.now(), map[string]any{"url": safeURL(sub.URL)})
	if err != nil {
		return err
	}
	return s.Store.DeleteWebhook(ctx, id, ev)
}

// RotateSecret gives a subscription a new secret, which it returns (shown
// this once). The replaced secret still signs for overlap (0: not at
// all), so that receivers can switch without losing a message: during the
// overlap each message carries both signatures.
func (s *Service) RotateSecret(ctx context.Context, id string, overlap time.Duration, actor string) (Subscription, string, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return Subscription{}, "", FieldError{"overlap", fmt.Sprintf("%v is outside 0 to %v", overlap, MaxOverlap)}
	}
	secret := NewSecret()
	sub, err := s.Store.UpdateWebhook(ctx, id, func(sub Subscription) (Subscription, []events.Event, error) {
		sealed, err := s.Cipher.Encrypt([]byte(secret), secretAAD(sub.ID))
		if err != nil {
			return Subscription{}, nil, fmt.Errorf("seal webhook secret: %w", err)
		}
		now := s.now()
		if overlap > 0 {
			sub.PreviousSecret, sub.PreviousExpiresAt = sub.Secret, now.Add(overlap)
		} else {
			sub.PreviousSecret, sub.PreviousExpiresAt = nil, time.Time{}
		}
		sub.Secret, sub.UpdatedAt = sealed, now
		data := map[string]any{"overlap": overlap.String()}
		if overlap > 0 {
			data["previous_expires_at"] = sub.PreviousExpiresAt
		}
		ev, err := events.New("webhook.secret_rotated", sub.Subject(), actor, now, data)
		if err != nil {
			return Subscription{}, nil, err
		}
		return sub, []events.Event{ev}, nil
	})
	if err != nil {
		return Subscription{}, "", err
	}
	return sub, secret, nil
}

// Secrets returns the secrets that sign a subscription's messages at at:
// the current one, and the previous one during a rotation's overlap.
func (s *Service) Secrets(ctx context.Context, sub Subscription, at time.Time) ([]string, error) {
	return openSecrets(ctx, s.Cipher, sub, at)
}

func openSecrets(ctx context.Context, c Cipher, sub Subscription, at time.Time) ([]string, error) {
	cur, err := c.Decrypt(ctx, sub.Secret, secretAAD(sub.ID))
	if err != nil {
		return nil, fmt.Errorf("open the secret of webhook %s: %w", sub.ID, err)
	}
	out := []string{string(cur)}
	if len(sub.PreviousSecret) > 0 && at.Before(sub.PreviousExpiresAt) {
		prev, err := c.Decrypt(ctx, sub.PreviousSecret, secretAAD(sub.ID))
		if err != nil {
			return nil, fmt.Errorf("open the previous secret of webhook %s: %w", sub.ID, err)
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// Deliveries returns up to limit deliveries of a subscription, of one
// status ("" for all), newest first.
func (s *Service) Deliveries(ctx context.Context, id string, status Status, limit int) ([]Delivery, error) {
	if status != "" && !status.Valid() {
		return nil, FieldError{"status", fmt.Sprintf("%q is not pending, delivered or dead", status)}
	}
	if _, err := s.Store.Webhook(ctx, id); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	return s.Store.WebhookDeliveries(ctx, id, status, limit)
}

// Delivery returns a delivery.
func (s *Service) Delivery(ctx context.Context, id string) (Delivery, error) {
	return s.Store.WebhookDelivery(ctx, id)
}

// Attempts returns a delivery's attempts, oldest first.
func (s *Service) Attempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	if _, err := s.Store.WebhookDelivery(ctx, deliveryID); err != nil {
		return nil, err
	}
	return s.Store.WebhookAttempts(ctx, deliveryID)
}

// Replay sends a dead (or delivered) delivery again, at once and with a
// new retry period. Its webhook-id stays, so receivers that saw it can
// drop it.
func (s *Service) Replay(ctx context.Context, deliveryID, actor string) error {
	d, err := s.Store.WebhookDelivery(ctx, deliveryID)
	if err != nil {
		return err
	}
	now := s.now()
	_, err = s.Store.ReplayWebhookDeliveries(ctx, d.SubscriptionID, d.ID, now, func(int) (events.Event, error) {
		return events.New("webhook.replayed", "webhook:"+d.SubscriptionID, actor, now,
			map[string]any{"delivery_id": d.ID, "event_id": d.EventUUID, "count": 1})
	})
	return err
}

// ReplayDead sends every dead delivery of a subscription again and
// returns how many there were.
func (s *Service) ReplayDead(ctx context.Context, subscriptionID, actor string) (int, error) {
	if _, err := s.Store.Webhook(ctx, subscriptionID); err != nil {
		return 0, err
	}
	now := s.now()
	return s.Store.ReplayWebhookDeliveries(ctx, subscriptionID, "", now, func(n int) (events.Event, error) {
		return events.New("webhook.replayed", "webhook:"+subscriptionID, actor, now, map[string]any{"count": n})
	})
}
