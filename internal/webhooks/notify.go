package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/mail"
)

// NotifierName names the consumer that tells the operator of paused
// subscriptions. It must never change.
const NotifierName = "webhook-pause-mail"

// Mailer queues and sends mail for an event, once (mail.Outbox).
type Mailer interface {
	Deliver(ctx context.Context, eventUUID string, m mail.Message) error
}

// PauseNotifier mails the deployment's operator when a subscription is
// paused for failing (webhook.paused), so that someone looks at the
// receiver: its events wait until it is enabled again.
type PauseNotifier struct {
	// To is the operator's address.
	To   string
	Lang language.Tag
	Mail Mailer
	// Subscriptions reads the paused subscription (for its URL).
	Subscriptions interface {
		Get(ctx context.Context, id string) (Subscription, error)
	}
}

// Handle implements an outbox consumer.
func (n *PauseNotifier) Handle(ctx context.Context, e events.Event) error {
	if e.Type != "webhook.paused" || n.To == "" {
		return nil
	}
	id, ok := strings.CutPrefix(e.Subject, "webhook:")
	if !ok {
		return nil
	}
	var d struct {
		Reason    string `json:"reason"`
		LastError string `json:"last_error"`
	}
	_ = json.Unmarshal(e.Data, &d)
	sub, err := n.Subscriptions.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted since: nothing to look at
	}
	if err != nil {
		return err
	}
	if d.Reason == "" {
		d.Reason = "its deliveries have failed for too long"
	}
	lang := n.Lang
	if lang == language.Und {
		lang = language.English
	}
	return n.Mail.Deliver(ctx, e.UUID, mail.Message{To: n.To, Template: mail.WebhookPaused, Lang: lang,
		Data: map[string]any{"Subscription": sub.ID, "URL": sub.URL, "Reason": d.Reason, "LastError": d.LastError}})
}
