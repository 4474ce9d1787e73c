package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/signing"
	"github.com/portvakt/portvakt/internal/store"
)

// RunSigning is the conformance suite for the signing keys' records (the
// signing.Store methods) on engine e. Call it once per engine, typically
// through ForEachEngine.
func RunSigning(t *testing.T, e Engine) {
	t.Run("CreateAndRead", func(t *testing.T) { testSigningCreateAndRead(t, e) })
	t.Run("Transitions", func(t *testing.T) { testSigningTransitions(t, e) })
	t.Run("NothingWritten", func(t *testing.T) { testSigningNothingWritten(t, e) })
	t.Run("OnePerAlgorithm", func(t *testing.T) { testSigningOnePerAlgorithm(t, e) })
	t.Run("Serialized", func(t *testing.T) { testSigningSerialized(t, e) })
	t.Run("Closed", func(t *testing.T) { testSigningClosed(t, e) })
}

// signingRecord returns a key record as signing.Keys would store it. Its
// sealed bytes include a NUL and a byte that is not UTF-8, which must
// survive.
func signingRecord(id string, alg jose.SignatureAlgorithm, state signing.State, created time.Time) signing.Record {
	r := signing.Record{
		ID:            id,
		Algorithm:     alg,
		State:         state,
		SealedPrivate: []byte("sealed\x00\xff" + id),
		PublicJWK:     []byte(fmt.Sprintf(`{"kid":%q,"alg":%q,"use":"sig"}`, id, alg)),
		CreatedAt:     created,
	}
	switch state {
	case signing.StateActive:
		r.ActivatedAt = created
	case signing.StateRetired:
		r.ActivatedAt, r.RetiredAt, r.RetireUntil = created, created.Add(time.Hour), created.Add(25*time.Hour)
	}
	return r
}

// signingAsStored is r as the store gives it back: times in UTC, truncated
// to microseconds.
func signingAsStored(r signing.Record) signing.Record {
	for _, tm := range []*time.Time{&r.CreatedAt, &r.ActivatedAt, &r.RetiredAt, &r.RetireUntil} {
		if !tm.IsZero() {
			*tm = stored(*tm)
		}
	}
	return r
}

// signingEvent describes a change to r.
func signingEvent(t testing.TB, typ string, r signing.Record) events.Event {
	t.Helper()
	return newEvent(t, typ, "signing_key:"+r.ID, map[string]any{"alg": r.Algorithm})
}

// signingKeys returns the stored keys, checking that their times are in
// UTC.
func signingKeys(t testing.TB, s *store.Store) []signing.Record {
	t.Helper()
	keys, err := s.SigningKeys(t.Context())
	must(t, err, "SigningKeys")
	for _, k := range keys {
		for _, tm := range []time.Time{k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.RetireUntil} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("key %s: time %v is in %s, want UTC", k.ID, tm, tm.Location())
			}
		}
	}
	return keys
}

func signingVersion(t testing.TB, s *store.Store) int64 {
	t.Helper()
	v, err := s.SigningKeysVersion(t.Context())
	must(t, err, "SigningKeysVersion")
	return v
}

// applySigning runs UpdateSigningKeys with fixed changes and returns the
// keys fn was given.
func applySigning(t testing.TB, s *store.Store, ch signing.Changes) ([]signing.Record, error) {
	t.Helper()
	var seen []signing.Record
	err := s.UpdateSigningKeys(t.Context(), func(keys []signing.Record) (signing.Changes, error) {
		seen = keys
		return ch, nil
	})
	return seen, err
}

// signingSnapshot is everything a failed update must leave as it was.
type signingSnapshot struct {
	keys    []signing.Record
	version int64
	events  []string
}

func takeSigningSnapshot(t testing.TB, s *store.Store) signingSnapshot {
	t.Helper()
	return signingSnapshot{keys: signingKeys(t, s), version: signingVersion(t, s), events: uuids(allEvents(t, s))}
}

func checkSigningUnchanged(t testing.TB, s *store.Store, before signingSnapshot, what string) {
	t.Helper()
	after := takeSigningSnapshot(t, s)
	if d := cmp.Diff(before.keys, after.keys); d != "" {
		t.Errorf("keys after %s (-before +after):\n%s", what, d)
	}
	if after.version != before.version {
		t.Errorf("version after %s: got %d, want %d (unchanged)", what, after.version, before.version)
	}
	if d := cmp.Diff(before.events, after.events); d != "" {
		t.Errorf("event log after %s (-before +after):\n%s", what, d)
	}
}

