package orgs_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/storetest"
)

// joinFixture is a store with an organization owning acme.example, the
// role portal/viewer, and the services over them.
type joinFixture struct {
	store *store.Store
	svc   *orgs.Service
	joins *orgs.Joins
	org   orgs.Organization
	now   time.Time
}

func newJoinFixture(t *testing.T, settings orgs.Settings) *joinFixture {
	t.Helper()
	s := storetest.Open(t, storetest.SQLite())
	f := &joinFixture{store: s, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.svc = &orgs.Service{Store: s, Now: clock}
	f.joins = &orgs.Joins{Store: s, Emails: &accounts.Service{Store: s}, Now: clock}
	ctx := t.Context()
	if _, err := f.svc.CreateRole(ctx, orgs.Role{App: "portal", Name: "viewer"}, "system:test"); err != nil {
		t.Fatal(err)
	}
	o, err := f.svc.CreateOrganization(ctx, orgs.Organization{Name: "Acme", Slug: "acme", Domains: []string{"acme.example"}, Settings: settings}, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	f.org = o
	return f
}

// user creates a person with the address, verified or not.
func (f *joinFixture) user(t *testing.T, email string, verified bool) accounts.User {
	t.Helper()
	u := accounts.User{ID: accounts.NewID(), Email: email, EmailVerified: verified, Status: accounts.StatusActive, CreatedAt: f.now, UpdatedAt: f.now}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	ev, err := events.New("user.created", u.Subject(), "system:test", f.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(t.Context(), u, ev); err != nil {
		t.Fatal(err)
	}
	return u
}

// events returns the organization's events after the setup, as type and
// data.
func (f *joinFixture) events(t *testing.T) []events.Event {
	t.Helper()
	all, err := f.store.EventsAfter(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for _, ev := range all {
		if ev.Subject == f.org.Subject() && ev.Type != "organization.created" {
			out = append(out, ev)
		}
	}
	return out
}

func types(evs []events.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func TestJoinableNeedsAVerifiedAddressInTheDomain(t *testing.T) {
	f := newJoinFixture(t, orgs.Settings{})
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		email    string
		verified bool
		want     int
	}{
		{"verified, in the domain", "ada@Acme.example", true, 1},
		{"unverified, in the domain", "bob@acme.example", false, 0},
		{"verified, another domain", "cy@other.example", true, 0},
		{"verified, a subdomain", "di@eu.acme.example", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := f.user(t, tc.email, tc.verified)
			got, err := f.joins.Joinable(ctx, u.ID)
			if err != nil || len(got) != tc.want {
				t.Fatalf("Joinable: got %+v, %v; want %d", got, err, tc.want)
			}
			if tc.want == 1 && (got[0].ID != f.org.ID || got[0].Pending) {
				t.Errorf("Joinable: got %+v, want the organization, not asked yet", got[0])
			}
			if _, err := f.joins.Ask(ctx, f.org.ID, u.ID); (err == nil) != (tc.want == 1) || (err != nil && !errors.Is(err, orgs.ErrNotEligible)) {
				t.Errorf("Ask: got %v, want eligible=%v", err, tc.want == 1)
			}
		})
	}
}

func TestJoinableLeavesOutMembersAndSuspendedOrganizations(t *testing.T) {
	f := newJoinFixture(t, orgs.Settings{})
	ctx := t.Context()
	member := f.user(t, "m@acme.example", true)
	if _, err := f.svc.AddMember(ctx, f.org.ID, member.ID, nil, "system:test"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.joins.Joinable(ctx, member.ID); err != nil || len(got) != 0 {
		t.Errorf("Joinable of a member: got %+v, %v; want none", got, err)
	}
	if _, err := f.joins.Ask(ctx, f.org.ID, member.ID); !errors.Is(err, orgs.ErrNotEligible) {
		t.Errorf("Ask of a member: got %v, want ErrNotEligible", err)
	}
	other := f.user(t, "o@acme.example", true)
	suspended := orgs.StatusSuspended
	if _, err := f.svc.UpdateOrganization(ctx, f.org.ID, orgs.Change{Status: &suspended}, "system:test"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.joins.Joinable(ctx, other.ID); err != nil || len(got) != 0 {
		t.Errorf("Joinable of a suspended organization: got %+v, %v; want none", got, err)
	}
}

func TestAskMakesOnePendingRequest(t *testing.T) {
	f := newJoinFixture(t, orgs.Settings{JoinRoles: []orgs.Grant{{App: "portal", Role: "viewer"}}})
	ctx := t.Context()
	u := f.user(t, "Ada@acme.example", true)
	jr, err := f.joins.Ask(ctx, f.org.ID, u.ID)
	if err != nil || jr.Status != orgs.JoinPending || jr.Email != "ada@acme.example" || jr.OrgID != f.org.ID {
		t.Fatalf("Ask: got %+v, %v; want a pending request with the address in lower case", jr, err)
	}
	again, err := f.joins.Ask(ctx, f.org.ID, u.ID)
	if err != nil || again.ID != jr.ID {
		t.Errorf("Ask again: got %s, %v; want the same request %s", again.ID, err, jr.ID)
	}
	if got := types(f.events(t)); !slices.Equal(got, []string{"join_request.created"}) {
		t.Errorf("events: got %v, want one join_request.created", got)
	}
	if got, _ := f.joins.Joinable(ctx, u.ID); len(got) != 1 || !got[0].Pending {
		t.Errorf("Joinable after asking: got %+v, want pending", got)
	}
	if _, err := f.store.Membership(ctx, f.org.ID, u.ID); !errors.Is(err, orgs.ErrNotFound) {
		t.Errorf("a member before approval: %v", err)
	}
	if _, err := f.joins.Ask(ctx, "another-org", u.ID); !errors.Is(err, orgs.ErrNotEligible) {
		t.Errorf("Ask to join another organization: got %v, want ErrNotEligible", err)
	}
	pending, err := f.joins.Pending(ctx, f.org.ID)
	if err != nil || len(pending) != 1 || pending[0].ID != jr.ID {
		t.Errorf("Pending: got %+v, %v", pending, err)
	}
}

func TestAskAdmitsAtOnceWhenTheOrganizationAdmitsItsDomain(t *testing.T) {
	f := newJoinFixture(t, orgs.Settings{AutoJoin: true, JoinRoles: []orgs.Grant{{App: "portal", Role: "viewer"}, orgs.Admin, {App: "portal", Role: "gone"}}})
	ctx := t.Context()
	u := f.user(t, "ada@acme.example", true)
	jr, err := f.joins.Ask(ctx, f.org.ID, u.ID)
	if err != nil || jr.Status != orgs.JoinApproved || jr.DecidedBy != orgs.JoinActor {
		t.Fatalf("Ask: got %+v, %v; want approved by %s", jr, err, orgs.JoinActor)
	}
	m, err := f.store.Membership(ctx, f.org.ID, u.ID)
	if err != nil || !slices.Equal(m.Roles, []orgs.Grant{{App: "portal", Role: "viewer"}}) {
		t.Errorf("membership: got %+v, %v; want portal/viewer only (never the admin role, no undeclared role)", m, err)
	}
	evs := f.events(t)
	if got := types(evs); !slices.Equal(got, []string{"join_request.created", "join_request.approved", "membership.added"}) {
		t.Fatalf("events: got %v", got)
	}
	if evs[1].Actor != orgs.JoinActor || evs[2].Actor != orgs.JoinActor {
		t.Errorf("actors: got %s, %s; want %s", evs[1].Actor, evs[2].Actor, orgs.JoinActor)
	}
	var data struct {
		UserID string   `json:"user_id"`
		Via    string   `json:"via"`
		Roles  []string `json:"roles"`
	}
	if err := json.Unmarshal(evs[2].Data, &data); err != nil || data.Via != "domain" || data.UserID != u.ID || !slices.Equal(data.Roles, []string{"portal/viewer"}) {
		t.Errorf("membership.added data: got %s, %v", evs[2].Data, err)
	}
	if got, _ := f.joins.Joinable(ctx, u.ID); len(got) != 0 {
		t.Errorf("Joinable of one admitted: got %+v, want none", got)
	}
}

func TestApproveAndDecline(t *testing.T) {
	f := newJoinFixture(t, orgs.Settings{JoinRoles: []orgs.Grant{{App: "portal", Role: "viewer"}}})
	ctx := t.Context()
	yes, no := f.user(t, "yes@acme.example", true), f.user(t, "no@acme.example", true)
	ry, err := f.joins.Ask(ctx, f.org.ID, yes.ID)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := f.joins.Ask(ctx, f.org.ID, no.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.CreateOrganization(ctx, orgs.Organization{Name: "Beta", Slug: "beta"}, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Approve in another organization": func() error { _, err := f.joins.Approve(ctx, other.ID, ry.ID, "user:x"); return err }(),
		"Decline in another organization": func() error { _, err := f.joins.Decline(ctx, other.ID, ry.ID, "user:x"); return err }(),
		"Approve an unknown request":      func() error { _, err := f.joins.Approve(ctx, f.org.ID, "nope", "user:x"); return err }(),
	} {
		if !errors.Is(err, orgs.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", name, err)
		}
	}

	f.now = f.now.Add(time.Hour)
	got, err := f.joins.Approve(ctx, f.org.ID, ry.ID, "user:admin")
	if err != nil || got.Status != orgs.JoinApproved || got.DecidedBy != "user:admin" || !got.DecidedAt.Equal(f.now) {
		t.Fatalf("Approve: got %+v, %v", got, err)
	}
	if m, err := f.store.Membership(ctx, f.org.ID, yes.ID); err != nil || !slices.Equal(m.Roles, []orgs.Grant{{App: "portal", Role: "viewer"}}) {
		t.Errorf("membership after approval: got %+v, %v", m, err)
	}
	if _, err := f.joins.Decline(ctx, f.org.ID, rn.ID, "user:admin"); err != nil {
		t.Fatalf("Decline: %v", err)
	}
	if _, err := f.store.Membership(ctx, f.org.ID, no.ID); !errors.Is(err, orgs.ErrNotFound) {
		t.Errorf("membership after declining: got %v, want none", err)
	}
	for _, id := range []string{ry.ID, rn.ID} {
		if _, err := f.joins.Approve(ctx, f.org.ID, id, "user:admin"); !errors.Is(err, orgs.ErrJoinRequestDecided) {
			t.Errorf("Approve(%s) again: got %v, want ErrJoinRequestDecided", id, err)
		}
		if _, err := f.joins.Decline(ctx, f.org.ID, id, "user:admin"); !errors.Is(err, orgs.ErrJoinRequestDecided) {
			t.Errorf("Decline(%s) again: got %v, want ErrJoinRequestDecided", id, err)
		}
	}
	want := []string{"join_request.created", "join_request.created", "join_request.approved", "membership.added", "join_request.declined"}
	if got := types(f.events(t)); !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
	if pending, err := f.joins.Pending(ctx, f.org.ID); err != nil || len(pending) != 0 {
		t.Errorf("Pending after deciding: got %+v, %v", pending, err)
	}
	// Declined, they may ask again.
	if jr, err := f.joins.Ask(ctx, f.org.ID, no.ID); err != nil || jr.ID == rn.ID || jr.Status != orgs.JoinPending {
		t.Errorf("asking again after a decline: got %+v, %v; want a new pending request", jr, err)
	}
}
