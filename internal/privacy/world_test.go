package privacy_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/api"
	"github.com/portvakt/portvakt/internal/authn"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/i18n"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/password"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/request"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/throttle"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// clock is the world's time, moved by the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is every service that keeps data about people, on one real store
// of an engine, with a clock, a mail outbox that captures, and a webhook
// receiver that echoes what it is sent.
type world struct {
	t        *testing.T
	e        storetest.Engine
	rawURL   string
	st       *store.Store
	clock    *clock
	kr       *keyring.Keyring
	acc      *accounts.Service
	notifier *accounts.Notifier
	outbox   *mail.Outbox
	fed      *federation.Service
	authn    *authn.Service
	orgs     *orgs.Service
	invs     *orgs.Invitations
	joins    *orgs.Joins
	sessions *session.Manager
	flows    *flows.Service
	ext      *externalids.Service
	hooks    *webhooks.Service
	fanout   *webhooks.Fanout
	disp     *webhooks.Dispatcher
	api      http.Handler
	privacy  *privacy.Service
	consents *consents.Service
	received *echo
	// checkpoint is the last event the world's consumers handled.
	checkpoint int64
}

// echo is a webhook receiver that answers with what it got.
type echo struct {
	*httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	seen map[string]bool
}

func newEcho(t *testing.T) *echo {
	e := &echo{seen: map[string]bool{}}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		e.mu.Lock()
		e.got = append(e.got, m)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(e.Close)
	return e
}

// messages returns the webhook messages received of type typ.
func (e *echo) messages(typ string) []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []map[string]any
	for _, m := range e.got {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// bearer is the management API's caller: a CRM's client.
type bearer struct{}

func (bearer) VerifyBearer(context.Context, string) (oidc.Bearer, error) {
	return oidc.Bearer{ClientID: "crm", Scopes: []string{api.ScopeUsersWrite, api.ScopeOrgsWrite, api.ScopeInvitationsWrite}}, nil
}

const goodPassword = "vulpine-quasar-hemlock-71"

func newWorld(t *testing.T, e storetest.Engine, grace time.Duration) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{t: t, e: e, rawURL: e.NewURL(t), clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	w.st = storetest.OpenURL(t, w.rawURL)
	now := w.clock.Now
	master, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	must(t, err)
	w.kr, err = keyring.Open(ctx, w.st, keyring.MasterKeys{Current: master}, now())
	must(t, err)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	must(t, err)
	w.acc = &accounts.Service{Store: w.st, Events: w.st, Hasher: hasher, Policy: password.Policy{}, Now: now}
	cat, err := i18n.New()
	must(t, err)
	renderer, err := mail.NewRenderer(cat, mail.Branding{ProductName: "Portvakt", PrimaryColor: "#1f5fbf"})
	must(t, err)
	w.outbox = &mail.Outbox{Store: w.st, Keyring: w.kr, Renderer: renderer, Now: now}
	base, _ := url.Parse("https://id.example.com")
	w.notifier = &accounts.Notifier{Accounts: w.acc, Mail: w.outbox, BaseURL: base}
	w.fed = &federation.Service{Store: w.st, Cipher: w.kr, NationalIDKey: [32]byte{1, 2, 3}, Now: now}
	w.authn = &authn.Service{Store: w.st, Cipher: w.kr, Issuer: "Portvakt", Now: now}
	w.orgs = &orgs.Service{Store: w.st, Now: now}
	w.invs = &orgs.Invitations{Store: w.st, Cipher: w.kr, Now: now}
	w.joins = &orgs.Joins{Store: w.st, Emails: w.acc, Now: now}
	w.sessions = &session.Manager{Store: w.st, Now: now}
	w.flows = &flows.Service{Store: w.st, Now: now}
	w.ext = &externalids.Service{Store: w.st, Now: now}
	local := webhooks.Policy{AllowHTTP: true, AllowPrivate: true}
	w.hooks = &webhooks.Service{Store: w.st, Cipher: w.kr, Policy: local, Now: now}
	w.fanout = &webhooks.Fanout{Store: w.st, ExternalIDs: w.st, Now: now}
	w.disp = &webhooks.Dispatcher{Store: w.st, Cipher: w.kr, Client: local.Client(5 * time.Second), Holder: "test-node", Now: now,
		Retry: webhooks.RetryPolicy{PauseAfter: 1000 * time.Hour}}
	w.consents = &consents.Service{Store: w.st, Now: now, Purposes: []consents.Purpose{{ID: "marketing_email",
		Title:    map[string]string{"en": "News by mail"},
		Versions: []consents.Version{{Label: "1", Effective: now().Add(-time.Hour), URL: map[string]string{"en": "https://shop.example/news"}}}}}}
	w.privacy = &privacy.Service{Store: w.st, Profiles: w.st, SignIns: w.st, Memberships: w.st, Activity: w.st, Consents: w.st, Proofing: w.fed,
		GracePeriod: grace, UnverifiedRetention: 30 * 24 * time.Hour, Now: now}
	mux := http.NewServeMux()
	(&api.Handler{Tokens: bearer{}, Accounts: w.acc, Privacy: w.privacy, Orgs: w.orgs, Invitations: w.invs, Idempotency: w.st, Events: w.st,
		ExternalIDs: w.ext, Issuer: base, Logger: slog.New(slog.DiscardHandler), Now: now}).Mount(mux)
	w.api = mux
	w.received = newEcho(t)
	_, _, err = w.hooks.Create(ctx, webhooks.Subscription{URL: w.received.URL, EventTypes: []string{"*"}, Enabled: true}, "system:test")
	must(t, err)
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// work runs what the outbox's consumers do with the events since the last
// time: account mail, webhook fan-out, and the deliveries.
func (w *world) work() {
	w.t.Helper()
	ctx := w.t.Context()
	for {
		evs, err := w.st.EventsAfter(ctx, w.checkpoint, 500)
		must(w.t, err)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			must(w.t, w.notifier.Handle(ctx, e))
			must(w.t, w.fanout.Handle(ctx, e))
			w.checkpoint = e.Position
		}
	}
	for {
		n, err := w.disp.Step(ctx)
		must(w.t, err)
		if n == 0 {
			return
		}
	}
}

// call sends a management API request as the CRM.
func (w *world) call(method, path, idempotencyKey string, body any) (int, []byte) {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		must(w.t, err)
		r = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, "/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer t")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req.WithContext(w.t.Context()))
	return rec.Code, rec.Body.Bytes()
}

