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
	"github.com/portvakt/portvakt/internal/retention"
	"github.com/portvakt/portvakt/internal/store"
)

// RunInvitations is the conformance suite for organization invitations
// (orgs.InvitationStore) on engine e.
func RunInvitations(t *testing.T, e Engine) {
	t.Run("RoundTrip", func(t *testing.T) { testInvitationRoundTrip(t, e) })
	t.Run("Conflicts", func(t *testing.T) { testInvitationConflicts(t, e) })
	t.Run("Update", func(t *testing.T) { testInvitationUpdate(t, e) })
	t.Run("List", func(t *testing.T) { testInvitationList(t, e) })
	t.Run("Accept", func(t *testing.T) { testAcceptInvitation(t, e) })
	t.Run("AcceptRefused", func(t *testing.T) { testAcceptInvitationRefused(t, e) })
	t.Run("ConcurrentAccepts", func(t *testing.T) { testInvitationConcurrentAccepts(t, e) })
	t.Run("Expire", func(t *testing.T) { testExpireInvitations(t, e) })
	t.Run("DeleteOrganization", func(t *testing.T) { testInvitationOrgDelete(t, e) })
	t.Run("FailedEvents", func(t *testing.T) { testInvitationFailedEvents(t, e) })
	t.Run("PurgeLinks", func(t *testing.T) { testPurgeInvitationLinks(t, e) })
}

// testPurgeInvitationLinks: the retention sweep drops the sealed link of
// an invitation that can no longer be accepted, and only that.
func testPurgeInvitationLinks(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	live := newInvitation(o, "live", "live@example.com", base)
	expired := newInvitation(o, "expired", "expired@example.com", base.Add(-invitationTTL-time.Hour))
	revoked := newInvitation(o, "revoked", "revoked@example.com", base)
	revoked.Status = orgs.InvitationRevoked
	for _, inv := range []*orgs.Invitation{&live, &expired, &revoked} {
		inv.SealedToken = []byte("sealed-" + inv.ID)
	}
	createInvitations(t, s, live, expired, revoked)
	counts, err := s.Purge(ctx, base, base.Add(-24*time.Hour), func(c retention.Counts) (events.Event, error) {
		return events.New("retention.purged", "system:retention", "system:test", base, map[string]any{"counts": c})
	})
	must(t, err, "Purge")
	if counts["invitation_links"] != 2 {
		t.Errorf("invitation links purged: %d, want 2 (%v)", counts["invitation_links"], counts)
	}
	for id, want := range map[string]bool{"live": true, "expired": false, "revoked": false} {
		inv, err := s.InvitationByID(ctx, id)
		must(t, err, "InvitationByID")
		if (inv.SealedToken != nil) != want {
			t.Errorf("invitation %s: sealed link kept %v, want %v", id, inv.SealedToken != nil, want)
		}
	}
}

// invitationTTL is how long the suite's invitations are valid.
const invitationTTL = 7 * 24 * time.Hour

// newInvitation returns a pending invitation of email to o with roles
// ("app/role"), created at at and valid for invitationTTL; its token hash
// is "hash-" + id.
func newInvitation(o orgs.Organization, id, email string, at time.Time, roles ...string) orgs.Invitation {
	return orgs.Invitation{ID: id, OrgID: o.ID, Email: email, Roles: grants(roles...), TokenHash: "hash-" + id, Delivery: orgs.DeliveryEmail,
		Status: orgs.InvitationPending, InvitedBy: "system:test", CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(invitationTTL)}
}

// invitationAsStored is inv as the store gives it back.
func invitationAsStored(inv orgs.Invitation) orgs.Invitation {
	inv.CreatedAt, inv.UpdatedAt, inv.ExpiresAt = stored(inv.CreatedAt), stored(inv.UpdatedAt), stored(inv.ExpiresAt)
	if !inv.AcceptedAt.IsZero() {
		inv.AcceptedAt = stored(inv.AcceptedAt)
	}
	if len(inv.Roles) == 0 {
		inv.Roles = nil
	}
	return inv
}

// invitationSubject is an invitation's name in events.
func invitationSubject(id string) string { return "invitation:" + id }

// invitationEvent returns an event about inv.
func invitationEvent(t testing.TB, typ string, inv orgs.Invitation) events.Event {
	t.Helper()
	return newEvent(t, typ, invitationSubject(inv.ID), map[string]string{"org_id": inv.OrgID, "status": inv.Status})
}

// createInvitations creates each invitation with its event.
func createInvitations(t testing.TB, s *store.Store, list ...orgs.Invitation) {
	t.Helper()
	for _, inv := range list {
		must(t, s.CreateInvitation(t.Context(), inv, invitationEvent(t, "invitation.created", inv)), "CreateInvitation(%s)", inv.ID)
	}
}

// invitationIDs returns the IDs of list, in order.
func invitationIDs(list []orgs.Invitation) []string {
	var out []string
	for _, inv := range list {
		out = append(out, inv.ID)
	}
	return out
}

