package flows_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

const ttl = 20 * time.Minute

// fixture is a flows.Service on a real SQLite store, with a clock the test
// moves.
type fixture struct {
	store *store.Store
	svc   *flows.Service
	start time.Time
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: storetest.Open(t, storetest.SQLite()), start: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}
	f.now = f.start
	f.svc = &flows.Service{Store: f.store, TTL: ttl, Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) startFlow(t *testing.T, kind flows.Kind) flows.Flow {
	t.Helper()
	fl, err := f.svc.Start(t.Context(), kind, flows.Flow{Email: "ada@example.com"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return fl
}

var flowID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestStart(t *testing.T) {
	f := newFixture(t)
	template := flows.Flow{
		ID: "chosen-by-the-caller", State: flows.StateDone, Attempts: 4,
		ReturnTo: "/oauth2/auth?client_id=shop", UILocales: "sv", Email: "ada@example.com",
		GivenName: "Ada", FamilyName: "Lovelace", SignInOnVerify: true,
	}
	got, err := f.svc.Start(t.Context(), flows.Registration, template)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !flowID.MatchString(got.ID) {
		t.Errorf("ID: got %q, want 32 lower-case hex digits", got.ID)
	}
	want := template
	want.ID, want.Kind, want.State = got.ID, flows.Registration, flows.StateStarted
	want.CreatedAt, want.UpdatedAt, want.ExpiresAt = f.start, f.start, f.start.Add(ttl)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Start result (-want +got):\n%s", diff)
	}
	stored, err := f.store.FlowByID(t.Context(), got.ID)
	if err != nil {
		t.Fatalf("FlowByID: %v", err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored flow (-want +got):\n%s", diff)
	}

	evs, err := f.store.EventsFor(t.Context(), "flow:"+got.ID, 10)
	if err != nil {
		t.Fatalf("EventsFor: %v", err)
	}
	if len(evs) != 1 || evs[0].Type != "flow.started" {
		t.Fatalf("events about the flow: got %d, want one flow.started", len(evs))
	}
	var data map[string]any
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"kind": "registration"}, data); diff != "" {
		t.Errorf("flow.started data (-want +got):\n%s", diff)
	}

	if again := f.startFlow(t, flows.Registration); again.ID == got.ID {
		t.Errorf("two Starts gave the same ID %s", got.ID)
	}
}

func TestStartDefaultTTL(t *testing.T) {
	f := newFixture(t)
	f.svc.TTL = 0
	fl := f.startFlow(t, flows.Login)
	if want := f.start.Add(time.Hour); !fl.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt with no TTL set: got %v, want %v", fl.ExpiresAt, want)
	}
}

func TestGet(t *testing.T) {
	tests := []struct {
		name    string
		kind    flows.Kind
		id      func(fl flows.Flow) string
		after   time.Duration
		wantErr error
	}{
		{"live", flows.Verification, func(fl flows.Flow) string { return fl.ID }, 0, nil},
		{"just before expiry", flows.Verification, func(fl flows.Flow) string { return fl.ID }, ttl - time.Microsecond, nil},
		{"at expiry", flows.Verification, func(fl flows.Flow) string { return fl.ID }, ttl, flows.ErrExpired},
		{"after expiry", flows.Verification, func(fl flows.Flow) string { return fl.ID }, 2 * ttl, flows.ErrExpired},
		{"wrong kind", flows.Recovery, func(fl flows.Flow) string { return fl.ID }, 0, flows.ErrNotFound},
		{"wrong kind after expiry", flows.Recovery, func(fl flows.Flow) string { return fl.ID }, 2 * ttl, flows.ErrNotFound},
		{"unknown ID", flows.Verification, func(flows.Flow) string { return strings.Repeat("0", 32) }, 0, flows.ErrNotFound},
		{"upper-case ID", flows.Verification, func(fl flows.Flow) string { return strings.ToUpper(fl.ID) }, 0, flows.ErrNotFound},
		{"empty ID", flows.Verification, func(flows.Flow) string { return "" }, 0, flows.ErrNotFound},
		{"short ID", flows.Verification, func(fl flows.Flow) string { return fl.ID[:31] }, 0, flows.ErrNotFound},
		{"long ID", flows.Verification, func(fl flows.Flow) string { return fl.ID + "0" }, 0, flows.ErrNotFound},
		{"SQL in the ID", flows.Verification, func(flows.Flow) string { return "' OR '1'='1' --" + strings.Repeat(" ", 17) }, 0, flows.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			fl := f.startFlow(t, flows.Verification)
			f.now = f.start.Add(tt.after)
			got, err := f.svc.Get(t.Context(), tt.kind, tt.id(fl))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get: got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && got.ID != fl.ID {
				t.Errorf("Get: got flow %q, want %q", got.ID, fl.ID)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	errRefused := errors.New("refused")
	tests := []struct {
		name    string
		kind    flows.Kind
		after   time.Duration
		fnErr   error
		wantErr error
	}{
		{"live", flows.Verification, time.Minute, nil, nil},
		{"just before expiry", flows.Verification, ttl - time.Microsecond, nil, nil},
		{"expired", flows.Verification, ttl, nil, flows.ErrExpired},
		{"wrong kind", flows.Login, time.Minute, nil, flows.ErrNotFound},
		{"fn fails", flows.Verification, time.Minute, errRefused, errRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			fl := f.startFlow(t, flows.Verification)
			f.now = f.start.Add(tt.after)
			called := false
			got, err := f.svc.Update(t.Context(), tt.kind, fl.ID, func(cur flows.Flow) (flows.Flow, error) {
				called = true
				cur.State, cur.Attempts, cur.UserID = flows.StateSent, cur.Attempts+1, "user-1"
				return cur, tt.fnErr
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Update: got error %v, want %v", err, tt.wantErr)
			}
			stored, err := f.store.FlowByID(t.Context(), fl.ID)
			if err != nil {
				t.Fatalf("FlowByID: %v", err)
			}
			want := fl
			if tt.wantErr == nil {
				want.State, want.Attempts, want.UserID, want.UpdatedAt = flows.StateSent, 1, "user-1", f.now
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Update result (-want +got):\n%s", diff)
				}
			} else if called && tt.fnErr == nil {
				t.Error("Update called fn, want it refused before")
			}
			if diff := cmp.Diff(want, stored); diff != "" {
				t.Errorf("stored flow (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("unknown ID", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.Update(t.Context(), flows.Login, strings.Repeat("0", 32), func(cur flows.Flow) (flows.Flow, error) {
			t.Error("Update of an unknown flow called fn")
			return cur, nil
		})
		if !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("Update of an unknown flow: got %v, want ErrNotFound", err)
		}
	})
}
