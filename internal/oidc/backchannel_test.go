package oidc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// These tests follow OpenID Connect Back-Channel Logout 1.0: the logout
// token (section 2.4), how it is sent (section 2.5) and what the OP does
// with the answer (section 2.8).

const logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutRP is a relying party's back-channel logout endpoint. It records
// every request and answers with status(n) for the n-th (from 1).
type logoutRP struct {
	*httptest.Server
	status func(n int) int

	mu       sync.Mutex
	requests []logoutRequest
}

type logoutRequest struct {
	method, contentType, token string
}

func newLogoutRP(t *testing.T, status func(n int) int) *logoutRP {
	rp := &logoutRP{status: status}
	rp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rp.mu.Lock()
		rp.requests = append(rp.requests, logoutRequest{r.Method, r.Header.Get("Content-Type"), r.PostForm.Get("logout_token")})
		n := len(rp.requests)
		rp.mu.Unlock()
		code := http.StatusOK
		if rp.status != nil {
			code = rp.status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rp.Close)
	return rp
}

func (rp *logoutRP) received() []logoutRequest {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.requests)
}

func always(code int) func(int) int { return func(int) int { return code } }

// logoutToken is a verified logout token.
type logoutToken struct {
	alg, typ string
	claims   map[string]any
}

// verifyLogoutToken checks a logout token's signature against the key set
// jwks, as a relying party does, and returns its header and claims.
func verifyLogoutToken(t *testing.T, raw string, jwks []byte) logoutToken {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("key set: %v", err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse logout token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("logout token: got %d signatures, want 1", len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("logout token: kid %q names %d keys in the key set, want 1", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("logout token does not verify with the provider's key %s: %v", h.KeyID, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("logout token claims: %v", err)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return logoutToken{alg: h.Algorithm, typ: typ, claims: claims}
}

// publicJWKS is the test keys' public key set as the JWKS endpoint
// publishes it.
func publicJWKS(t *testing.T, k *testKeys) []byte {
	t.Helper()
	pub, _ := k.PublicKeys(context.Background())
	var set jose.JSONWebKeySet
	for _, p := range pub {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: p.Key(), KeyID: p.ID(), Algorithm: string(p.Algorithm()), Use: p.Use()})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLogoutClaims checks what every logout token must say (section 2.4).
func checkLogoutClaims(t *testing.T, tok logoutToken, issuer, aud, sub, sid string, now time.Time) {
	t.Helper()
	c := tok.claims
	if tok.typ != "logout+jwt" {
		t.Errorf("typ: got %q, want logout+jwt", tok.typ)
	}
	for _, want := range []struct {
		claim string
		value any
	}{{"iss", issuer}, {"aud", aud}, {"sub", sub}} {
		if got := c[want.claim]; got != want.value {
			t.Errorf("%s: got %v, want %v", want.claim, got, want.value)
		}
	}
	if sid == "" {
		if _, ok := c["sid"]; ok {
			t.Errorf("sid: got %v, want none in a token that names the user", c["sid"])
		}
	} else if c["sid"] != sid {
		t.Errorf("sid: got %v, want %s", c["sid"], sid)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if int64(iat) != now.Unix() || exp-iat != 120 {
		t.Errorf("iat, exp: got %v, %v, want %d and two minutes later", iat, exp, now.Unix())
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti: got %q, want a random identifier", jti)
	}
	if _, ok := c["nonce"]; ok {
		t.Error("nonce: present, want none (section 2.4 forbids it)")
	}
	evs, ok := c["events"].(map[string]any)
	if !ok || len(evs) != 1 {
		t.Fatalf("events: got %v, want one member", c["events"])
	}
	if m, ok := evs[logoutEvent].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("events: got %v, want %s with an empty object", evs, logoutEvent)
	}
}

// bclFixture is a store with grants and the back-channel consumer on it.
type bclFixture struct {
	store   *store.Store
	keys    *testKeys
	clients testClients
	now     time.Time
	b       *oidc.BackchannelLogout
}

const bclIssuer = "https://id.example.com"

func newBCLFixture(t *testing.T, e storetest.Engine, registered ...oidc.Client) *bclFixture {
	t.Helper()
	f := &bclFixture{store: storetest.Open(t, e), keys: newTestKeys(t), clients: testClients{}, now: time.Now().UTC().Truncate(time.Second)}
	for _, c := range registered {
		f.clients[c.ID] = struct {
			c      oidc.Client
			secret string
		}{c: c}
	}
	f.b = &oidc.BackchannelLogout{
		Issuer: bclIssuer, Store: f.store, Clients: f.clients, Keys: f.keys,
		Timeout: 300 * time.Millisecond, Backoff: 10 * time.Millisecond,
		Now: func() time.Time { return f.now },
	}
	return f
}

// grant records a live token of user for client in session sid.
func (f *bclFixture) grant(t *testing.T, id, client, user, sid string) {
	t.Helper()
	tk := oidc.Token{
		ID: id, Kind: oidc.KindAccess, FamilyID: "family-" + id, ClientID: client, UserID: user, SessionID: sid,
		Scopes: []string{"openid"}, CreatedAt: f.now.Add(-time.Minute), ExpiresAt: f.now.Add(time.Hour),
	}
	if err := f.store.SaveGrantTokens(context.Background(), []oidc.Token{tk}); err != nil {
		t.Fatal(err)
	}
}

func (f *bclFixture) event(t *testing.T, typ, user string, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, "user:"+user, "user:"+user, f.now, data)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// outcomes returns the back-channel delivery events about user, as
// "type client_id attempts error".
func (f *bclFixture) outcomes(t *testing.T, user string) []string {
	t.Helper()
	evs, err := f.store.EventsFor(context.Background(), "user:"+user, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Type, "oidc.backchannel_logout_") {
			continue
		}
		var d struct {
			ClientID string  `json:"client_id"`
			Attempts float64 `json:"attempts"`
			Error    string  `json:"error"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		out = append(out, strings.TrimSpace(strings.Join([]string{ev.Type, d.ClientID, jsonNumber(d.Attempts), d.Error}, " ")))
	}
	slices.Sort(out)
	return out
}

func jsonNumber(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestBackchannelLogoutSessionEnded(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		webapp, photos, elsewhere := newLogoutRP(t, always(http.StatusOK)), newLogoutRP(t, always(http.StatusNoContent)), newLogoutRP(t, nil)
		f := newBCLFixture(t, e,
			oidc.Client{ID: "webapp", BackchannelLogoutURI: webapp.URL + "/bcl"},
			oidc.Client{ID: "photos", IDTokenAlg: "ES256", Sector: "photos.example.com", BackchannelLogoutURI: photos.URL + "/bcl?x=1", BackchannelLogoutSessionRequired: true},
			oidc.Client{ID: "spa"}, // no back-channel logout URI
			oidc.Client{ID: "elsewhere", BackchannelLogoutURI: elsewhere.URL},
		)
		f.b.Subject = func(c oidc.Client, userID string) string {
			if c.Sector != "" {
				return "pairwise:" + c.Sector + ":" + userID
			}
			return userID
		}
		f.grant(t, "t1", "webapp", "u1", "s1")
		f.grant(t, "t2", "webapp", "u1", "s1")
		f.grant(t, "t3", "photos", "u1", "s1")
		f.grant(t, "t4", "spa", "u1", "s1")
		f.grant(t, "t5", "elsewhere", "u1", "s2")    // another session of the same person
		f.grant(t, "t6", "unregistered", "u1", "s1") // a client deleted since
		ev := f.event(t, "session.ended", "u1", map[string]any{"session": "session:s1"})

		if err := f.b.Handle(ctx, ev); err != nil {
			t.Fatalf("Handle: %v", err)
		}
		jwks := publicJWKS(t, f.keys)
		for _, tc := range []struct {
			name, aud, alg, sub string
			rp                  *logoutRP
		}{
			{"RS256 by default", "webapp", "RS256", "u1", webapp},
			{"the client's ID token algorithm and subject", "photos", "ES256", "pairwise:photos.example.com:u1", photos},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := tc.rp.received()
				if len(got) != 1 {
					t.Fatalf("%s received %d requests, want 1", tc.aud, len(got))
				}
				r := got[0]
				if r.method != http.MethodPost || r.contentType != "application/x-www-form-urlencoded" {
					t.Errorf("request: got %s with %q, want POST with application/x-www-form-urlencoded", r.method, r.contentType)
				}
				tok := verifyLogoutToken(t, r.token, jwks)
				if tok.alg != tc.alg {
					t.Errorf("alg: got %s, want %s", tok.alg, tc.alg)
				}
				checkLogoutClaims(t, tok, bclIssuer, tc.aud, tc.sub, "s1", f.now)
			})
		}
		if n := len(elsewhere.received()); n != 0 {
			t.Errorf("a client of another session received %d logout tokens, want none", n)
		}
		want := []string{"oidc.backchannel_logout_delivered photos 1", "oidc.backchannel_logout_delivered webapp 1"}
		if got := f.outcomes(t, "u1"); !slices.Equal(got, want) {
			t.Errorf("events: got %q, want %q", got, want)
		}

		// At least once: the same event again sends nothing and records
		// nothing.
		if err := f.b.Handle(ctx, ev); err != nil {
			t.Fatalf("Handle again: %v", err)
		}
		if a, b := len(webapp.received()), len(photos.received()); a != 1 || b != 1 {
			t.Errorf("after a replay: the clients received %d and %d requests, want 1 each", a, b)
		}
		if got := f.outcomes(t, "u1"); !slices.Equal(got, want) {
			t.Errorf("events after a replay: got %q, want %q", got, want)
		}

		// Events that call for no logout are ignored.
		for _, other := range []events.Event{
			f.event(t, "session.ended", "u1", map[string]any{"session": "session:unknown"}),
			f.event(t, "session.ended", "u1", nil),
			f.event(t, "user.registered", "u1", nil),
		} {
			if err := f.b.Handle(ctx, other); err != nil {
				t.Errorf("Handle(%s): %v", other.Type, err)
			}
		}
		if a, b := len(webapp.received()), len(photos.received()); a != 1 || b != 1 {
			t.Errorf("after unrelated events: the clients received %d and %d requests, want 1 each", a, b)
		}
	})
}

func TestBackchannelLogoutFailingClients(t *testing.T) {
	ctx := context.Background()
	slow := newLogoutRP(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server closes
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slow.mu.Lock()
		slow.requests = append(slow.requests, logoutRequest{method: r.Method})
		slow.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	broken := newLogoutRP(t, always(http.StatusInternalServerError))
	refusing := newLogoutRP(t, always(http.StatusBadRequest))
	flaky := newLogoutRP(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	good := newLogoutRP(t, always(http.StatusOK))
	f := newBCLFixture(t, storetest.SQLite(),
		oidc.Client{ID: "slow", BackchannelLogoutURI: slow.URL},
		oidc.Client{ID: "broken", BackchannelLogoutURI: broken.URL},
		oidc.Client{ID: "refusing", BackchannelLogoutURI: refusing.URL},
		oidc.Client{ID: "flaky", BackchannelLogoutURI: flaky.URL},
		oidc.Client{ID: "good", BackchannelLogoutURI: good.URL},
		oidc.Client{ID: "unsigned", IDTokenAlg: "ES384", BackchannelLogoutURI: good.URL + "/es384"}, // the test keys have no ES384 key
	)
	for _, c := range []string{"slow", "broken", "refusing", "flaky", "good", "unsigned"} {
		f.grant(t, "t-"+c, c, "u1", "s1")
	}
	ev := f.event(t, "session.ended", "u1", map[string]any{"session": "session:s1"})

	start := time.Now()
	if err := f.b.Handle(ctx, ev); err != nil {
		t.Fatalf("Handle: %v (a failing client must not stop the consumer)", err)
	}
	// Three attempts of 300 ms with 10 + 20 ms between them: the slow
	// client is given up on in about a second, in parallel with the rest.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Handle took %v, want the slow client given up on within its attempts", d)
	}
	for _, tc := range []struct {
		rp   *logoutRP
		name string
		want int
	}{{slow, "slow", 3}, {broken, "broken", 3}, {refusing, "refusing", 1}, {flaky, "flaky", 2}, {good, "good", 1}} {
		if got := len(tc.rp.received()); got != tc.want {
			t.Errorf("%s received %d requests, want %d", tc.name, got, tc.want)
		}
	}
	want := []string{
		"oidc.backchannel_logout_delivered flaky 2",
		"oidc.backchannel_logout_delivered good 1",
		"oidc.backchannel_logout_failed broken 3 status 500",
		"oidc.backchannel_logout_failed refusing 1 status 400",
		"oidc.backchannel_logout_failed slow 3 timeout",
		"oidc.backchannel_logout_failed unsigned 0 no ES384 signing key",
	}
	if got := f.outcomes(t, "u1"); !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}

	// A replay retries nothing: the failures are recorded.
	if err := f.b.Handle(ctx, ev); err != nil {
		t.Fatalf("Handle again: %v", err)
	}
	if got := len(broken.received()) + len(slow.received()) + len(good.received()); got != 7 {
		t.Errorf("after a replay: %d requests in all, want still 7", got)
	}
}

func TestBackchannelLogoutRedirectNotFollowed(t *testing.T) {
	target := newLogoutRP(t, always(http.StatusOK))
	redirecting := newLogoutRP(t, nil)
	redirecting.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirecting.mu.Lock()
		redirecting.requests = append(redirecting.requests, logoutRequest{method: r.Method})
		redirecting.mu.Unlock()
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	f := newBCLFixture(t, storetest.SQLite(), oidc.Client{ID: "webapp", BackchannelLogoutURI: redirecting.URL})
	f.grant(t, "t1", "webapp", "u1", "s1")
	if err := f.b.Handle(context.Background(), f.event(t, "session.ended", "u1", map[string]any{"session": "session:s1"})); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if n := len(target.received()); n != 0 {
		t.Errorf("the redirect's target received %d requests, want none", n)
	}
	if n := len(redirecting.received()); n != 1 {
		t.Errorf("the redirecting client received %d requests, want 1 (a redirect is not retried)", n)
	}
	want := []string{"oidc.backchannel_logout_failed webapp 1 redirect (status 307), not followed"}
	if got := f.outcomes(t, "u1"); !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
}

func TestBackchannelLogoutUserDisabled(t *testing.T) {
	ctx := context.Background()
	webapp, photos, revoked := newLogoutRP(t, nil), newLogoutRP(t, nil), newLogoutRP(t, nil)
	f := newBCLFixture(t, storetest.SQLite(),
		oidc.Client{ID: "webapp", BackchannelLogoutURI: webapp.URL},
		oidc.Client{ID: "photos", BackchannelLogoutURI: photos.URL, BackchannelLogoutSessionRequired: true},
		oidc.Client{ID: "revoked", BackchannelLogoutURI: revoked.URL},
		oidc.Client{ID: "spa"},
	)
	f.grant(t, "t1", "webapp", "u1", "s1")
	f.grant(t, "t2", "webapp", "u1", "s2")
	f.grant(t, "t3", "photos", "u1", "s1")
	f.grant(t, "t4", "photos", "u1", "s2")
	f.grant(t, "t5", "photos", "u1", "") // no session: photos cannot be told by sid
	f.grant(t, "t6", "spa", "u1", "s1")
	f.grant(t, "t7", "revoked", "u1", "s1")
	f.grant(t, "t8", "webapp", "u2", "s3")
	if err := f.store.RevokeFamily(ctx, "family-t7", f.now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Handle(ctx, f.event(t, "user.disabled", "u1", nil)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	jwks := publicJWKS(t, f.keys)
	// webapp gets one token naming only the user: all its sessions end.
	got := webapp.received()
	if len(got) != 1 {
		t.Fatalf("webapp received %d logout tokens, want 1", len(got))
	}
	checkLogoutClaims(t, verifyLogoutToken(t, got[0].token, jwks), bclIssuer, "webapp", "u1", "", f.now)
	// photos requires sid: one token per session.
	got = photos.received()
	var sids []string
	for _, r := range got {
		tok := verifyLogoutToken(t, r.token, jwks)
		sid, _ := tok.claims["sid"].(string)
		checkLogoutClaims(t, tok, bclIssuer, "photos", "u1", sid, f.now)
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	if !slices.Equal(sids, []string{"s1", "s2"}) {
		t.Errorf("photos received logout tokens for sessions %v, want [s1 s2]", sids)
	}
	if n := len(revoked.received()); n != 0 {
		t.Errorf("a client whose tokens are revoked received %d logout tokens, want none", n)
	}
}

// An erased account's tokens are gone with it: the applications to tell
// come from its user.deleted event, found by the erasure before it
// deleted them.
func TestBackchannelLogoutUserDeleted(t *testing.T) {
	ctx := context.Background()
	webapp, photos := newLogoutRP(t, nil), newLogoutRP(t, nil)
	f := newBCLFixture(t, storetest.SQLite(),
		oidc.Client{ID: "webapp", BackchannelLogoutURI: webapp.URL},
		oidc.Client{ID: "photos", BackchannelLogoutURI: photos.URL, BackchannelLogoutSessionRequired: true},
		oidc.Client{ID: "spa"},
	)
	deleted := f.event(t, "user.deleted", "u1", map[string]any{"reason": "requested", "logout": []map[string]string{
		{"client_id": "webapp", "sid": "s1"}, {"client_id": "webapp", "sid": "s2"},
		{"client_id": "photos", "sid": "s1"}, {"client_id": "photos"},
		{"client_id": "spa", "sid": "s1"}, {"client_id": "gone", "sid": "s1"},
	}})
	for range 2 { // a replayed event sends nothing twice
		if err := f.b.Handle(ctx, deleted); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	jwks := publicJWKS(t, f.keys)
	got := webapp.received()
	if len(got) != 1 {
		t.Fatalf("webapp received %d logout tokens, want 1", len(got))
	}
	checkLogoutClaims(t, verifyLogoutToken(t, got[0].token, jwks), bclIssuer, "webapp", "u1", "", f.now)
	got = photos.received()
	if len(got) != 1 {
		t.Fatalf("photos received %d logout tokens, want 1 (for the one session)", len(got))
	}
	checkLogoutClaims(t, verifyLogoutToken(t, got[0].token, jwks), bclIssuer, "photos", "u1", "s1", f.now)
	if got, want := f.outcomes(t, "u1"), []string{"oidc.backchannel_logout_delivered photos 1", "oidc.backchannel_logout_delivered webapp 1"}; !slices.Equal(got, want) {
		t.Errorf("outcomes: got %v, want %v", got, want)
	}
	// Without applications to tell, or unreadable: nothing, no error.
	for _, data := range []any{map[string]any{"reason": "admin"}, map[string]any{"logout": "nonsense"}} {
		if err := f.b.Handle(ctx, f.event(t, "user.deleted", "u2", data)); err != nil {
			t.Errorf("Handle(%v): %v", data, err)
		}
	}
}

// TestBackchannelLogoutEndSession runs the whole path: a person signs in
// to a client through the code flow, the client ends the session, and the
// consumer, run by the events runner, posts a logout token that verifies
// against the provider's published keys and names the session.
func TestBackchannelLogoutEndSession(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		rp := newLogoutRP(t, always(http.StatusOK))
		var registry oidc.Clients
		s := newStack(t, e, func(cfg *oidc.Config) {
			reg := cfg.Clients.(testClients)
			entry := reg[clientID]
			entry.c.BackchannelLogoutURI = rp.URL + "/backchannel"
			reg[clientID] = entry
			registry = reg
		})
		b, hint, tok := signedInAt(t, s)
		if p := b.endSession(url.Values{"id_token_hint": {hint}}); !isSignedOutPage(p) {
			t.Fatalf("end_session: %d at %s, want the signed-out page", p.status, p.url)
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		consumer := &oidc.BackchannelLogout{Issuer: s.url, Store: s.store, Clients: registry, Keys: s.keys, Now: s.clock.Now}
		runner := &events.Runner{Store: s.store, Holder: "test-node", PollInterval: 20 * time.Millisecond}
		runner.Add(events.Consumer{Name: oidc.BackchannelConsumer, Handle: consumer.Handle})
		done := make(chan struct{})
		go func() { defer close(done); _ = runner.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for len(rp.received()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		got := rp.received()
		if len(got) != 1 {
			t.Fatalf("the client received %d logout tokens, want 1", len(got))
		}

		res, err := http.Get(s.url + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		jwks, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lt := verifyLogoutToken(t, got[0].token, jwks)

		// sid names the session the tokens were issued in.
		at, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("access token: %v", err)
		}
		var atClaims jwt.Claims
		if err := at.UnsafeClaimsWithoutVerification(&atClaims); err != nil {
			t.Fatal(err)
		}
		issued, err := s.store.GrantTokenByID(context.Background(), atClaims.ID)
		if err != nil {
			t.Fatalf("the access token's record: %v", err)
		}
		if issued.SessionID == "" {
			t.Fatal("the access token was recorded without a session")
		}
		sent := time.Unix(int64(lt.claims["iat"].(float64)), 0)
		checkLogoutClaims(t, lt, s.url, clientID, issued.UserID, issued.SessionID, sent)
		if lt.alg != "RS256" {
			t.Errorf("alg: got %s, want RS256", lt.alg)
		}
	})
}

// TestBackchannelLogoutLeaver: a person removed from an organization is
// signed out of the applications' sessions in which they held tokens for
// it — each named by sid — and of no other.
func TestBackchannelLogoutLeaver(t *testing.T) {
	ctx := context.Background()
	portal, shop := newLogoutRP(t, nil), newLogoutRP(t, nil)
	f := newBCLFixture(t, storetest.SQLite(),
		oidc.Client{ID: "portal", BackchannelLogoutURI: portal.URL},
		oidc.Client{ID: "shop", BackchannelLogoutURI: shop.URL},
	)
	inOrg := func(id, client, user, sid, org string) {
		t.Helper()
		tk := oidc.Token{
			ID: id, Kind: oidc.KindAccess, FamilyID: "family-" + id, ClientID: client, UserID: user, SessionID: sid, OrgID: org,
			Scopes: []string{"openid"}, CreatedAt: f.now.Add(-time.Minute), ExpiresAt: f.now.Add(time.Hour),
		}
		if err := f.store.SaveGrantTokens(ctx, []oidc.Token{tk}); err != nil {
			t.Fatal(err)
		}
	}
	inOrg("t1", "portal", "u1", "s1", "acme")
	inOrg("t2", "portal", "u1", "s2", "globex") // the same person's session for another organization
	inOrg("t3", "shop", "u1", "s3", "")         // outside any organization
	inOrg("t4", "portal", "u2", "s4", "acme")   // a colleague who stays

	removed, err := events.New("membership.removed", "org:acme", "user:admin", f.now, map[string]any{"user_id": "u1", "roles": []string{"portal/buyer"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.b.Handle(ctx, removed); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	jwks := publicJWKS(t, f.keys)
	got := portal.received()
	if len(got) != 1 {
		t.Fatalf("portal received %d logout tokens, want 1 (the session for acme only)", len(got))
	}
	checkLogoutClaims(t, verifyLogoutToken(t, got[0].token, jwks), bclIssuer, "portal", "u1", "s1", f.now)
	if n := len(shop.received()); n != 0 {
		t.Errorf("a client with no tokens for the organization received %d logout tokens, want none", n)
	}
	if got := f.outcomes(t, "u1"); len(got) != 1 || !strings.HasPrefix(got[0], "oidc.backchannel_logout_delivered portal") {
		t.Errorf("outcomes: got %v, want one delivery to portal", got)
	}

	// Handled again (a replay), nothing is sent twice.
	if err := f.b.Handle(ctx, removed); err != nil {
		t.Fatalf("Handle again: %v", err)
	}
	if n := len(portal.received()); n != 1 {
		t.Errorf("after a replay portal received %d logout tokens, want still 1", n)
	}

	// A malformed event is skipped, not retried forever.
	bad, _ := events.New("membership.removed", "org:acme", "user:admin", f.now, map[string]any{"roles": []string{}})
	if err := f.b.Handle(ctx, bad); err != nil {
		t.Errorf("Handle(without user_id): %v, want nil", err)
	}
}
