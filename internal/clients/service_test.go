package clients

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/events"
)

// memStore is a Store in memory.
type memStore struct {
	mu      sync.Mutex
	clients map[string]Client
	events  []events.Event
	// fail, if set, is returned by every call.
	fail error
}

func newMemStore() *memStore { return &memStore{clients: map[string]Client{}} }

func (m *memStore) CreateClient(_ context.Context, c Client, evs ...events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.clients[c.ID]; ok {
		return ErrConflict
	}
	m.clients[c.ID] = c.clone()
	m.events = append(m.events, evs...)
	return nil
}

func (m *memStore) ClientByID(_ context.Context, id string) (Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return Client{}, m.fail
	}
	c, ok := m.clients[id]
	if !ok {
		return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return c.clone(), nil
}

func (m *memStore) ListClients(_ context.Context, after string, limit int) ([]Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.clients {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []Client
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, m.clients[id].clone())
	}
	return out, nil
}

func (m *memStore) UpdateClient(_ context.Context, id string, fn func(Client) (Change, error)) (Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return Client{}, ErrNotFound
	}
	ch, err := fn(c.clone())
	if err != nil {
		return Client{}, err
	}
	m.clients[id] = ch.Client.clone()
	m.events = append(m.events, ch.Events...)
	return ch.Client, nil
}

func (m *memStore) DeleteClient(_ context.Context, id string, evs ...events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[id]; !ok {
		return ErrNotFound
	}
	delete(m.clients, id)
	m.events = append(m.events, evs...)
	return nil
}

// eventTypes returns the types of the stored events.
func (m *memStore) eventTypes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Type)
	}
	return out
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newService() (*Service, *memStore, *clock) {
	st := newMemStore()
	clk := &clock{t: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}
	return &Service{Store: st, Now: clk.now}, st, clk
}

// checkNoSecrets fails the test if any stored event mentions one of the
// secrets or their digests.
func checkNoSecrets(t *testing.T, st *memStore, secrets ...string) {
	t.Helper()
	for _, e := range st.events {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(string(e.Data), s) || strings.Contains(string(e.Data), HashSecret(s)) {
				t.Errorf("event %s carries a secret or its digest: %s", e.Type, e.Data)
			}
		}
	}
}

func TestNewSecret(t *testing.T) {
	plain, hash := NewSecret()
	raw, err := base64.RawURLEncoding.DecodeString(plain)
	if err != nil || len(raw) != 32 {
		t.Fatalf("NewSecret: got %q (%d bytes, %v), want 32 bytes in base64url", plain, len(raw), err)
	}
	if hash != HashSecret(plain) || len(hash) != 64 {
		t.Errorf("NewSecret: got digest %q, want the hex SHA-256 of the secret", hash)
	}
	if again, _ := NewSecret(); again == plain {
		t.Errorf("NewSecret repeated itself")
	}
}

