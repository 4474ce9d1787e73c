package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/keyring"
	"github.com/portvakt/portvakt/internal/store"
)

// wrappedKey returns a data key as the keyring would store it; the wrapped
// bytes include a NUL and a byte that is not UTF-8, which must survive.
func wrappedKey(id string, created time.Time, active bool) keyring.WrappedKey {
	return keyring.WrappedKey{ID: id, MasterKeyID: "master-1", Wrapped: []byte("wrapped\x00\xff" + id), CreatedAt: created, Active: active}
}

// keyringKeys returns the stored data keys.
func keyringKeys(t testing.TB, s *store.Store) []keyring.WrappedKey {
	t.Helper()
	keys, err := s.KeyringKeys(t.Context())
	must(t, err, "KeyringKeys")
	return keys
}

// asStored is k as KeyringKeys returns it.
func asStored(k keyring.WrappedKey) keyring.WrappedKey {
	k.CreatedAt = stored(k.CreatedAt)
	return k
}

func testKeyringKeys(t *testing.T, e Engine) {
	t.Run("Create", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		if got := keyringKeys(t, s); len(got) != 0 {
			t.Fatalf("KeyringKeys of a new database: got %d keys, want 0", len(got))
		}
		k1 := wrappedKey("k1", base, true)
		k2 := wrappedKey("k2", base.Add(time.Hour), true)
		k3 := wrappedKey("k3", base.Add(2*time.Hour), false)
		k0 := wrappedKey("k0", base.Add(-time.Hour), false)
		steps := []struct {
			create keyring.WrappedKey
			want   []keyring.WrappedKey // in CreatedAt order
		}{
			{k1, []keyring.WrappedKey{k1}},
			// A new active key deactivates the others.
			{k2, []keyring.WrappedKey{inactive(k1), k2}},
			// An inactive one leaves the active key alone.
			{k3, []keyring.WrappedKey{inactive(k1), k2, k3}},
			// Keys come back in creation-time order, not insertion order.
			{k0, []keyring.WrappedKey{k0, inactive(k1), k2, k3}},
		}
		for _, st := range steps {
			ev := newEvent(t, "keyring.key_created", "keyring_key:"+st.create.ID, nil)
			must(t, s.CreateKeyringKey(ctx, st.create, ev), "CreateKeyringKey(%s)", st.create.ID)
			want := make([]keyring.WrappedKey, len(st.want))
			for i, k := range st.want {
				want[i] = asStored(k)
			}
			if diff := cmp.Diff(want, keyringKeys(t, s)); diff != "" {
				t.Errorf("KeyringKeys after creating %s (-want +got):\n%s", st.create.ID, diff)
			}
			// The event is written with the key.
			got, err := s.EventsFor(ctx, ev.Subject, 10)
			must(t, err, "EventsFor")
			if diff := cmp.Diff([]string{ev.UUID}, uuids(got)); diff != "" {
				t.Errorf("events about %s (-want +got):\n%s", st.create.ID, diff)
			}
		}
	})

	t.Run("CreateIsAtomic", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		k1 := wrappedKey("k1", base, true)
		must(t, s.CreateKeyringKey(ctx, k1, newEvent(t, "keyring.key_created", "keyring_key:k1", nil)), "CreateKeyringKey")
		before := allEvents(t, s)

		bad := newEvent(t, "keyring.key_created", "keyring_key:k2", nil)
		bad.Data = nil
		if err := s.CreateKeyringKey(ctx, wrappedKey("k2", base.Add(time.Hour), true), bad); err == nil {
			t.Error("CreateKeyringKey with an invalid event: got no error, want one")
		}
		dup := wrappedKey("k1", base.Add(time.Hour), true)
		if err := s.CreateKeyringKey(ctx, dup, newEvent(t, "keyring.key_created", "keyring_key:k1", nil)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateKeyringKey with a taken ID: got %v, want ErrConflict", err)
		}
		// Neither the new key nor the deactivation of k1 nor an event was
		// written.
		if diff := cmp.Diff([]keyring.WrappedKey{asStored(k1)}, keyringKeys(t, s)); diff != "" {
			t.Errorf("KeyringKeys after failed creates (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
			t.Errorf("event log after failed creates (-want +got):\n%s", diff)
		}
	})

	t.Run("Rewrap", func(t *testing.T) {
		errBoom := errors.New("boom")
		rewrapped := func(k keyring.WrappedKey) keyring.WrappedKey {
			k.MasterKeyID, k.Wrapped = "master-2", append([]byte("rewrapped "), k.Wrapped...)
			return k
		}
		tests := []struct {
			name string
			// fn is called with the index of the key in CreatedAt order.
			fn        func(i int, k keyring.WrappedKey) (keyring.WrappedKey, bool, error)
			badEvent  bool
			wantErr   bool
			errIs     error // if set, the error wraps it
			wantCalls []string
			wantN     int
			wantKeys  func(keys []keyring.WrappedKey) []keyring.WrappedKey
			wantEvent bool
		}{
			{
				name: "changes what fn changes",
				fn: func(i int, k keyring.WrappedKey) (keyring.WrappedKey, bool, error) {
					if i == 1 {
						return k, false, nil
					}
					return rewrapped(k), true, nil
				},
				wantCalls: []string{"a", "b", "c"},
				wantN:     2,
				wantKeys: func(keys []keyring.WrappedKey) []keyring.WrappedKey {
					return []keyring.WrappedKey{rewrapped(keys[0]), keys[1], rewrapped(keys[2])}
				},
				wantEvent: true,
			},
			{
				name: "nothing to change writes no event",
				fn: func(_ int, k keyring.WrappedKey) (keyring.WrappedKey, bool, error) {
					return k, false, nil
				},
				wantCalls: []string{"a", "b", "c"},
			},
			{
				name: "an error on the second key undoes the first",
				fn: func(i int, k keyring.WrappedKey) (keyring.WrappedKey, bool, error) {
					if i == 1 {
						return k, false, errBoom
					}
					return rewrapped(k), true, nil
				},
				wantErr:   true,
				errIs:     errBoom,
				wantCalls: []string{"a", "b"},
			},
			{
				name: "an invalid event undoes everything",
				fn: func(_ int, k keyring.WrappedKey) (keyring.WrappedKey, bool, error) {
					return rewrapped(k), true, nil
				},
				badEvent:  true,
				wantErr:   true,
				wantCalls: []string{"a", "b", "c"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				s := Open(t, e)
				for i, id := range []string{"a", "b", "c"} {
					k := wrappedKey(id, base.Add(time.Duration(i)*time.Minute), i == 2)
					must(t, s.CreateKeyringKey(ctx, k, newEvent(t, "keyring.key_created", "keyring_key:"+id, nil)), "CreateKeyringKey")
				}
				before := keyringKeys(t, s)
				logBefore := allEvents(t, s)

				ev := newEvent(t, "keyring.master_rotated", "keyring:master", nil)
				if tt.badEvent {
					ev.Type = "rotated"
				}
				var seen []string
				n, err := s.RewrapKeyringKeys(ctx, func(k keyring.WrappedKey) (keyring.WrappedKey, bool, error) {
					seen = append(seen, k.ID)
					return tt.fn(len(seen)-1, k)
				}, ev)
				switch {
				case !tt.wantErr && err != nil:
					t.Fatalf("RewrapKeyringKeys: %v", err)
				case tt.wantErr && err == nil:
					t.Fatal("RewrapKeyringKeys: got no error, want one")
				case tt.errIs != nil && !errors.Is(err, tt.errIs):
					t.Fatalf("RewrapKeyringKeys: got %v, want %v", err, tt.errIs)
				}
				if n != tt.wantN {
					t.Errorf("RewrapKeyringKeys: got %d re-wrapped, want %d", n, tt.wantN)
				}
				if diff := cmp.Diff(tt.wantCalls, seen); diff != "" {
					t.Errorf("RewrapKeyringKeys called fn with keys (-want +got):\n%s", diff)
				}

				wantKeys := before
				if tt.wantKeys != nil {
					wantKeys = tt.wantKeys(before)
				}
				if diff := cmp.Diff(wantKeys, keyringKeys(t, s)); diff != "" {
					t.Errorf("KeyringKeys after RewrapKeyringKeys (-want +got):\n%s", diff)
				}
				wantLog := uuids(logBefore)
				if tt.wantEvent {
					wantLog = append(wantLog, ev.UUID)
				}
				if diff := cmp.Diff(wantLog, uuids(allEvents(t, s))); diff != "" {
					t.Errorf("event log after RewrapKeyringKeys (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// inactive returns k, no longer active.
func inactive(k keyring.WrappedKey) keyring.WrappedKey {
	k.Active = false
	return k
}
