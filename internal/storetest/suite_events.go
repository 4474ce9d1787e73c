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

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/store"
)

func testEvents(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		want := []events.Event{
			newEvent(t, "user.registered", "user:1", nil),
			newEvent(t, "user.email_verified", "user:1", map[string]any{"email": "ada@example.com"}),
			newEvent(t, "keyring.master_rotated", "keyring:master", nil),
		}
		// Data is kept byte for byte, whitespace and escapes included.
		want[1].Data = json.RawMessage(`{ "spaced" : true, "nested": {"list": [1, 2.5, null, "åäö \u2028 \"q\" <&>"]} }`)
		want[2].Actor = "user:2"
		// Times come back in UTC, truncated to microseconds.
		want[2].Time = base.Add(1234567 * time.Nanosecond)
		must(t, s.AppendEvents(ctx, want[0], want[1]), "AppendEvents")
		must(t, s.AppendEvents(ctx, want[2]), "AppendEvents")

		got := allEvents(t, s)
		if len(got) != len(want) {
			t.Fatalf("EventsAfter(0): got %d events, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Position <= 0 || i > 0 && got[i].Position <= got[i-1].Position {
				t.Errorf("event %d: got position %d after %d, want positions that grow from 1", i, got[i].Position, got[max(i-1, 0)].Position)
			}
			if loc := got[i].Time.Location(); loc != time.UTC {
				t.Errorf("event %d: got time in %v, want UTC", i, loc)
			}
			want[i].Position = got[i].Position
			want[i].Time = stored(want[i].Time)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("EventsAfter(0) (-want +got):\n%s", diff)
		}
	})

	t.Run("AfterAndLimit", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		for i := range 10 {
			must(t, s.AppendEvents(ctx, newEvent(t, "test.happened", fmt.Sprintf("test:%d", i), nil)), "AppendEvents")
		}
		log := allEvents(t, s)
		if len(log) != 10 {
			t.Fatalf("EventsAfter(0): got %d events, want 10", len(log))
		}
		tests := []struct {
			name  string
			after int64
			limit int
			want  []events.Event
		}{
			{"first page", 0, 3, log[:3]},
			{"middle page", log[2].Position, 3, log[3:6]},
			{"last page shorter than limit", log[7].Position, 5, log[8:]},
			{"limit exactly the rest", log[7].Position, 2, log[8:]},
			{"after the end", log[9].Position, 5, nil},
			{"limit of one", log[4].Position, 1, log[5:6]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.EventsAfter(ctx, tt.after, tt.limit)
				must(t, err, "EventsAfter(%d, %d)", tt.after, tt.limit)
				if diff := cmp.Diff(uuids(tt.want), uuids(got)); diff != "" {
					t.Errorf("EventsAfter(%d, %d) UUIDs (-want +got):\n%s", tt.after, tt.limit, diff)
				}
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		tests := []struct {
			name   string
			mutate func(*events.Event)
		}{
			{"type without verb", func(e *events.Event) { e.Type = "user" }},
			{"type in camel case", func(e *events.Event) { e.Type = "User.Registered" }},
			{"empty type", func(e *events.Event) { e.Type = "" }},
			{"empty subject", func(e *events.Event) { e.Subject = "" }},
			{"empty actor", func(e *events.Event) { e.Actor = "" }},
			{"empty UUID", func(e *events.Event) { e.UUID = "" }},
			{"zero time", func(e *events.Event) { e.Time = time.Time{} }},
			{"array data", func(e *events.Event) { e.Data = json.RawMessage(`[1]`) }},
			{"null data", func(e *events.Event) { e.Data = json.RawMessage(`null`) }},
			{"string data", func(e *events.Event) { e.Data = json.RawMessage(`"x"`) }},
			{"empty data", func(e *events.Event) { e.Data = nil }},
			{"malformed data", func(e *events.Event) { e.Data = json.RawMessage(`{"a":`) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				good := newEvent(t, "test.happened", "test:good", nil)
				bad := newEvent(t, "test.happened", "test:bad", nil)
				tt.mutate(&bad)
				if err := s.AppendEvents(ctx, good, bad); err == nil {
					t.Errorf("AppendEvents with %s: got no error, want one", tt.name)
				}
				// The valid event of the batch is not written either.
				if got := allEvents(t, s); len(got) != 0 {
					t.Errorf("after the refused AppendEvents: got %d events in the log, want 0", len(got))
				}
			})
		}
	})

	t.Run("DuplicateUUID", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		first := newEvent(t, "test.happened", "test:1", nil)
		must(t, s.AppendEvents(ctx, first), "AppendEvents")
		again := newEvent(t, "test.happened", "test:2", nil)
		again.UUID = first.UUID
		if err := s.AppendEvents(ctx, newEvent(t, "test.happened", "test:3", nil), again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("AppendEvents with a UUID already in the log: got %v, want ErrConflict", err)
		}
		if got := allEvents(t, s); len(got) != 1 {
			t.Errorf("after the refused AppendEvents: got %d events in the log, want 1", len(got))
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := Open(t, e)
		if err := s.AppendEvents(t.Context()); err != nil {
			t.Errorf("AppendEvents with no events: got %v, want nil", err)
		}
		if got := allEvents(t, s); len(got) != 0 {
			t.Errorf("after AppendEvents with no events: got %d events, want 0", len(got))
		}
	})

	t.Run("EventsFor", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		var a, b []events.Event
		for i := range 3 {
			a = append(a, newEvent(t, "test.happened", "test:a", map[string]int{"i": i}))
			b = append(b, newEvent(t, "test.happened", "test:b", map[string]int{"i": i}))
			must(t, s.AppendEvents(ctx, a[i]), "AppendEvents")
			must(t, s.AppendEvents(ctx, b[i]), "AppendEvents")
		}
		a2, a1, a0 := a[2].UUID, a[1].UUID, a[0].UUID
		tests := []struct {
			subject string
			limit   int
			want    []string
		}{
			{"test:a", 10, []string{a2, a1, a0}},
			{"test:a", 2, []string{a2, a1}},
			{"test:b", 1, []string{b[2].UUID}},
			{"test:none", 10, nil},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", tt.subject, tt.limit), func(t *testing.T) {
				got, err := s.EventsFor(ctx, tt.subject, tt.limit)
				must(t, err, "EventsFor")
				if diff := cmp.Diff(tt.want, uuids(got)); diff != "" {
					t.Errorf("EventsFor(%q, %d) UUIDs, newest first (-want +got):\n%s", tt.subject, tt.limit, diff)
				}
			})
		}
	})

	t.Run("LastEventAt", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		at := func(typ, subject string, when time.Time) {
			ev, err := events.New(typ, subject, "system:test", when, nil)
			must(t, err, "new event")
			must(t, s.AppendEvents(ctx, ev), "AppendEvents")
		}
		at("user.login_succeeded", "user:a", base.Add(2*time.Hour))
		at("user.login_succeeded", "user:a", base.Add(time.Hour)) // appended later, happened earlier
		at("user.updated", "user:a", base.Add(3*time.Hour))
		at("user.login_succeeded", "user:b", base.Add(5*time.Hour))
		for _, tc := range []struct {
			subject, typ string
			want         time.Time
		}{
			{"user:a", "user.login_succeeded", stored(base.Add(2 * time.Hour))},
			{"user:a", "user.deleted", time.Time{}},
			{"user:none", "user.login_succeeded", time.Time{}},
		} {
			got, err := s.LastEventAt(ctx, tc.subject, tc.typ)
			must(t, err, "LastEventAt")
			if !got.Equal(tc.want) {
				t.Errorf("LastEventAt(%s, %s) = %v, want %v", tc.subject, tc.typ, got, tc.want)
			}
		}
	})
}

