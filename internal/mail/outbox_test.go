package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// fixture is an outbox on a fresh database of one engine.
type fixture struct {
	outbox *mail.Outbox
	store  *store.Store
	url    string
	engine storetest.Engine
	logs   *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, e storetest.Engine, sender mail.Sender) *fixture {
	t.Helper()
	ctx := t.Context()
	dbURL := e.NewURL(t)
	st := storetest.OpenURL(t, dbURL)
	mk, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(ctx, st, keyring.MasterKeys{Current: mk}, testNow)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	logs := &syncBuffer{}
	clock := testNow
	var mu sync.Mutex
	return &fixture{
		outbox: &mail.Outbox{
			Store: st, Keyring: kr, Renderer: newRenderer(t, mail.Branding{ProductName: "Portvakt"}), Sender: sender,
			Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			// Each reading of the clock is a second later, so mails have
			// distinct times.
			Now: func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(time.Second)
				return clock
			},
		},
		store: st, url: dbURL, engine: e, logs: logs,
	}
}

// verifyMessage is a verification mail with a link and code unique to n.
func verifyMessage(n int) (m mail.Message, link, code string) {
	link = fmt.Sprintf("https://id.example.com/verify?token=tok%06d&flow=f%d", n, n)
	code = fmt.Sprintf("%06d", 900000+n)
	return mail.Message{
		To: "ada@example.com", Name: "Ada Lovelace", Template: mail.VerifyEmail, Lang: language.Swedish,
		Data: map[string]any{"Link": link, "Code": code, "Name": "Ada"},
	}, link, code
}

func (f *fixture) record(t *testing.T, eventUUID string) mail.Record {
	t.Helper()
	r, err := f.store.MailByEvent(t.Context(), eventUUID)
	if err != nil {
		t.Fatalf("MailByEvent(%s): %v", eventUUID, err)
	}
	return r
}

func smtpSender(t *testing.T, addr string) *mail.SMTPSender {
	t.Helper()
	u := url.URL{Scheme: "smtp", User: url.UserPassword(smtpUser, smtpPassword), Host: addr}
	return newSender(t, mail.SMTPConfig{URL: u.String(), Timeout: 5 * time.Second})
}

func TestOutboxSendsOncePerEvent(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		srv := startSMTP(t, serverOpts{})
		f := newFixture(t, e, smtpSender(t, srv.addr))
		m, link, code := verifyMessage(1)
		for i := range 3 {
			if err := f.outbox.Deliver(ctx, "event-1", m); err != nil {
				t.Fatalf("Deliver #%d: %v", i+1, err)
			}
		}
		msgs := srv.messages()
		if len(msgs) != 1 {
			t.Fatalf("server received %d messages for one event delivered 3 times, want 1", len(msgs))
		}
		p := parseMessage(t, msgs[0].data)
		if p.header.Get("From") != `"Portvakt" <no-reply@portvakt.test>` {
			t.Errorf("From: got %q", p.header.Get("From"))
		}
		if to := p.header.Get("To"); to != `"Ada Lovelace" <ada@example.com>` {
			t.Errorf("To: got %q, want the display name and address", to)
		}
		if !strings.Contains(p.subject, "Bekräfta din e-postadress") {
			t.Errorf("Subject: got %q, want the Swedish verification subject", p.subject)
		}
		for part, body := range map[string]string{"text": p.text, "html": p.html} {
			l := link
			if part == "html" {
				l = strings.ReplaceAll(link, "&", "&amp;")
			}
			if !strings.Contains(body, l) || !strings.Contains(body, code) {
				t.Errorf("%s part lacks the link or the code:\n%s", part, body)
			}
		}
		r := f.record(t, "event-1")
		if r.Status != mail.StatusSent || r.Attempts != 1 || r.LastError != "" || r.SentAt.IsZero() {
			t.Errorf("record: got status %s, %d attempts, error %q, sent at %v; want sent, 1, none, a time",
				r.Status, r.Attempts, r.LastError, r.SentAt)
		}
		if !strings.Contains(p.header.Get("Message-Id"), r.ID) {
			t.Errorf("Message-Id %q does not name the mail %s", p.header.Get("Message-Id"), r.ID)
		}
		// Another event is another mail.
		m2, _, _ := verifyMessage(2)
		if err := f.outbox.Deliver(ctx, "event-2", m2); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.messages()); n != 2 {
			t.Errorf("after a second event the server has %d messages, want 2", n)
		}
	})
}

