package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portvakt/portvakt/internal/storetest"
)

func TestWebhookCommands(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t, "PORTVAKT_LOG_LEVEL=error")
	r := mustRun(t, dir, env, "webhook", "create", "--url", "https://crm.example/hooks", "--event", "user.*", "--event", "membership.added",
		"--description", "CRM", "--json")
	var created struct {
		ID         string   `json:"id"`
		Secret     string   `json:"secret"`
		EventTypes []string `json:"event_types"`
		Enabled    bool     `json:"enabled"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("webhook create --json printed %q", r.stdout)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled || strings.Join(created.EventTypes, ",") != "membership.added,user.*" {
		t.Errorf("created: %s", r.stdout)
	}
	get := mustRun(t, dir, env, "webhook", "get", created.ID, "--json")
	if strings.Contains(get.stdout, "whsec_") {
		t.Errorf("webhook get shows the secret: %s", get.stdout)
	}
	list := mustRun(t, dir, env, "webhook", "list")
	if !strings.Contains(list.stdout, created.ID) || !strings.Contains(list.stdout, "enabled") {
		t.Errorf("webhook list: %s", list.stdout)
	}
	upd := mustRun(t, dir, env, "webhook", "update", created.ID, "--event", "organization.*", "--disable", "--json")
	if !strings.Contains(upd.stdout, `"event_types":["organization.*"]`) || !strings.Contains(upd.stdout, `"enabled":false`) {
		t.Errorf("webhook update: %s", upd.stdout)
	}
	rot := mustRun(t, dir, env, "webhook", "rotate-secret", created.ID, "--overlap", "1h", "--json")
	if !strings.Contains(rot.stdout, `"secret":"whsec_`) || strings.Contains(rot.stdout, created.Secret) || !strings.Contains(rot.stdout, "previous_secret_until") {
		t.Errorf("webhook rotate-secret: %s", rot.stdout)
	}
	if d := mustRun(t, dir, env, "webhook", "deliveries", created.ID, "--status", "dead", "--json"); d.stdout != "" {
		t.Errorf("deliveries of a new subscription: %q", d.stdout)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"http refused", []string{"webhook", "create", "--url", "http://crm.example/hooks", "--event", "user.*"}, "url (--url): must use https"},
		{"loopback refused", []string{"webhook", "create", "--url", "https://127.0.0.1/hooks", "--event", "user.*"}, "not a public address"},
		{"no events", []string{"webhook", "create", "--url", "https://crm.example/hooks"}, "event_types (--event)"},
		{"bad pattern", []string{"webhook", "create", "--url", "https://crm.example/hooks", "--event", "user*"}, "is not an event type"},
		{"webhook events", []string{"webhook", "create", "--url", "https://crm.example/hooks", "--event", "webhook.*"}, "not delivered to webhooks"},
		{"unknown", []string{"webhook", "get", "nope"}, "webhook nope: not found"},
		{"delete without --yes", []string{"webhook", "delete", created.ID}, "pass --yes"},
		{"bad status", []string{"webhook", "deliveries", created.ID, "--status", "lost"}, "status (--status)"},
		{"unknown delivery", []string{"webhook", "replay", "msg_nope"}, "delivery msg_nope: not found"},
		{"both enable and disable", []string{"webhook", "update", created.ID, "--enable", "--disable"}, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPortvakt(t, dir, env, tc.args...)
			if r.code != 2 || !strings.Contains(errorLine(t, r.stderr, true), tc.want) {
				t.Errorf("got exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	mustRun(t, dir, env, "webhook", "delete", created.ID, "--yes")
	if r := runPortvakt(t, dir, env, "webhook", "get", created.ID); r.code != 2 {
		t.Errorf("get after delete: exit %d", r.code)
	}
}

// hookReceiver is a real receiver for the binary tests. While hold is
// set, it keeps requests waiting (until the client goes away); otherwise
// it answers 204.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	hold bool
	seen []hookMessage
}

type hookMessage struct {
	ID, Type, Subject string
	Accepted          bool
	Body              []byte
	Header            http.Header
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Type string `json:"type"`
			Data struct {
				Subject string `json:"subject"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &msg)
		m := hookMessage{ID: r.Header.Get("webhook-id"), Type: msg.Type, Subject: msg.Data.Subject, Body: body, Header: r.Header.Clone()}
		h.mu.Lock()
		hold := h.hold
		m.Accepted = !hold
		h.seen = append(h.seen, m)
		h.mu.Unlock()
		if hold {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) setHold(v bool) { h.mu.Lock(); h.hold = v; h.mu.Unlock() }

func (h *hookReceiver) messages() []hookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookMessage(nil), h.seen...)
}

// TestWebhookDeliveredAfterKillNine commits two changes before a server
// runs, then kills serve with SIGKILL while it is sending their events
// (the receiver holds the requests): after a restart both arrive, with the
// same webhook-ids as the attempts the kill cut short. (A kill before the
// fan-out leaves the events in the outbox; the outbox consumer's own tests
// cover that, and its lease makes such a test wait half a minute.)
func TestWebhookDeliveredAfterKillNine(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		dir := t.TempDir()
		env := childEnv(t, "PORTVAKT_LOG_LEVEL=warn", "PORTVAKT_WEBHOOKS_ALLOW_HTTP=true",
			"PORTVAKT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true", "PORTVAKT_WEBHOOKS_TIMEOUT=1s")
		if e.Name == "postgres" {
			env = append(env, "PORTVAKT_DATABASE_URL="+e.NewURL(t))
		}
		recv := newHookReceiver(t)
		var sub struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		r := mustRun(t, dir, env, "webhook", "create", "--url", recv.URL+"/portvakt", "--event", "organization.*", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &sub); err != nil {
			t.Fatalf("webhook create: %q", r.stdout)
		}
		// The changes are committed before any server runs.
		mustRun(t, dir, env, "org", "create", "--name", "Acme", "--slug", "acme")
		mustRun(t, dir, env, "org", "create", "--name", "Beta", "--slug", "beta")
		recv.setHold(true)
		s := startServe(t, dir, env)
		waitFor(t, 20*time.Second, "the first attempts", func() bool { return len(recv.messages()) >= 2 })
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.done
		cut := recv.messages()
		recv.setHold(false)
		s = startServe(t, dir, env)
		s.waitReady(20 * time.Second)
		accepted := func() map[string]hookMessage {
			out := map[string]hookMessage{}
			for _, m := range recv.messages() {
				if m.Accepted {
					out[m.Subject] = m
				}
			}
			return out
		}
		deadline := time.Now().Add(45 * time.Second)
		for len(accepted()) < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if len(accepted()) < 2 {
			t.Fatalf("after the restart: got %+v, want both organizations' events accepted; stderr:\n%s", recv.messages(), s.stderr.String())
		}
		s.stop()
		got := accepted()
		for _, c := range cut {
			if m, ok := got[c.Subject]; !ok || m.ID != c.ID || m.Type != "organization.created" {
				t.Errorf("after the kill: delivered %+v, want %s with the cut attempt's webhook-id %s", m, c.Subject, c.ID)
			}
		}
		wh, err := standardwebhooks.NewWebhook(sub.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if err := wh.Verify(m.Body, m.Header); err != nil {
				t.Errorf("signature of %s: %v", m.ID, err)
			}
		}
		// The listing shows both delivered, with the cut attempt not
		// recorded (the kill came first) and the successful one recorded.
		list := mustRun(t, dir, env, "webhook", "deliveries", sub.ID, "--status", "delivered", "--json")
		if n := len(nonBlankLines(list.stdout)); n != 2 {
			t.Errorf("delivered deliveries: got %d, want 2: %s", n, list.stdout)
		}
		atts := mustRun(t, dir, env, "webhook", "attempts", cut[0].ID, "--json")
		if n := len(nonBlankLines(atts.stdout)); n != 1 || !strings.Contains(atts.stdout, `"status_code":204`) {
			t.Errorf("attempts of %s: got %s, want the successful one alone", cut[0].ID, atts.stdout)
		}
	})
}