// testEventOrder checks the property consumers rely on: positions grow in
// commit order, so a reader that moves its position forward past what it has
// read never misses an event that commits later. Writers append batches
// concurrently (a batch keeps its transaction open across several inserts,
// which is when a later position can commit first) while a reader polls.
func testEventOrder(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	const writers, perWriter = 8, 100

	written := make([][]string, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; {
				batch := min(1+(w+i)%4, perWriter-i)
				evs := make([]events.Event, batch)
				for j := range evs {
					ev, err := events.New("test.happened", fmt.Sprintf("writer:%d", w), "system:test", base, map[string]int{"i": i + j})
					if err != nil {
						errs <- err
						return
					}
					evs[j] = ev
				}
				if err := s.AppendEvents(ctx, evs...); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				written[w] = append(written[w], uuids(evs)...)
				i += batch
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int{}
	var pos int64
	read := func() int {
		batch, err := s.EventsAfter(ctx, pos, 50)
		if err != nil {
			t.Fatalf("EventsAfter(%d): %v", pos, err)
		}
		for _, ev := range batch {
			if ev.Position <= pos {
				t.Fatalf("EventsAfter(%d): got position %d, want only later ones", pos, ev.Position)
			}
			seen[ev.UUID]++
			pos = ev.Position
		}
		return len(batch)
	}
	for polling := true; polling; {
		select {
		case <-done:
			// Everything is committed: one last read to the end.
			for read() > 0 {
			}
			polling = false
		default:
			read()
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	all := slices.Concat(written...)
	var missed, repeated []string
	for _, id := range all {
		switch seen[id] {
		case 0:
			missed = append(missed, id)
		case 1:
		default:
			repeated = append(repeated, id)
		}
	}
	if len(missed) > 0 {
		t.Errorf("reader missed %d of %d events (committed behind its position), e.g. %v", len(missed), len(all), missed[:min(3, len(missed))])
	}
	if len(repeated) > 0 {
		t.Errorf("reader saw %d events more than once, e.g. %v", len(repeated), repeated[:min(3, len(repeated))])
	}
	if len(seen) != len(all) {
		t.Errorf("reader saw %d distinct events, want the %d written", len(seen), len(all))
	}
}

func testLeases(t *testing.T, e Engine) {
	t.Run("Sequence", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		at := func(d time.Duration) time.Time { return base.Add(d) }
		const sec = time.Second
		steps := []struct {
			desc   string
			op     string // "acquire" or "release"
			name   string
			holder string
			now    time.Time
			until  time.Time
			want   bool
		}{
			{"A acquires the free lease", "acquire", "c1", "A", at(0), at(10 * sec), true},
			{"B is refused while A's lease is valid", "acquire", "c1", "B", at(1 * sec), at(11 * sec), false},
			{"A renews", "acquire", "c1", "A", at(5 * sec), at(15 * sec), true},
			{"B is refused before the renewed lease expires", "acquire", "c1", "B", at(14 * sec), at(24 * sec), false},
			{"another lease is independent", "acquire", "c2", "B", at(14 * sec), at(24 * sec), true},
			{"B acquires once A's lease expired", "acquire", "c1", "B", at(15 * sec), at(25 * sec), true},
			{"A is refused while B holds it", "acquire", "c1", "A", at(16 * sec), at(26 * sec), false},
			{"A releasing B's lease does nothing", "release", "c1", "A", time.Time{}, time.Time{}, false},
			{"A is still refused", "acquire", "c1", "A", at(17 * sec), at(27 * sec), false},
			{"B releases", "release", "c1", "B", time.Time{}, time.Time{}, false},
			{"A acquires the released lease before B's would have expired", "acquire", "c1", "A", at(18 * sec), at(28 * sec), true},
			{"B still holds the other lease", "acquire", "c2", "A", at(18 * sec), at(28 * sec), false},
		}
		for _, st := range steps {
			switch st.op {
			case "release":
				must(t, s.ReleaseLease(ctx, st.name, st.holder), "%s: ReleaseLease", st.desc)
			case "acquire":
				got, err := s.AcquireLease(ctx, st.name, st.holder, st.now, st.until)
				must(t, err, "%s: AcquireLease", st.desc)
				if got != st.want {
					t.Fatalf("%s: AcquireLease(%s, %s) got %v, want %v", st.desc, st.name, st.holder, got, st.want)
				}
			}
		}
	})

	t.Run("ConcurrentAcquire", func(t *testing.T) {
		ctx := t.Context()
		s := Open(t, e)
		const holders = 8
		held := make([]bool, holders)
		errs := make([]error, holders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range holders {
			wg.Go(func() {
				<-start
				held[i], errs[i] = s.AcquireLease(ctx, "c", fmt.Sprintf("node-%d", i), base, base.Add(time.Minute))
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range holders {
			if errs[i] != nil {
				t.Errorf("AcquireLease by node-%d: %v", i, errs[i])
			}
			if held[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("concurrent AcquireLease of a free lease: got %d holders, want 1", winners)
		}
	})
}

func testCheckpoints(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	checkpoint := func(consumer string, want int64) {
		t.Helper()
		got, err := s.Checkpoint(ctx, consumer)
		must(t, err, "Checkpoint(%s)", consumer)
		if got != want {
			t.Errorf("Checkpoint(%s): got %d, want %d", consumer, got, want)
		}
	}
	checkpoint("unknown", 0)

	held, err := s.AcquireLease(ctx, "c", "A", base, base.Add(10*time.Second))
	must(t, err, "AcquireLease")
	if !held {
		t.Fatal("AcquireLease of a free lease: got false, want true")
	}
	steps := []struct {
		desc     string
		consumer string
		holder   string
		position int64
		now      time.Time
		wantErr  error
		want     int64 // the checkpoint afterwards
	}{
		{"the holder saves", "c", "A", 5, base.Add(time.Second), nil, 5},
		{"the holder moves on", "c", "A", 9, base.Add(2 * time.Second), nil, 9},
		{"another node is refused", "c", "B", 20, base.Add(3 * time.Second), events.ErrLeaseLost, 9},
		{"the holder is refused once the lease expired", "c", "A", 20, base.Add(10 * time.Second), events.ErrLeaseLost, 9},
		{"nobody holds the other consumer's lease", "d", "A", 3, base.Add(time.Second), events.ErrLeaseLost, 0},
	}
	for _, st := range steps {
		err := s.SaveCheckpoint(ctx, st.consumer, st.holder, st.position, st.now)
		if !errors.Is(err, st.wantErr) {
			t.Errorf("%s: SaveCheckpoint got %v, want %v", st.desc, err, st.wantErr)
		}
		checkpoint(st.consumer, st.want)
	}

	must(t, s.ReleaseLease(ctx, "c", "A"), "ReleaseLease")
	if err := s.SaveCheckpoint(ctx, "c", "A", 30, base.Add(time.Second)); !errors.Is(err, events.ErrLeaseLost) {
		t.Errorf("SaveCheckpoint after ReleaseLease: got %v, want ErrLeaseLost", err)
	}
	checkpoint("c", 9)
}

func testQueryEvents(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	for i, x := range []struct{ typ, subject string }{
		{"user.created", "user:a"}, {"user.updated", "user:a"}, {"org_x.created", "org:1"},
		{"user.deleted", "user:b"}, {"orgxcreated.y", "org:2"}, {"membership.added", "org:1"},
	} {
		ev := newEvent(t, x.typ, x.subject, map[string]any{"i": i})
		must(t, s.AppendEvents(ctx, ev), "AppendEvents")
	}
	types := func(q events.Query) []string {
		t.Helper()
		got, err := s.QueryEvents(ctx, q)
		must(t, err, "QueryEvents")
		var out []string
		for _, ev := range got {
			out = append(out, ev.Type)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    events.Query
		want []string
	}{
		{"all", events.Query{Limit: 10}, []string{"user.created", "user.updated", "org_x.created", "user.deleted", "orgxcreated.y", "membership.added"}},
		{"limit", events.Query{Limit: 2}, []string{"user.created", "user.updated"}},
		{"one type", events.Query{Types: []string{"user.deleted"}, Limit: 10}, []string{"user.deleted"}},
		{"a prefix", events.Query{Prefixes: []string{"user."}, Limit: 10}, []string{"user.created", "user.updated", "user.deleted"}},
		// _ is a letter of the name, not a wildcard.
		{"a prefix with _", events.Query{Prefixes: []string{"org_x."}, Limit: 10}, []string{"org_x.created"}},
		{"type or prefix", events.Query{Types: []string{"membership.added"}, Prefixes: []string{"org_x."}, Limit: 10}, []string{"org_x.created", "membership.added"}},
		{"a subject", events.Query{Subject: "org:1", Limit: 10}, []string{"org_x.created", "membership.added"}},
		{"subject and type", events.Query{Subject: "user:a", Types: []string{"user.updated"}, Limit: 10}, []string{"user.updated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := types(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("QueryEvents(%+v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	// After a position: the rest.
	first, err := s.QueryEvents(ctx, events.Query{Limit: 3})
	must(t, err, "QueryEvents")
	if got := types(events.Query{After: first[2].Position, Limit: 10}); !slices.Equal(got, []string{"user.deleted", "orgxcreated.y", "membership.added"}) {
		t.Errorf("after the third: %v", got)
	}
}
