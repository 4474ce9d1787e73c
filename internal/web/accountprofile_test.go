package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/federation/fedtest"
	"github.com/portvakt/portvakt/internal/storetest"
)

// TestAccountProfile: the person edits the profile fields they own, gets
// localized field errors, sees CRM-owned fields read-only with who to ask,
// and cannot change them with a forged form. Each change goes out as
// user.updated with old and new values, made by the person.
func TestAccountProfile(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		ctx := t.Context()
		s.accounts.Owners = accounts.Owners{"family_name": accounts.OwnerCRM}
		u := s.createUser("pia@example.com", goodPassword, true)
		berg := "Berg"
		if _, err := s.accounts.Update(ctx, u.ID, accounts.Update{FamilyName: &berg}, "", "client:crm"); err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		acct := b.submit(b.get("/login"), map[string]string{"email": "pia@example.com", "password": goodPassword})
		if acct.url != "/account" {
			t.Fatalf("after sign-in at %s", acct.url)
		}
		for _, want := range []string{`<h2 id="profile-heading">Profile</h2>`, `action="/account/profile"`, `<label for="given_name">`, `<label for="phone">`,
			`<label for="locale">`, "Berg", "Managed by your account manager — ask them to change it."} {
			if !strings.Contains(acct.body, want) {
				t.Errorf("account page lacks %q", want)
			}
		}
		if strings.Contains(acct.body, `name="family_name"`) {
			t.Error("the CRM-owned family name is an input on the account page")
		}

		// A good change: saved, the page now in the chosen language.
		saved := b.submit(acct, map[string]string{"given_name": " Pia ", "phone": "+46 70 123 45 67", "locale": "sv"})
		if saved.url != "/account?done=profile_saved" || !strings.Contains(saved.body, "Din profil har sparats.") {
			t.Fatalf("after saving: %d at %s", saved.status, saved.url)
		}
		if !strings.Contains(saved.body, "Hanteras av din kundansvarige") {
			t.Error("the CRM hint is not in Swedish")
		}
		got, err := s.store.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.GivenName != "Pia" || got.Phone != "+46701234567" || got.Locale != "sv" || got.FamilyName != "Berg" {
			t.Errorf("saved profile: got %q %q %q %q, want Pia Berg +46701234567 sv", got.GivenName, got.FamilyName, got.Phone, got.Locale)
		}
		evs, err := s.store.EventsFor(ctx, u.Subject(), 20)
		if err != nil {
			t.Fatal(err)
		}
		var last events.Event
		for _, ev := range evs {
			if ev.Type == "user.updated" && ev.Actor == u.Subject() {
				last = ev
			}
		}
		var data struct {
			Changes map[string]struct{ Old, New string } `json:"changes"`
		}
		if err := json.Unmarshal(last.Data, &data); err != nil {
			t.Fatal(err)
		}
		if last.Type != "user.updated" || last.Actor != u.Subject() {
			t.Errorf("last event: got %s by %s, want user.updated by %s", last.Type, last.Actor, u.Subject())
		}
		if c := data.Changes["given_name"]; c.Old != "" || c.New != "Pia" {
			t.Errorf("given_name change: got %+v, want \"\" → Pia", c)
		}
		if c := data.Changes["locale"]; c.New != "sv" {
			t.Errorf("locale change: got %+v, want → sv", c)
		}
		if _, ok := data.Changes["family_name"]; ok {
			t.Error("the family name changed")
		}
		count := len(evs)

		// A bad phone number: a localized field error, nothing saved.
		bad := b.submit(saved, map[string]string{"phone": "555-1234", "locale": "de"})
		if bad.status != http.StatusBadRequest {
			t.Fatalf("a bad phone number: got %d, want 400", bad.status)
		}
		for _, want := range []string{"Välj ett av språken i listan.", `id="locale-error"`, `aria-invalid="true"`} {
			if !strings.Contains(bad.body, want) {
				t.Errorf("the page with errors lacks %q", want)
			}
		}
		bad = b.submit(saved, map[string]string{"phone": "555-1234"})
		if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `id="phone-error"`) || !strings.Contains(bad.body, `value="555-1234"`) {
			t.Errorf("a bad phone number: got %d, want 400 with the error and the typed value", bad.status)
		}

		// A forged form that sends the CRM-owned field: refused, nothing
		// saved.
		token := csrfField.FindStringSubmatch(saved.body)[1]
		forged := b.do(http.MethodPost, "/account/profile", url.Values{"csrf_token": {token}, "given_name": {"Pia"}, "family_name": {"Forged"}})
		if forged.status != http.StatusBadRequest || !strings.Contains(forged.body, `id="family_name-error"`) {
			t.Errorf("a forged change of the CRM-owned field: got %d, want 400 with its error", forged.status)
		}
		got, _ = s.store.UserByID(ctx, u.ID)
		if got.FamilyName != "Berg" || got.Phone != "+46701234567" {
			t.Errorf("after refused changes: family name %q, phone %q; want Berg, +46701234567", got.FamilyName, got.Phone)
		}
		if evs, _ := s.store.EventsFor(ctx, u.Subject(), 20); len(evs) != count {
			t.Errorf("refused changes wrote %d events", len(evs)-count)
		}
		// Without the CSRF token nothing happens.
		if res := b.do(http.MethodPost, "/account/profile", url.Values{"given_name": {"X"}}); res.status != http.StatusForbidden {
			t.Errorf("without a CSRF token: got %d, want 403", res.status)
		}
	})
}