// wantInvitation fails the test unless the stored invitation id is want.
func wantInvitation(t testing.TB, s *store.Store, want orgs.Invitation, format string, args ...any) {
	t.Helper()
	got, err := s.InvitationByID(t.Context(), want.ID)
	must(t, err, "InvitationByID(%s)", want.ID)
	if diff := cmp.Diff(invitationAsStored(want), got); diff != "" {
		t.Errorf(format+" (-want +got):\n%s", append(args, diff)...)
	}
}

func testInvitationRoundTrip(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	full := orgs.Invitation{
		ID:           "inv_full",
		OrgID:        o.ID,
		Email:        "åsa@example.se",
		GivenName:    "Åsa",
		FamilyName:   "Öberg",
		Phone:        "+46701234567",
		Locale:       "sv",
		Roles:        grants("shop/orders", "crm/viewer"),
		LockedFields: []string{"given_name", "family_name"},
		ReturnTo:     "/oauth2/authorize?client_id=shop&state=x",
		ClientID:     "shop",
		Reference:    "crm-invite-77",
		Delivery:     orgs.DeliveryLink,
		SealedToken:  []byte{0x01, 0xfe, 0x00, 0x42},
		TokenHash:    "0c4f…hash",
		Status:       orgs.InvitationPending,
		InvitedBy:    "user:u-admin",
		CreatedAt:    base,
		UpdatedAt:    base.Add(time.Second + 999*time.Nanosecond),
		ExpiresAt:    base.Add(invitationTTL),
	}
	minimal := orgs.Invitation{ID: "inv_min", OrgID: o.ID, Email: "min@example.com", TokenHash: "hash-min", Delivery: orgs.DeliveryEmail,
		Status: orgs.InvitationPending, CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(time.Hour)}
	createInvitations(t, s, full, minimal)

	want := invitationAsStored(full)
	lookups := []struct {
		name string
		get  func() (orgs.Invitation, error)
	}{
		{"InvitationByID", func() (orgs.Invitation, error) { return s.InvitationByID(ctx, full.ID) }},
		{"InvitationByTokenHash", func() (orgs.Invitation, error) { return s.InvitationByTokenHash(ctx, full.TokenHash) }},
		{"PendingInvitation", func() (orgs.Invitation, error) { return s.PendingInvitation(ctx, o.ID, full.Email) }},
	}
	for _, l := range lookups {
		got, err := l.get()
		must(t, err, "%s", l.name)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", l.name, diff)
		}
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt, "ExpiresAt": got.ExpiresAt} {
			if tm.Location() != time.UTC {
				t.Errorf("%s.%s: got time in %v, want UTC", l.name, name, tm.Location())
			}
		}
		if !got.AcceptedAt.IsZero() || got.AcceptedBy != "" {
			t.Errorf("%s of a pending invitation: got accepted at %v by %q, want neither", l.name, got.AcceptedAt, got.AcceptedBy)
		}
	}
	// The roles come back in the order given.
	if got, _ := s.InvitationByID(ctx, full.ID); !slices.Equal(got.Roles, grants("shop/orders", "crm/viewer")) {
		t.Errorf("roles: got %v, want shop/orders, crm/viewer", got.Roles)
	}
	got, err := s.InvitationByID(ctx, minimal.ID)
	must(t, err, "InvitationByID(minimal)")
	if diff := cmp.Diff(invitationAsStored(minimal), got); diff != "" {
		t.Errorf("InvitationByID(minimal) (-want +got):\n%s", diff)
	}
	if got.Roles != nil {
		t.Errorf("an invitation without roles: got roles %v, want none", got.Roles)
	}

	for _, tc := range []struct {
		name string
		get  func() (orgs.Invitation, error)
	}{
		{"InvitationByID(unknown)", func() (orgs.Invitation, error) { return s.InvitationByID(ctx, "inv_ghost") }},
		{"InvitationByTokenHash(unknown)", func() (orgs.Invitation, error) { return s.InvitationByTokenHash(ctx, "no-such-hash") }},
		{"PendingInvitation(other address)", func() (orgs.Invitation, error) { return s.PendingInvitation(ctx, o.ID, "other@example.com") }},
		{"PendingInvitation(other organization)", func() (orgs.Invitation, error) {
			return s.PendingInvitation(ctx, "org_ghost", full.Email)
		}},
	} {
		if _, err := tc.get(); !isOrgNotFound(err) {
			t.Errorf("%s: got %v, want not found", tc.name, err)
		}
	}

	// An invitation to an organization that does not exist is refused,
	// without its event.
	ghost := newInvitation(orgs.Organization{ID: "org_ghost"}, "inv_ghost", "x@example.com", base)
	if err := s.CreateInvitation(ctx, ghost, invitationEvent(t, "invitation.created", ghost)); !isOrgNotFound(err) {
		t.Errorf("CreateInvitation to a missing organization: got %v, want not found", err)
	}
	for id, want := range map[string][]string{full.ID: {"invitation.created"}, minimal.ID: {"invitation.created"}, ghost.ID: nil} {
		if got := eventTypesAbout(t, s, invitationSubject(id)); !slices.Equal(got, want) {
			t.Errorf("events about %s: got %v, want %v", id, got, want)
		}
	}
}

