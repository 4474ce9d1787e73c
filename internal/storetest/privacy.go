package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/api"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/store"
	"github.com/portvakt/portvakt/internal/throttle"
	"github.com/portvakt/portvakt/internal/webhooks"
)

// RunPrivacy is the conformance suite for what privacy needs of storage
// (privacy.Store and the export's readers: erasure, pending deletions,
// the purge's candidates) on engine e. Call it once per engine,
// typically through ForEachEngine.
func RunPrivacy(t *testing.T, e Engine) {
	t.Run("Erase", func(t *testing.T) { testErase(t, e) })
	t.Run("EraseNotFound", func(t *testing.T) { testEraseNotFound(t, e) })
	t.Run("EraseAborted", func(t *testing.T) { testEraseAborted(t, e) })
	t.Run("ScheduleAndCancel", func(t *testing.T) { testScheduleDeletion(t, e) })
	t.Run("UnverifiedAccounts", func(t *testing.T) { testUnverifiedAccounts(t, e) })
	t.Run("ExportReads", func(t *testing.T) { testExportReads(t, e) })
}

// eraseUser erases the user with a user.deleted event.
func eraseUser(t testing.TB, s *store.Store, id string) {
	t.Helper()
	must(t, s.EraseUser(t.Context(), id, base, func(privacy.Erasure) ([]events.Event, error) {
		return []events.Event{newEvent(t, "user.deleted", "user:"+id, nil)}, nil
	}), "EraseUser(%s)", id)
}

// eventAt is an event about subject by actor with data, at when.
func eventAt(t testing.TB, typ, subject, actor string, when time.Time, data any) events.Event {
	t.Helper()
	ev, err := events.New(typ, subject, actor, when, data)
	must(t, err, "new event")
	return ev
}

// person is a user with everything the store can hold about them.
type person struct {
	u        accounts.User
	sessions []string
	// changedName is a name the person had before (in a user.updated
	// event), upstream their linked account's address, ip an address they
	// signed in from.
	changedName, upstream, ip string
}

