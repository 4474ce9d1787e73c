package privacy_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp/totp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/flows"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/storetest"
)

func ptr[T any](v T) *T { return &v }

// lived is a person who used every feature that keeps data about people,
// with what they entered.
type lived struct {
	u                                 accounts.User
	oldGivenName, upstreamEmail       string
	nationalID, birthdate, ip, agent  string
	acme, beta                        orgs.Organization
	invitationID, factorName, session string
	// formerEmail was the address before a change; pendingEmail is one
	// asked for and not yet confirmed.
	formerEmail, pendingEmail string
}

// live makes a person use every feature: registration and verification,
// profile, IDs in other systems, an invitation through the management API
// (with an Idempotency-Key) that they accept, a request to join, a linked
// and proofed upstream account, an authenticator app and recovery codes, a
// session, an application's authorization request, tokens and consent,
// throttling, a sign-in flow, mail, webhook deliveries and an export.
func live(t *testing.T, w *world) lived {
	t.Helper()
	ctx := t.Context()
	var p lived
	var err error
	p.acme, err = w.orgs.CreateOrganization(ctx, orgs.Organization{Name: "Acme Oy", Slug: "acme"}, "system:test")
	must(t, err)
	p.beta, err = w.orgs.CreateOrganization(ctx, orgs.Organization{Name: "Beta AB", Slug: "beta", Domains: []string{"quattro-bygg.example"}}, "system:test")
	must(t, err)
	_, err = w.orgs.CreateRole(ctx, orgs.Role{App: "shop", Name: "buyer"}, "system:test")
	must(t, err)

	p.oldGivenName = "Zelmirah"
	p.formerEmail, p.pendingEmail = "zelmira.before@quattro-bygg.example", "zelmira.next@quattro-bygg.example"
	p.u = w.register(accounts.Registration{Email: p.formerEmail, Password: goodPassword, GivenName: p.oldGivenName,
		FamilyName: "Quattlebaum", Locale: "sv"}, true)
	// The address changed once (the old one is mailed an undo link).
	_, change, err := w.acc.IssueEmailChange(ctx, p.u, "Zelmira.Q@Quattro-Bygg.example")
	must(t, err)
	p.u, err = w.acc.ConfirmEmailChangeCode(ctx, p.u.ID, change)
	must(t, err)
	w.work()
	p.u, err = w.acc.Update(ctx, p.u.ID, accounts.Update{GivenName: ptr("Zelmira"), Phone: ptr("+46709876543")}, "", p.u.Subject())
	must(t, err)
	must(t, w.ext.Set(ctx, externalids.User, p.u.ID, map[string]string{"erp": "ERP-77"}, "client:crm"))
	if code, body := w.call("PATCH", "/users/"+p.u.ID, "", map[string]any{"external_id": "CRM-77"}); code != 200 {
		t.Fatalf("PATCH user: %d %s", code, body)
	}
	code, body := w.call("POST", "/invitations", "invite-zelmira", map[string]any{"email": p.u.Email, "organization": "acme",
		"given_name": "Zelmira", "family_name": "Quattlebaum", "phone": "+46709876543", "roles": []string{"shop/buyer"}, "send_email": false})
	if code != 201 {
		t.Fatalf("POST invitation: %d %s", code, body)
	}
	var inv struct {
		ID   string `json:"id"`
		Link string `json:"link"`
	}
	must(t, json.Unmarshal(body, &inv))
	link, err := url.Parse(inv.Link)
	must(t, err)
	_, err = w.invs.Accept(ctx, link.Query().Get("token"), p.u.ID)
	must(t, err)
	p.invitationID = inv.ID
	_, err = w.joins.Ask(ctx, p.beta.ID, p.u.ID)
	must(t, err)

	must(t, w.st.CreateProvider(ctx, federation.Provider{ID: "bankid", Name: "BankID", Kind: federation.KindOIDC, Issuer: "https://bankid.example",
		ClientID: "c", Scopes: []string{"openid"}, Proofing: true, CreatedAt: w.clock.Now(), UpdatedAt: w.clock.Now()}))
	p.upstreamEmail, p.nationalID, p.birthdate = "zq.upstream@bankid.example", "19800203-4471", "1980-02-03"
	must(t, w.fed.Link(ctx, p.u.ID, federation.Claims{Provider: "bankid", Subject: "bankid-sub-1", Email: p.upstreamEmail}))
	must(t, w.fed.Proof(ctx, p.u.ID, federation.Claims{Provider: "bankid", Proofing: true, GivenName: "Zelmira", FamilyName: "Quattlebaum",
		BirthDate: p.birthdate, NationalID: p.nationalID, Level: "urn:portvakt:loa:substantial"}))

	en, err := w.authn.BeginTOTP(p.u.ID, p.u.Email)
	must(t, err)
	otp, err := totp.GenerateCode(en.Secret, w.clock.Now())
	must(t, err)
	p.factorName = "Zelmira's phone"
	_, err = w.authn.ConfirmTOTP(ctx, p.u.ID, en.Sealed, otp, p.factorName)
	must(t, err)
	_, err = w.authn.RegenerateRecoveryCodes(ctx, p.u.ID)
	must(t, err)

	p.ip, p.agent = "203.0.113.58", "Mozilla/5.0 (X11; Linux x86_64) Zelmira-Test-Browser/1.0"
	s := w.signIn(p.u.ID, p.ip, p.agent)
	p.session = s.Subject()
	sid := strings.TrimPrefix(s.Subject(), "session:")
	now := w.clock.Now()
	must(t, w.st.CreateAuthRequest(ctx, oidc.AuthRequest{ID: "ar-zelmira", ClientID: "webshop", UserID: p.u.ID, SessionID: sid, SignedIn: true,
		CodeHash: "code-digest", AuthTime: now, AMR: []string{"pwd"},
		Params:    oidc.Params{Scopes: []string{"openid", "email"}, ResponseType: "code", RedirectURI: "https://shop.example/cb", LoginHint: p.u.Email},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, w.st.SaveGrantTokens(ctx, []oidc.Token{
		{ID: "rt-zelmira", Kind: oidc.KindRefresh, FamilyID: "ar-zelmira", Hash: "rt-digest", ClientID: "webshop", UserID: p.u.ID,
			Scopes: []string{"openid", "email", "offline_access"}, AuthTime: now, AMR: []string{"pwd"}, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)},
		{ID: "at-zelmira", Kind: oidc.KindAccess, FamilyID: "ar-zelmira", ClientID: "webshop", UserID: p.u.ID,
			Scopes: []string{"openid", "email"}, AuthTime: now, AMR: []string{"pwd"}, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	}))
	must(t, w.st.SaveConsent(ctx, oidc.Consent{UserID: p.u.ID, ClientID: "webshop", Scopes: []string{"openid", "email"}, CreatedAt: now, UpdatedAt: now}))

	must(t, w.limiter("login:account").Fail(ctx, p.u.EmailNormalized))
	_, err = w.flows.Start(ctx, flows.Login, flows.Flow{Email: p.u.Email, GivenName: p.u.GivenName, FamilyName: p.u.FamilyName})
	must(t, err)
	// Marketing mail, given on the account page and withdrawn by the CRM.
	_, err = w.consents.Record(ctx, p.u.ID, []consents.Decision{{Purpose: "marketing_email", Grant: true}},
		consents.Via{Channel: consents.ChannelAccount, Method: consents.MethodButton})
	must(t, err)
	_, err = w.consents.Record(ctx, p.u.ID, []consents.Decision{{Purpose: "marketing_email"}},
		consents.Via{Channel: consents.ChannelAPI, Actor: "client:crm", Method: "phone"})
	must(t, err)
	// A change asked for and never confirmed: the new address is mailed.
	must(t, w.acc.RequestEmailChange(ctx, p.u.ID, p.pendingEmail))
	w.work()
	return p
}

func TestExportAndErasure(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		w := newWorld(t, e, 0)
		p := live(t, w)
		t.Run("export holds what was entered", func(t *testing.T) { testExportHoldsWhatWasEntered(t, w, p) })
		t.Run("erasure leaves nothing of the person", func(t *testing.T) { testErasureLeavesNothing(t, w, p) })
	})
}

