package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// sentMail keeps the invitation mails the mailer would send.
type sentMail struct{ msgs map[string]mail.Message }

func (m *sentMail) Queued(_ context.Context, id string) (bool, error) {
	_, ok := m.msgs[id]
	return ok, nil
}
func (m *sentMail) Deliver(_ context.Context, id string, msg mail.Message) error {
	if _, ok := m.msgs[id]; !ok {
		m.msgs[id] = msg
	}
	return nil
}

// withInvitations turns invitations on, with a mailer that runs over the
// outbox's events when asked.
func (s *stack) withInvitations(t *testing.T) (*orgs.Invitations, func() []mail.Message) {
	t.Helper()
	inv := &orgs.Invitations{Store: s.store, Now: func() time.Time { return *s.clock }}
	s.pages.Invitations = inv
	issuer, _ := url.Parse(s.url)
	sent := &sentMail{msgs: map[string]mail.Message{}}
	mailer := &orgs.InvitationMailer{Invitations: inv, Mail: sent, BaseURL: issuer}
	var after int64
	run := func() []mail.Message {
		t.Helper()
		evs, err := s.store.EventsAfter(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []mail.Message
		for _, e := range evs {
			after = e.Position
			before := len(sent.msgs)
			if err := mailer.Handle(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			if len(sent.msgs) > before {
				out = append(out, sent.msgs[e.UUID])
			}
		}
		return out
	}
	return inv, run
}

// linkPath is the path and query of a mailed invitation link.
func linkPath(t *testing.T, m mail.Message) string {
	t.Helper()
	u, err := url.Parse(m.Data["Link"].(string))
	if err != nil || u.Path != "/invitation" || u.Query().Get("token") == "" {
		t.Fatalf("invitation link %v", m.Data["Link"])
	}
	return u.Path + "?" + u.RawQuery
}

// TestInvitations: an admin invites a colleague with roles; the mailed
// link opens a pre-filled registration form; registering lands the
// colleague in the organization; the link then works no more. An address
// with an account signs in and joins. Revoked and expired links create
// nothing.
func TestInvitations(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		_, mails := s.withInvitations(t)
		ctx := context.Background()
		admin := s.browser()
		page := admin.get("/org/" + w.acme.ID)
		if page.url == "/org/"+w.acme.ID {
			t.Fatal("not signed in yet, but the page showed")
		}
		admin.signIn("anna@acme.example")
		page = admin.get("/org/" + w.acme.ID)
		if !strings.Contains(page.body, "Invite a colleague") {
			t.Fatalf("no invite form:\n%s", page.body)
		}
		token := csrfField.FindStringSubmatch(page.body)[1]
		bad := admin.do(http.MethodPost, "/org/"+w.acme.ID+"/invitations", url.Values{"csrf_token": {token}, "email": {"not an address"}})
		if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "Enter an email address") {
			t.Errorf("a bad address: %d", bad.status)
		}
		done := admin.do(http.MethodPost, "/org/"+w.acme.ID+"/invitations", url.Values{"csrf_token": {token}, "email": {"Maria@Acme.example"},
			"given_name": {"Maria"}, "family_name": {"Berg"}, "locale": {"sv"}, "role": {"portal/buyer", "portal/auditor"}})
		if !strings.Contains(done.body, "The invitation was sent.") || !strings.Contains(done.body, "maria@acme.example") {
			t.Fatalf("after inviting: %s\n%s", done.url, done.body)
		}
		// Inviting again replaces the pending one.
		admin.do(http.MethodPost, "/org/"+w.acme.ID+"/invitations", url.Values{"csrf_token": {token}, "email": {"maria@acme.example"},
			"given_name": {"Maria"}, "family_name": {"Berg"}, "locale": {"sv"}, "role": {"portal/buyer"}})
		pending, err := s.store.Invitations(ctx, w.acme.ID, orgs.InvitationPending)
		if err != nil || len(pending) != 1 || !slices.Equal(pending[0].Roles, []orgs.Grant{{App: "portal", Role: "buyer"}}) {
			t.Fatalf("pending invitations %+v, %v; want one, with buyer only (auditor is not Anna's to give)", pending, err)
		}
		sent := mails()
		if len(sent) != 2 || sent[1].To != "maria@acme.example" || sent[1].Lang.String() != "sv" || sent[1].Template != mail.Invitation {
			t.Fatalf("mails %+v", sent)
		}
		// The first mail's link was replaced by the second's.
		if res := s.browser().get(linkPath(t, sent[0])); res.status != http.StatusGone {
			t.Errorf("the replaced link = %d, want 410", res.status)
		}
		link := linkPath(t, sent[1])
		maria := s.browser()
		form := maria.get(link)
		if form.status != http.StatusOK || !strings.Contains(form.body, `value="maria@acme.example" readonly`) ||
			!strings.Contains(form.body, `value="Maria"`) || !strings.Contains(form.body, `value="Berg"`) || !strings.Contains(form.body, `lang="sv"`) {
			t.Fatalf("the invitation page (%d):\n%s", form.status, form.body)
		}
		users := countUsers(t, s)
		// A browser sends the pre-filled fields back as they are.
		weak := maria.submit(form, map[string]string{"password": "short", "given_name": "Maria", "family_name": "Berg"})
		if weak.status != http.StatusBadRequest || countUsers(t, s) != users {
			t.Errorf("a weak password: %d, users %d", weak.status, countUsers(t, s))
		}
		joined := maria.submit(weak, map[string]string{"password": goodPassword, "given_name": "Maria", "family_name": "Berg"})
		if joined.url != "/account?done=org_joined" {
			t.Fatalf("after registering: %s (%d)\n%s", joined.url, joined.status, joined.body)
		}
		u, err := s.store.UserByEmail(ctx, "maria@acme.example")
		if err != nil || !u.EmailVerified || u.FamilyName != "Berg" {
			t.Fatalf("Maria's account %+v, %v", u, err)
		}
		if m, err := s.store.Membership(ctx, w.acme.ID, u.ID); err != nil || !m.Holds(orgs.Grant{App: "portal", Role: "buyer"}) {
			t.Errorf("Maria's membership %+v, %v", m, err)
		}
		evs := allEventsOf(t, s, "user:"+u.ID)
		if i := slices.IndexFunc(evs, func(e events.Event) bool { return e.Type == "user.registered" }); i < 0 || !strings.Contains(string(evs[i].Data), `"source":"invitation"`) {
			t.Errorf("user.registered %v", evs)
		}
		if types := eventTypes(t, s, "org:"+w.acme.ID); !slices.Contains(types, "invitation.accepted") || !slices.Contains(types, "invitation.resent") {
			t.Errorf("events about Acme: %v", types)
		}
		// The link works once.
		if res := s.browser().get(link); res.status != http.StatusGone || !strings.Contains(res.body, "Inbjudan kan inte längre användas") {
			t.Errorf("the used link = %d", res.status)
		}

		// Someone with an account signs in and joins.
		if _, err := s.pages.Invitations.Invite(ctx, orgs.Invitation{OrgID: w.acme.ID, Email: "bo@beta.example"}, "system:test"); err != nil {
			t.Fatal(err)
		}
		boLink := linkPath(t, mails()[0])
		bo := s.browser()
		ask := bo.get(boLink)
		if !strings.Contains(ask.body, "already has an account") || strings.Contains(ask.body, `name="password"`) {
			t.Fatalf("the page for an existing account:\n%s", ask.body)
		}
		login := bo.get("/login?return_to=" + url.QueryEscape(boLink))
		back := bo.submit(login, map[string]string{"email": "bo@beta.example", "password": goodPassword})
		if !strings.Contains(back.body, `action="/invitation/accept"`) {
			t.Fatalf("back at the invitation after signing in: %s\n%s", back.url, back.body)
		}
		if res := bo.submit(back, nil); res.url != "/account?done=org_joined" {
			t.Errorf("joining: %s", res.url)
		}
		if _, err := s.store.Membership(ctx, w.acme.ID, w.betaAdmin); err != nil {
			t.Errorf("Bo is not a member of Acme: %v", err)
		}

		// Revoked and expired links create nothing.
		inv, err := s.pages.Invitations.Invite(ctx, orgs.Invitation{OrgID: w.acme.ID, Email: "gone@acme.example"}, "system:test")
		if err != nil {
			t.Fatal(err)
		}
		goneLink := linkPath(t, mails()[0])
		if err := s.pages.Invitations.Revoke(ctx, w.acme.ID, inv.ID, "system:test"); err != nil {
			t.Fatal(err)
		}
		if res := s.browser().get(goneLink); res.status != http.StatusGone {
			t.Errorf("a revoked link = %d", res.status)
		}
		if _, err := s.pages.Invitations.Invite(ctx, orgs.Invitation{OrgID: w.acme.ID, Email: "late@acme.example"}, "system:test"); err != nil {
			t.Fatal(err)
		}
		lateLink := linkPath(t, mails()[0])
		*s.clock = s.clock.Add(8 * 24 * time.Hour)
		late := s.browser()
		if res := late.get(lateLink); res.status != http.StatusGone {
			t.Errorf("an expired link = %d", res.status)
		}
		if _, err := s.store.UserByEmail(ctx, "late@acme.example"); err == nil {
			t.Error("an expired invitation made an account")
		}
	})
}