// fillPerson stores u and, around it, a record in every table that can
// name a person. org is an organization they belong to, other another
// person they invite.
func fillPerson(t *testing.T, s *store.Store, u accounts.User, changedName, upstream, ip string, org orgs.Organization, other accounts.User) person {
	t.Helper()
	ctx := t.Context()
	p := person{u: u, changedName: changedName, upstream: upstream, ip: ip}
	must(t, s.CreateUser(ctx, u, eventAt(t, "user.registered", u.Subject(), u.Subject(), base, map[string]any{"source": "password"})), "CreateUser")
	must(t, s.SetExternalIDs(ctx, externalids.User, u.ID, map[string]string{"erp": "E-" + u.ID}, newEvent(t, "user.updated", u.Subject(), nil)), "SetExternalIDs")
	must(t, s.AppendEvents(ctx,
		eventAt(t, "user.updated", u.Subject(), "client:crm", base, map[string]any{"changes": map[string]any{
			"given_name": map[string]string{"old": changedName, "new": u.GivenName}, "phone": map[string]string{"old": "", "new": u.Phone},
			"locale": map[string]string{"old": "", "new": "sv"}}}),
		eventAt(t, "session.started", u.Subject(), u.Subject(), base, map[string]any{"session": "session:0123456789abcdef", "client_ip": ip, "methods": []string{"pwd"}}),
		eventAt(t, "user.login_succeeded", u.Subject(), u.Subject(), base.Add(time.Minute), map[string]any{"method": "password"}),
		// An error that names the person (a webhook receiver's answer, say).
		eventAt(t, "oidc.backchannel_logout_failed", u.Subject(), "system:oidc", base, map[string]any{"error": "unknown user " + u.Email}),
	), "AppendEvents")
	p.sessions = createSessions(t, s, u.ID, 2)
	must(t, s.CreateToken(ctx, newToken(u, accounts.TokenVerifyEmail, base)), "CreateToken")
	must(t, s.AddFactor(ctx, totpFactor("f-"+u.ID, u.ID)), "AddFactor")
	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, []string{"digest-" + u.ID}, base), "ReplaceRecoveryCodes")
	must(t, s.LinkIdentity(ctx, federation.Identity{ProviderID: "idp", Subject: "sub-" + u.ID, UserID: u.ID, Email: upstream, CreatedAt: base, LastUsedAt: base}), "LinkIdentity")
	must(t, s.SaveProofing(ctx, u.ID, []federation.VerifiedAttribute{{Name: federation.AttrLegalName, Value: []byte("sealed-name"), Source: "eid:idp", VerifiedAt: base}},
		"nid-"+u.ID), "SaveProofing")
	must(t, s.PutMembership(ctx, member(org, u, base, "shop/buyer"), memberEvent(t, "membership.added", member(org, u, base))), "PutMembership")
	must(t, s.PutUserRoles(ctx, u.ID, grants("shop/buyer")), "PutUserRoles")
	jr := newJoinRequest(newOrg(t, "beta"), "jr-"+u.ID, u.ID, u.EmailNormalized, base)
	must(t, s.CreateJoinRequest(ctx, jr, nil, eventAt(t, "join_request.created", "org:org_beta", u.Subject(), base,
		map[string]any{"join_request_id": jr.ID, "user_id": u.ID, "email": u.EmailNormalized})), "CreateJoinRequest")
	to := newInvitation(org, "inv-to-"+u.ID, u.EmailNormalized, base, "shop/buyer")
	to.GivenName, to.FamilyName, to.Phone, to.SealedToken = u.GivenName, u.FamilyName, u.Phone, []byte("sealed-token")
	must(t, s.CreateInvitation(ctx, to, eventAt(t, "invitation.created", org.Subject(), "client:crm", base,
		map[string]any{"invitation_id": to.ID, "email": to.Email})), "CreateInvitation")
	by := newInvitation(org, "inv-by-"+strings.ToLower(u.GivenName[:3])+"-"+u.CreatedAt.Format("150405.000000"), other.EmailNormalized, base)
	by.InvitedBy = u.Subject()
	must(t, s.CreateInvitation(ctx, by, eventAt(t, "invitation.created", org.Subject(), u.Subject(), base,
		map[string]any{"invitation_id": by.ID, "email": by.Email})), "CreateInvitation")
	must(t, s.CreateMail(ctx, mail.Record{ID: "mail-" + u.ID, EventUUID: "ev-" + u.ID, To: u.Email, Template: mail.VerifyEmail, Lang: "en",
		Subject: "Verify", Sealed: []byte("sealed"), Status: mail.StatusSent, CreatedAt: base, SentAt: base}), "CreateMail")
	for _, k := range []string{"login:account:" + u.EmailNormalized, "second_factor:user:" + u.ID} {
		must(t, s.UpdateThrottle(ctx, k, func(st throttle.State) throttle.State {
			st.Failures, st.WindowStart = 1, base
			return st
		}), "UpdateThrottle")
	}
	must(t, s.CreateFlow(ctx, flows.Flow{ID: "flow-" + u.ID, Kind: flows.Login, State: flows.StateStarted, Email: u.Email, UserID: u.ID,
		CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(time.Hour)}), "CreateFlow")
	ar := authRequestFixture("ar-" + u.ID)
	ar.UserID, ar.SessionID, ar.SignedIn, ar.CodeHash, ar.Params.LoginHint = u.ID, p.sessions[0][:16], true, "code-"+u.ID, u.Email
	must(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest")
	hinted := authRequestFixture("hint-" + u.ID)
	hinted.Params.LoginHint = u.Email // not signed in yet: no user
	must(t, s.CreateAuthRequest(ctx, hinted), "CreateAuthRequest")
	live := grantToken("rt-"+u.ID, "webshop", u.ID, p.sessions[1][:16])
	live.Kind, live.ExpiresAt = oidc.KindRefresh, base.Add(24*time.Hour)
	old := grantToken("at-"+u.ID, "old-app", u.ID, "")
	old.ExpiresAt = base.Add(-time.Hour)
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{live, old}), "SaveGrantTokens")
	must(t, s.SaveConsent(ctx, oidc.Consent{UserID: u.ID, ClientID: "webshop", Scopes: []string{"openid", "email"}, CreatedAt: base, UpdatedAt: base}), "SaveConsent")
	idem := api.IdempotentRequest{ClientID: "crm", Key: "create-" + u.ID, RequestHash: "h", CreatedAt: base}
	_, _, err := s.StartIdempotent(ctx, idem, time.Hour)
	must(t, err, "StartIdempotent")
	idem.Status, idem.Location, idem.Body = 201, "/api/v1/users/"+u.ID, []byte(`{"id":"`+u.ID+`","email":"`+u.Email+`"}`)
	must(t, s.FinishIdempotent(ctx, idem), "FinishIdempotent")
	return p
}