func TestOutboxPermanentFailure(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		srv := startSMTP(t, serverOpts{})
		srv.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		f := newFixture(t, e, smtpSender(t, srv.addr))
		m, _, _ := verifyMessage(1)
		if err := f.outbox.Deliver(ctx, "event-1", m); err != nil {
			t.Fatalf("Deliver: got %v, want nil: a refused mail must not block the consumer", err)
		}
		r := f.record(t, "event-1")
		if r.Status != mail.StatusFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "550") || !r.SentAt.IsZero() {
			t.Errorf("record: got status %s, %d attempts, error %q, sent at %v; want failed, 1, the 550, none",
				r.Status, r.Attempts, r.LastError, r.SentAt)
		}
		if err := f.outbox.Deliver(ctx, "event-1", m); err != nil {
			t.Fatalf("Deliver again: %v", err)
		}
		if n := srv.rcptCount(); n != 1 {
			t.Errorf("server saw %d attempts, want 1: a refused mail is not tried again", n)
		}
		if logs := f.logs.String(); !strings.Contains(logs, "refused permanently") || !strings.Contains(logs, r.ID) {
			t.Errorf("log lacks the refusal of %s:\n%s", r.ID, logs)
		}
	})
}

func TestOutboxRetriesTemporaryFailure(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		addr := closedAddr(t)
		f := newFixture(t, e, smtpSender(t, addr))
		m, link, code := verifyMessage(1)
		err := f.outbox.Deliver(ctx, "event-1", m)
		if !errors.Is(err, mail.ErrTemporary) {
			t.Fatalf("Deliver with the server down: got %v, want ErrTemporary", err)
		}
		r := f.record(t, "event-1")
		if r.Status != mail.StatusQueued || r.Attempts != 1 || !strings.Contains(r.LastError, "connection refused") {
			t.Errorf("record: got status %s, %d attempts, error %q; want queued, 1, connection refused", r.Status, r.Attempts, r.LastError)
		}

		// The consumer retries with the event again; a consumer that makes
		// a new link each time must not change the mail.
		srv := startSMTP(t, serverOpts{addr: addr})
		retry, newLink, newCode := verifyMessage(2)
		if err := f.outbox.Deliver(ctx, "event-1", retry); err != nil {
			t.Fatalf("Deliver with the server up: %v", err)
		}
		msgs := srv.messages()
		if len(msgs) != 1 {
			t.Fatalf("server received %d messages, want 1", len(msgs))
		}
		p := parseMessage(t, msgs[0].data)
		if !strings.Contains(p.text, link) || !strings.Contains(p.text, code) {
			t.Errorf("retried mail lacks the first link %s and code %s:\n%s", link, code, p.text)
		}
		if strings.Contains(p.text, newLink) || strings.Contains(p.text, newCode) {
			t.Errorf("retried mail carries the new link or code")
		}
		r = f.record(t, "event-1")
		if r.Status != mail.StatusSent || r.Attempts != 2 || r.LastError != "" {
			t.Errorf("record: got status %s, %d attempts, error %q; want sent, 2, none", r.Status, r.Attempts, r.LastError)
		}
	})
}

