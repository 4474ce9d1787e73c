package accounts_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/portvakt/portvakt/internal/accounts"
)

// TestEditProfileAttributes: the person's save changes the attributes they
// edit, with their old and new values in user.updated, and keeps every
// other attribute as it was; a change of an attribute that is only shown
// or hidden is refused, a value the schema refuses is a field error, and
// neither writes anything. A required attribute the CRM has not set yet
// does not stop the person's change of another.
func TestEditProfileAttributes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	schema, err := accounts.NewAttributeSchema(map[string]accounts.AttributeRule{
		"customer_number": {Type: "string", Required: true, SelfService: "show", Label: map[string]string{"en": "Customer number"}},
		"credit_limit":    {Type: "number"},
		"nickname":        {Type: "string", Pattern: `[A-Za-z ]+`, SelfService: "edit", Label: map[string]string{"en": "Nickname"}},
		"newsletter":      {Type: "boolean", SelfService: "edit", Label: map[string]string{"en": "Newsletter"}},
		"card_tier":       {Type: "string", Required: true, Enum: []string{"silver", "gold"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Attributes = schema
	u, err := f.svc.Import(ctx, accounts.ImportRecord{Email: "attr@example.com", Attributes: json.RawMessage(`{"customer_number":"C-1","credit_limit":5000,"card_tier":"gold"}`)}, "system:test")
	if err != nil {
		t.Fatal(err)
	}

	before := len(f.allEvents(t))
	u, err = f.svc.EditProfile(ctx, u.ID, accounts.Update{Attributes: map[string]json.RawMessage{
		"nickname": json.RawMessage(`"Pia"`), "newsletter": json.RawMessage(`true`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := accounts.AttributeValues(u.Attributes)
	for name, want := range map[string]string{"customer_number": `"C-1"`, "credit_limit": `5000`, "card_tier": `"gold"`, "nickname": `"Pia"`, "newsletter": `true`} {
		if string(got[name]) != want {
			t.Errorf("attribute %s = %s, want %s", name, got[name], want)
		}
	}
	if types := f.newEvents(t, before); !slices.Equal(types, []string{"user.updated", "user.profile_confirmed"}) {
		t.Fatalf("the save wrote %v, want user.updated and user.profile_confirmed", types)
	}
	var data struct {
		Changes map[string]struct{ Old, New any } `json:"changes"`
	}
	if err := json.Unmarshal(f.allEvents(t)[before].Data, &data); err != nil {
		t.Fatal(err)
	}
	if c := data.Changes["attributes.nickname"]; c.Old != nil || c.New != "Pia" {
		t.Errorf("nickname change = %+v, want nil → Pia", c)
	}
	if c := data.Changes["attributes.newsletter"]; c.Old != nil || c.New != true {
		t.Errorf("newsletter change = %+v, want nil → true", c)
	}
	if len(data.Changes) != 2 {
		t.Errorf("changes = %v, want only the two attributes", data.Changes)
	}

	// Refused: the shown and the hidden attributes are the CRM's, and a
	// nickname the pattern refuses; nothing written.
	for _, tc := range []struct {
		name  string
		set   map[string]json.RawMessage
		field string
		code  string
	}{
		{"shown", map[string]json.RawMessage{"customer_number": json.RawMessage(`"C-2"`)}, "attributes.customer_number", "owned_by_crm"},
		{"hidden", map[string]json.RawMessage{"credit_limit": json.RawMessage(`99999`)}, "attributes.credit_limit", "owned_by_crm"},
		{"hidden removed", map[string]json.RawMessage{"credit_limit": nil}, "attributes.credit_limit", "owned_by_crm"},
		{"pattern", map[string]json.RawMessage{"nickname": json.RawMessage(`"P1a"`)}, "attributes.nickname", "invalid"},
		{"type", map[string]json.RawMessage{"newsletter": json.RawMessage(`"yes"`)}, "attributes.newsletter", "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.allEvents(t))
			_, err := f.svc.EditProfile(ctx, u.ID, accounts.Update{Attributes: tc.set})
			var fe accounts.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Code != tc.code {
				t.Fatalf("got %v, want %s on %s", err, tc.code, tc.field)
			}
			if types := f.newEvents(t, before); len(types) != 0 {
				t.Errorf("a refused save wrote %v", types)
			}
			if cur := f.user(t, u.ID); string(cur.Attributes) != string(u.Attributes) {
				t.Errorf("attributes after a refused save: %s, want %s", cur.Attributes, u.Attributes)
			}
		})
	}

	// Saving the same values again changes nothing (only the confirmation);
	// a null removes the person's own attribute.
	before = len(f.allEvents(t))
	if _, err := f.svc.EditProfile(ctx, u.ID, accounts.Update{Attributes: map[string]json.RawMessage{"nickname": json.RawMessage(`"Pia"`)}}); err != nil {
		t.Fatal(err)
	}
	if types := f.newEvents(t, before); !slices.Equal(types, []string{"user.profile_confirmed"}) {
		t.Errorf("an unchanged save wrote %v", types)
	}
	u, err = f.svc.EditProfile(ctx, u.ID, accounts.Update{Attributes: map[string]json.RawMessage{"nickname": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := accounts.AttributeValues(u.Attributes)["nickname"]; ok {
		t.Errorf("nickname still set after its removal: %s", u.Attributes)
	}

	// A self-registered person has no card tier (required, the CRM's):
	// their change of the newsletter is judged on the newsletter alone.
	reg := f.register(t, "self@example.com")
	reg, err = f.svc.EditProfile(ctx, reg.ID, accounts.Update{Attributes: map[string]json.RawMessage{"newsletter": json.RawMessage(`false`)}})
	if err != nil {
		t.Fatalf("a change beside a missing required attribute: %v", err)
	}
	if string(reg.Attributes) != `{"newsletter":false}` {
		t.Errorf("attributes = %s, want the newsletter alone", reg.Attributes)
	}
}