// TestInvitationAuthorization: an admin of another organization can
// neither invite to nor withdraw the invitations of this one.
func TestInvitationAuthorization(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	inv, _ := s.withInvitations(t)
	pending, err := inv.Invite(context.Background(), orgs.Invitation{OrgID: w.acme.ID, Email: "x@acme.example"}, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	bo := s.browser()
	token := csrfField.FindStringSubmatch(bo.signIn("bo@beta.example").body)[1]
	for _, path := range []string{
		"/org/" + w.acme.ID + "/invitations",
		"/org/" + w.acme.ID + "/invitations/" + pending.ID + "/revoke",
		"/org/" + w.beta.ID + "/invitations/" + pending.ID + "/revoke", // Acme's invitation through Beta
		"/org/" + w.beta.ID + "/invitations/" + pending.ID + "/frobnicate",
	} {
		if res := bo.do(http.MethodPost, path, url.Values{"csrf_token": {token}, "email": {"y@acme.example"}}); res.status != http.StatusNotFound {
			t.Errorf("Bo posting %s = %d, want 404", path, res.status)
		}
	}
	if got, err := s.store.InvitationByID(context.Background(), pending.ID); err != nil || got.Status != orgs.InvitationPending {
		t.Errorf("Acme's invitation after Bo's attempts: %+v, %v", got, err)
	}
	if list, _ := s.store.Invitations(context.Background(), w.acme.ID, ""); len(list) != 1 {
		t.Errorf("Acme has %d invitations, want 1", len(list))
	}
}

// TestInvitationByLink: an invitation whose link the inviter sends itself
// is not mailed, and its link opens the pre-filled registration once.
func TestInvitationByLink(t *testing.T) {
	s := newStackOn(t, storetest.SQLite())
	w := s.withOrgs(t)
	inv, mails := s.withInvitations(t)
	ctx := context.Background()
	created, token, err := inv.InviteWithLink(ctx, orgs.Invitation{OrgID: w.acme.ID, Email: "Kim@Acme.example", GivenName: "Kim", Reference: "crm-9"}, false, "client:crm")
	if err != nil {
		t.Fatal(err)
	}
	if created.Delivery != orgs.DeliveryLink || created.Reference != "crm-9" || token == "" || orgs.TokenHash(token) != created.TokenHash {
		t.Fatalf("InviteWithLink = %+v, token %q", created, token)
	}
	if sent := mails(); len(sent) != 0 {
		t.Errorf("an invitation sent by link was mailed too: %+v", sent)
	}
	b := s.browser()
	form := b.get("/invitation?token=" + url.QueryEscape(token))
	if form.status != http.StatusOK || !strings.Contains(form.body, `value="kim@acme.example" readonly`) || !strings.Contains(form.body, `value="Kim"`) {
		t.Fatalf("the invitation page (%d):\n%s", form.status, form.body)
	}
	if joined := b.submit(form, map[string]string{"password": goodPassword, "given_name": "Kim"}); joined.url != "/account?done=org_joined" {
		t.Fatalf("after registering: %s (%d)", joined.url, joined.status)
	}
	if res := s.browser().get("/invitation?token=" + url.QueryEscape(token)); res.status != http.StatusGone {
		t.Errorf("the used link = %d, want 410", res.status)
	}
	if types := eventTypes(t, s, "org:"+w.acme.ID); !slices.Contains(types, "invitation.accepted") {
		t.Errorf("events about Acme: %v", types)
	}
}

// TestInvitationLockedFields: fields an invitation locks are read-only on
// its registration form, posted values for them are ignored, and the new
// account cannot change them on its account page (they are the CRM's for
// that person).
func TestInvitationLockedFields(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		w := s.withOrgs(t)
		inv, _ := s.withInvitations(t)
		ctx := context.Background()
		_, token, err := inv.InviteWithLink(ctx, orgs.Invitation{OrgID: w.acme.ID, Email: "lo@acme.example", GivenName: "Lo", FamilyName: "Lind",
			LockedFields: []string{"family_name", "given_name"}}, false, "client:crm")
		if err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		form := b.get("/invitation?token=" + url.QueryEscape(token))
		for _, want := range []string{`<input id="family_name" type="text" value="Lind" readonly aria-readonly="true" aria-describedby="family_name-hint">`,
			`<label for="family_name">`, "Set by the invitation"} {
			if !strings.Contains(form.body, want) {
				t.Errorf("the invitation form lacks %q", want)
			}
		}
		if strings.Contains(form.body, `name="family_name"`) || strings.Contains(form.body, `name="given_name"`) {
			t.Error("a locked field is an input that is sent")
		}
		joined := b.submit(form, map[string]string{"password": goodPassword, "family_name": "Forged", "given_name": "Forged"})
		if joined.url != "/account?done=org_joined" {
			t.Fatalf("after registering: %s (%d)", joined.url, joined.status)
		}
		u, err := s.store.UserByEmail(ctx, "lo@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		if u.GivenName != "Lo" || u.FamilyName != "Lind" || !slices.Equal(u.LockedFields, []string{"given_name", "family_name"}) {
			t.Errorf("the new account: %q %q locked %v; want Lo Lind locked [given_name family_name]", u.GivenName, u.FamilyName, u.LockedFields)
		}
		acct := b.get("/account")
		if strings.Contains(acct.body, `name="family_name"`) || !strings.Contains(acct.body, "Managed by your account manager") || !strings.Contains(acct.body, `name="phone"`) {
			t.Error("on the account page the locked fields are not read-only, or the phone is not editable")
		}
		forged := b.do(http.MethodPost, "/account/profile", url.Values{"csrf_token": {csrfField.FindStringSubmatch(acct.body)[1]}, "family_name": {"Forged"}})
		if forged.status != http.StatusBadRequest {
			t.Errorf("changing a locked field on the account page: got %d, want 400", forged.status)
		}
		// The CRM may still change it.
		berg := "Berg"
		if _, err := s.accounts.UpdateOwned(ctx, u.ID, accounts.Update{FamilyName: &berg}, "", "client:crm", accounts.OwnerPerson, accounts.OwnerCRM); err != nil {
			t.Errorf("the CRM changing a locked field: %v", err)
		}
	})
}