func TestCreate(t *testing.T) {
	ctx := t.Context()
	svc, st, _ := newService()

	web := webClient()
	web.ID = ""
	c, secret, err := svc.Create(ctx, web, "system:test")
	if err != nil {
		t.Fatalf("Create confidential: %v", err)
	}
	if len(c.ID) != 24 || secret == "" || c.SecretHash != HashSecret(secret) {
		t.Errorf("Create confidential: got ID %q, secret %q, digest %q; want a new ID and a secret with its digest", c.ID, secret, c.SecretHash)
	}
	if c.TokenEndpointAuthMethod != AuthClientSecretBasic || !c.CreatedAt.Equal(svc.now()) || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("Create confidential: got method %s, created %v, updated %v", c.TokenEndpointAuthMethod, c.CreatedAt, c.UpdatedAt)
	}
	stored, err := svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, stored); diff != "" {
		t.Errorf("Get after Create (-returned +stored):\n%s", diff)
	}

	pub, pubSecret, err := svc.Create(ctx, nativeClient(), "system:test")
	if err != nil {
		t.Fatalf("Create public: %v", err)
	}
	if pubSecret != "" || pub.SecretHash != "" || pub.ID != "app" {
		t.Errorf("Create public: got secret %q, digest %q, ID %q; want no secret and the given ID", pubSecret, pub.SecretHash, pub.ID)
	}

	jwt := webClient()
	jwt.ID, jwt.TokenEndpointAuthMethod, jwt.JWKSURI = "", AuthPrivateKeyJWT, "https://shop.example.com/jwks"
	jwt.SecretHash = HashSecret("planted")
	k, kSecret, err := svc.Create(ctx, jwt, "system:test")
	if err != nil || kSecret != "" || k.SecretHash != "" {
		t.Errorf("Create private_key_jwt: got secret %q, digest %q, %v; want no secret", kSecret, k.SecretHash, err)
	}

	if _, _, err := svc.Create(ctx, nativeClient(), "system:test"); !errors.Is(err, ErrConflict) {
		t.Errorf("Create with a taken ID: got %v, want ErrConflict", err)
	}
	bad := webClient()
	bad.GrantTypes = []GrantType{"implicit"}
	if _, _, err := svc.Create(ctx, bad, "system:test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Create with the implicit grant: got %v, want ErrInvalid", err)
	}

	if got := st.eventTypes(); !slices.Equal(got, []string{"client.created", "client.created", "client.created"}) {
		t.Errorf("events: got %v, want three client.created", got)
	}
	for _, e := range st.events {
		if e.Actor != "system:test" || !strings.HasPrefix(e.Subject, "client:") {
			t.Errorf("event %s: actor %q subject %q", e.Type, e.Actor, e.Subject)
		}
	}
	checkNoSecrets(t, st, secret)
}

func TestAuthenticate(t *testing.T) {
	ctx := t.Context()
	svc, st, _ := newService()
	conf, secret, err := svc.Create(ctx, webClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}
	post := webClient()
	post.ID, post.TokenEndpointAuthMethod = "post", AuthClientSecretPost
	_, postSecret, err := svc.Create(ctx, post, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := svc.Create(ctx, nativeClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}

	got, err := svc.Authenticate(ctx, conf.ID, secret)
	if err != nil || got.ID != conf.ID {
		t.Fatalf("Authenticate with the secret: got %q, %v", got.ID, err)
	}
	if _, err := svc.Authenticate(ctx, "post", postSecret); err != nil {
		t.Errorf("Authenticate a client_secret_post client: %v", err)
	}

	failures := []struct{ name, id, secret string }{
		{"wrong secret", conf.ID, secret + "x"},
		{"another client's secret", conf.ID, postSecret},
		{"empty secret", conf.ID, ""},
		{"the digest as the secret", conf.ID, conf.SecretHash},
		{"unknown client", "nobody", secret},
		{"empty ID", "", secret},
		{"public client without a secret", pub.ID, ""},
		{"public client with a secret", pub.ID, secret},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			got, err := svc.Authenticate(ctx, f.id, f.secret)
			if err != ErrInvalidClient {
				t.Errorf("Authenticate: got %v, want exactly ErrInvalidClient", err)
			}
			if got.ID != "" {
				t.Errorf("Authenticate: got client %q with the error, want none", got.ID)
			}
		})
	}

	st.fail = errors.New("database is down")
	if _, err := svc.Authenticate(ctx, conf.ID, secret); err == nil || errors.Is(err, ErrInvalidClient) {
		t.Errorf("Authenticate with the store down: got %v, want a server error, not ErrInvalidClient", err)
	}
}

// TestCheckSecretWork: an unknown client's check does the same work as a
// known one's: one hash and two comparisons against digests (the dummy
// standing in for the missing ones).
func TestCheckSecretWork(t *testing.T) {
	now := time.Now()
	if checkSecret(Client{}, "", now) {
		t.Errorf("an empty client accepted the empty secret")
	}
	c := Client{TokenEndpointAuthMethod: AuthClientSecretBasic}
	if checkSecret(c, "portvakt: no such client secret", now) {
		t.Errorf("a client without digests accepted the dummy's secret")
	}
	c.SecretHash = "not hex at all, but sixty-four characters long, to look like one"
	if checkSecret(c, "x", now) {
		t.Errorf("a malformed digest accepted a secret")
	}
}

