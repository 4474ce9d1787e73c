package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/store"
)

// RunJoinRequests is the conformance suite for requests to join an
// organization by domain (orgs.JoinRequestStore) on engine e.
func RunJoinRequests(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) { testJoinRequestRoundTrip(t, e) })
	t.Run("OnePending", func(t *testing.T) { testJoinRequestOnePending(t, e) })
	t.Run("List", func(t *testing.T) { testJoinRequestList(t, e) })
	t.Run("CreateApproved", func(t *testing.T) { testJoinRequestCreateApproved(t, e) })
	t.Run("Decide", func(t *testing.T) { testDecideJoinRequest(t, e) })
	t.Run("ConcurrentDecisions", func(t *testing.T) { testJoinRequestConcurrentDecisions(t, e) })
	t.Run("Cascade", func(t *testing.T) { testJoinRequestCascade(t, e) })
	t.Run("FailedEvents", func(t *testing.T) { testJoinRequestFailedEvents(t, e) })
}

// newJoinRequest returns a pending request of u's address to o, created at.
func newJoinRequest(o orgs.Organization, id, userID, email string, at time.Time) orgs.JoinRequest {
	return orgs.JoinRequest{ID: id, OrgID: o.ID, UserID: userID, Email: email, Status: orgs.JoinPending, CreatedAt: at}
}

// joinRequestAsStored is jr as the store gives it back.
func joinRequestAsStored(jr orgs.JoinRequest) orgs.JoinRequest {
	jr.CreatedAt = stored(jr.CreatedAt)
	if !jr.DecidedAt.IsZero() {
		jr.DecidedAt = stored(jr.DecidedAt)
	}
	return jr
}

// joinEvent returns an event about jr.
func joinEvent(t testing.TB, typ string, jr orgs.JoinRequest) events.Event {
	t.Helper()
	return newEvent(t, typ, "join_request:"+jr.ID, map[string]string{"org_id": jr.OrgID, "user_id": jr.UserID})
}

// wantJoinRequest fails the test unless the stored request is want.
func wantJoinRequest(t testing.TB, s *store.Store, want orgs.JoinRequest, format string, args ...any) {
	t.Helper()
	got, err := s.JoinRequestByID(t.Context(), want.ID)
	must(t, err, "JoinRequestByID(%s)", want.ID)
	if diff := cmp.Diff(joinRequestAsStored(want), got); diff != "" {
		t.Errorf(format+" (-want +got):\n%s", append(args, diff)...)
	}
}

func joinRequestIDs(list []orgs.JoinRequest) []string {
	var out []string
	for _, jr := range list {
		out = append(out, jr.ID)
	}
	return out
}