func testExportHoldsWhatWasEntered(t *testing.T, w *world, p lived) {
	ctx := t.Context()
	x, err := w.privacy.Export(ctx, p.u.ID, "client:crm", "json")
	must(t, err)
	// It is JSON of the documented shape, every list present.
	raw, err := json.Marshal(x)
	must(t, err)
	var shape map[string]json.RawMessage
	must(t, json.Unmarshal(raw, &shape))
	for _, k := range []string{"format", "generated_at", "user", "deletion", "verified_attributes", "identities", "factors", "recovery_codes_left",
		"organizations", "roles", "join_requests", "invitations_received", "invitations_sent", "sessions", "applications", "tokens", "mail", "consents", "events"} {
		v, ok := shape[k]
		if !ok || string(v) == "null" && k != "deletion" {
			t.Errorf("export field %s: %s", k, v)
		}
	}
	if len(x.Consents) != 2 {
		t.Fatalf("consents in the export: %+v", x.Consents)
	}
	for i, want := range []privacy.Consent{
		{Purpose: "marketing_email", Version: "1", Decision: "granted", Channel: "account", Actor: p.u.Subject(), Method: "button"},
		{Purpose: "marketing_email", Version: "1", Decision: "withdrawn", Channel: "api", Actor: "client:crm", Method: "phone"},
	} {
		got := x.Consents[i]
		if got.Receipt == "" || got.DecidedAt.IsZero() {
			t.Errorf("consent %d without its receipt or time: %+v", i, got)
		}
		got.Receipt, got.DecidedAt = "", time.Time{}
		if got != want {
			t.Errorf("consent %d: %+v, want %+v", i, got, want)
		}
	}
	if x.Format != privacy.Format || !x.GeneratedAt.Equal(w.clock.Now()) {
		t.Errorf("format %q at %v", x.Format, x.GeneratedAt)
	}
	u := x.User
	for _, f := range []struct{ name, got, want string }{
		{"id", u.ID, p.u.ID},
		{"email", u.Email, "Zelmira.Q@Quattro-Bygg.example"},
		{"given_name", u.GivenName, "Zelmira"},
		{"family_name", u.FamilyName, "Quattlebaum"},
		{"phone", u.Phone, "+46709876543"},
		{"locale", u.Locale, "sv"},
		{"status", u.Status, "active"},
		{"external_id", u.ExternalID, "CRM-77"},
		{"external_ids.erp", u.ExternalIDs["erp"], "ERP-77"},
		{"attributes", string(u.Attributes), "{}"},
	} {
		if f.got != f.want {
			t.Errorf("user.%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !u.EmailVerified || !u.PasswordSet {
		t.Errorf("user: verified %v, password set %v", u.EmailVerified, u.PasswordSet)
	}
	wantVerified := map[string]string{federation.AttrLegalName: "Zelmira Quattlebaum", federation.AttrBirthdate: p.birthdate,
		federation.AttrNationalID: "********-4471"}
	gotVerified := map[string]string{}
	for _, a := range x.VerifiedAttributes {
		gotVerified[a.Name] = a.Value
		if a.Source != "eid:bankid" {
			t.Errorf("verified %s from %q", a.Name, a.Source)
		}
	}
	if diff := cmp.Diff(wantVerified, gotVerified); diff != "" {
		t.Errorf("verified attributes (-want +got):\n%s", diff)
	}
	if strings.Contains(string(raw), p.nationalID) || strings.Contains(string(raw), "4471\"") && !strings.Contains(string(raw), "********-4471") {
		t.Error("the export holds the national identity number in full")
	}
	if len(x.Identities) != 1 || x.Identities[0].Provider != "bankid" || x.Identities[0].ProviderName != "BankID" ||
		x.Identities[0].Subject != "bankid-sub-1" || x.Identities[0].Email != p.upstreamEmail {
		t.Errorf("identities = %+v", x.Identities)
	}
	if len(x.Factors) != 1 || x.Factors[0].Kind != "totp" || x.Factors[0].Name != p.factorName || x.RecoveryCodesLeft != 10 {
		t.Errorf("factors = %+v, recovery codes left %d", x.Factors, x.RecoveryCodesLeft)
	}
	if len(x.Organizations) != 1 || x.Organizations[0].Name != "Acme Oy" || !slices.Equal(x.Organizations[0].Roles, []string{"shop/buyer"}) {
		t.Errorf("organizations = %+v", x.Organizations)
	}
	if len(x.JoinRequests) != 1 || x.JoinRequests[0].OrganizationName != "Beta AB" || x.JoinRequests[0].Status != orgs.JoinPending ||
		x.JoinRequests[0].Email != "zelmira.q@quattro-bygg.example" {
		t.Errorf("join requests = %+v", x.JoinRequests)
	}
	if len(x.InvitationsReceived) != 1 || x.InvitationsReceived[0].ID != p.invitationID || x.InvitationsReceived[0].Status != orgs.InvitationAccepted ||
		x.InvitationsReceived[0].GivenName != "Zelmira" || x.InvitationsReceived[0].Phone != "+46709876543" || x.InvitationsReceived[0].InvitedBy != "client:crm" {
		t.Errorf("invitations received = %+v", x.InvitationsReceived)
	}
	if len(x.InvitationsSent) != 0 {
		t.Errorf("invitations sent = %+v", x.InvitationsSent)
	}
	if len(x.Sessions) != 1 || x.Sessions[0].IPAddress != p.ip || x.Sessions[0].UserAgent != p.agent || "session:"+x.Sessions[0].ID != p.session {
		t.Errorf("sessions = %+v", x.Sessions)
	}
	if len(x.Applications) != 1 || x.Applications[0].ClientID != "webshop" || !slices.Equal(x.Applications[0].Scopes, []string{"openid", "email"}) {
		t.Errorf("applications = %+v", x.Applications)
	}
	if len(x.Tokens) != 2 || x.Tokens[0].ClientID != "webshop" {
		t.Errorf("tokens = %+v", x.Tokens)
	}
	var templates []string
	for _, m := range x.Mail {
		templates = append(templates, m.Template)
	}
	for _, want := range []string{mail.VerifyEmail, mail.FactorAdded} {
		if !slices.Contains(templates, want) {
			t.Errorf("mail %v lacks %s", templates, want)
		}
	}
	byType := map[string]privacy.Event{}
	renamed := false
	for _, ev := range x.Events {
		byType[ev.Type] = ev
		renamed = renamed || ev.Type == "user.updated" && strings.Contains(string(ev.Data), p.oldGivenName)
	}
	for _, typ := range []string{"user.registered", "user.verified", "user.updated", "identity.linked", "identity.proofed", "factor.enrolled",
		"session.started", "user.login_succeeded", "invitation.accepted", "join_request.created"} {
		if _, ok := byType[typ]; !ok {
			t.Errorf("events lack %s", typ)
		}
	}
	if !renamed {
		t.Error("no user.updated event with the change of name it records")
	}
	if ev := byType["join_request.created"]; ev.Data != nil {
		t.Errorf("an event the person caused about an organization carries data: %s", ev.Data)
	}
	// Nothing secret: no password hash, TOTP secret or token digest.
	for _, secret := range []string{"$argon2id$", "rt-digest", "code-digest"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the export holds %q", secret)
		}
	}
	// Each export is recorded.
	if ev, ok := w.lastEvent(p.u.Subject(), "user.exported"); !ok || ev.Actor != "client:crm" || !strings.Contains(string(ev.Data), `"json"`) {
		t.Errorf("user.exported: %+v, %v", ev, ok)
	}
	if _, err := w.privacy.Export(ctx, accounts.NewID(), "client:crm", "json"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("Export of an unknown user: %v", err)
	}
}

func testErasureLeavesNothing(t *testing.T, w *world, p lived) {
	ctx := t.Context()
	needles := []string{p.u.Email, p.formerEmail, p.pendingEmail, p.u.GivenName, p.oldGivenName, p.u.FamilyName, p.u.Phone, p.upstreamEmail, p.nationalID, p.ip, "Zelmira-Test-Browser"}
	before := storetest.FindInTables(t, w.e, w.rawURL, needles...)
	tables := map[string]bool{}
	for _, h := range before {
		table, _, _ := strings.Cut(h, ".")
		tables[table] = true
	}
	// The test means something only if the person is all over the database.
	for _, table := range []string{"users", "sessions", "user_identities", "invitations", "join_requests", "mails", "throttle", "flows",
		"oidc_auth_requests", "api_idempotency", "events", "webhook_deliveries", "webhook_attempts", "auth_factors"} {
		if !tables[table] {
			t.Errorf("before the erasure, %s does not name the person: the test does not cover it", table)
		}
	}

	must(t, w.privacy.Erase(ctx, p.u.ID, "client:crm"))
	w.work()
	if hits := storetest.FindInTables(t, w.e, w.rawURL, needles...); len(hits) > 0 {
		t.Errorf("after the erasure the database still holds the person's data:\n%s", strings.Join(hits, "\n"))
	}
	if _, err := w.st.UserByID(ctx, p.u.ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("UserByID after the erasure: %v", err)
	}
	// The record stays, with the pseudonym, and the CRM hears of it.
	types := w.eventTypes(p.u.Subject())
	if len(types) < 10 || types[len(types)-1] != "user.deleted" {
		t.Errorf("events about the person after the erasure: %v", types)
	}
	msgs := w.received.messages("user.deleted")
	if len(msgs) != 1 {
		t.Fatalf("user.deleted webhooks: %d, want 1", len(msgs))
	}
	data, _ := msgs[0]["data"].(map[string]any)
	details, _ := data["details"].(map[string]any)
	if data["subject"] != p.u.Subject() || data["actor"] != "client:crm" || details["reason"] != "admin" || details["external_id"] != "CRM-77" {
		t.Errorf("user.deleted webhook: %v", msgs[0])
	}
	if ext, _ := details["external_ids"].(map[string]any); ext["erp"] != "ERP-77" {
		t.Errorf("user.deleted external IDs: %v", details["external_ids"])
	}
	logout, _ := details["logout"].([]any)
	if len(logout) != 1 || !strings.Contains(strings.ToLower(jsonText(logout)), "webshop") {
		t.Errorf("user.deleted logout: %v, want the application of the live session", details["logout"])
	}
	if err := w.privacy.Erase(ctx, p.u.ID, "client:crm"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("erasing again: %v, want ErrNotFound", err)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDeletionGracePeriod(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		grace := 14 * 24 * time.Hour
		w := newWorld(t, e, grace)
		u := w.register(accounts.Registration{Email: "aino@example.fi", Password: goodPassword, GivenName: "Aino", Locale: "fi"}, true)
		s := w.signIn(u.ID, "198.51.100.4", "Firefox")
		now := w.clock.Now()
		must(t, w.st.SaveGrantTokens(ctx, []oidc.Token{{ID: "rt-aino", Kind: oidc.KindRefresh, FamilyID: "f", ClientID: "webshop", UserID: u.ID,
			SessionID: strings.TrimPrefix(s.Subject(), "session:"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}}))

		d, erased, err := w.privacy.RequestDeletion(ctx, u.ID, u.Subject())
		must(t, err)
		if erased || !d.DueAt.Equal(now.Add(grace)) {
			t.Fatalf("RequestDeletion: %+v erased %v, want due in 14 days", d, erased)
		}
		if list, _ := w.st.SessionsOf(ctx, u.ID); len(list) != 0 {
			t.Errorf("sessions after the request: %d", len(list))
		}
		if tk, _ := w.st.GrantTokenByID(ctx, "rt-aino"); tk.RevokedAt.IsZero() {
			t.Error("the refresh token is not revoked")
		}
		ended, ok := w.lastEvent(u.Subject(), "session.ended")
		if !ok || !strings.Contains(string(ended.Data), s.Subject()) || !strings.Contains(string(ended.Data), "deletion_requested") {
			t.Errorf("session.ended: %+v", ended)
		}
		// The person is told, in their language, when; and that signing in keeps the account.
		w.work()
		mails, err := w.outbox.List(ctx, 50)
		must(t, err)
		var told *mail.Mail
		for i := range mails {
			if mails[i].Template == mail.DeletionScheduled {
				told = &mails[i]
			}
		}
		if told == nil || told.To != u.Email || told.Lang != "fi" || !strings.Contains(told.Text, d.DueAt.Format("2006-01-02 15:04")) ||
			!strings.Contains(told.Text, "https://id.example.com/login") {
			t.Fatalf("deletion mail: %+v", told)
		}
		if got, err := w.privacy.DeletionOf(ctx, u.ID); err != nil || !got.DueAt.Equal(d.DueAt) {
			t.Errorf("DeletionOf: %+v, %v", got, err)
		}

		// Signing in cancels it: past the date, the account stays.
		if ok, err := w.privacy.CancelDeletion(ctx, u.ID); err != nil || !ok {
			t.Fatalf("CancelDeletion: %v, %v", ok, err)
		}
		if ok, _ := w.privacy.CancelDeletion(ctx, u.ID); ok {
			t.Error("CancelDeletion without a pending deletion: true")
		}
		w.clock.Advance(grace + time.Hour)
		if n, err := w.privacy.Sweep(ctx, 100); err != nil || n != 0 {
			t.Errorf("Sweep after a cancelled deletion: %d, %v", n, err)
		}
		if _, err := w.st.UserByID(ctx, u.ID); err != nil {
			t.Fatalf("the account after its deletion was cancelled: %v", err)
		}

		// Asked again: not before the date, at the date.
		d, _, err = w.privacy.RequestDeletion(ctx, u.ID, u.Subject())
		must(t, err)
		w.clock.Advance(grace - time.Minute)
		if n, err := w.privacy.Sweep(ctx, 100); err != nil || n != 0 {
			t.Errorf("Sweep before the date: %d, %v", n, err)
		}
		w.clock.Advance(time.Minute)
		if n, err := w.privacy.Sweep(ctx, 100); err != nil || n != 1 {
			t.Errorf("Sweep at the date: %d, %v", n, err)
		}
		if _, err := w.st.UserByID(ctx, u.ID); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("the account after the sweep: %v", err)
		}
		ev, ok := w.lastEvent(u.Subject(), "user.deleted")
		if !ok || ev.Actor != "system:retention" || !strings.Contains(string(ev.Data), `"reason":"requested"`) {
			t.Errorf("user.deleted: %+v", ev)
		}
		if _, ok := w.lastEvent(u.Subject(), "user.deletion_cancelled"); !ok {
			t.Error("no user.deletion_cancelled event")
		}
		if hits := storetest.FindInTables(t, e, w.rawURL, u.Email, "198.51.100.4"); len(hits) > 0 {
			t.Errorf("after the erasure:\n%s", strings.Join(hits, "\n"))
		}
	})
}

func TestDeletionWithoutGracePeriod(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		w := newWorld(t, e, 0)
		u := w.register(accounts.Registration{Email: "now@example.com", Password: goodPassword}, true)
		w.signIn(u.ID, "198.51.100.5", "Safari")
		_, erased, err := w.privacy.RequestDeletion(ctx, u.ID, u.Subject())
		must(t, err)
		if !erased {
			t.Fatal("without a grace period the account is not erased at once")
		}
		if _, err := w.st.UserByID(ctx, u.ID); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("UserByID: %v", err)
		}
		ev, ok := w.lastEvent(u.Subject(), "user.deleted")
		if !ok || ev.Actor != u.Subject() || !strings.Contains(string(ev.Data), `"reason":"requested"`) {
			t.Errorf("user.deleted: %+v", ev)
		}
		if _, ok := w.lastEvent(u.Subject(), "user.deletion_requested"); ok {
			t.Error("a deletion at once is not scheduled first")
		}
	})
}

