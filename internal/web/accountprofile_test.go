package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
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