func testJoinRequestRoundTrip(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	u := createUsers(t, s, "åsa@acme.example")[0]
	jr := newJoinRequest(o, "jr_1", u.ID, "åsa@acme.example", base.Add(999*time.Nanosecond))
	must(t, s.CreateJoinRequest(ctx, jr, nil, joinEvent(t, "join_request.created", jr)), "CreateJoinRequest")

	for name, get := range map[string]func() (orgs.JoinRequest, error){
		"JoinRequestByID":    func() (orgs.JoinRequest, error) { return s.JoinRequestByID(ctx, jr.ID) },
		"PendingJoinRequest": func() (orgs.JoinRequest, error) { return s.PendingJoinRequest(ctx, o.ID, u.ID) },
	} {
		got, err := get()
		must(t, err, "%s", name)
		if diff := cmp.Diff(joinRequestAsStored(jr), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if got.CreatedAt.Location() != time.UTC || !got.DecidedAt.IsZero() || got.DecidedBy != "" {
			t.Errorf("%s: got created at %v, decided at %v by %q; want UTC and undecided", name, got.CreatedAt, got.DecidedAt, got.DecidedBy)
		}
	}
	if got := eventTypesAbout(t, s, "join_request:jr_1"); !slices.Equal(got, []string{"join_request.created"}) {
		t.Errorf("events: got %v, want join_request.created", got)
	}
	for name, err := range map[string]error{
		"JoinRequestByID(unknown)":        func() error { _, err := s.JoinRequestByID(ctx, "jr_none"); return err }(),
		"PendingJoinRequest(other user)":  func() error { _, err := s.PendingJoinRequest(ctx, o.ID, "u_none"); return err }(),
		"PendingJoinRequest(other org)":   func() error { _, err := s.PendingJoinRequest(ctx, "org_none", u.ID); return err }(),
		"CreateJoinRequest(unknown org)":  s.CreateJoinRequest(ctx, newJoinRequest(orgs.Organization{ID: "org_none"}, "jr_x", u.ID, "x@acme.example", base), nil),
		"CreateJoinRequest(unknown user)": s.CreateJoinRequest(ctx, newJoinRequest(o, "jr_y", "u_none", "y@acme.example", base), nil),
	} {
		if !isOrgNotFound(err) {
			t.Errorf("%s: got %v, want not found", name, err)
		}
	}
}

func testJoinRequestOnePending(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o, other := newOrg(t, "acme", "acme.example"), newOrg(t, "beta", "beta.example")
	createOrgs(t, s, o, other)
	users := createUsers(t, s, "a@acme.example", "b@acme.example")
	first := newJoinRequest(o, "jr_1", users[0].ID, "a@acme.example", base)
	must(t, s.CreateJoinRequest(ctx, first, nil), "CreateJoinRequest")
	if err := s.CreateJoinRequest(ctx, newJoinRequest(o, "jr_2", users[0].ID, "a@acme.example", base), nil); !isOrgConflict(err) {
		t.Errorf("a second pending request of a person to an organization: got %v, want a conflict", err)
	}
	if err := s.CreateJoinRequest(ctx, newJoinRequest(o, "jr_1", users[1].ID, "b@acme.example", base), nil); !isOrgConflict(err) {
		t.Errorf("a request ID taken: got %v, want a conflict", err)
	}
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(o, "jr_3", users[1].ID, "b@acme.example", base), nil), "a request of another person")
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(other, "jr_4", users[0].ID, "a@acme.example", base), nil), "a request to another organization")
	_, err := s.DecideJoinRequest(ctx, first.ID, orgs.JoinDeclined, "user:admin", base.Add(time.Hour), nil)
	must(t, err, "DecideJoinRequest")
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(o, "jr_5", users[0].ID, "a@acme.example", base.Add(2*time.Hour)), nil),
		"asking again once the first request was declined")
	got, err := s.PendingJoinRequest(ctx, o.ID, users[0].ID)
	if err != nil || got.ID != "jr_5" {
		t.Errorf("PendingJoinRequest after asking again: got %s, %v; want jr_5", got.ID, err)
	}
}

func testJoinRequestList(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o, other := newOrg(t, "acme", "acme.example"), newOrg(t, "beta", "beta.example")
	createOrgs(t, s, o, other)
	users := createUsers(t, s, "a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example")
	for _, jr := range []orgs.JoinRequest{
		newJoinRequest(o, "jr_c", users[2].ID, "c@acme.example", base.Add(2*time.Minute)),
		newJoinRequest(o, "jr_b", users[1].ID, "b@acme.example", base),
		newJoinRequest(o, "jr_a", users[0].ID, "a@acme.example", base),
		newJoinRequest(o, "jr_d", users[3].ID, "d@acme.example", base.Add(time.Minute)),
		newJoinRequest(other, "jr_other", users[0].ID, "a@acme.example", base),
	} {
		must(t, s.CreateJoinRequest(ctx, jr, nil), "CreateJoinRequest(%s)", jr.ID)
	}
	_, err := s.DecideJoinRequest(ctx, "jr_d", orgs.JoinDeclined, "user:admin", base.Add(time.Hour), nil)
	must(t, err, "DecideJoinRequest")
	for _, tc := range []struct {
		status string
		want   []string
	}{
		{"", []string{"jr_a", "jr_b", "jr_d", "jr_c"}},
		{orgs.JoinPending, []string{"jr_a", "jr_b", "jr_c"}},
		{orgs.JoinDeclined, []string{"jr_d"}},
		{orgs.JoinApproved, nil},
	} {
		list, err := s.JoinRequests(ctx, o.ID, tc.status)
		must(t, err, "JoinRequests(%q)", tc.status)
		if got := joinRequestIDs(list); !slices.Equal(got, tc.want) {
			t.Errorf("JoinRequests(%q): got %v, want %v (oldest first, then by ID)", tc.status, got, tc.want)
		}
	}
}