func testInvitationConflicts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	a, b := newOrg(t, "a"), newOrg(t, "b")
	createOrgs(t, s, a, b)
	createRoles(t, s, "shop/orders")
	users := createUsers(t, s, "accepted@example.com")
	first := newInvitation(a, "inv_1", "anna@example.com", base, "shop/orders")
	createInvitations(t, s, first)

	before := len(allEvents(t, s))
	for _, tc := range []struct {
		name string
		inv  orgs.Invitation
	}{
		{"a second pending one for the address", newInvitation(a, "inv_2", first.Email, base.Add(time.Minute))},
		{"the same token hash", func() orgs.Invitation {
			inv := newInvitation(b, "inv_3", "other@example.com", base)
			inv.TokenHash = first.TokenHash
			return inv
		}()},
		{"the same ID", func() orgs.Invitation {
			inv := newInvitation(b, first.ID, "other@example.com", base)
			inv.TokenHash = "hash-other"
			return inv
		}()},
	} {
		err := s.CreateInvitation(ctx, tc.inv, invitationEvent(t, "invitation.created", tc.inv))
		if !isOrgConflict(err) {
			t.Errorf("CreateInvitation with %s: got %v, want a conflict", tc.name, err)
		}
	}
	if n := len(allEvents(t, s)); n != before {
		t.Errorf("refused invitations wrote %d events, want none", n-before)
	}
	wantInvitation(t, s, first, "the first invitation after refused ones")

	// The address may be invited to another organization, and another
	// address to the same one.
	createInvitations(t, s, newInvitation(b, "inv_b", first.Email, base), newInvitation(a, "inv_other", "other@example.com", base))

	// Once the pending invitation is revoked, accepted or expired, the
	// address may be invited again.
	revoked := first
	revoked.Status, revoked.UpdatedAt = orgs.InvitationRevoked, base.Add(time.Hour)
	must(t, s.UpdateInvitation(ctx, revoked, invitationEvent(t, "invitation.revoked", revoked)), "UpdateInvitation(revoke)")
	second := newInvitation(a, "inv_2", first.Email, base.Add(2*time.Hour))
	createInvitations(t, s, second)
	_, err := s.AcceptInvitation(ctx, second.TokenHash, users[0].ID, base.Add(3*time.Hour))
	must(t, err, "AcceptInvitation")
	third := newInvitation(a, "inv_3", first.Email, base.Add(4*time.Hour))
	createInvitations(t, s, third)
	expired := third
	expired.Status, expired.UpdatedAt = orgs.InvitationExpired, base.Add(5*time.Hour)
	must(t, s.UpdateInvitation(ctx, expired), "UpdateInvitation(expire)")
	fourth := newInvitation(a, "inv_4", first.Email, base.Add(6*time.Hour))
	createInvitations(t, s, fourth)

	got, err := s.PendingInvitation(ctx, a.ID, first.Email)
	must(t, err, "PendingInvitation")
	if got.ID != fourth.ID {
		t.Errorf("PendingInvitation after three ended ones: got %s, want %s", got.ID, fourth.ID)
	}
	list, err := s.Invitations(ctx, a.ID, "")
	must(t, err, "Invitations")
	statuses := map[string]string{}
	for _, inv := range list {
		statuses[inv.ID] = inv.Status
	}
	wantStatuses := map[string]string{"inv_1": orgs.InvitationRevoked, "inv_2": orgs.InvitationAccepted, "inv_3": orgs.InvitationExpired,
		"inv_4": orgs.InvitationPending, "inv_other": orgs.InvitationPending}
	if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
		t.Errorf("statuses of a's invitations (-want +got):\n%s", diff)
	}

	// Making an ended one pending again while another is pending is a
	// conflict, and changes nothing.
	again := revoked
	again.Status, again.UpdatedAt = orgs.InvitationPending, base.Add(7*time.Hour)
	if err := s.UpdateInvitation(ctx, again, invitationEvent(t, "invitation.resent", again)); !isOrgConflict(err) {
		t.Errorf("UpdateInvitation making a second pending one: got %v, want a conflict", err)
	}
	wantInvitation(t, s, revoked, "the revoked invitation after a refused update")
	if got := eventTypesAbout(t, s, invitationSubject(first.ID)); !slices.Equal(got, []string{"invitation.created", "invitation.revoked"}) {
		t.Errorf("events about the first invitation: got %v, want invitation.created, invitation.revoked", got)
	}
}

