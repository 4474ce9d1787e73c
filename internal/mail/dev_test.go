package mail_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/storetest"
)

// get fetches path from srv and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestDevHandler(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL}, nil)
	mux := http.NewServeMux()
	(&mail.DevHandler{Outbox: f.outbox}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	status, _, body := get(t, srv, "/dev/mail")
	if status != http.StatusOK || !strings.Contains(body, "No mail yet") {
		t.Errorf("empty list: got %d:\n%s", status, body)
	}

	m, link, code := verifyMessage(1)
	m.Data["Name"] = `<script>alert("x")</script>`
	if err := f.outbox.Deliver(ctx, "event-1", m); err != nil {
		t.Fatal(err)
	}
	m2, _, _ := verifyMessage(2)
	m2.Template, m2.Data = mail.ResetPassword, map[string]any{"Link": "https://id.example.com/reset?t=2"}
	if err := f.outbox.Deliver(ctx, "event-2", m2); err != nil {
		t.Fatal(err)
	}
	mails, err := f.outbox.List(ctx, 10)
	if err != nil || len(mails) != 2 {
		t.Fatalf("List: %d mails, %v", len(mails), err)
	}

	t.Run("list", func(t *testing.T) {
		status, h, body := get(t, srv, "/dev/mail")
		if status != http.StatusOK {
			t.Fatalf("status: got %d, want 200", status)
		}
		for _, want := range []string{
			`<html lang="en">`, "<h1>", "<caption>", `<th scope="col">Subject</th>`,
			"no mail server is\nconfigured",
			`<a href="/dev/mail/` + mails[0].ID + `">` + mails[0].Subject + `</a>`,
			`<a href="/dev/mail/` + mails[1].ID + `">` + mails[1].Subject + `</a>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("list lacks %q:\n%s", want, body)
			}
		}
		if strings.Index(body, mails[0].ID) > strings.Index(body, mails[1].ID) {
			t.Error("list is not newest first")
		}
		if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("headers: Cache-Control %q, CSP %q", h.Get("Cache-Control"), h.Get("Content-Security-Policy"))
		}
	})

	t.Run("one mail", func(t *testing.T) {
		status, h, body := get(t, srv, "/dev/mail/"+mails[1].ID)
		if status != http.StatusOK {
			t.Fatalf("status: got %d, want 200", status)
		}
		esc := strings.ReplaceAll(link, "&", "&amp;")
		for _, want := range []string{
			`<html lang="en">`, `<pre lang="sv">`, `<a href="` + esc + `">` + esc + `</a>`, code,
			"ada@example.com", "<caption>", "no mail server is\nconfigured",
			"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", // the name, as text
			"&lt;table role=&#34;presentation&#34;",           // the HTML body, as source
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
		for _, bad := range []string{"<script>", `<table role="presentation"`, "<style"} {
			if strings.Contains(body, bad) {
				t.Errorf("page contains %q: mail content must be escaped, not rendered", bad)
			}
		}
		if h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("Content-Type: got %q", h.Get("Content-Type"))
		}
	})

	t.Run("missing", func(t *testing.T) {
		status, _, body := get(t, srv, "/dev/mail/no-such-mail")
		if status != http.StatusNotFound || !strings.Contains(body, `<html lang="en">`) {
			t.Errorf("got %d:\n%s", status, body)
		}
	})

	t.Run("method", func(t *testing.T) {
		resp, err := srv.Client().Post(srv.URL+"/dev/mail", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: got %d, want 405", resp.StatusCode)
		}
	})
}