func TestPurgeOfUnverifiedRegistrations(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := t.Context()
		w := newWorld(t, e, 0)
		lost := w.register(accounts.Registration{Email: "typo@exampel.com", Password: goodPassword, GivenName: "Lost"}, false)
		kept := w.register(accounts.Registration{Email: "kept@example.com", Password: goodPassword}, true)
		byCRM, err := w.acc.Create(ctx, accounts.NewUser{Email: "crm-made@example.com"}, "client:crm")
		must(t, err)
		active := w.register(accounts.Registration{Email: "active@example.com", Password: goodPassword}, false)
		w.clock.Advance(29 * 24 * time.Hour)
		// Signing in counts as use, even unverified.
		w.signIn(active.ID, "198.51.100.6", "Edge")
		young := w.register(accounts.Registration{Email: "young@example.com", Password: goodPassword}, false)
		w.clock.Advance(2 * 24 * time.Hour)
		if n, err := w.privacy.Sweep(ctx, 100); err != nil || n != 1 {
			t.Fatalf("Sweep after 31 days: %d erased, %v; want the lost registration", n, err)
		}
		if _, err := w.st.UserByID(ctx, lost.ID); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("the lost registration: %v", err)
		}
		for _, u := range []accounts.User{kept, byCRM, active, young} {
			if _, err := w.st.UserByID(ctx, u.ID); err != nil {
				t.Errorf("%s: %v", u.Email, err)
			}
		}
		ev, ok := w.lastEvent(lost.Subject(), "user.deleted")
		if !ok || ev.Actor != "system:retention" || !strings.Contains(string(ev.Data), `"reason":"unverified"`) {
			t.Errorf("user.deleted: %+v", ev)
		}
		// Kept forever with a retention of 0.
		w.privacy.UnverifiedRetention = 0
		w.clock.Advance(365 * 24 * time.Hour)
		if n, err := w.privacy.Sweep(ctx, 100); err != nil || n != 0 {
			t.Errorf("Sweep with no retention: %d, %v", n, err)
		}
	})
}