func testInvitationUpdate(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	inv := newInvitation(o, "inv_1", "anna@example.com", base, "shop/orders")
	other := newInvitation(o, "inv_2", "bo@example.com", base)
	createInvitations(t, s, inv, other)

	// Sent again: a new token and expiry, and other details changed. The
	// organization and the creation time stay.
	later := base.Add(48 * time.Hour)
	resent := inv
	resent.OrgID = "org_elsewhere"
	resent.CreatedAt = later
	resent.TokenHash, resent.ExpiresAt, resent.UpdatedAt = "hash-resent", later.Add(invitationTTL), later
	resent.GivenName, resent.Locale, resent.Roles, resent.ReturnTo, resent.InvitedBy = "Anna", "fi", grants("crm/viewer"), "/account", "user:u2"
	resent.ClientID = "portal"
	resent.LockedFields = []string{"given_name"}
	must(t, s.UpdateInvitation(ctx, resent, invitationEvent(t, "invitation.resent", resent)), "UpdateInvitation")
	want := resent
	want.OrgID, want.CreatedAt = inv.OrgID, inv.CreatedAt
	wantInvitation(t, s, want, "the invitation sent again")
	got, err := s.InvitationByTokenHash(ctx, "hash-resent")
	must(t, err, "InvitationByTokenHash(new token)")
	if got.ID != inv.ID {
		t.Errorf("InvitationByTokenHash(new token): got %s, want %s", got.ID, inv.ID)
	}
	if _, err := s.InvitationByTokenHash(ctx, inv.TokenHash); !isOrgNotFound(err) {
		t.Errorf("InvitationByTokenHash(old token): got %v, want not found", err)
	}
	// The old token no longer accepts it.
	users := createUsers(t, s, "anna@example.com")
	if _, err := s.AcceptInvitation(ctx, inv.TokenHash, users[0].ID, later); !isOrgNotFound(err) {
		t.Errorf("AcceptInvitation with the old token: got %v, want not found", err)
	}

	// Refused: an unknown invitation, another's token hash. Nothing changes.
	ghost := newInvitation(o, "inv_ghost", "ghost@example.com", base)
	if err := s.UpdateInvitation(ctx, ghost, invitationEvent(t, "invitation.resent", ghost)); !isOrgNotFound(err) {
		t.Errorf("UpdateInvitation of an unknown invitation: got %v, want not found", err)
	}
	stolen := resent
	stolen.TokenHash, stolen.UpdatedAt = other.TokenHash, later.Add(time.Hour)
	if err := s.UpdateInvitation(ctx, stolen, invitationEvent(t, "invitation.resent", stolen)); !isOrgConflict(err) {
		t.Errorf("UpdateInvitation to another's token hash: got %v, want a conflict", err)
	}
	wantInvitation(t, s, want, "the invitation after refused updates")
	wantInvitation(t, s, other, "the other invitation after refused updates")
	if got := eventTypesAbout(t, s, invitationSubject(ghost.ID)); len(got) != 0 {
		t.Errorf("events about an unknown invitation: got %v, want none", got)
	}
	if got := eventTypesAbout(t, s, invitationSubject(inv.ID)); !slices.Equal(got, []string{"invitation.created", "invitation.resent"}) {
		t.Errorf("events about the invitation: got %v, want invitation.created, invitation.resent", got)
	}
}

func testInvitationList(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	a, b := newOrg(t, "a"), newOrg(t, "b")
	createOrgs(t, s, a, b)
	// Created out of order; two at the same microsecond.
	list := []orgs.Invitation{
		newInvitation(a, "inv_mid", "mid@example.com", base.Add(time.Hour)),
		newInvitation(a, "inv_old", "old@example.com", base),
		newInvitation(a, "inv_new", "new@example.com", base.Add(3*time.Hour)),
		newInvitation(a, "inv_same_a", "same-a@example.com", base.Add(2*time.Hour)),
		newInvitation(a, "inv_same_b", "same-b@example.com", base.Add(2*time.Hour)),
		newInvitation(b, "inv_b", "b@example.com", base.Add(4*time.Hour)),
	}
	createInvitations(t, s, list...)
	for _, id := range []string{"inv_mid", "inv_same_b"} {
		inv, err := s.InvitationByID(ctx, id)
		must(t, err, "InvitationByID")
		inv.Status, inv.UpdatedAt = orgs.InvitationRevoked, base.Add(5*time.Hour)
		must(t, s.UpdateInvitation(ctx, inv), "UpdateInvitation(revoke %s)", id)
	}

	for _, tc := range []struct {
		org, status string
		want        []string
	}{
		{a.ID, "", []string{"inv_new", "inv_same_b", "inv_same_a", "inv_mid", "inv_old"}},
		{a.ID, orgs.InvitationPending, []string{"inv_new", "inv_same_a", "inv_old"}},
		{a.ID, orgs.InvitationRevoked, []string{"inv_same_b", "inv_mid"}},
		{a.ID, orgs.InvitationAccepted, nil},
		{b.ID, "", []string{"inv_b"}},
		{"org_ghost", "", nil},
	} {
		got, err := s.Invitations(ctx, tc.org, tc.status)
		must(t, err, "Invitations(%s, %q)", tc.org, tc.status)
		if ids := invitationIDs(got); !slices.Equal(ids, tc.want) {
			t.Errorf("Invitations(%s, %q): got %v, want %v", tc.org, tc.status, ids, tc.want)
		}
		for _, inv := range got {
			if inv.OrgID != tc.org || (tc.status != "" && inv.Status != tc.status) {
				t.Errorf("Invitations(%s, %q): got %s of %s, %s", tc.org, tc.status, inv.ID, inv.OrgID, inv.Status)
			}
		}
	}
	got, err := s.Invitations(ctx, a.ID, "")
	must(t, err, "Invitations")
	if diff := cmp.Diff(invitationAsStored(list[2]), got[0]); diff != "" {
		t.Errorf("Invitations: the newest (-want +got):\n%s", diff)
	}
}