// deliverAbout queues a webhook delivery of each event about subject to
// subscription w, with an attempt whose answer echoes the payload.
func deliverAbout(t *testing.T, e Engine, rawURL string, s *store.Store, w, subject string) {
	t.Helper()
	evs, err := s.EventsFor(t.Context(), subject, 100)
	must(t, err, "EventsFor")
	var ds []webhooks.Delivery
	for _, ev := range evs {
		payload, err := webhooks.Payload(ev)
		must(t, err, "Payload")
		d := webhooks.NewDelivery(w, ev, payload, wbase)
		d.LastError = string(payload)
		ds = append(ds, d)
	}
	must(t, s.EnqueueWebhookDeliveries(t.Context(), ds), "EnqueueWebhookDeliveries")
	for _, d := range ds {
		_, err := e.RawDB(t, rawURL).ExecContext(t.Context(), `INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_us, response, error)
			VALUES ($1, $2, 500, 1, $3, $4)`, d.ID, micros(wbase), string(d.Payload), "rejected: "+string(d.Payload))
		must(t, err, "insert webhook attempt")
	}
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func testErase(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	acme := newOrg(t, "acme")
	createOrgs(t, s, acme, newOrg(t, "beta"))
	createRoles(t, s, "shop/buyer")
	must(t, s.CreateProvider(ctx, testProvider("idp")), "CreateProvider")
	createWebhook(t, s, "w1")

	ada := accounts.User{ID: accounts.NewID(), Email: "Ada.Zelmira@Example.COM", GivenName: "Zelmira", FamilyName: "Quattlebaum-Ek",
		Phone: "+46701112233", ExternalID: "crm-ada", Locale: "sv", CreatedAt: base, UpdatedAt: base}
	bo := accounts.User{ID: accounts.NewID(), Email: "bo.orvar@example.net", GivenName: "Orvar", FamilyName: "Bäckström",
		Phone: "+358401234567", CreatedAt: base, UpdatedAt: base}
	for _, u := range []*accounts.User{&ada, &bo} {
		must(t, u.Validate(), "validate")
	}
	// The deletion is pending since before the sessions (which would end it).
	must(t, s.CreateUser(ctx, bo, userEvent(t, bo)), "CreateUser")
	pa := fillPerson(t, s, ada, "Adelaidette", "ada.upstream@idp.example", "203.0.113.77", acme, bo)
	var otherOrg = newOrg(t, "gamma")
	createOrgs(t, s, otherOrg)
	pb := fillPerson(t, s, withID(bo, accounts.NewID(), "bo2.orvar@example.net"), "Orvarsson", "bo.upstream@idp.example", "198.51.100.9", otherOrg, ada)
	deliverAbout(t, e, rawURL, s, "w1", ada.Subject())
	deliverAbout(t, e, rawURL, s, "w1", acme.Subject())
	deliverAbout(t, e, rawURL, s, "w1", pb.u.Subject())
	_, err := e.RawDB(t, rawURL).ExecContext(ctx, `INSERT INTO account_deletions (user_id, requested_at, due_at) VALUES ($1, $2, $3)`,
		ada.ID, micros(base), micros(base.Add(time.Hour)))
	must(t, err, "insert deletion")

	var got privacy.Erasure
	deleted := eventAt(t, "user.deleted", ada.Subject(), "system:test", base, map[string]any{"reason": "admin"})
	must(t, s.EraseUser(ctx, ada.ID, base, func(e privacy.Erasure) ([]events.Event, error) {
		got = e
		return []events.Event{deleted}, nil
	}), "EraseUser")

	// What the erasure was told.
	want := privacy.Erasure{
		ExternalIDs: map[string]string{"erp": "E-" + ada.ID},
		Deletion:    privacy.Deletion{RequestedAt: stored(base), DueAt: stored(base.Add(time.Hour))},
		Addresses:   []string{"ada.upstream@idp.example", ada.EmailNormalized}, SelfRegistered: true,
		Identities: 1, Factors: 1, Memberships: 1, LastSignIn: stored(base.Add(time.Minute)),
		// The live refresh token's session, and the code's (a session that
		// ends now); not the expired token's application.
		Logout: []privacy.LogoutTarget{{ClientID: "webshop", SID: pa.sessions[0][:16]}, {ClientID: "webshop", SID: pa.sessions[1][:16]}},
	}
	slices.SortFunc(want.Logout, func(a, b privacy.LogoutTarget) int { return strings.Compare(a.SID, b.SID) })
	slices.Sort(got.Addresses)
	slices.Sort(want.Addresses)
	if got.User.ID != ada.ID {
		t.Errorf("Erasure.User = %s, want %s", got.User.ID, ada.ID)
	}
	got.User = accounts.User{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Erasure (-want +got):\n%s", diff)
	}

	// Nothing names Ada any more: not her addresses, names (old ones
	// too), phone or the address she signed in from.
	needles := []string{ada.Email, ada.GivenName, ada.FamilyName, ada.Phone, pa.changedName, pa.upstream, pa.ip, "nid-" + ada.ID}
	if hits := FindInTables(t, e, rawURL, needles...); len(hits) > 0 {
		t.Errorf("after the erasure the database still holds Ada's data:\n%s", strings.Join(hits, "\n"))
	}
	// Her ID stays only as the pseudonym of the record: in events, their
	// deliveries, and the invitation she sent (the invitee's).
	for _, h := range FindInTables(t, e, rawURL, ada.ID) {
		table, _, _ := strings.Cut(h, ".")
		if !slices.Contains([]string{"events", "webhook_deliveries", "webhook_attempts", "invitations"}, table) {
			t.Errorf("Ada's ID is left in %s", h)
		}
		if table == "invitations" && !strings.Contains(h, "invited_by") {
			t.Errorf("Ada's ID is left in %s", h)
		}
	}
	// Bo's data is untouched (and the scan finds what is there).
	for _, n := range []string{pb.u.Email, pb.u.GivenName, pb.changedName, pb.ip, pb.upstream} {
		if hits := FindInTables(t, e, rawURL, n); len(hits) == 0 {
			t.Errorf("Bo's %q is gone too", n)
		}
	}
	if _, err := s.UserByID(ctx, pb.u.ID); err != nil {
		t.Errorf("Bo: %v", err)
	}
	if left := sessionsLeft(t, s, pb.sessions); len(left) != 2 {
		t.Errorf("Bo's sessions: %d left, want 2", len(left))
	}
	for table, cond := range map[string]string{
		"oidc_tokens": "user_id = $1", "oidc_consents": "user_id = $1", "oidc_auth_requests": "user_id = $1",
		"auth_factors": "user_id = $1", "memberships": "user_id = $1", "join_requests": "user_id = $1", "api_idempotency": "location = '/api/v1/users/' || $1",
	} {
		if n := countRows(t, e, rawURL, table, cond, pb.u.ID); n == 0 {
			t.Errorf("Bo's %s are gone", table)
		}
	}
	// The invitation Ada sent to Bo stays; the one to her went.
	if _, err := s.InvitationByID(ctx, "inv-by-zel-"+ada.CreatedAt.Format("150405.000000")); err != nil {
		t.Errorf("the invitation Ada sent: %v", err)
	}
	if _, err := s.InvitationByID(ctx, "inv-to-"+ada.ID); !errors.Is(err, orgs.ErrNotFound) {
		t.Errorf("the invitation to Ada: %v, want not found", err)
	}

	// The events stay, scrubbed; the erasure's event is last.
	evs, err := s.EventsFor(ctx, ada.Subject(), 100)
	must(t, err, "EventsFor")
	if len(evs) == 0 || evs[0].UUID != deleted.UUID {
		t.Fatalf("newest event about Ada: %v, want user.deleted", uuids(evs))
	}
	for _, ev := range evs {
		if ev.Type == "user.updated" && strings.Contains(string(ev.Data), "changes") {
			var d struct {
				Changes map[string]map[string]string `json:"changes"`
			}
			must(t, json.Unmarshal(ev.Data, &d), "user.updated data")
			if d.Changes["given_name"]["old"] != privacy.Erased || d.Changes["locale"]["new"] != "sv" {
				t.Errorf("user.updated after the erasure: %s, want the names erased and the locale kept", ev.Data)
			}
		}
	}
	orgEvents, err := s.EventsFor(ctx, acme.Subject(), 100)
	must(t, err, "EventsFor")
	var emails []string
	for _, ev := range orgEvents {
		var d struct {
			Email string `json:"email"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		if d.Email != "" {
			emails = append(emails, d.Email)
		}
	}
	slices.Sort(emails)
	if diff := cmp.Diff([]string{privacy.Erased, bo.EmailNormalized}, emails); diff != "" {
		t.Errorf("addresses in the organization's events (-want +got):\n%s", diff)
	}
}

// withID is u with another ID and address.
func withID(u accounts.User, id, email string) accounts.User {
	u.ID, u.Email = id, email
	_ = u.Validate()
	return u
}

func testEraseNotFound(t *testing.T, e Engine) {
	s := Open(t, e)
	createUser(t, s, "ada@example.com")
	before := allEvents(t, s)
	called := false
	err := s.EraseUser(t.Context(), accounts.NewID(), base, func(privacy.Erasure) ([]events.Event, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, accounts.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EraseUser of an unknown ID: got %v, want accounts.ErrNotFound and store.ErrNotFound", err)
	}
	if called {
		t.Error("EraseUser of an unknown ID called fn")
	}
	if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
		t.Errorf("event log (-want +got):\n%s", diff)
	}
}

func testEraseAborted(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	u := createUser(t, s, "ada@example.com")
	sessions := createSessions(t, s, u.ID, 1)
	before := allEvents(t, s)
	err := s.EraseUser(ctx, u.ID, base, func(privacy.Erasure) ([]events.Event, error) { return nil, privacy.ErrKept })
	if !errors.Is(err, privacy.ErrKept) {
		t.Errorf("EraseUser whose fn refuses: got %v, want its error", err)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Errorf("the user after an aborted erasure: %v", err)
	}
	if left := sessionsLeft(t, s, sessions); len(left) != 1 {
		t.Errorf("sessions after an aborted erasure: %d, want 1", len(left))
	}
	if diff := cmp.Diff(uuids(before), uuids(allEvents(t, s))); diff != "" {
		t.Errorf("event log (-want +got):\n%s", diff)
	}
}

func testScheduleDeletion(t *testing.T, e Engine) {
	ctx := t.Context()
	rawURL := e.NewURL(t)
	s := OpenURL(t, rawURL)
	users := createUsers(t, s, "ada@example.com", "bo@example.com", "cy@example.com")
	ada, bo := users[0], users[1]
	sessions := createSessions(t, s, ada.ID, 2)
	boSessions := createSessions(t, s, bo.ID, 1)
	access := grantToken("at-ada", "webshop", ada.ID, sessions[0][:16])
	access.ExpiresAt = base.Add(time.Hour)
	refresh := grantToken("rt-ada", "webshop", ada.ID, sessions[0][:16])
	refresh.Kind, refresh.ExpiresAt = oidc.KindRefresh, base.Add(time.Hour)
	must(t, s.SaveGrantTokens(ctx, []oidc.Token{access, refresh, grantToken("at-bo", "webshop", bo.ID, "")}), "SaveGrantTokens")

	if _, err := s.DeletionOf(ctx, ada.ID); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("DeletionOf before: %v, want ErrNotFound", err)
	}
	var pending privacy.Pending
	d := privacy.Deletion{RequestedAt: base, DueAt: base.Add(48 * time.Hour)}
	req := newEvent(t, "user.deletion_requested", ada.Subject(), nil)
	got, err := s.ScheduleDeletion(ctx, ada.ID, func(p privacy.Pending) (privacy.Deletion, []events.Event, error) {
		pending = p
		return d, []events.Event{req}, nil
	})
	must(t, err, "ScheduleDeletion")
	if !got.DueAt.Equal(d.DueAt) || pending.User.ID != ada.ID {
		t.Errorf("ScheduleDeletion: %+v for %s", got, pending.User.ID)
	}
	wantSIDs := []string{"session:" + sessions[0][:16], "session:" + sessions[1][:16]}
	slices.Sort(wantSIDs)
	slices.Sort(pending.Sessions)
	if diff := cmp.Diff(wantSIDs, pending.Sessions); diff != "" {
		t.Errorf("Pending.Sessions (-want +got):\n%s", diff)
	}
	if left := sessionsLeft(t, s, sessions); len(left) != 0 {
		t.Errorf("sessions after the request: %d, want none", len(left))
	}
	if left := sessionsLeft(t, s, boSessions); len(left) != 1 {
		t.Errorf("another user's sessions: %d, want 1", len(left))
	}
	for _, id := range []string{"at-ada", "rt-ada"} {
		tk, err := s.GrantTokenByID(ctx, id)
		must(t, err, "GrantTokenByID")
		if tk.RevokedAt.IsZero() {
			t.Errorf("token %s not revoked", id)
		}
	}
	if denied, err := s.JTIRevoked(ctx, "at-ada"); err != nil || !denied {
		t.Errorf("the access token's jti: denied %v, %v", denied, err)
	}
	if tk, _ := s.GrantTokenByID(ctx, "at-bo"); !tk.RevokedAt.IsZero() {
		t.Error("another user's token revoked")
	}
	dd, err := s.DeletionOf(ctx, ada.ID)
	must(t, err, "DeletionOf")
	if !dd.DueAt.Equal(stored(d.DueAt)) || !dd.RequestedAt.Equal(stored(base)) {
		t.Errorf("DeletionOf = %+v", dd)
	}
	if evs, _ := s.EventsFor(ctx, ada.Subject(), 1); len(evs) != 1 || evs[0].UUID != req.UUID {
		t.Errorf("newest event: %v, want the request", uuids(evs))
	}

	// A second request replaces the first.
	_, err = s.ScheduleDeletion(ctx, ada.ID, func(privacy.Pending) (privacy.Deletion, []events.Event, error) {
		return privacy.Deletion{RequestedAt: base.Add(time.Hour), DueAt: base.Add(time.Hour)}, nil, nil
	})
	must(t, err, "ScheduleDeletion again")
	_, err = s.ScheduleDeletion(ctx, bo.ID, func(privacy.Pending) (privacy.Deletion, []events.Event, error) {
		return privacy.Deletion{RequestedAt: base, DueAt: base.Add(30 * time.Minute)}, nil, nil
	})
	must(t, err, "ScheduleDeletion of Bo")
	if _, err := s.ScheduleDeletion(ctx, accounts.NewID(), func(privacy.Pending) (privacy.Deletion, []events.Event, error) {
		return d, nil, nil
	}); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("ScheduleDeletion of an unknown user: %v", err)
	}

	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{base, nil},
		{base.Add(30 * time.Minute), []string{bo.ID}},
		{base.Add(2 * time.Hour), []string{bo.ID, ada.ID}},
	} {
		due, err := s.DueDeletions(ctx, tc.at, 10)
		must(t, err, "DueDeletions")
		if diff := cmp.Diff(tc.want, due); diff != "" {
			t.Errorf("DueDeletions(%v) (-want +got):\n%s", tc.at, diff)
		}
	}
	if due, _ := s.DueDeletions(ctx, base.Add(2*time.Hour), 1); len(due) != 1 {
		t.Errorf("DueDeletions with limit 1: %v", due)
	}

	before := len(allEvents(t, s))
	cancelled := newEvent(t, "user.deletion_cancelled", ada.Subject(), nil)
	if ok, err := s.CancelDeletion(ctx, ada.ID, cancelled); err != nil || !ok {
		t.Errorf("CancelDeletion: %v, %v; want true", ok, err)
	}
	if ok, err := s.CancelDeletion(ctx, ada.ID, newEvent(t, "user.deletion_cancelled", ada.Subject(), nil)); err != nil || ok {
		t.Errorf("CancelDeletion again: %v, %v; want false", ok, err)
	}
	if n := len(allEvents(t, s)); n != before+1 {
		t.Errorf("events after two cancellations: %d new, want 1", n-before)
	}
	if _, err := s.DeletionOf(ctx, ada.ID); !errors.Is(err, privacy.ErrNotFound) {
		t.Errorf("DeletionOf after cancelling: %v", err)
	}
	// A pending deletion goes with its user.
	eraseUser(t, s, bo.ID)
	if n := countRows(t, e, rawURL, "account_deletions", "user_id = $1", bo.ID); n != 0 {
		t.Errorf("deletion of an erased user: %d rows", n)
	}
}

func testUnverifiedAccounts(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	createOrgs(t, s, newOrg(t, "acme"))
	must(t, s.CreateProvider(ctx, testProvider("idp")), "CreateProvider")
	cutoff := base.Add(30 * 24 * time.Hour)
	mk := func(email string, created time.Time, verified, self bool) accounts.User {
		u := newUser(t, email, "")
		u.CreatedAt, u.UpdatedAt, u.EmailVerified = created, created, verified
		typ := "user.created"
		if self {
			typ = "user.registered"
		}
		must(t, s.CreateUser(ctx, u, eventAt(t, typ, u.Subject(), u.Subject(), created, nil)), "CreateUser")
		return u
	}
	abandoned := mk("abandoned@example.com", base, false, true)
	oldSignIn := mk("old-sign-in@example.com", base.Add(time.Second), false, true)
	must(t, s.AppendEvents(ctx, eventAt(t, "user.login_succeeded", oldSignIn.Subject(), oldSignIn.Subject(), base.Add(time.Hour), nil)), "AppendEvents")
	mk("verified@example.com", base, true, true)
	mk("young@example.com", cutoff.Add(time.Second), false, true)
	mk("by-operator@example.com", base, false, false)
	used := mk("used@example.com", base, false, true)
	must(t, s.AppendEvents(ctx, eventAt(t, "user.login_succeeded", used.Subject(), used.Subject(), cutoff.Add(time.Hour), nil)), "AppendEvents")
	linked := mk("linked@example.com", base, false, true)
	must(t, s.LinkIdentity(ctx, federation.Identity{ProviderID: "idp", Subject: "s", UserID: linked.ID, CreatedAt: base, LastUsedAt: base}), "LinkIdentity")
	factor := mk("factor@example.com", base, false, true)
	must(t, s.AddFactor(ctx, totpFactor("f", factor.ID)), "AddFactor")
	memberOf := mk("member@example.com", base, false, true)
	must(t, s.PutMembership(ctx, orgs.Membership{OrgID: "org_acme", UserID: memberOf.ID, CreatedAt: base, UpdatedAt: base}), "PutMembership")

	got, err := s.UnverifiedAccounts(ctx, cutoff, 10)
	must(t, err, "UnverifiedAccounts")
	if diff := cmp.Diff([]string{abandoned.ID, oldSignIn.ID}, got); diff != "" {
		t.Errorf("UnverifiedAccounts (-want +got):\n%s", diff)
	}
	if got, _ := s.UnverifiedAccounts(ctx, cutoff, 1); len(got) != 1 || got[0] != abandoned.ID {
		t.Errorf("UnverifiedAccounts with limit 1: %v", got)
	}
	// The erasure sees the same facts, for the check inside it.
	for _, id := range []string{oldSignIn.ID, used.ID, linked.ID} {
		err := s.EraseUser(ctx, id, cutoff, func(e privacy.Erasure) ([]events.Event, error) {
			if want := id == oldSignIn.ID; privacy.Abandoned(e, cutoff) != want {
				t.Errorf("Abandoned(%+v) = %v, want %v", e, !want, want)
			}
			return nil, privacy.ErrKept
		})
		if !errors.Is(err, privacy.ErrKept) {
			t.Errorf("EraseUser: %v", err)
		}
	}
}

func testExportReads(t *testing.T, e Engine) {
	ctx := t.Context()
	s := Open(t, e)
	acme := newOrg(t, "acme")
	createOrgs(t, s, acme, newOrg(t, "beta"))
	createRoles(t, s, "shop/buyer")
	must(t, s.CreateProvider(ctx, testProvider("idp")), "CreateProvider")
	bo := createUser(t, s, "bo@example.com")
	ada := accounts.User{ID: accounts.NewID(), Email: "Ada@Example.com", GivenName: "Ada", CreatedAt: base, UpdatedAt: base}
	must(t, ada.Validate(), "validate")
	pa := fillPerson(t, s, ada, "Old", "ada@idp.example", "203.0.113.1", acme, bo)
	must(t, s.CreateClient(ctx, clientFixture(t, "webshop")), "CreateClient")

	jrs, err := s.JoinRequestsOf(ctx, ada.ID)
	must(t, err, "JoinRequestsOf")
	if len(jrs) != 1 || jrs[0].OrgID != "org_beta" || jrs[0].Email != ada.EmailNormalized {
		t.Errorf("JoinRequestsOf = %+v", jrs)
	}
	invs, err := s.InvitationsOf(ctx, []string{ada.EmailNormalized}, ada.ID, ada.Subject())
	must(t, err, "InvitationsOf")
	var ids []string
	for _, inv := range invs {
		ids = append(ids, inv.ID)
	}
	slices.Sort(ids)
	if diff := cmp.Diff([]string{"inv-by-ada-" + ada.CreatedAt.Format("150405.000000"), "inv-to-" + ada.ID}, ids); diff != "" {
		t.Errorf("InvitationsOf (-want +got):\n%s", diff)
	}
	apps, err := s.GrantsOf(ctx, ada.ID)
	must(t, err, "GrantsOf")
	if diff := cmp.Diff([]privacy.Application{{ClientID: "webshop", ClientName: clientFixture(t, "webshop").Name, Scopes: []string{"openid", "email"},
		GrantedAt: stored(base), UpdatedAt: stored(base)}}, apps); diff != "" {
		t.Errorf("GrantsOf (-want +got):\n%s", diff)
	}
	toks, err := s.TokensOf(ctx, ada.ID)
	must(t, err, "TokensOf")
	if len(toks) != 2 {
		t.Fatalf("TokensOf = %+v, want 2", toks)
	}
	for _, tk := range toks {
		if tk.ClientID == "webshop" && (tk.Kind != string(oidc.KindRefresh) || tk.ClientName == "" || len(tk.Scopes) == 0 || tk.RevokedAt != nil) {
			t.Errorf("TokensOf: %+v", tk)
		}
	}
	mails, err := s.MailsTo(ctx, []string{ada.EmailNormalized})
	must(t, err, "MailsTo")
	if len(mails) != 1 || mails[0].Template != mail.VerifyEmail || mails[0].SentAt == nil {
		t.Errorf("MailsTo = %+v", mails)
	}
	evs, err := s.EventsOf(ctx, ada.Subject())
	must(t, err, "EventsOf")
	var types []string
	for _, ev := range evs {
		if ev.Subject != ada.Subject() && ev.Actor != ada.Subject() {
			t.Errorf("EventsOf: %s about %s by %s", ev.Type, ev.Subject, ev.Actor)
		}
		types = append(types, ev.Type)
	}
	// Her own, and those she caused about others (her request to join,
	// her invitation of Bo).
	for _, typ := range []string{"user.registered", "session.started", "join_request.created", "invitation.created"} {
		if !slices.Contains(types, typ) {
			t.Errorf("EventsOf lacks %s: %v", typ, types)
		}
	}
	if len(pa.sessions) != 2 {
		t.Fatal("fixture")
	}
}