func testJoinRequestCreateApproved(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	createRoles(t, s, "portal/viewer", "portal/buyer")
	users := createUsers(t, s, "a@acme.example", "b@acme.example")
	must(t, s.PutMembership(ctx, member(o, users[1], base, "portal/buyer")), "PutMembership")

	at := base.Add(time.Minute)
	jr := newJoinRequest(o, "jr_1", users[0].ID, "a@acme.example", at)
	jr.Status, jr.DecidedAt, jr.DecidedBy = orgs.JoinApproved, at, orgs.JoinActor
	must(t, s.CreateJoinRequest(ctx, jr, grants("portal/viewer", "portal/gone"), joinEvent(t, "join_request.created", jr), joinEvent(t, "join_request.approved", jr)),
		"CreateJoinRequest(approved)")
	wantJoinRequest(t, s, jr, "the request admitted at once")
	m, err := s.Membership(ctx, o.ID, users[0].ID)
	must(t, err, "Membership")
	if !slices.Equal(m.Roles, grants("portal/viewer")) || !m.CreatedAt.Equal(stored(at)) {
		t.Errorf("membership: got %+v, want portal/viewer only (no undeclared role), since %v", m, at)
	}
	if _, err := s.PendingJoinRequest(ctx, o.ID, users[0].ID); !isOrgNotFound(err) {
		t.Errorf("PendingJoinRequest of one admitted: got %v, want not found", err)
	}
	if got := eventTypesAbout(t, s, "join_request:jr_1"); !slices.Equal(got, []string{"join_request.created", "join_request.approved"}) {
		t.Errorf("events: got %v", got)
	}

	// A member already keeps their roles and gains the new ones.
	jr2 := newJoinRequest(o, "jr_2", users[1].ID, "b@acme.example", at)
	jr2.Status, jr2.DecidedAt, jr2.DecidedBy = orgs.JoinApproved, at, orgs.JoinActor
	must(t, s.CreateJoinRequest(ctx, jr2, grants("portal/viewer")), "CreateJoinRequest(approved, member)")
	m, err = s.Membership(ctx, o.ID, users[1].ID)
	must(t, err, "Membership")
	if !slices.Equal(m.Roles, grants("portal/buyer", "portal/viewer")) || !m.CreatedAt.Equal(stored(base)) {
		t.Errorf("member's membership: got %+v, want both roles, since %v", m, base)
	}
}