func testAcceptInvitation(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	o, other := newOrg(t, "acme"), newOrg(t, "other")
	createOrgs(t, s, o, other)
	createRoles(t, s, "shop/admin", "shop/orders", "crm/viewer", "crm/gone")
	users := createUsers(t, s, "new@example.com", "member@example.com")
	newcomer, existing := users[0], users[1]

	// A newcomer becomes a member with the invitation's roles.
	inv := newInvitation(o, "inv_new", "new@example.com", base, "shop/orders", "crm/viewer", "shop/orders")
	inv.ReturnTo = "/account"
	createInvitations(t, s, inv)
	at := base.Add(time.Hour + 999*time.Nanosecond)
	accepted := inv
	accepted.Status, accepted.AcceptedAt, accepted.AcceptedBy, accepted.UpdatedAt = orgs.InvitationAccepted, at, newcomer.ID, at
	got, err := s.AcceptInvitation(ctx, inv.TokenHash, newcomer.ID, at, invitationEvent(t, "invitation.accepted", accepted))
	must(t, err, "AcceptInvitation")
	if diff := cmp.Diff(invitationAsStored(accepted), got); diff != "" {
		t.Errorf("AcceptInvitation returned (-want +got):\n%s", diff)
	}
	wantInvitation(t, s, accepted, "the accepted invitation")
	m, err := s.Membership(ctx, o.ID, newcomer.ID)
	must(t, err, "Membership of the newcomer")
	wantMember := orgs.Membership{OrgID: o.ID, UserID: newcomer.ID, Roles: grants("crm/viewer", "shop/orders"), CreatedAt: stored(at), UpdatedAt: stored(at)}
	if diff := cmp.Diff(wantMember, m); diff != "" {
		t.Errorf("the newcomer's membership (-want +got):\n%s", diff)
	}
	if list, _ := s.MembershipsOf(ctx, newcomer.ID); len(list) != 1 {
		t.Errorf("MembershipsOf the newcomer: got %+v, want acme only", list)
	}

	// A member keeps the roles they hold and gains the invitation's;
	// roles deleted since it was sent are not given; the membership keeps
	// its creation time.
	held := member(o, existing, base, "shop/admin", "shop/orders")
	must(t, s.PutMembership(ctx, held), "PutMembership")
	inv2 := newInvitation(o, "inv_member", "member@example.com", base, "shop/orders", "crm/viewer", "crm/gone")
	createInvitations(t, s, inv2)
	must(t, s.DeleteRole(ctx, "crm", "gone"), "DeleteRole(crm/gone)")
	at2 := base.Add(2 * time.Hour)
	got, err = s.AcceptInvitation(ctx, inv2.TokenHash, existing.ID, at2, invitationEvent(t, "invitation.accepted", inv2))
	must(t, err, "AcceptInvitation(member)")
	if got.Status != orgs.InvitationAccepted || got.AcceptedBy != existing.ID || !got.AcceptedAt.Equal(stored(at2)) {
		t.Errorf("AcceptInvitation(member): got status %s by %q at %v, want accepted by %s at %v",
			got.Status, got.AcceptedBy, got.AcceptedAt, existing.ID, stored(at2))
	}
	m, err = s.Membership(ctx, o.ID, existing.ID)
	must(t, err, "Membership of the member")
	wantMember = orgs.Membership{OrgID: o.ID, UserID: existing.ID, Roles: grants("crm/viewer", "shop/admin", "shop/orders"),
		CreatedAt: stored(base), UpdatedAt: stored(at2)}
	if diff := cmp.Diff(wantMember, m); diff != "" {
		t.Errorf("the member's membership after accepting (-want +got):\n%s", diff)
	}
	if n := countRows(t, e, rawURL, "membership_roles", "org_id = $1 AND user_id = $2", o.ID, existing.ID); n != 3 {
		t.Errorf("membership_roles of the member: got %d rows, want 3", n)
	}

	// An invitation without roles makes a member without roles; the
	// person's other memberships are untouched.
	inv3 := newInvitation(other, "inv_plain", "member@example.com", base)
	createInvitations(t, s, inv3)
	_, err = s.AcceptInvitation(ctx, inv3.TokenHash, existing.ID, at2)
	must(t, err, "AcceptInvitation(no roles)")
	m, err = s.Membership(ctx, other.ID, existing.ID)
	must(t, err, "Membership in other")
	if m.Roles != nil {
		t.Errorf("membership from an invitation without roles: got roles %v, want none", m.Roles)
	}
	if m, _ := s.Membership(ctx, o.ID, existing.ID); len(m.Roles) != 3 {
		t.Errorf("the member's roles in acme after joining another organization: got %v, want three", m.Roles)
	}

	for id, want := range map[string][]string{inv.ID: {"invitation.created", "invitation.accepted"}, inv2.ID: {"invitation.created", "invitation.accepted"}} {
		if got := eventTypesAbout(t, s, invitationSubject(id)); !slices.Equal(got, want) {
			t.Errorf("events about %s: got %v, want %v", id, got, want)
		}
	}
}

