package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
)

// Run is the storage conformance suite: it checks that the store behaves the
// same on engine e as on every other. Each test opens fresh databases of e,
// so the tests are independent of each other and of their order. Call it
// once per engine, typically through ForEachEngine.
func Run(t *testing.T, e Engine) {
	t.Run("Schema", func(t *testing.T) { testSchema(t, e) })
	t.Run("Events", func(t *testing.T) { testEvents(t, e) })
	t.Run("EventOrder", func(t *testing.T) { testEventOrder(t, e) })
	t.Run("QueryEvents", func(t *testing.T) { testQueryEvents(t, e) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, e) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, e) })
	t.Run("KeyringKeys", func(t *testing.T) { testKeyringKeys(t, e) })
	t.Run("Users", func(t *testing.T) { testUsers(t, e) })
	t.Run("UpdateUser", func(t *testing.T) { testUpdateUser(t, e) })
	t.Run("QueryUsers", func(t *testing.T) { testQueryUsers(t, e) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, e) })
	t.Run("RedeemTokens", func(t *testing.T) { testRedeemTokens(t, e) })
	t.Run("RedeemToken", func(t *testing.T) { testRedeemToken(t, e) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, e) })
	t.Run("Flows", func(t *testing.T) { testFlows(t, e) })
	t.Run("Throttle", func(t *testing.T) { testThrottle(t, e) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, e) })
}

// base is the suite's clock: not UTC and with nanoseconds, so that tests see
// the store convert to UTC and truncate to microseconds.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// stored is t as the store gives it back: UTC, truncated to microseconds.
func stored(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// openUnmigrated opens the database at rawURL without migrating it, closed
// when the test ends.
func openUnmigrated(t *testing.T, rawURL string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), rawURL)
	must(t, err, "open %s", store.Redact(rawURL))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newEvent builds a valid event about subject at base.
func newEvent(t testing.TB, typ, subject string, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, subject, "system:test", base, data)
	must(t, err, "new event")
	return ev
}

// allEvents returns the whole event log.
func allEvents(t testing.TB, s *store.Store) []events.Event {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), 0, 1_000_000)
	must(t, err, "EventsAfter(0)")
	return evs
}

// uuids returns the UUIDs of evs, in order.
func uuids(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.UUID)
	}
	return out
}

// increasing reports whether vs is strictly increasing.
func increasing(vs []int64) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i] <= vs[i-1] {
			return false
		}
	}
	return true
}

// ---- Schema ----