func testSigningCreateAndRead(t *testing.T, e Engine) {
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	if got := signingKeys(t, s); len(got) != 0 {
		t.Fatalf("SigningKeys of a new database: got %d keys, want 0", len(got))
	}
	v0 := signingVersion(t, s)

	// Created in one order, read back in creation-time order.
	a := signingRecord("a", jose.RS256, signing.StateActive, base.Add(time.Hour))
	b := signingRecord("b", jose.ES256, signing.StateNext, base)
	c := signingRecord("c", jose.EdDSA, signing.StateRetired, base.Add(2*time.Hour))
	evs := []events.Event{signingEvent(t, "signing_key.created", a), signingEvent(t, "signing_key.created", b), signingEvent(t, "signing_key.created", c)}
	seen, err := applySigning(t, s, signing.Changes{Create: []signing.Record{a, b, c}, Events: evs})
	must(t, err, "UpdateSigningKeys creating three keys")
	if len(seen) != 0 {
		t.Errorf("UpdateSigningKeys on a new database: fn got %d keys, want 0", len(seen))
	}
	want := []signing.Record{signingAsStored(b), signingAsStored(a), signingAsStored(c)}
	if d := cmp.Diff(want, signingKeys(t, s)); d != "" {
		t.Errorf("SigningKeys (-want +got):\n%s", d)
	}
	if v := signingVersion(t, s); v == v0 {
		t.Errorf("SigningKeysVersion after a change: got %d, the same as before", v)
	}
	for _, ev := range evs {
		got, err := s.EventsFor(t.Context(), ev.Subject, 10)
		must(t, err, "EventsFor")
		if d := cmp.Diff([]string{ev.UUID}, uuids(got)); d != "" {
			t.Errorf("events about %s (-want +got):\n%s", ev.Subject, d)
		}
	}

	// fn sees the stored keys, in the same order.
	seen, err = applySigning(t, s, signing.Changes{})
	must(t, err, "UpdateSigningKeys changing nothing")
	if d := cmp.Diff(want, seen); d != "" {
		t.Errorf("keys given to fn (-want +got):\n%s", d)
	}

	// Another node on the same database sees the same keys and version.
	other := OpenURL(t, rawURL)
	if d := cmp.Diff(want, signingKeys(t, other)); d != "" {
		t.Errorf("SigningKeys from another Store (-want +got):\n%s", d)
	}
	if v, w := signingVersion(t, other), signingVersion(t, s); v != w {
		t.Errorf("SigningKeysVersion from another Store: got %d, want %d", v, w)
	}
}