func TestOutboxCapturesWithoutSender(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		f := newFixture(t, e, nil)
		var links []string
		for n := 1; n <= 3; n++ {
			m, link, _ := verifyMessage(n)
			links = append(links, link)
			if err := f.outbox.Deliver(ctx, fmt.Sprintf("event-%d", n), m); err != nil {
				t.Fatalf("Deliver %d: %v", n, err)
			}
		}
		if err := f.outbox.Deliver(ctx, "event-1", mail.Message{Template: "changed"}); err != nil {
			t.Fatalf("Deliver again: %v", err)
		}
		mails, err := f.outbox.List(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(mails) != 3 {
			t.Fatalf("List: got %d mails, want 3", len(mails))
		}
		for i, m := range mails {
			n := 3 - i // newest first
			if m.EventUUID != fmt.Sprintf("event-%d", n) {
				t.Errorf("List[%d] is for %s, want event-%d", i, m.EventUUID, n)
			}
			if m.Status != mail.StatusCaptured || m.Attempts != 0 {
				t.Errorf("List[%d]: status %s, %d attempts; want captured, 0", i, m.Status, m.Attempts)
			}
			if !strings.Contains(m.Text, links[n-1]) || !strings.Contains(m.HTML, strings.ReplaceAll(links[n-1], "&", "&amp;")) {
				t.Errorf("List[%d] lacks its link in the decrypted bodies", i)
			}
			if got := mail.Links(m.Text); len(got) != 1 || got[0] != links[n-1] {
				t.Errorf("Links(List[%d].Text): got %q, want [%s]", i, got, links[n-1])
			}
			if m.To != "ada@example.com" || m.ToName != "Ada Lovelace" || m.Lang != "sv" || m.Template != mail.VerifyEmail {
				t.Errorf("List[%d]: got to %q %q, lang %s, template %s", i, m.ToName, m.To, m.Lang, m.Template)
			}
		}
		if got, err := f.outbox.List(ctx, 2); err != nil || len(got) != 2 {
			t.Errorf("List(2): got %d mails (%v), want 2", len(got), err)
		}
		one, err := f.outbox.Get(ctx, mails[1].ID)
		if err != nil || one.Text != mails[1].Text {
			t.Errorf("Get(%s): got %+v, %v", mails[1].ID, one, err)
		}
		if _, err := f.outbox.Get(ctx, "no-such-mail"); !errors.Is(err, mail.ErrNotFound) {
			t.Errorf("Get of a missing mail: got %v, want ErrNotFound", err)
		}
		if logs := f.logs.String(); !strings.Contains(logs, "captured") {
			t.Errorf("log does not say mail was captured:\n%s", logs)
		}
		if logs := f.logs.String(); strings.Contains(logs, links[0]) || strings.Contains(logs, "900001") {
			t.Errorf("log shows a link or a code:\n%s", logs)
		}
	})
}

func TestOutboxEncryptsBodies(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		f := newFixture(t, e, nil)
		m1, link, code := verifyMessage(1)
		m2, _, _ := verifyMessage(2)
		for i, m := range []mail.Message{m1, m2} {
			if err := f.outbox.Deliver(ctx, fmt.Sprintf("event-%d", i+1), m); err != nil {
				t.Fatal(err)
			}
		}
		raw := e.RawDB(t, f.url)
		rows, err := raw.QueryContext(ctx, `SELECT id, recipient, subject, body FROM mails`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, to, subject string
			var body []byte
			if err := rows.Scan(&id, &to, &subject, &body); err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{link, "tok000001", code, "Ada Lovelace", "Bekräfta"} {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("mail %s: stored body contains %q in plaintext", id, secret)
				}
			}
			if to != "ada@example.com" || !strings.Contains(subject, "Bekräfta") {
				t.Errorf("mail %s: recipient %q, subject %q", id, to, subject)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		// A body moved to another mail's row does not decrypt there.
		a, b := f.record(t, "event-1"), f.record(t, "event-2")
		if _, err := raw.ExecContext(ctx, `UPDATE mails SET body = $1 WHERE id = $2`, a.Sealed, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.outbox.Get(ctx, b.ID); !errors.Is(err, keyring.ErrDecrypt) {
			t.Errorf("Get of a mail with another mail's body: got %v, want keyring.ErrDecrypt", err)
		}
	})
}