func testAcceptInvitationRefused(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/orders")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	u := users[0]

	used := newInvitation(o, "inv_used", "used@example.com", base, "shop/orders")
	revoked := newInvitation(o, "inv_revoked", "revoked@example.com", base, "shop/orders")
	stale := newInvitation(o, "inv_stale", "stale@example.com", base, "shop/orders")
	marked := newInvitation(o, "inv_marked", "marked@example.com", base, "shop/orders")
	createInvitations(t, s, used, revoked, stale, marked)
	_, err := s.AcceptInvitation(ctx, used.TokenHash, users[1].ID, base.Add(time.Minute))
	must(t, err, "AcceptInvitation")
	revoked.Status = orgs.InvitationRevoked
	must(t, s.UpdateInvitation(ctx, revoked), "UpdateInvitation(revoke)")
	n, err := s.ExpireInvitations(ctx, marked.ExpiresAt, 10, func(inv orgs.Invitation) (events.Event, error) {
		return invitationEvent(t, "invitation.expired", inv), nil
	})
	must(t, err, "ExpireInvitations")
	if n != 2 {
		t.Fatalf("ExpireInvitations: got %d, want the two pending ones", n)
	}
	// Made pending again, stale stays past its expiry.
	stale.UpdatedAt = base.Add(time.Hour)
	must(t, s.UpdateInvitation(ctx, stale), "UpdateInvitation(stale)")
	before := len(allEvents(t, s))

	for _, tc := range []struct {
		name, hash string
		at         time.Time
		want       error
	}{
		{"accepted already", used.TokenHash, base.Add(time.Hour), orgs.ErrInvitationUsed},
		{"revoked", revoked.TokenHash, base.Add(time.Hour), orgs.ErrInvitationUsed},
		{"marked expired", marked.TokenHash, base.Add(time.Hour), orgs.ErrInvitationUsed},
		{"pending at its expiry", stale.TokenHash, stored(stale.ExpiresAt), orgs.ErrInvitationUsed},
		{"pending at its expiry, to the nanosecond", stale.TokenHash, stale.ExpiresAt, orgs.ErrInvitationUsed},
		{"pending past its expiry", stale.TokenHash, stale.ExpiresAt.Add(time.Second), orgs.ErrInvitationUsed},
		{"unknown", "no-such-hash", base, orgs.ErrNotFound},
	} {
		ev := newEvent(t, "invitation.accepted", "test:refused", nil)
		got, err := s.AcceptInvitation(ctx, tc.hash, u.ID, tc.at, ev)
		if !errors.Is(err, tc.want) {
			t.Errorf("AcceptInvitation of one %s: got %v, want %v", tc.name, err, tc.want)
		}
		if got.ID != "" {
			t.Errorf("AcceptInvitation of one %s: got invitation %s, want none", tc.name, got.ID)
		}
	}
	if n := len(allEvents(t, s)); n != before {
		t.Errorf("refused acceptances wrote %d events, want none", n-before)
	}
	if list, err := s.MembershipsOf(ctx, u.ID); err != nil || len(list) != 0 {
		t.Errorf("MembershipsOf after refused acceptances: got %+v, %v; want none", list, err)
	}
	want := map[string]string{used.ID: orgs.InvitationAccepted, revoked.ID: orgs.InvitationRevoked,
		marked.ID: orgs.InvitationExpired, stale.ID: orgs.InvitationPending}
	for id, status := range want {
		inv, err := s.InvitationByID(ctx, id)
		must(t, err, "InvitationByID(%s)", id)
		if inv.Status != status {
			t.Errorf("%s after refused acceptances: got status %s, want %s", id, inv.Status, status)
		}
		if id != used.ID && (!inv.AcceptedAt.IsZero() || inv.AcceptedBy != "") {
			t.Errorf("%s after refused acceptances: accepted at %v by %q, want neither", id, inv.AcceptedAt, inv.AcceptedBy)
		}
	}

	// One second before its expiry, it is accepted.
	_, err = s.AcceptInvitation(ctx, stale.TokenHash, u.ID, stale.ExpiresAt.Add(-time.Second))
	must(t, err, "AcceptInvitation just before the expiry")
}

