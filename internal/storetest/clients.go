package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/store"
)

// RunClients is the conformance suite for OAuth clients (the clients.Store
// methods) on engine e. Call it once per engine, typically through
// ForEachEngine.
func RunClients(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) { testClientRoundTrip(t, e) })
	t.Run("Conflict", func(t *testing.T) { testClientConflict(t, e) })
	t.Run("NotFound", func(t *testing.T) { testClientNotFound(t, e) })
	t.Run("List", func(t *testing.T) { testClientList(t, e) })
	t.Run("Update", func(t *testing.T) { testClientUpdate(t, e) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testClientConcurrentUpdates(t, e) })
	t.Run("Delete", func(t *testing.T) { testClientDelete(t, e) })
}

// clientBase is the clients suite's clock: not UTC and with nanoseconds, so
// that the tests see the store convert to UTC and truncate to microseconds.
var clientBase = time.Date(2025, 9, 30, 23, 59, 58, 987654321, time.FixedZone("PDT", -7*3600))

// errClientRefused is what the suite's update functions return to refuse a
// change.
var errClientRefused = errors.New("refused by the update function")

// clientJWKS is a public Ed25519 key set.
const clientJWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`

// clientFixture returns a valid minimal public client with id.
func clientFixture(t testing.TB, id string) clients.Client {
	t.Helper()
	c := clients.Client{
		ID: id, Name: "App " + id, Type: clients.TypePublic, ApplicationType: clients.ApplicationTypeNative,
		RedirectURIs: []string{"http://127.0.0.1/callback"}, Scopes: []string{"openid"},
		CreatedAt: clientBase, UpdatedAt: clientBase,
	}
	must(t, c.Validate(clients.DefaultScopes()), "validate client %s", id)
	return c
}

// fullClientFixture returns a valid confidential client with every field set.
func fullClientFixture(t testing.TB, id string) clients.Client {
	t.Helper()
	c := clients.Client{
		ID:                               id,
		Name:                             "Webbshop — Åkerö",
		Type:                             clients.TypeConfidential,
		ApplicationType:                  clients.ApplicationTypeWeb,
		GrantTypes:                       []clients.GrantType{clients.GrantAuthorizationCode, clients.GrantRefreshToken, clients.GrantClientCredentials},
		RedirectURIs:                     []string{"https://shop.example.com/callback", "https://shop.example.com/cb?x=1&y=%20"},
		PostLogoutRedirectURIs:           []string{"https://shop.example.com/"},
		Scopes:                           []string{"openid", "profile", "email", "offline_access", "portvakt:users:read"},
		FirstParty:                       true,
		TokenEndpointAuthMethod:          clients.AuthClientSecretPost,
		JWKS:                             json.RawMessage(clientJWKS),
		IDTokenAlg:                       clients.AlgEdDSA,
		AccessTokenFormat:                clients.TokenFormatOpaque,
		AccessTokenAudience:              []string{"https://api.example.com", "orders"},
		AccessTokenLifetime:              5 * time.Minute,
		IDTokenLifetime:                  15 * time.Minute,
		RefreshTokenLifetime:             7 * 24 * time.Hour,
		SubjectType:                      clients.SubjectPairwise,
		SectorIdentifier:                 "example.com",
		RequirePAR:                       true,
		ReleaseVerified:                  []string{"legal_name", "national_id"},
		ReleaseConsents:                  true,
		App:                              "portal",
		BackchannelLogoutURI:             "https://shop.example.com/logout?from=portvakt",
		BackchannelLogoutSessionRequired: true,
		InitiateLoginURI:                 "https://shop.example.com/start?from=portvakt",
		Organizations:                    clients.OrgRequired,
		Organization:                     "0193c0de-7a1e-7c2b-9d55-3b1f0f1e2a10",
		SecretHash:                       clients.HashSecret("current"),
		PreviousSecretHash:               clients.HashSecret("previous"),
		PreviousSecretExpiresAt:          clientBase.Add(24*time.Hour + time.Nanosecond),
		CreatedAt:                        clientBase,
		UpdatedAt:                        clientBase.Add(time.Second + 999*time.Nanosecond),
	}
	must(t, c.Validate(clients.DefaultScopes()), "validate client %s", id)
	return c
}

// clientAsStored is c as the store gives it back.
func clientAsStored(c clients.Client) clients.Client {
	c.CreatedAt, c.UpdatedAt = stored(c.CreatedAt), stored(c.UpdatedAt)
	if !c.PreviousSecretExpiresAt.IsZero() {
		c.PreviousSecretExpiresAt = stored(c.PreviousSecretExpiresAt)
	}
	return c
}

// clientEvent returns an event about c.
func clientEvent(t testing.TB, typ string, c clients.Client) events.Event {
	t.Helper()
	return newEvent(t, typ, c.Subject(), map[string]any{"name": c.Name})
}

// clientEventTypes returns the types of the events about c, oldest first.
func clientEventTypes(t testing.TB, s *store.Store, c clients.Client) []string {
	t.Helper()
	var out []string
	for _, ev := range allEvents(t, s) {
		if ev.Subject == c.Subject() {
			out = append(out, ev.Type)
		}
	}
	return out
}

// isClientNotFound reports whether err matches both not-found sentinels.
func isClientNotFound(err error) bool {
	return errors.Is(err, clients.ErrNotFound) && errors.Is(err, store.ErrNotFound)
}

func testClientRoundTrip(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	full, minimal := fullClientFixture(t, "full-client"), clientFixture(t, "minimal-client")
	for _, c := range []clients.Client{full, minimal} {
		must(t, s.CreateClient(ctx, c, clientEvent(t, "client.created", c)), "CreateClient(%s)", c.ID)
	}
	for _, c := range []clients.Client{full, minimal} {
		got, err := s.ClientByID(ctx, c.ID)
		must(t, err, "ClientByID(%s)", c.ID)
		if diff := cmp.Diff(clientAsStored(c), got); diff != "" {
			t.Errorf("ClientByID(%s) (-want +got):\n%s", c.ID, diff)
		}
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
			if tm.Location() != time.UTC {
				t.Errorf("ClientByID(%s).%s: got time in %v, want UTC", c.ID, name, tm.Location())
			}
		}
		if got := clientEventTypes(t, s, c); !slices.Equal(got, []string{"client.created"}) {
			t.Errorf("events about %s: got %v, want [client.created]", c.ID, got)
		}
	}
	if got, err := s.ClientByID(ctx, "minimal-client"); err == nil && (got.JWKS != nil || !got.PreviousSecretExpiresAt.IsZero()) {
		t.Errorf("minimal client: got JWKS %q and previous secret expiry %v, want nil and zero", got.JWKS, got.PreviousSecretExpiresAt)
	}

	// The lists are stored as JSON arrays of strings, empty ones as [].
	db := e.RawDB(t, rawURL)
	for _, tc := range []struct{ id, column, want string }{
		{"full-client", "redirect_uris", `["https://shop.example.com/callback","https://shop.example.com/cb?x=1\u0026y=%20"]`},
		{"full-client", "grant_types", `["authorization_code","refresh_token","client_credentials"]`},
		{"minimal-client", "post_logout_redirect_uris", `[]`},
		{"minimal-client", "access_token_audience", `[]`},
	} {
		var got string
		must(t, db.QueryRowContext(ctx, `SELECT `+tc.column+` FROM clients WHERE id = $1`, tc.id).Scan(&got), "read %s", tc.column)
		if got != tc.want {
			t.Errorf("%s.%s stored as %s, want %s", tc.id, tc.column, got, tc.want)
		}
	}
}

func testClientConflict(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	c := clientFixture(t, "taken")
	must(t, s.CreateClient(ctx, c, clientEvent(t, "client.created", c)), "CreateClient")
	again := fullClientFixture(t, "taken")
	err := s.CreateClient(ctx, again, clientEvent(t, "client.created", again))
	if !errors.Is(err, clients.ErrConflict) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateClient with a taken ID: got %v, want clients.ErrConflict and store.ErrConflict", err)
	}
	got, err := s.ClientByID(ctx, "taken")
	must(t, err, "ClientByID")
	if diff := cmp.Diff(clientAsStored(c), got); diff != "" {
		t.Errorf("the first client changed (-want +got):\n%s", diff)
	}
	if got := clientEventTypes(t, s, c); len(got) != 1 {
		t.Errorf("events: got %v, want the first client.created only", got)
	}

	// An invalid event fails the write: the client is not created.
	lone := clientFixture(t, "lone")
	bad := clientEvent(t, "client.created", lone)
	bad.Actor = ""
	if err := s.CreateClient(ctx, lone, bad); err == nil {
		t.Fatalf("CreateClient with an invalid event: got no error")
	}
	if _, err := s.ClientByID(ctx, "lone"); !isClientNotFound(err) {
		t.Errorf("ClientByID after the failed create: got %v, want not found", err)
	}
}

func testClientNotFound(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	ghost := clientFixture(t, "ghost")
	if _, err := s.ClientByID(ctx, "ghost"); !isClientNotFound(err) {
		t.Errorf("ClientByID: got %v, want clients.ErrNotFound and store.ErrNotFound", err)
	}
	called := false
	_, err := s.UpdateClient(ctx, "ghost", func(c clients.Client) (clients.Change, error) {
		called = true
		return clients.Change{Client: c}, nil
	})
	if !isClientNotFound(err) || called {
		t.Errorf("UpdateClient: got %v (fn called: %v), want not found without calling fn", err, called)
	}
	if err := s.DeleteClient(ctx, "ghost", clientEvent(t, "client.deleted", ghost)); !isClientNotFound(err) {
		t.Errorf("DeleteClient: got %v, want not found", err)
	}
	if got := clientEventTypes(t, s, ghost); len(got) != 0 {
		t.Errorf("events about a missing client: got %v, want none", got)
	}
}

func testClientList(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	if got, err := s.ListClients(ctx, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ListClients on an empty store: got %d clients, %v; want none", len(got), err)
	}
	var ids []string
	for _, i := range []int{3, 1, 5, 2, 4} {
		c := clientFixture(t, fmt.Sprintf("client-%02d", i))
		must(t, s.CreateClient(ctx, c, clientEvent(t, "client.created", c)), "CreateClient")
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListClients(ctx, after, 2)
		must(t, err, "ListClients(%q, 2)", after)
		if len(page) > 2 {
			t.Fatalf("ListClients(%q, 2): got %d clients", after, len(page))
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("ListClients pages: got %v, want %v", got, ids)
	}
	page, err := s.ListClients(ctx, "client-01", 10)
	must(t, err, "ListClients")
	if len(page) != 4 || page[0].ID != "client-02" {
		t.Errorf("ListClients after client-01: got %d clients starting %v, want 4 from client-02", len(page), page)
	}
}

func testClientUpdate(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	c := fullClientFixture(t, "updated")
	must(t, s.CreateClient(ctx, c, clientEvent(t, "client.created", c)), "CreateClient")

	want := clientAsStored(c)
	want.Name = "Renamed"
	want.RedirectURIs = []string{"https://shop.example.com/new"}
	want.ReleaseVerified = []string{"birthdate"}
	want.App = "shop"
	want.JWKS = nil
	want.PreviousSecretHash, want.PreviousSecretExpiresAt = "", time.Time{}
	want.UpdatedAt = stored(clientBase.Add(time.Hour))
	var seen clients.Client
	got, err := s.UpdateClient(ctx, c.ID, func(old clients.Client) (clients.Change, error) {
		seen = old
		return clients.Change{Client: want, Events: []events.Event{clientEvent(t, "client.updated", old)}}, nil
	})
	must(t, err, "UpdateClient")
	if diff := cmp.Diff(clientAsStored(c), seen); diff != "" {
		t.Errorf("fn got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateClient returned (-want +got):\n%s", diff)
	}
	read, err := s.ClientByID(ctx, c.ID)
	must(t, err, "ClientByID")
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("ClientByID after UpdateClient (-want +got):\n%s", diff)
	}
	if got := clientEventTypes(t, s, c); !slices.Equal(got, []string{"client.created", "client.updated"}) {
		t.Errorf("events: got %v, want client.created, client.updated", got)
	}

	refusals := []struct {
		name string
		fn   func(clients.Client) (clients.Change, error)
	}{
		{"fn error", func(old clients.Client) (clients.Change, error) {
			old.Name = "Never"
			return clients.Change{Client: old}, errClientRefused
		}},
		{"invalid event", func(old clients.Client) (clients.Change, error) {
			old.Name = "Never"
			bad := clientEvent(t, "client.updated", old)
			bad.Type = "not an event type"
			return clients.Change{Client: old, Events: []events.Event{bad}}, nil
		}},
		{"changed ID", func(old clients.Client) (clients.Change, error) {
			old.ID = "someone-else"
			return clients.Change{Client: old}, nil
		}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			if _, err := s.UpdateClient(ctx, c.ID, r.fn); err == nil {
				t.Fatalf("UpdateClient: got no error")
			} else if r.name == "fn error" && !errors.Is(err, errClientRefused) {
				t.Errorf("UpdateClient: got %v, want the error from fn", err)
			}
			after, err := s.ClientByID(ctx, c.ID)
			must(t, err, "ClientByID")
			if diff := cmp.Diff(want, after); diff != "" {
				t.Errorf("the client changed (-want +got):\n%s", diff)
			}
			if got := clientEventTypes(t, s, c); len(got) != 2 {
				t.Errorf("events: got %v, want no new ones", got)
			}
			if _, err := s.ClientByID(ctx, "someone-else"); !isClientNotFound(err) {
				t.Errorf("ClientByID(someone-else): got %v, want not found", err)
			}
		})
	}
}

// testClientConcurrentUpdates: read-modify-write updates of one client from
// many goroutines are serialized; none is lost.
func testClientConcurrentUpdates(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	c := clientFixture(t, "busy")
	must(t, s.CreateClient(ctx, c, clientEvent(t, "client.created", c)), "CreateClient")
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.UpdateClient(ctx, c.ID, func(old clients.Client) (clients.Change, error) {
				// The time a request spends between reading and writing:
				// unserialized read-modify-writes would overlap and lose
				// updates.
				time.Sleep(2 * time.Millisecond)
				old.RedirectURIs = append(old.RedirectURIs, fmt.Sprintf("http://127.0.0.1/cb%d", i))
				return clients.Change{Client: old, Events: []events.Event{clientEvent(t, "client.updated", old)}}, nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	got, err := s.ClientByID(ctx, c.ID)
	must(t, err, "ClientByID")
	if len(got.RedirectURIs) != n+1 {
		t.Errorf("got %d redirect URIs after %d concurrent appends, want %d: %v", len(got.RedirectURIs), n, n+1, got.RedirectURIs)
	}
	if evs := clientEventTypes(t, s, c); len(evs) != n+1 {
		t.Errorf("got %d events, want %d", len(evs), n+1)
	}
}

func testClientDelete(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	c, other := clientFixture(t, "doomed"), clientFixture(t, "survivor")
	for _, x := range []clients.Client{c, other} {
		must(t, s.CreateClient(ctx, x, clientEvent(t, "client.created", x)), "CreateClient")
	}
	bad := clientEvent(t, "client.deleted", c)
	bad.UUID = ""
	if err := s.DeleteClient(ctx, c.ID, bad); err == nil {
		t.Fatalf("DeleteClient with an invalid event: got no error")
	}
	if _, err := s.ClientByID(ctx, c.ID); err != nil {
		t.Fatalf("ClientByID after the failed delete: %v", err)
	}
	must(t, s.DeleteClient(ctx, c.ID, clientEvent(t, "client.deleted", c)), "DeleteClient")
	if _, err := s.ClientByID(ctx, c.ID); !isClientNotFound(err) {
		t.Errorf("ClientByID after DeleteClient: got %v, want not found", err)
	}
	if _, err := s.ClientByID(ctx, other.ID); err != nil {
		t.Errorf("ClientByID(%s) after deleting another: %v", other.ID, err)
	}
	if got := clientEventTypes(t, s, c); !slices.Equal(got, []string{"client.created", "client.deleted"}) {
		t.Errorf("events: got %v, want client.created, client.deleted", got)
	}
	if err := s.DeleteClient(ctx, c.ID, clientEvent(t, "client.deleted", c)); !isClientNotFound(err) {
		t.Errorf("second DeleteClient: got %v, want not found", err)
	}
}