func testSigningTransitions(t *testing.T, e Engine) {
	s := Open(t, e)
	a := signingRecord("a", jose.ES256, signing.StateActive, base)
	n := signingRecord("n", jose.ES256, signing.StateNext, base.Add(time.Hour))
	_, err := applySigning(t, s, signing.Changes{Create: []signing.Record{a, n},
		Events: []events.Event{signingEvent(t, "signing_key.created", a), signingEvent(t, "signing_key.created", n)}})
	must(t, err, "create")

	// The next key takes over: it is listed before the retirement, and
	// the store still must not have two active keys at any moment.
	at := base.Add(48 * time.Hour)
	retired := a
	retired.State, retired.RetiredAt, retired.RetireUntil = signing.StateRetired, at, at.Add(24*time.Hour)
	active := n
	active.State, active.ActivatedAt = signing.StateActive, at
	v := signingVersion(t, s)
	_, err = applySigning(t, s, signing.Changes{Update: []signing.Record{active, retired},
		Events: []events.Event{signingEvent(t, "signing_key.activated", active), signingEvent(t, "signing_key.retired", retired)}})
	must(t, err, "promote and retire")
	if d := cmp.Diff([]signing.Record{signingAsStored(retired), signingAsStored(active)}, signingKeys(t, s)); d != "" {
		t.Errorf("keys after the rotation (-want +got):\n%s", d)
	}
	if signingVersion(t, s) == v {
		t.Error("SigningKeysVersion did not change with the rotation")
	}

	// Only state and times change: the rest of a stored key stays.
	tampered := active
	tampered.SealedPrivate, tampered.PublicJWK, tampered.Algorithm = []byte("other"), []byte(`{}`), jose.RS256
	_, err = applySigning(t, s, signing.Changes{Update: []signing.Record{tampered}, Events: []events.Event{signingEvent(t, "signing_key.activated", tampered)}})
	must(t, err, "update with other material")
	if d := cmp.Diff([]signing.Record{signingAsStored(retired), signingAsStored(active)}, signingKeys(t, s)); d != "" {
		t.Errorf("keys after an update that carried other key material (-want +got):\n%s", d)
	}

	_, err = applySigning(t, s, signing.Changes{Delete: []string{"a"}, Events: []events.Event{signingEvent(t, "signing_key.deleted", retired)}})
	must(t, err, "delete")
	if d := cmp.Diff([]signing.Record{signingAsStored(active)}, signingKeys(t, s)); d != "" {
		t.Errorf("keys after deleting a (-want +got):\n%s", d)
	}
	got, err := s.EventsFor(t.Context(), "signing_key:a", 10)
	must(t, err, "EventsFor")
	if d := cmp.Diff([]string{"signing_key.deleted", "signing_key.retired", "signing_key.created"}, signingEventTypes(got)); d != "" {
		t.Errorf("events about a, newest first (-want +got):\n%s", d)
	}
}

func signingEventTypes(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func testSigningNothingWritten(t *testing.T, e Engine) {
	s := Open(t, e)
	a := signingRecord("a", jose.ES256, signing.StateActive, base)
	_, err := applySigning(t, s, signing.Changes{Create: []signing.Record{a}, Events: []events.Event{signingEvent(t, "signing_key.created", a)}})
	must(t, err, "create")
	b := signingRecord("b", jose.RS256, signing.StateActive, base)
	created := signingEvent(t, "signing_key.created", b)
	retiredA := a
	retiredA.State, retiredA.RetiredAt, retiredA.RetireUntil = signing.StateRetired, base, base.Add(time.Hour)
	badEvent := created
	badEvent.Type = "created"
	errBoom := errors.New("boom")

	tests := []struct {
		name    string
		ch      signing.Changes
		fnErr   error
		wantErr error // nil: no error wanted
		anyErr  bool  // some error, of no particular kind
	}{
		{name: "no changes"},
		{name: "no changes with events", ch: signing.Changes{Events: []events.Event{created}}},
		{name: "fn fails", ch: signing.Changes{Create: []signing.Record{b}, Events: []events.Event{created}}, fnErr: errBoom, wantErr: errBoom},
		{name: "changes without events", ch: signing.Changes{Create: []signing.Record{b}}, anyErr: true},
		{name: "an invalid event", ch: signing.Changes{Create: []signing.Record{b}, Events: []events.Event{badEvent}}, anyErr: true},
		{name: "a taken ID undoes the update", ch: signing.Changes{
			Update: []signing.Record{retiredA}, Create: []signing.Record{signingRecord("a", jose.RS256, signing.StateNext, base)}, Events: []events.Event{created},
		}, wantErr: store.ErrConflict},
		{name: "updating a missing key undoes the delete", ch: signing.Changes{
			Delete: []string{"a"}, Update: []signing.Record{signingRecord("missing", jose.ES256, signing.StateRetired, base)}, Events: []events.Event{created},
		}, wantErr: store.ErrNotFound},
		{name: "deleting a missing key", ch: signing.Changes{Delete: []string{"missing"}, Events: []events.Event{created}}, wantErr: store.ErrNotFound},
		{name: "an unknown state", ch: signing.Changes{Create: []signing.Record{signingRecord("p", jose.RS256, "paused", base)}, Events: []events.Event{created}}, anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := takeSigningSnapshot(t, s)
			err := s.UpdateSigningKeys(t.Context(), func([]signing.Record) (signing.Changes, error) { return tt.ch, tt.fnErr })
			switch {
			case tt.wantErr == nil && !tt.anyErr && err != nil:
				t.Errorf("UpdateSigningKeys: %v", err)
			case (tt.wantErr != nil || tt.anyErr) && err == nil:
				t.Errorf("UpdateSigningKeys: got no error, want one")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("UpdateSigningKeys: got %v, want %v", err, tt.wantErr)
			}
			checkSigningUnchanged(t, s, before, tt.name)
		})
	}
}