// signIn starts a session of userID from ip with a browser's user agent.
func (w *world) signIn(userID, ip, ua string) session.Session {
	w.t.Helper()
	var s session.Session
	h := request.Identify{}.Wrap(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ev, err := events.New("user.login_succeeded", "user:"+userID, "user:"+userID, w.clock.Now(), map[string]any{"method": "password"})
		must(w.t, err)
		s, err = w.sessions.Start(r.Context(), rw, r, userID, []string{authn.MethodPassword}, "urn:portvakt:loa:low", ev)
		must(w.t, err)
	}))
	req := httptest.NewRequest(http.MethodPost, "/login", nil).WithContext(w.t.Context())
	req.RemoteAddr = ip + ":51000"
	req.Header.Set("User-Agent", ua)
	h.ServeHTTP(httptest.NewRecorder(), req)
	return s
}

// limiter is a throttle of the world's store.
func (w *world) limiter(name string) *throttle.Limiter {
	return &throttle.Limiter{Store: w.st, Name: name, Free: 5, Window: time.Hour, BaseDelay: time.Second, MaxDelay: time.Minute, Now: w.clock.Now}
}

// register makes an account as the registration page does, and verifies
// its address with the code the verification mail carries.
func (w *world) register(in accounts.Registration, verify bool) accounts.User {
	w.t.Helper()
	ctx := w.t.Context()
	reg, err := w.acc.Register(ctx, in)
	must(w.t, err)
	w.work()
	u := reg.User
	if verify {
		_, _, code, err := w.acc.IssueVerification(ctx, u.ID)
		must(w.t, err)
		u, err = w.acc.VerifyCode(ctx, u.ID, code)
		must(w.t, err)
	}
	return u
}

// events returns the types of the events about subject, oldest first.
func (w *world) eventTypes(subject string) []string {
	w.t.Helper()
	evs, err := w.st.QueryEvents(w.t.Context(), events.Query{Subject: subject, Limit: 10000})
	must(w.t, err)
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// lastEvent returns the newest event about subject of type typ.
func (w *world) lastEvent(subject, typ string) (events.Event, bool) {
	w.t.Helper()
	evs, err := w.st.QueryEvents(w.t.Context(), events.Query{Subject: subject, Types: []string{typ}, Limit: 10000})
	must(w.t, err)
	if len(evs) == 0 {
		return events.Event{}, false
	}
	return evs[len(evs)-1], true
}