func testSchema(t *testing.T, e Engine) {
	t.Run("FromEmptyToLatest", func(t *testing.T) {
		ctx := t.Context()
		rawURL := e.NewURL(t)
		s := openUnmigrated(t, rawURL)

		current, latest, err := s.SchemaVersion(ctx)
		must(t, err, "SchemaVersion of an empty database")
		if current != 0 {
			t.Errorf("SchemaVersion of an empty database: got current %d, want 0", current)
		}
		if latest < 1 {
			t.Fatalf("SchemaVersion: got latest %d, want at least 1", latest)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, store.ErrSchemaBehind) {
			t.Errorf("CheckSchema of an empty database: got %v, want ErrSchemaBehind", err)
		}

		applied, err := s.Migrate(ctx, nil)
		must(t, err, "Migrate an empty database")
		if len(applied) == 0 || applied[0] < 1 || applied[len(applied)-1] != latest || !increasing(applied) {
			t.Errorf("Migrate an empty database: got versions %v applied, want ascending versions up to %d", applied, latest)
		}
		current, latest2, err := s.SchemaVersion(ctx)
		must(t, err, "SchemaVersion after Migrate")
		if current != latest || latest2 != latest {
			t.Errorf("SchemaVersion after Migrate: got %d, %d, want %d, %d", current, latest2, latest, latest)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema after Migrate: got %v, want nil", err)
		}
		again, err := s.Migrate(ctx, nil)
		must(t, err, "second Migrate")
		if len(again) != 0 {
			t.Errorf("second Migrate: got versions %v applied, want none", again)
		}

		// The schema is in the database, not in the Store: a new Store
		// finds it current.
		s2 := openUnmigrated(t, rawURL)
		if err := s2.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema from a new Store: got %v, want nil", err)
		}
		if again, err := s2.Migrate(ctx, nil); err != nil || len(again) != 0 {
			t.Errorf("Migrate from a new Store: got %v, %v, want nothing applied and no error", again, err)
		}
	})

	t.Run("TooNew", func(t *testing.T) {
		ctx := t.Context()
		rawURL := e.NewURL(t)
		s := OpenURL(t, rawURL)
		_, latest, err := s.SchemaVersion(ctx)
		must(t, err, "SchemaVersion")
		// A newer binary migrated the database one version further.
		_, err = e.RawDB(t, rawURL).ExecContext(ctx,
			`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, $2)`, latest+1, true)
		must(t, err, "record a newer schema version")

		checks := []struct {
			name string
			run  func(s *store.Store) error
		}{
			{"Migrate", func(s *store.Store) error { _, err := s.Migrate(ctx, nil); return err }},
			{"CheckSchema", func(s *store.Store) error { return s.CheckSchema(ctx) }},
		}
		for _, c := range checks {
			t.Run(c.name, func(t *testing.T) {
				for _, st := range []struct {
					desc string
					s    *store.Store
				}{{"the Store that migrated", s}, {"a new Store", openUnmigrated(t, rawURL)}} {
					err := c.run(st.s)
					if !errors.Is(err, store.ErrSchemaTooNew) {
						t.Fatalf("%s on %s: got %v, want ErrSchemaTooNew", c.name, st.desc, err)
					}
					for _, v := range []int64{latest + 1, latest} {
						if !regexp.MustCompile(fmt.Sprintf(`\b%d\b`, v)).MatchString(err.Error()) {
							t.Errorf("%s on %s: got message %q, want it to name version %d", c.name, st.desc, err, v)
						}
					}
				}
			})
		}
		current, _, err := s.SchemaVersion(ctx)
		must(t, err, "SchemaVersion")
		if current != latest+1 {
			t.Errorf("SchemaVersion after the refused Migrate: got %d, want %d", current, latest+1)
		}
	})

	t.Run("ConcurrentMigrate", func(t *testing.T) {
		// Nodes starting together on one database all migrate; the
		// migration lock makes them take turns instead of failing.
		tests := []struct {
			name    string
			prepare func(t *testing.T, s *store.Store)
		}{
			{"empty database", func(*testing.T, *store.Store) {}},
			{"version table exists", func(t *testing.T, s *store.Store) {
				// Reading the version of an empty database creates the
				// version table, as a node's readiness check would: the
				// nodes then race on the migrations themselves.
				_, _, err := s.SchemaVersion(t.Context())
				must(t, err, "SchemaVersion")
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				rawURL := e.NewURL(t)
				const nodes = 2
				stores := make([]*store.Store, nodes)
				for i := range stores {
					stores[i] = openUnmigrated(t, rawURL)
				}
				tt.prepare(t, stores[0])
				applied := make([][]int64, nodes)
				errs := make([]error, nodes)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i, s := range stores {
					wg.Go(func() {
						<-start
						applied[i], errs[i] = s.Migrate(ctx, nil)
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("Migrate on node %d: %v", i, err)
					}
				}
				_, latest, err := stores[0].SchemaVersion(ctx)
				must(t, err, "SchemaVersion")
				all := slices.Concat(applied...)
				slices.Sort(all)
				if len(all) == 0 || all[0] < 1 || all[len(all)-1] != latest || !increasing(all) {
					t.Errorf("concurrent Migrate: got versions %v applied (per node %v), want each version up to %d applied once", all, applied, latest)
				}
				for i, s := range stores {
					if err := s.CheckSchema(ctx); err != nil {
						t.Errorf("CheckSchema on node %d: %v", i, err)
					}
				}
			})
		}
	})
}

// ---- Closed ----

func testClosed(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ev := newEvent(t, "test.happened", "test:1", nil)
	u := accounts.User{ID: accounts.NewID(), Email: "closed@example.com", CreatedAt: base, UpdatedAt: base}
	must(t, u.Validate(), "validate user")
	wk := keyring.WrappedKey{ID: "k1", MasterKeyID: "m1", Wrapped: []byte("w"), CreatedAt: base, Active: true}
	ops := []struct {
		name string
		run  func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"SchemaVersion", func() error { _, _, err := s.SchemaVersion(ctx); return err }},
		{"CheckSchema", func() error { return s.CheckSchema(ctx) }},
		{"Migrate", func() error { _, err := s.Migrate(ctx, nil); return err }},
		{"AppendEvents", func() error { return s.AppendEvents(ctx, ev) }},
		{"EventsAfter", func() error { _, err := s.EventsAfter(ctx, 0, 10); return err }},
		{"EventsFor", func() error { _, err := s.EventsFor(ctx, "test:1", 10); return err }},
		{"Checkpoint", func() error { _, err := s.Checkpoint(ctx, "c"); return err }},
		{"SaveCheckpoint", func() error { return s.SaveCheckpoint(ctx, "c", "h", 1, base) }},
		{"AcquireLease", func() error { _, err := s.AcquireLease(ctx, "c", "h", base, base.Add(time.Minute)); return err }},
		{"ReleaseLease", func() error { return s.ReleaseLease(ctx, "c", "h") }},
		{"KeyringKeys", func() error { _, err := s.KeyringKeys(ctx); return err }},
		{"CreateKeyringKey", func() error { return s.CreateKeyringKey(ctx, wk, ev) }},
		{"RewrapKeyringKeys", func() error {
			_, err := s.RewrapKeyringKeys(ctx, func(k keyring.WrappedKey) (keyring.WrappedKey, bool, error) { return k, true, nil }, ev)
			return err
		}},
		{"CreateUser", func() error { return s.CreateUser(ctx, u, ev) }},
		{"UserByID", func() error { _, err := s.UserByID(ctx, u.ID); return err }},
		{"UserByEmail", func() error { _, err := s.UserByEmail(ctx, u.EmailNormalized); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx, "", 10); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s after Close panicked: %v", op.name, r)
				}
			}()
			if err := op.run(); err == nil {
				t.Errorf("%s after Close: got no error, want one", op.name)
			}
		})
	}
}