func TestOutboxRefusesBadMessages(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL}, nil)
	ctx := t.Context()
	m, _, _ := verifyMessage(1)
	bad := m
	bad.Template = "welcome"
	for _, tc := range []struct {
		name  string
		event string
		m     mail.Message
	}{
		{"unknown template", "event-1", bad},
		{"no event", "", m},
	} {
		if err := f.outbox.Deliver(ctx, tc.event, tc.m); !errors.Is(err, mail.ErrInvalidMessage) {
			t.Errorf("%s: got %v, want ErrInvalidMessage", tc.name, err)
		}
	}
	if mails, err := f.outbox.List(ctx, 10); err != nil || len(mails) != 0 {
		t.Errorf("List: got %d mails (%v), want none stored", len(mails), err)
	}
}

// TestOutboxConcurrentDeliveries delivers one event from several goroutines
// at once, as two nodes might around a lost lease: one mail is stored.
func TestOutboxConcurrentDeliveries(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		f := newFixture(t, e, nil)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for n := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, _, _ := verifyMessage(n)
				errs <- f.outbox.Deliver(ctx, "event-1", m)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Deliver: %v", err)
			}
		}
		mails, err := f.outbox.List(ctx, 10)
		if err != nil || len(mails) != 1 || mails[0].Status != mail.StatusCaptured {
			t.Errorf("List: got %d mails (%v), want one captured", len(mails), err)
		}
	})
}

// stubSender fails as told; for cases a real server cannot produce on
// demand.
type stubSender struct{ err error }

func (s stubSender) Send(context.Context, mail.Envelope) error { return s.err }

func TestOutboxTreatsUnknownErrorsAsTemporary(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL}, stubSender{errors.New("something odd")})
	m, _, _ := verifyMessage(1)
	err := f.outbox.Deliver(t.Context(), "event-1", m)
	if !errors.Is(err, mail.ErrTemporary) {
		t.Fatalf("Deliver: got %v, want ErrTemporary", err)
	}
	if r := f.record(t, "event-1"); r.Status != mail.StatusQueued || r.LastError != "something odd" {
		t.Errorf("record: got %s, %q; want queued, something odd", r.Status, r.LastError)
	}
}

// TestOutboxTracking: a tracked mail writes <kind>.sent once it is sent,
// or <kind>.delivery_failed once it is refused for good — once, however
// often it is delivered — and an untracked mail writes neither.
func TestOutboxTracking(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		srv := startSMTP(t, serverOpts{})
		f := newFixture(t, e, smtpSender(t, srv.addr))
		tracked := func(n int) mail.Message {
			m, _, _ := verifyMessage(n)
			m.Track = &mail.Tracking{Kind: "invitation", Subject: "org:acme", Data: map[string]any{"reference": fmt.Sprintf("crm-%d", n)}}
			return m
		}
		for range 2 {
			if err := f.outbox.Deliver(ctx, "event-sent", tracked(1)); err != nil {
				t.Fatal(err)
			}
		}
		untracked, _, _ := verifyMessage(3)
		if err := f.outbox.Deliver(ctx, "event-untracked", untracked); err != nil {
			t.Fatal(err)
		}
		srv.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		if err := f.outbox.Deliver(ctx, "event-refused", tracked(2)); err != nil {
			t.Fatal(err)
		}
		evs, err := f.store.EventsFor(ctx, "org:acme", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Type+" "+string(ev.Data))
		}
		if len(got) != 2 {
			t.Fatalf("events about org:acme: %v, want one sent and one delivery_failed", got)
		}
		// Newest first.
		if !strings.HasPrefix(got[0], "invitation.delivery_failed ") || !strings.Contains(got[0], `"reference":"crm-2"`) || !strings.Contains(got[0], "550") {
			t.Errorf("the refusal's event: %s", got[0])
		}
		sent := f.record(t, "event-sent")
		if !strings.HasPrefix(got[1], "invitation.sent ") || !strings.Contains(got[1], `"reference":"crm-1"`) || !strings.Contains(got[1], sent.ID) {
			t.Errorf("the sent mail's event: %s", got[1])
		}
	})
}