// TestIdPOwnedFieldsRefresh: the fields the identity provider owns follow
// it at each sign-in of a linked account (as idp:<provider>), and only
// those; the account page shows them read-only.
func TestIdPOwnedFieldsRefresh(t *testing.T) {
	s := newStack(t)
	s.withUpstream(t)
	s.accounts.Owners = accounts.Owners{"family_name": accounts.OwnerIdP, "phone": accounts.OwnerIdP}
	op := fedtest.Start(t)
	given, family := "Ada", "Lovelace"
	op.Tamper = func(c jwt.MapClaims) { c["given_name"], c["family_name"] = given, family }
	cfg := op.Config()
	if _, err := s.pages.Federation.Create(t.Context(), federation.Provider{
		ID: "hr", Name: "HR", Issuer: op.Issuer(), ClientID: cfg.ClientID, SecretPlain: cfg.ClientSecret,
		Scopes: []string{"openid", "email", "profile"}, TrustEmail: true,
	}, "system:test"); err != nil {
		t.Fatal(err)
	}
	signIn := func(b *browser) response {
		t.Helper()
		op.QueueUser(&mockoidc.MockUser{Subject: "hr-1", Email: "ada@example.com", EmailVerified: true, Phone: "+46701234567"})
		login := b.get("/login")
		form := regexp.MustCompile(`(?s)<form method="post" action="(/login/idp/hr)">.*?name="csrf_token" value="([^"]+)"`).FindStringSubmatch(login.body)
		if form == nil {
			t.Fatal("no Continue with HR")
		}
		acct := b.do(http.MethodPost, form[1], url.Values{"csrf_token": {form[2]}})
		if acct.url != "/account" {
			t.Fatalf("sign-in with HR led to %s (%d)", acct.url, acct.status)
		}
		return acct
	}
	b := s.browser()
	acct := signIn(b)
	if !strings.Contains(acct.body, "Comes from the service you sign in with") || strings.Contains(acct.body, `name="family_name"`) {
		t.Error("the IdP-owned family name is not read-only with its hint")
	}
	u, err := s.store.UserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b.signOut()

	// The provider changes the names: the IdP-owned family name follows,
	// the person-owned given name does not; the phone is unchanged.
	given, family = "Augusta", "King"
	signIn(b)
	got, err := s.store.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FamilyName != "King" || got.GivenName != "Ada" || got.Phone != "+46701234567" {
		t.Errorf("after the second sign-in: got %q %q %q, want Ada King +46701234567", got.GivenName, got.FamilyName, got.Phone)
	}
	evs, err := s.store.EventsFor(t.Context(), u.Subject(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var updates []events.Event
	for _, ev := range evs {
		if ev.Type == "user.updated" {
			updates = append(updates, ev)
		}
	}
	if len(updates) != 1 || updates[0].Actor != "idp:hr" {
		t.Fatalf("user.updated events: got %+v, want one by idp:hr", updates)
	}
	var data struct {
		Changes map[string]struct{ Old, New string } `json:"changes"`
	}
	if err := json.Unmarshal(updates[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Changes) != 1 || data.Changes["family_name"].Old != "Lovelace" || data.Changes["family_name"].New != "King" {
		t.Errorf("changes: got %+v, want family_name Lovelace → King only", data.Changes)
	}

	// Signing in again with nothing new changes nothing.
	b.signOut()
	signIn(b)
	if evs2, _ := s.store.EventsFor(t.Context(), u.Subject(), 50); countType(evs2, "user.updated") != 1 {
		t.Error("a sign-in with unchanged claims wrote a user.updated event")
	}
}

func countType(evs []events.Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}