func TestRotateSecret(t *testing.T) {
	ctx := t.Context()
	svc, st, clk := newService()
	c, first, err := svc.Create(ctx, webClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}
	valid := func(secret string) bool {
		t.Helper()
		_, err := svc.Authenticate(ctx, c.ID, secret)
		if err != nil && err != ErrInvalidClient {
			t.Fatalf("Authenticate: %v", err)
		}
		return err == nil
	}

	// Rotation with an hour of overlap: both work until it ends.
	clk.advance(time.Minute)
	rotated, second, err := svc.RotateSecret(ctx, c.ID, time.Hour, "system:test")
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	if second == first || rotated.SecretHash != HashSecret(second) || rotated.PreviousSecretHash != HashSecret(first) {
		t.Errorf("RotateSecret: got digests %q, %q; want the new and the first", rotated.SecretHash, rotated.PreviousSecretHash)
	}
	if want := clk.t.Add(time.Hour); !rotated.PreviousSecretExpiresAt.Equal(want) || !rotated.UpdatedAt.Equal(clk.t) {
		t.Errorf("RotateSecret: previous secret valid until %v, updated %v; want %v and now", rotated.PreviousSecretExpiresAt, rotated.UpdatedAt, want)
	}
	clk.advance(time.Hour - time.Microsecond)
	if !valid(first) || !valid(second) {
		t.Errorf("just before the overlap ends: first valid %v, second valid %v; want both", valid(first), valid(second))
	}
	clk.advance(time.Microsecond)
	if valid(first) || !valid(second) {
		t.Errorf("when the overlap ends: first valid %v, second valid %v; want only the second", valid(first), valid(second))
	}

	// Two rotations within an overlap: only the last two secrets work.
	_, third, err := svc.RotateSecret(ctx, c.ID, DefaultSecretOverlap, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	_, fourth, err := svc.RotateSecret(ctx, c.ID, DefaultSecretOverlap, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Hour)
	if valid(second) || !valid(third) || !valid(fourth) {
		t.Errorf("after two rotations: second %v, third %v, fourth %v; want only the third and fourth", valid(second), valid(third), valid(fourth))
	}

	// No overlap: the old secret stops working at once.
	after, fifth, err := svc.RotateSecret(ctx, c.ID, 0, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	if valid(fourth) || !valid(fifth) || after.PreviousSecretHash != "" || !after.PreviousSecretExpiresAt.IsZero() {
		t.Errorf("rotation without overlap: fourth %v, fifth %v, previous %q until %v; want only the fifth", valid(fourth), valid(fifth), after.PreviousSecretHash, after.PreviousSecretExpiresAt)
	}

	for _, overlap := range []time.Duration{-time.Second, MaxSecretOverlap + time.Second} {
		if _, _, err := svc.RotateSecret(ctx, c.ID, overlap, "system:test"); !errors.Is(err, ErrInvalid) {
			t.Errorf("RotateSecret with overlap %v: got %v, want ErrInvalid", overlap, err)
		}
	}
	pub, _, err := svc.Create(ctx, nativeClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}
	var fe FieldError
	if _, _, err := svc.RotateSecret(ctx, pub.ID, time.Hour, "system:test"); !errors.As(err, &fe) || fe.Field != "token_endpoint_auth_method" {
		t.Errorf("RotateSecret of a public client: got %v, want a token_endpoint_auth_method FieldError", err)
	}
	if _, _, err := svc.RotateSecret(ctx, "nobody", time.Hour, "system:test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateSecret of an unknown client: got %v, want ErrNotFound", err)
	}

	var rotations int
	for _, e := range st.events {
		if e.Type == "client.secret_rotated" {
			rotations++
			var data map[string]any
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatal(err)
			}
			if _, ok := data["previous_secret_valid_until"]; !ok || len(data) != 1 {
				t.Errorf("client.secret_rotated data: got %s, want only previous_secret_valid_until", e.Data)
			}
		}
	}
	if rotations != 4 {
		t.Errorf("got %d client.secret_rotated events, want 4", rotations)
	}
	checkNoSecrets(t, st, first, second, third, fourth, fifth)
}