func testDecideJoinRequest(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	createRoles(t, s, "portal/viewer")
	users := createUsers(t, s, "a@acme.example", "b@acme.example")
	yes := newJoinRequest(o, "jr_yes", users[0].ID, "a@acme.example", base)
	no := newJoinRequest(o, "jr_no", users[1].ID, "b@acme.example", base)
	must(t, s.CreateJoinRequest(ctx, yes, nil), "CreateJoinRequest")
	must(t, s.CreateJoinRequest(ctx, no, nil), "CreateJoinRequest")

	at := base.Add(time.Hour + 999*time.Nanosecond)
	got, err := s.DecideJoinRequest(ctx, yes.ID, orgs.JoinApproved, "user:admin", at, grants("portal/viewer"), joinEvent(t, "join_request.approved", yes))
	must(t, err, "DecideJoinRequest(approve)")
	yes.Status, yes.DecidedAt, yes.DecidedBy = orgs.JoinApproved, at, "user:admin"
	if diff := cmp.Diff(joinRequestAsStored(yes), got); diff != "" {
		t.Errorf("DecideJoinRequest(approve) returned (-want +got):\n%s", diff)
	}
	wantJoinRequest(t, s, yes, "the approved request")
	if m, err := s.Membership(ctx, o.ID, users[0].ID); err != nil || !slices.Equal(m.Roles, grants("portal/viewer")) {
		t.Errorf("membership after approval: got %+v, %v", m, err)
	}

	_, err = s.DecideJoinRequest(ctx, no.ID, orgs.JoinDeclined, "system:cli", at, grants("portal/viewer"), joinEvent(t, "join_request.declined", no))
	must(t, err, "DecideJoinRequest(decline)")
	no.Status, no.DecidedAt, no.DecidedBy = orgs.JoinDeclined, at, "system:cli"
	wantJoinRequest(t, s, no, "the declined request")
	if _, err := s.Membership(ctx, o.ID, users[1].ID); !isOrgNotFound(err) {
		t.Errorf("membership after declining: got %v, want none", err)
	}

	for _, id := range []string{yes.ID, no.ID} {
		for _, status := range []string{orgs.JoinApproved, orgs.JoinDeclined} {
			if _, err := s.DecideJoinRequest(ctx, id, status, "user:admin", at, nil, joinEvent(t, "join_request.again", yes)); !errors.Is(err, orgs.ErrJoinRequestDecided) {
				t.Errorf("DecideJoinRequest(%s, %s) again: got %v, want ErrJoinRequestDecided", id, status, err)
			}
		}
	}
	if got := eventTypesAbout(t, s, "join_request:jr_yes"); slices.Contains(got, "join_request.again") {
		t.Errorf("events of a refused decision were written: %v", got)
	}
	if _, err := s.DecideJoinRequest(ctx, "jr_none", orgs.JoinApproved, "user:admin", at, nil); !isOrgNotFound(err) {
		t.Errorf("DecideJoinRequest(unknown): got %v, want not found", err)
	}
	other := newJoinRequest(o, "jr_other", users[1].ID, "b@acme.example", base)
	must(t, s.CreateJoinRequest(ctx, other, nil), "CreateJoinRequest")
	if _, err := s.DecideJoinRequest(ctx, other.ID, orgs.JoinPending, "user:admin", at, nil); err == nil {
		t.Error("DecideJoinRequest to pending: got no error")
	}
}