func testSigningOnePerAlgorithm(t *testing.T, e Engine) {
	s := Open(t, e)
	var ch signing.Changes
	for i, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		for _, state := range []signing.State{signing.StateActive, signing.StateNext, signing.StateRetired, signing.StateRetired} {
			r := signingRecord(fmt.Sprintf("%s-%s-%d", alg, state, len(ch.Create)), alg, state, base.Add(time.Duration(i)*time.Minute))
			ch.Create = append(ch.Create, r)
			ch.Events = append(ch.Events, signingEvent(t, "signing_key.created", r))
		}
	}
	_, err := applySigning(t, s, ch)
	must(t, err, "create an active, a next and two retired keys per algorithm")

	for _, state := range []signing.State{signing.StateActive, signing.StateNext} {
		t.Run("second "+string(state), func(t *testing.T) {
			before := takeSigningSnapshot(t, s)
			r := signingRecord("second-"+string(state), jose.ES256, state, base)
			_, err := applySigning(t, s, signing.Changes{Create: []signing.Record{r}, Events: []events.Event{signingEvent(t, "signing_key.created", r)}})
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("creating a second %s ES256 key: got %v, want ErrConflict", state, err)
			}
			checkSigningUnchanged(t, s, before, "the refused create")

			// Nor may an update make one.
			retired := before.keys[len(before.keys)-1]
			promoted := retired
			promoted.State = state
			_, err = applySigning(t, s, signing.Changes{Update: []signing.Record{promoted}, Events: []events.Event{signingEvent(t, "signing_key.activated", promoted)}})
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("making retired key %s %s beside the %s key: got %v, want ErrConflict", retired.ID, state, state, err)
			}
			checkSigningUnchanged(t, s, before, "the refused update")
		})
	}
}

// testSigningSerialized checks that UpdateSigningKeys calls on one database
// take turns, from one Store or several (nodes): each fn sees the keys of
// every update that committed before it. If two ran side by side, both
// would see the same keys and create the same ID, and one would fail.
func testSigningSerialized(t *testing.T, e Engine) {
	rawURL := e.NewURL(t)
	nodes := []*store.Store{OpenURL(t, rawURL), OpenURL(t, rawURL), OpenURL(t, rawURL)}
	const updates = 9
	errs := make([]error, updates)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range updates {
		s := nodes[i%len(nodes)]
		wg.Go(func() {
			<-start
			errs[i] = s.UpdateSigningKeys(t.Context(), func(keys []signing.Record) (signing.Changes, error) {
				// Give another update every chance to run at the same
				// time.
				time.Sleep(5 * time.Millisecond)
				r := signingRecord(fmt.Sprintf("k%02d", len(keys)), jose.ES256, signing.StateRetired, base.Add(time.Duration(len(keys))*time.Second))
				return signing.Changes{Create: []signing.Record{r}, Events: []events.Event{newEvent(t, "signing_key.created", "signing_key:"+r.ID, nil)}}, nil
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
	var ids []string
	for _, k := range signingKeys(t, nodes[0]) {
		ids = append(ids, k.ID)
	}
	var want []string
	for i := range updates {
		want = append(want, fmt.Sprintf("k%02d", i))
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("keys after %d concurrent updates (-want +got):\n%s", updates, d)
	}
}

func testSigningClosed(t *testing.T, e Engine) {
	s := Open(t, e)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.SigningKeys(t.Context()); err == nil {
		t.Error("SigningKeys after Close: got no error, want one")
	}
	if _, err := s.SigningKeysVersion(t.Context()); err == nil {
		t.Error("SigningKeysVersion after Close: got no error, want one")
	}
	called := false
	err := s.UpdateSigningKeys(t.Context(), func([]signing.Record) (signing.Changes, error) {
		called = true
		return signing.Changes{}, nil
	})
	if err == nil || called {
		t.Errorf("UpdateSigningKeys after Close: got error %v and fn called %v, want an error and no call", err, called)
	}
}
