package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/portvakt/portvakt/internal/mail"
)

const testFrom = "Portvakt <no-reply@portvakt.test>"

func newSender(t *testing.T, cfg mail.SMTPConfig) *mail.SMTPSender {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	s, err := mail.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

func testEnvelope() mail.Envelope {
	return mail.Envelope{
		ID:      "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		To:      "ada@example.com",
		ToName:  "Ada Lövelace",
		Subject: "Bekräfta din e-postadress hos Portvakt",
		Text:    "Hej Ada!\n\nhttps://id.example.com/verify?token=abc&flow=1\n\n    482915\n",
		HTML:    `<!DOCTYPE html><html lang="sv"><p><a href="https://id.example.com/verify?token=abc&amp;flow=1">Bekräfta</a></p><p>482915</p></html>`,
	}
}

func TestSMTPSenderDelivers(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	s := newSender(t, mail.SMTPConfig{URL: srv.url("smtp", "")})
	e := testEnvelope()
	if err := s.Send(t.Context(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.from != "no-reply@portvakt.test" || strings.Join(got.to, ",") != "ada@example.com" {
		t.Errorf("envelope: got MAIL FROM %q RCPT TO %q, want no-reply@portvakt.test and ada@example.com", got.from, got.to)
	}
	p := parseMessage(t, got.data)
	for _, tc := range []struct{ header, want string }{
		{"From", `"Portvakt" <no-reply@portvakt.test>`},
		{"Message-Id", "<" + e.ID + "@portvakt.test>"},
		{"Auto-Submitted", "auto-generated"},
	} {
		if g := p.header.Get(tc.header); g != tc.want {
			t.Errorf("%s: got %q, want %q", tc.header, g, tc.want)
		}
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != e.ToName || to[0].Address != e.To {
		t.Errorf("To: got %v (%v), want %s <%s>", to, err, e.ToName, e.To)
	}
	if p.subject != e.Subject {
		t.Errorf("Subject: got %q, want %q", p.subject, e.Subject)
	}
	if p.text != e.Text {
		t.Errorf("text part: got %q, want %q", p.text, e.Text)
	}
	if p.html != e.HTML {
		t.Errorf("html part: got %q, want %q", p.html, e.HTML)
	}
	if _, err := p.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
}

func TestSMTPSenderTLS(t *testing.T) {
	serverTLS, pool := testCert(t)
	trusted := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		name    string
		opts    serverOpts
		scheme  string
		query   string
		client  *tls.Config
		wantTLS bool
		wantErr error
	}{
		{"starttls opportunistic", serverOpts{startTLS: serverTLS}, "smtp", "", trusted, true, nil},
		{"starttls required", serverOpts{startTLS: serverTLS}, "smtp", "tls=required", trusted, true, nil},
		{"starttls none", serverOpts{startTLS: serverTLS}, "smtp", "tls=none", trusted, false, nil},
		{"no starttls offered, opportunistic", serverOpts{}, "smtp", "", trusted, false, nil},
		{"no starttls offered, required", serverOpts{}, "smtp", "tls=required", trusted, false, mail.ErrTemporary},
		{"starttls with an untrusted certificate", serverOpts{startTLS: serverTLS}, "smtp", "", nil, false, mail.ErrTemporary},
		{"smtps", serverOpts{implicitTLS: serverTLS}, "smtps", "", trusted, true, nil},
		{"smtps with an untrusted certificate", serverOpts{implicitTLS: serverTLS}, "smtps", "", nil, false, mail.ErrTemporary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, tc.opts)
			s := newSender(t, mail.SMTPConfig{URL: srv.url(tc.scheme, tc.query), TLSConfig: tc.client, Timeout: 5 * time.Second})
			err := s.Send(t.Context(), testEnvelope())
			t.Logf("Send: %v", err)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Send: got %v, want %v", err, tc.wantErr)
				}
				if n := len(srv.messages()); n != 0 {
					t.Errorf("server received %d messages, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			if msgs[0].tls != tc.wantTLS {
				t.Errorf("sent over TLS: got %v, want %v", msgs[0].tls, tc.wantTLS)
			}
		})
	}
}

func TestSMTPSenderClassifiesFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(srv *smtpServer)
		url   func(srv *smtpServer) string
		to    string
		want  error
	}{
		{name: "recipient refused (550)", want: mail.ErrPermanent, setup: func(srv *smtpServer) {
			srv.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}},
		{name: "recipient deferred (450)", want: mail.ErrTemporary, setup: func(srv *smtpServer) {
			srv.rcptErr = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy"}
		}},
		{name: "message refused (554)", want: mail.ErrPermanent, setup: func(srv *smtpServer) {
			srv.dataErr = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Content rejected"}
		}},
		{name: "message deferred (451)", want: mail.ErrTemporary, setup: func(srv *smtpServer) {
			srv.dataErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
		}},
		{name: "wrong password", want: mail.ErrTemporary, url: func(srv *smtpServer) string {
			return "smtp://" + smtpUser + ":wrong@" + srv.addr
		}},
		{name: "no credentials", want: mail.ErrTemporary, url: func(srv *smtpServer) string {
			return "smtp://" + srv.addr
		}},
		{name: "connection refused", want: mail.ErrTemporary, url: func(*smtpServer) string {
			return "smtp://" + smtpUser + "@" + closedAddr(t)
		}},
		{name: "bad recipient address", want: mail.ErrPermanent, to: "not an address"},
		{name: "recipient with a display name", want: mail.ErrPermanent, to: "Ada <ada@example.com>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, serverOpts{})
			if tc.setup != nil {
				tc.setup(srv)
			}
			u := srv.url("smtp", "")
			if tc.url != nil {
				u = tc.url(srv)
			}
			e := testEnvelope()
			if tc.to != "" {
				e.To = tc.to
			}
			err := newSender(t, mail.SMTPConfig{URL: u, Timeout: 5 * time.Second}).Send(t.Context(), e)
			t.Logf("Send: %v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send: got %v, want %v", err, tc.want)
			}
			other := mail.ErrTemporary
			if tc.want == mail.ErrTemporary {
				other = mail.ErrPermanent
			}
			if errors.Is(err, other) {
				t.Errorf("Send: %v is both permanent and temporary", err)
			}
			if strings.Contains(err.Error(), smtpPassword) || strings.Contains(err.Error(), url.QueryEscape(smtpPassword)) {
				t.Errorf("error shows the password: %v", err)
			}
			if n := len(srv.messages()); n != 0 {
				t.Errorf("server received %d messages, want 0", n)
			}
		})
	}
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func TestSMTPSenderTimesOut(t *testing.T) {
	addr := silentServer(t)
	t.Run("timeout", func(t *testing.T) {
		s := newSender(t, mail.SMTPConfig{URL: "smtp://" + addr, Timeout: 300 * time.Millisecond})
		start := time.Now()
		err := s.Send(t.Context(), testEnvelope())
		if !errors.Is(err, mail.ErrTemporary) {
			t.Fatalf("Send: got %v, want ErrTemporary", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Send took %s with a 300ms timeout", d)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := newSender(t, mail.SMTPConfig{URL: "smtp://" + addr, Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := s.Send(ctx, testEnvelope())
		if !errors.Is(err, mail.ErrTemporary) {
			t.Fatalf("Send: got %v, want ErrTemporary", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Send took %s after its context ended at 300ms", d)
		}
	})
}

func TestNewSMTPSender(t *testing.T) {
	const secret = "hunter2-secret"
	for _, tc := range []struct {
		name     string
		url      string
		from     string
		wantErr  string // substring; "" means valid
		wantDesc string
	}{
		{"smtp", "smtp://u:" + secret + "@mail.example:587", "", "", "smtp://u:xxxxx@mail.example:587"},
		{"smtp default port", "smtp://mail.example", "", "", "smtp://mail.example"},
		{"smtps", "smtps://u:" + secret + "@mail.example", "", "", "smtps://u:xxxxx@mail.example"},
		{"tls and auth", "smtp://u:p@mail.example:25?tls=required&auth=login", "", "", ""},
		{"bare from", "smtp://mail.example", "no-reply@example.com", "", ""},
		{"http", "http://u:" + secret + "@mail.example", "", "scheme", ""},
		{"no host", "smtp://u:" + secret + "@:25", "", "no host", ""},
		{"bad port", "smtp://u:" + secret + "@mail.example:99999", "", "port", ""},
		{"bad tls", "smtp://u:" + secret + "@mail.example?tls=maybe", "", "tls=maybe", ""},
		{"tls none with smtps", "smtps://u:" + secret + "@mail.example?tls=none", "", "smtps always uses TLS", ""},
		{"bad auth", "smtp://mail.example?auth=kerberos", "", "auth=kerberos", ""},
		{"unknown parameter", "smtp://u:" + secret + "@mail.example?insecure=1", "", "unknown parameter", ""},
		{"unparsable", "smtp://u:" + secret + "@mail example:25/%zz", "", "cannot parse", ""},
		{"bad from", "smtp://mail.example", "not an address", "mail from", ""},
		{"path", "smtp://mail.example/inbox", "", "path", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			if from == "" {
				from = testFrom
			}
			s, err := mail.NewSMTPSender(mail.SMTPConfig{URL: tc.url, From: from})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewSMTPSender: %v", err)
				}
				if tc.wantDesc != "" && s.String() != tc.wantDesc {
					t.Errorf("String: got %q, want %q", s.String(), tc.wantDesc)
				}
				if strings.Contains(s.String(), secret) {
					t.Errorf("String shows the password: %s", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewSMTPSender: got %v, want an error about %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