// testInvitationConcurrentAccepts checks that of people accepting one
// invitation at once, exactly one gets it.
func testInvitationConcurrentAccepts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/orders")
	emails := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
	users := createUsers(t, s, emails...)
	for round := range 3 {
		inv := newInvitation(o, "inv_"+string(rune('a'+round)), "x@example.com", base, "shop/orders")
		createInvitations(t, s, inv)
		errs := make([]error, len(users))
		var wg sync.WaitGroup
		for i, u := range users {
			ev := invitationEvent(t, "invitation.accepted", inv)
			wg.Go(func() { _, errs[i] = s.AcceptInvitation(ctx, inv.TokenHash, u.ID, base.Add(time.Minute), ev) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Errorf("round %d: both %d and %d accepted the invitation", round, winner, i)
			case !errors.Is(err, orgs.ErrInvitationUsed):
				t.Errorf("round %d: a losing AcceptInvitation: got %v, want ErrInvitationUsed", round, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no one accepted the invitation: %v", round, errs)
		}
		got, err := s.InvitationByID(ctx, inv.ID)
		must(t, err, "InvitationByID")
		if got.AcceptedBy != users[winner].ID {
			t.Errorf("round %d: accepted by %q, want the winner %s", round, got.AcceptedBy, users[winner].ID)
		}
		if got := eventTypesAbout(t, s, invitationSubject(inv.ID)); !slices.Equal(got, []string{"invitation.created", "invitation.accepted"}) {
			t.Errorf("round %d: events: got %v, want one acceptance", round, got)
		}
	}
}

func testExpireInvitations(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	a, b := newOrg(t, "a"), newOrg(t, "b")
	createOrgs(t, s, a, b)
	users := createUsers(t, s, "accepted@example.com")
	now := base.Add(invitationTTL + 10*time.Hour)

	// Past their expiry: three pending (one in b), one revoked, one
	// accepted; then one pending that expires exactly now and one later.
	past1 := newInvitation(a, "inv_past1", "p1@example.com", base)
	past2 := newInvitation(a, "inv_past2", "p2@example.com", base.Add(time.Hour))
	past3 := newInvitation(b, "inv_past3", "p3@example.com", base.Add(2*time.Hour))
	revoked := newInvitation(a, "inv_revoked", "r@example.com", base)
	revoked.Status = orgs.InvitationRevoked
	accepted := newInvitation(a, "inv_accepted", "accepted@example.com", base)
	atNow := newInvitation(a, "inv_now", "now@example.com", now.Add(-invitationTTL))
	future := newInvitation(a, "inv_future", "f@example.com", now.Add(time.Second-invitationTTL))
	createInvitations(t, s, past3, past2, past1, revoked, accepted, atNow, future)
	_, err := s.AcceptInvitation(ctx, accepted.TokenHash, users[0].ID, base.Add(time.Minute))
	must(t, err, "AcceptInvitation")

	var seen []orgs.Invitation
	ev := func(inv orgs.Invitation) (events.Event, error) {
		seen = append(seen, inv)
		return invitationEvent(t, "invitation.expired", inv), nil
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{2, []string{"inv_past1", "inv_past2"}},
		{2, []string{"inv_past3", "inv_now"}},
		{2, nil},
	} {
		seen = nil
		n, err := s.ExpireInvitations(ctx, now, tc.limit, ev)
		must(t, err, "ExpireInvitations")
		if n != len(tc.want) || !slices.Equal(invitationIDs(seen), tc.want) {
			t.Errorf("ExpireInvitations(limit %d): got %d, events for %v; want %d, for %v", tc.limit, n, invitationIDs(seen), len(tc.want), tc.want)
		}
		for _, inv := range seen {
			if inv.Status != orgs.InvitationExpired || !inv.UpdatedAt.Equal(stored(now)) {
				t.Errorf("ExpireInvitations passed %s with status %s updated at %v, want expired at %v", inv.ID, inv.Status, inv.UpdatedAt, stored(now))
			}
		}
	}

	want := map[string]string{"inv_past1": orgs.InvitationExpired, "inv_past2": orgs.InvitationExpired, "inv_past3": orgs.InvitationExpired,
		"inv_now": orgs.InvitationExpired, "inv_revoked": orgs.InvitationRevoked, "inv_accepted": orgs.InvitationAccepted,
		"inv_future": orgs.InvitationPending}
	for id, status := range want {
		inv, err := s.InvitationByID(ctx, id)
		must(t, err, "InvitationByID(%s)", id)
		if inv.Status != status {
			t.Errorf("%s after the sweep: got status %s, want %s", id, inv.Status, status)
		}
		wantEvents := []string{"invitation.created"}
		if status == orgs.InvitationExpired {
			wantEvents = append(wantEvents, "invitation.expired")
			if !inv.UpdatedAt.Equal(stored(now)) {
				t.Errorf("%s after the sweep: updated at %v, want %v", id, inv.UpdatedAt, stored(now))
			}
		}
		if got := eventTypesAbout(t, s, invitationSubject(id)); !slices.Equal(got, wantEvents) {
			t.Errorf("events about %s: got %v, want %v", id, got, wantEvents)
		}
	}
	// The expired ones no longer keep the addresses from being invited.
	createInvitations(t, s, newInvitation(a, "inv_again", past1.Email, now))

	// An error from the event callback expires none of the batch.
	later := future.ExpiresAt
	boom := errors.New("boom")
	n, err := s.ExpireInvitations(ctx, later, 10, func(inv orgs.Invitation) (events.Event, error) { return events.Event{}, boom })
	if !errors.Is(err, boom) || n != 0 {
		t.Errorf("ExpireInvitations with a failing callback: got %d, %v; want 0, boom", n, err)
	}
	if inv, _ := s.InvitationByID(ctx, future.ID); inv.Status != orgs.InvitationPending {
		t.Errorf("after a failed sweep: got status %s, want pending", inv.Status)
	}
}

func testInvitationOrgDelete(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	doomed, other := newOrg(t, "doomed"), newOrg(t, "other")
	createOrgs(t, s, doomed, other)
	users := createUsers(t, s, "a@example.com")
	gone := []orgs.Invitation{
		newInvitation(doomed, "inv_d1", "a@example.com", base),
		newInvitation(doomed, "inv_d2", "b@example.com", base),
	}
	kept := newInvitation(other, "inv_o", "a@example.com", base)
	createInvitations(t, s, append(gone, kept)...)
	_, err := s.AcceptInvitation(ctx, gone[0].TokenHash, users[0].ID, base.Add(time.Minute))
	must(t, err, "AcceptInvitation")

	must(t, s.DeleteOrganization(ctx, doomed.ID, base, orgEvent(t, "org.deleted", doomed)), "DeleteOrganization")
	for _, inv := range gone {
		if _, err := s.InvitationByID(ctx, inv.ID); !isOrgNotFound(err) {
			t.Errorf("InvitationByID(%s) after its organization was deleted: got %v, want not found", inv.ID, err)
		}
		if _, err := s.InvitationByTokenHash(ctx, inv.TokenHash); !isOrgNotFound(err) {
			t.Errorf("InvitationByTokenHash(%s) after its organization was deleted: got %v, want not found", inv.ID, err)
		}
	}
	if n := countRows(t, e, rawURL, "invitations", "org_id = $1", doomed.ID); n != 0 {
		t.Errorf("invitations of the deleted organization: %d rows left, want none", n)
	}
	if list, err := s.Invitations(ctx, doomed.ID, ""); err != nil || len(list) != 0 {
		t.Errorf("Invitations of the deleted organization: got %v, %v; want none", invitationIDs(list), err)
	}
	wantInvitation(t, s, kept, "the other organization's invitation")
	if _, err := s.AcceptInvitation(ctx, gone[1].TokenHash, users[0].ID, base.Add(time.Minute)); !isOrgNotFound(err) {
		t.Errorf("AcceptInvitation of a deleted organization's invitation: got %v, want not found", err)
	}
}

// testInvitationFailedEvents checks that every write and its events are
// one transaction: an event the log refuses undoes the write.
func testInvitationFailedEvents(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	o := newOrg(t, "acme")
	createOrgs(t, s, o)
	createRoles(t, s, "shop/admin", "shop/orders")
	users := createUsers(t, s, "one@example.com", "two@example.com")
	must(t, s.PutMembership(ctx, member(o, users[1], base, "shop/admin")), "PutMembership")
	inv := newInvitation(o, "inv_1", "one@example.com", base, "shop/orders")
	toMember := newInvitation(o, "inv_2", "two@example.com", base, "shop/orders")
	createInvitations(t, s, inv, toMember)
	bad := newEvent(t, "test.refused", "test:1", nil)
	bad.Actor = ""

	resent := inv
	resent.TokenHash, resent.ExpiresAt, resent.UpdatedAt = "hash-resent", base.Add(2*invitationTTL), base.Add(time.Hour)
	fresh := newInvitation(o, "inv_fresh", "fresh@example.com", base)
	writes := []struct {
		name  string
		write func() error
	}{
		{"CreateInvitation", func() error { return s.CreateInvitation(ctx, fresh, bad) }},
		{"UpdateInvitation", func() error { return s.UpdateInvitation(ctx, resent, bad) }},
		{"AcceptInvitation(new member)", func() error {
			_, err := s.AcceptInvitation(ctx, inv.TokenHash, users[0].ID, base.Add(time.Minute), bad)
			return err
		}},
		{"AcceptInvitation(member)", func() error {
			_, err := s.AcceptInvitation(ctx, toMember.TokenHash, users[1].ID, base.Add(time.Minute), bad)
			return err
		}},
		{"ExpireInvitations", func() error {
			_, err := s.ExpireInvitations(ctx, base.Add(2*invitationTTL), 10, func(orgs.Invitation) (events.Event, error) { return bad, nil })
			return err
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.write(); err == nil {
				t.Fatalf("%s with an invalid event: got no error", w.name)
			}
			wantInvitation(t, s, inv, "the invitation")
			wantInvitation(t, s, toMember, "the invitation to the member")
			if _, err := s.InvitationByID(ctx, fresh.ID); !isOrgNotFound(err) {
				t.Errorf("InvitationByID(fresh): got %v, want not found", err)
			}
			members, err := s.Members(ctx, o.ID, "", 10)
			must(t, err, "Members")
			if len(members) != 1 || members[0].UserID != users[1].ID || !slices.Equal(members[0].Roles, grants("shop/admin")) ||
				!members[0].UpdatedAt.Equal(stored(base)) {
				t.Errorf("Members: got %+v, want the second user with shop/admin only, as before", members)
			}
		})
	}
	if got := eventTypesAbout(t, s, "test:1"); len(got) != 0 {
		t.Errorf("refused events were written: %v", got)
	}
}