func TestUpdate(t *testing.T) {
	ctx := t.Context()
	svc, st, clk := newService()
	c, secret, err := svc.Create(ctx, webClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)

	got, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.Name = "Shop 2"
		c.RedirectURIs = append(c.RedirectURIs, "https://shop.example.com/other")
		return c, nil
	}, "system:test")
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got.Name != "Shop 2" || len(got.RedirectURIs) != 2 || !got.UpdatedAt.Equal(clk.t) || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("Update: got %+v", got)
	}
	last := st.events[len(st.events)-1]
	if last.Type != "client.updated" || string(last.Data) != `{"changed":["name","redirect_uris"]}` {
		t.Errorf("Update event: got %s %s, want client.updated naming name and redirect_uris", last.Type, last.Data)
	}

	// Nothing changed: nothing written.
	n := len(st.events)
	clk.advance(time.Minute)
	same, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) { return c, nil }, "system:test")
	if err != nil || len(st.events) != n || !same.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("Update without change: got %v, %d new events, updated %v; want nothing written", err, len(st.events)-n, same.UpdatedAt)
	}

	// The ID, type, creation time and secret cannot be changed.
	_, err = svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.ID, c.Type = "other", TypePublic
		return c, nil
	}, "system:test")
	if fields := fieldsOf(t, err); !slices.Contains(fields, "id") || !slices.Contains(fields, "type") {
		t.Errorf("Update of ID and type: got %v, want id and type problems", err)
	}
	kept, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.SecretHash, c.CreatedAt, c.FirstParty = HashSecret("mine"), time.Time{}, true
		return c, nil
	}, "system:test")
	if err != nil || kept.SecretHash != HashSecret(secret) || !kept.CreatedAt.Equal(c.CreatedAt) || !kept.FirstParty {
		t.Errorf("Update of the secret and creation time: got %v, digest kept %v, created %v", err, kept.SecretHash == HashSecret(secret), kept.CreatedAt)
	}

	// An invalid result and an error from fn write nothing.
	n = len(st.events)
	before, _ := svc.Get(ctx, c.ID)
	if _, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.RedirectURIs = []string{"http://evil.example/"}
		return c, nil
	}, "system:test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Update to an invalid client: got %v, want ErrInvalid", err)
	}
	refused := errors.New("no")
	if _, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) { return c, refused }, "system:test"); !errors.Is(err, refused) {
		t.Errorf("Update with an error from fn: got %v, want it", err)
	}
	// fn changing its argument in place does not reach the stored client.
	if _, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.RedirectURIs[0] = "http://evil.example/"
		return c, refused
	}, "system:test"); !errors.Is(err, refused) {
		t.Fatal(err)
	}
	if after, _ := svc.Get(ctx, c.ID); len(st.events) != n || !cmp.Equal(before, after) {
		t.Errorf("refused updates changed the client or wrote events")
	}

	// Moving to private_key_jwt drops the secret.
	k, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.TokenEndpointAuthMethod, c.JWKS = AuthPrivateKeyJWT, json.RawMessage(publicJWKS)
		return c, nil
	}, "system:test")
	if err != nil || k.SecretHash != "" {
		t.Fatalf("Update to private_key_jwt: got %v, digest %q; want the secret dropped", err, k.SecretHash)
	}
	if last := st.events[len(st.events)-1]; !strings.Contains(string(last.Data), `"client_secret"`) {
		t.Errorf("Update to private_key_jwt: event %s does not name client_secret", last.Data)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); err != ErrInvalidClient {
		t.Errorf("Authenticate with the dropped secret: got %v, want ErrInvalidClient", err)
	}
	if _, err := svc.Update(ctx, "nobody", func(c Client) (Client, error) { return c, nil }, "system:test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of an unknown client: got %v, want ErrNotFound", err)
	}
	checkNoSecrets(t, st, secret)
}

