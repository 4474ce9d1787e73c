package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// TestPauseNotifier: a paused subscription is mailed to the operator once,
// naming it, its URL and why; other events mail nothing.
func TestPauseNotifier(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite())
	master, _ := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	kr, err := keyring.Open(ctx, st, keyring.MasterKeys{Current: master}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.NewRenderer(cat, mail.Branding{ProductName: "Portvakt"})
	if err != nil {
		t.Fatal(err)
	}
	// No mail server: the outbox keeps the mail, which is what is read here.
	outbox := &mail.Outbox{Store: st, Keyring: kr, Renderer: r}
	svc := &webhooks.Service{Store: st, Cipher: kr, Policy: local}
	sub, _, err := svc.Create(ctx, webhooks.Subscription{URL: "http://127.0.0.1:9/hooks", EventTypes: []string{"user.*"}, Enabled: true}, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	n := &webhooks.PauseNotifier{To: "ops@example.com", Mail: outbox, Subscriptions: svc}
	paused, _ := events.New("webhook.paused", sub.Subject(), "system:webhooks", time.Now(), map[string]any{
		"reason": "every attempt has failed since 2026-11-25T09:00:00Z", "last_error": "503 Service Unavailable"})
	other, _ := events.New("user.updated", "user:1", "system:test", time.Now(), nil)
	for _, e := range []events.Event{paused, paused, other} {
		if err := n.Handle(ctx, e); err != nil {
			t.Fatalf("Handle(%s): %v", e.Type, err)
		}
	}
	mails, err := outbox.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1 (one per pause, none for other events)", len(mails))
	}
	m := mails[0]
	if m.To != "ops@example.com" || m.Template != mail.WebhookPaused || !strings.Contains(m.Text, sub.ID) ||
		!strings.Contains(m.Text, "http://127.0.0.1:9/hooks") || !strings.Contains(m.Text, "503 Service Unavailable") ||
		!strings.Contains(m.Text, "portvakt webhook update "+sub.ID+" --enable") {
		t.Errorf("the mail to %s (%s):\n%s", m.To, m.Subject, m.Text)
	}
}
