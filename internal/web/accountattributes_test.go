package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/storetest"
)

// attributeSchema is a deployment's custom attributes: one shown, one
// hidden, and one edited of each kind.
func attributeSchema(t *testing.T) *accounts.AttributeSchema {
	t.Helper()
	s, err := accounts.NewAttributeSchema(map[string]accounts.AttributeRule{
		"customer_number": {Type: "string", SelfService: "show", Label: map[string]string{"en": "Customer number", "sv": "Kundnummer", "fi": "Asiakasnumero"}},
		"credit_limit":    {Type: "number"},
		"nickname": {Type: "string", Pattern: `[\p{L} ]+`, MaxLength: 20, SelfService: "edit",
			Label: map[string]string{"en": "Nickname", "sv": "Smeknamn", "fi": "Lempinimi"}, Hint: map[string]string{"en": "Letters only"}},
		"newsletter": {Type: "boolean", SelfService: "edit", Label: map[string]string{"en": "Monthly newsletter", "sv": "Månadsbrev"}},
		"segment":    {Type: "string", Enum: []string{"retail", "business"}, SelfService: "edit", Label: map[string]string{"en": "Segment"}},
		"shoe_size":  {Type: "number", SelfService: "edit", Label: map[string]string{"en": "Shoe size"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAccountAttributes: the account page shows the attributes configured
// show read-only and the ones configured edit as fields of the profile
// form (text, select, checkbox, number), never the hidden ones. A save
// changes the edited attributes with user.updated (old and new values),
// keeps the others exactly, ignores forged fields of attributes the
// person does not edit, and treats an unticked box as false only when the
// box was on the form. Bad values come back with localized errors and
// save nothing.
func TestAccountAttributes(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		ctx := t.Context()
		s.accounts.Attributes = attributeSchema(t)
		u := s.createUser("pia@example.com", goodPassword, true)
		if _, err := s.accounts.Update(ctx, u.ID, accounts.Update{Attributes: map[string]json.RawMessage{
			"customer_number": json.RawMessage(`"C-100"`), "credit_limit": json.RawMessage(`5000`), "newsletter": json.RawMessage(`true`),
		}}, "", "client:crm"); err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		acct := b.submit(b.get("/login"), map[string]string{"email": u.Email, "password": goodPassword})
		if acct.url != "/account" {
			t.Fatalf("after sign-in at %s", acct.url)
		}
		for _, want := range []string{
			"<dt>Customer number</dt>", "C-100",
			`<label for="attributes.nickname">Nickname</label>`, `<span class="hint" id="attributes.nickname-hint">Letters only</span>`,
			`name="attributes.nickname" type="text" value="" aria-invalid="false" aria-describedby="attributes.nickname-hint"`,
			`<input type="hidden" name="attributes.newsletter" value="false">`,
			`<input id="attributes.newsletter" name="attributes.newsletter" type="checkbox" value="true" checked`,
			`<select id="attributes.segment" name="attributes.segment"`, `<option value="" selected>Not given</option>`, `<option value="business">business</option>`,
			`name="attributes.shoe_size" type="text" inputmode="decimal"`,
		} {
			if !strings.Contains(acct.body, want) {
				t.Errorf("account page lacks %q", want)
			}
		}
		for _, hidden := range []string{"credit_limit", "5000", `name="attributes.customer_number"`} {
			if strings.Contains(acct.body, hidden) {
				t.Errorf("account page shows %q", hidden)
			}
		}
		checkAccessible(t, acct, "en", "Your account")
		sv := b.get("/account?lang=sv")
		for _, want := range []string{"<dt>Kundnummer</dt>", `<label for="attributes.newsletter">Månadsbrev</label>`, `<label for="attributes.segment">Segment</label>`} {
			if !strings.Contains(sv.body, want) {
				t.Errorf("Swedish account page lacks %q", want)
			}
		}
		b.get("/account?lang=en")

		// A save: the box unticked (only its hidden "false" is sent), the
		// others typed; forged fields of the shown and the hidden
		// attribute are ignored.
		before := len(s.eventsOf(u))
		saved := b.submit(acct, map[string]string{
			"attributes.nickname": " Pia ", "attributes.segment": "business", "attributes.shoe_size": "38,5",
			"attributes.credit_limit": "99999", "attributes.customer_number": "C-999", "attributes.unknown": "x",
		})
		if saved.url != "/account?done=profile_saved" {
			t.Fatalf("after saving: %d at %s\n%s", saved.status, saved.url, saved.body)
		}
		got := s.attributes(u.ID)
		for name, want := range map[string]string{"customer_number": `"C-100"`, "credit_limit": `5000`, "nickname": `"Pia"`, "segment": `"business"`, "shoe_size": `38.5`, "newsletter": `false`} {
			if string(got[name]) != want {
				t.Errorf("attribute %s = %s, want %s", name, got[name], want)
			}
		}
		if len(got) != 6 {
			t.Errorf("attributes = %v, want six", got)
		}
		evs := s.eventsOf(u)[before:]
		if len(evs) != 2 || evs[0].Type != "user.updated" || evs[0].Actor != u.Subject() {
			t.Fatalf("the save wrote %v, want user.updated by the person, then the confirmation", evs)
		}
		var data struct {
			Changes map[string]struct{ Old, New any } `json:"changes"`
		}
		if err := json.Unmarshal(evs[0].Data, &data); err != nil {
			t.Fatal(err)
		}
		wantChanges := map[string][2]any{
			"attributes.nickname": {nil, "Pia"}, "attributes.segment": {nil, "business"},
			"attributes.shoe_size": {nil, 38.5}, "attributes.newsletter": {true, false},
		}
		if len(data.Changes) != len(wantChanges) {
			t.Errorf("changes = %v, want %v", data.Changes, wantChanges)
		}
		for k, w := range wantChanges {
			if c, ok := data.Changes[k]; !ok || c.Old != w[0] || c.New != w[1] {
				t.Errorf("change of %s = %+v, want %v → %v", k, c, w[0], w[1])
			}
		}
		if !strings.Contains(saved.body, `value="Pia"`) || !strings.Contains(saved.body, `<option value="business" selected>`) || !strings.Contains(saved.body, `value="38.5"`) {
			t.Error("the saved values are not on the page")
		}

		// A form without the box leaves the attribute as it is.
		token := csrfField.FindStringSubmatch(saved.body)[1]
		if res := b.do(http.MethodPost, "/account/profile", url.Values{"csrf_token": {token}, "given_name": {"Pia"}}); res.url != "/account?done=profile_saved" {
			t.Fatalf("a save without the attributes: %d at %s", res.status, res.url)
		}
		if got := s.attributes(u.ID); string(got["newsletter"]) != "false" || string(got["nickname"]) != `"Pia"` {
			t.Errorf("a form without the attributes changed them: %v", got)
		}

		// Bad values, in Swedish: a localized error at the field, the
		// typed value kept, nothing saved.
		sv = b.get("/account?lang=sv")
		count := len(s.eventsOf(u))
		for _, tc := range []struct {
			field, value, msg string
		}{
			{"attributes.nickname", "P1a", "Det här har inte rätt form."},
			{"attributes.nickname", strings.Repeat("a", 21), "Använd högst 20 tecken."},
			{"attributes.shoe_size", "stor", "Ange ett tal, till exempel 12 eller 12,5."},
			{"attributes.segment", "vip", "Välj ett av alternativen i listan."},
		} {
			bad := b.submit(sv, map[string]string{tc.field: tc.value})
			if bad.status != http.StatusBadRequest {
				t.Fatalf("%s=%q: got %d, want 400", tc.field, tc.value, bad.status)
			}
			for _, want := range []string{tc.msg, `<span class="field-error" id="` + tc.field + `-error">`, `aria-invalid="true"`, `aria-describedby="` + tc.field} {
				if !strings.Contains(bad.body, want) {
					t.Errorf("%s=%q: the page lacks %q", tc.field, tc.value, want)
				}
			}
			if tc.field != "attributes.segment" && !strings.Contains(bad.body, `value="`+tc.value+`"`) {
				t.Errorf("%s=%q: the typed value is not kept", tc.field, tc.value)
			}
		}
		if n := len(s.eventsOf(u)); n != count {
			t.Errorf("refused saves wrote %d events", n-count)
		}
		if got := s.attributes(u.ID); string(got["nickname"]) != `"Pia"` || string(got["shoe_size"]) != "38.5" {
			t.Errorf("refused saves changed the attributes: %v", got)
		}

		// Emptied fields remove the attributes.
		if res := b.submit(sv, map[string]string{"attributes.nickname": "", "attributes.segment": ""}); res.status != http.StatusOK {
			t.Fatalf("emptying: %d at %s", res.status, res.url)
		}
		if got := s.attributes(u.ID); got["nickname"] != nil || got["segment"] != nil || string(got["credit_limit"]) != "5000" {
			t.Errorf("after emptying: %v, want no nickname or segment, the credit limit kept", got)
		}
		// Without the CSRF token nothing happens.
		if res := b.do(http.MethodPost, "/account/profile", url.Values{"attributes.nickname": {"X"}}); res.status != http.StatusForbidden {
			t.Errorf("without a CSRF token: got %d, want 403", res.status)
		}
	})
}

// TestConfirmProfileAttributes: "Is this still correct?" shows the shown
// and edited attributes, and its form edits the edited ones.
func TestConfirmProfileAttributes(t *testing.T) {
	s := newStackOn(t, sqlite, freshness(year))
	s.accounts.Attributes = attributeSchema(t)
	u := s.staleUser("stina@example.com", year)
	if _, err := s.accounts.Update(t.Context(), u.ID, accounts.Update{Attributes: map[string]json.RawMessage{
		"customer_number": json.RawMessage(`"C-7"`), "credit_limit": json.RawMessage(`100`), "nickname": json.RawMessage(`"Stina"`),
	}}, "", "client:crm"); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	stop := b.submit(b.get("/login"), map[string]string{"email": u.Email, "password": goodPassword})
	if !strings.HasPrefix(stop.url, "/account/confirm-profile") {
		t.Fatalf("a stale profile's sign-in at %s", stop.url)
	}
	for _, want := range []string{"<dt>Customer number</dt>", "C-7", "<dt>Nickname</dt>", "Stina", "<dt>Monthly newsletter</dt>", "<dd>No</dd>"} {
		if !strings.Contains(stop.body, want) {
			t.Errorf("the stop page lacks %q", want)
		}
	}
	if strings.Contains(stop.body, "100") {
		t.Error("the stop page shows the hidden credit limit")
	}
	edit := b.get(link(t, stop, "Correct my details"))
	if !strings.Contains(edit.body, `name="attributes.nickname" type="text" value="Stina"`) || strings.Contains(edit.body, `name="attributes.customer_number"`) {
		t.Fatalf("the edit form lacks the nickname field or has the customer number's:\n%s", edit.body)
	}
	done := b.submit(edit, map[string]string{"attributes.nickname": "Stina Maria", "attributes.newsletter": "true"})
	if done.status != http.StatusOK || done.url != "/account?done=profile_saved" {
		t.Fatalf("after saving: %d at %s", done.status, done.url)
	}
	got := s.attributes(u.ID)
	if string(got["nickname"]) != `"Stina Maria"` || string(got["newsletter"]) != "true" || string(got["credit_limit"]) != "100" || string(got["customer_number"]) != `"C-7"` {
		t.Errorf("attributes after the stop's save: %v", got)
	}
}

// attributes returns the custom attributes of user id, by name.
func (s *stack) attributes(id string) map[string]json.RawMessage {
	s.t.Helper()
	u, err := s.store.UserByID(s.t.Context(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return accounts.AttributeValues(u.Attributes)
}