func TestDeleteAndList(t *testing.T) {
	ctx := t.Context()
	svc, st, _ := newService()
	for _, id := range []string{"b", "a", "c"} {
		c := nativeClient()
		c.ID = id
		if _, _, err := svc.Create(ctx, c, "system:test"); err != nil {
			t.Fatal(err)
		}
	}
	page, err := svc.List(ctx, "a", 10)
	if err != nil || len(page) != 2 || page[0].ID != "b" {
		t.Errorf("List after a: got %v, %v; want b, c", page, err)
	}
	if err := svc.Delete(ctx, "b", "system:test"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := svc.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if err := svc.Delete(ctx, "b", "system:test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
	last := st.events[len(st.events)-1]
	if last.Type != "client.deleted" || last.Subject != "client:b" || string(last.Data) != `{"name":"App"}` {
		t.Errorf("Delete event: got %s %s %s", last.Type, last.Subject, last.Data)
	}
}

// TestServiceCache: with CacheTTL, reads come from memory until the time to
// live is over, so a change made behind the Service's back (another node)
// shows late; a change made through the Service shows at once.
func TestServiceCache(t *testing.T) {
	ctx := t.Context()
	svc, st, clk := newService()
	svc.CacheTTL = 5 * time.Second
	first := webClient()
	first.ID = ""
	c, secret, err := svc.Create(ctx, first, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	// Another node renames the client and then deletes it.
	st.mu.Lock()
	renamed := st.clients[c.ID]
	renamed.Name = "Renamed elsewhere"
	st.clients[c.ID] = renamed
	st.mu.Unlock()
	if got, _ := svc.Get(ctx, c.ID); got.Name != c.Name {
		t.Errorf("Get within the time to live: name %q, want the cached %q", got.Name, c.Name)
	}
	clk.advance(5 * time.Second)
	if got, _ := svc.Get(ctx, c.ID); got.Name != "Renamed elsewhere" {
		t.Errorf("Get after the time to live: name %q, want the store's", got.Name)
	}
	// A rotation through the Service takes effect at once: the new secret
	// works, and the old one only as the overlap allows.
	_, next, err := svc.RotateSecret(ctx, c.ID, 0, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, next); err != nil {
		t.Errorf("Authenticate with the rotated secret: %v", err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("Authenticate with the replaced secret and no overlap: %v, want ErrInvalidClient", err)
	}
	// So does a deletion.
	if err := svc.Delete(ctx, c.ID, "system:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	// A cached client is a copy: changing it changes nothing cached.
	second := webClient()
	second.ID = ""
	d, _, err := svc.Create(ctx, second, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := svc.Get(ctx, d.ID)
	got.RedirectURIs[0] = "https://evil.example/cb"
	if again, _ := svc.Get(ctx, d.ID); again.RedirectURIs[0] == "https://evil.example/cb" {
		t.Error("a change to a returned client reached the cache")
	}
}

// TestUpdateReleaseVerified: what a client receives of verified attributes
// is a change of its own, named in its event.
func TestUpdateReleaseVerified(t *testing.T) {
	ctx := t.Context()
	svc, st, _ := newService()
	c, _, err := svc.Create(ctx, webClient(), "system:test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.ReleaseVerified = []string{"legal_name", "national_id"}
		return c, nil
	}, "system:test")
	if err != nil || !slices.Equal(got.ReleaseVerified, []string{"legal_name", "national_id"}) {
		t.Fatalf("Update: got %v, %v", got.ReleaseVerified, err)
	}
	if last := st.events[len(st.events)-1]; last.Type != "client.updated" || string(last.Data) != `{"changed":["release_verified"]}` {
		t.Errorf("Update event: got %s %s, want client.updated naming release_verified", last.Type, last.Data)
	}
	if _, err := svc.Update(ctx, c.ID, func(c Client) (Client, error) {
		c.ReleaseVerified = []string{"passport_number"}
		return c, nil
	}, "system:test"); !slices.Equal(fieldsOf(t, err), []string{"release_verified"}) {
		t.Errorf("Update to an unknown attribute: got %v, want a release_verified problem", err)
	}
}