func testJoinRequestConcurrentDecisions(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	createRoles(t, s, "portal/viewer")
	u := createUsers(t, s, "a@acme.example")[0]
	for round := range 3 {
		jr := newJoinRequest(o, "jr_"+string(rune('a'+round)), u.ID, "a@acme.example", base)
		must(t, s.CreateJoinRequest(ctx, jr, nil), "CreateJoinRequest")
		statuses := []string{orgs.JoinApproved, orgs.JoinDeclined, orgs.JoinApproved, orgs.JoinDeclined}
		errs := make([]error, len(statuses))
		var wg sync.WaitGroup
		for i, status := range statuses {
			ev := joinEvent(t, "join_request."+status, jr)
			wg.Go(func() {
				_, errs[i] = s.DecideJoinRequest(ctx, jr.ID, status, "user:admin", base.Add(time.Minute), grants("portal/viewer"), ev)
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Errorf("round %d: both %d and %d decided the request", round, winner, i)
			case !errors.Is(err, orgs.ErrJoinRequestDecided):
				t.Errorf("round %d: a losing decision: got %v, want ErrJoinRequestDecided", round, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no decision: %v", round, errs)
		}
		got, err := s.JoinRequestByID(ctx, jr.ID)
		must(t, err, "JoinRequestByID")
		if got.Status != statuses[winner] {
			t.Errorf("round %d: status %s, want the winner's %s", round, got.Status, statuses[winner])
		}
		if evs := eventTypesAbout(t, s, "join_request:"+jr.ID); len(evs) != 1 {
			t.Errorf("round %d: events: got %v, want one decision", round, evs)
		}
	}
}

func testJoinRequestCascade(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	doomed, kept := newOrg(t, "doomed", "doomed.example"), newOrg(t, "kept", "kept.example")
	createOrgs(t, s, doomed, kept)
	users := createUsers(t, s, "a@doomed.example", "b@kept.example")
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(doomed, "jr_1", users[0].ID, "a@doomed.example", base), nil), "CreateJoinRequest")
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(kept, "jr_2", users[1].ID, "b@kept.example", base), nil), "CreateJoinRequest")
	must(t, s.CreateJoinRequest(ctx, newJoinRequest(kept, "jr_3", users[0].ID, "a@doomed.example", base), nil), "CreateJoinRequest")
	must(t, s.DeleteOrganization(ctx, doomed.ID, base.Add(time.Hour), orgEvent(t, "org.deleted", doomed)), "DeleteOrganization")
	if n := countRows(t, e, rawURL, "join_requests", "org_id = $1", doomed.ID); n != 0 {
		t.Errorf("requests to a deleted organization: got %d rows, want 0", n)
	}
	eraseUser(t, s, users[0].ID)
	if n := countRows(t, e, rawURL, "join_requests", "user_id = $1", users[0].ID); n != 0 {
		t.Errorf("requests of a deleted user: got %d rows, want 0", n)
	}
	if _, err := s.JoinRequestByID(ctx, "jr_2"); err != nil {
		t.Errorf("another person's request to the organization kept: %v", err)
	}
}

func testJoinRequestFailedEvents(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme", "acme.example")
	createOrgs(t, s, o)
	createRoles(t, s, "portal/viewer")
	users := createUsers(t, s, "a@acme.example", "b@acme.example")
	pending := newJoinRequest(o, "jr_1", users[0].ID, "a@acme.example", base)
	must(t, s.CreateJoinRequest(ctx, pending, nil), "CreateJoinRequest")
	bad := newEvent(t, "test.refused", "test:1", nil)
	bad.Actor = ""
	admitted := newJoinRequest(o, "jr_2", users[1].ID, "b@acme.example", base)
	admitted.Status, admitted.DecidedAt, admitted.DecidedBy = orgs.JoinApproved, base, orgs.JoinActor
	writes := []struct {
		name  string
		write func() error
	}{
		{"CreateJoinRequest(approved)", func() error { return s.CreateJoinRequest(ctx, admitted, grants("portal/viewer"), bad) }},
		{"DecideJoinRequest(approve)", func() error {
			_, err := s.DecideJoinRequest(ctx, pending.ID, orgs.JoinApproved, "user:admin", base.Add(time.Minute), grants("portal/viewer"), bad)
			return err
		}},
		{"DecideJoinRequest(decline)", func() error {
			_, err := s.DecideJoinRequest(ctx, pending.ID, orgs.JoinDeclined, "user:admin", base.Add(time.Minute), nil, bad)
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.write(); err == nil {
				t.Fatalf("%s with an invalid event: got no error", w.name)
			}
			wantJoinRequest(t, s, pending, "the pending request")
			if _, err := s.JoinRequestByID(ctx, admitted.ID); !isOrgNotFound(err) {
				t.Errorf("the request admitted at once: got %v, want not stored", err)
			}
			members, err := s.Members(ctx, o.ID, "", 10)
			must(t, err, "Members")
			if len(members) != 0 {
				t.Errorf("Members: got %+v, want none", members)
			}
		})
	}
	if got := eventTypesAbout(t, s, "test:1"); len(got) != 0 {
		t.Errorf("refused events were written: %v", got)
	}
}
