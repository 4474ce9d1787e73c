package accounts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestAttributeSchema(t *testing.T) {
	s, err := NewAttributeSchema(map[string]AttributeRule{
		"customer_number": {Type: "string", Required: true, Pattern: `[0-9]{6}`},
		"segment":         {Type: "string", Enum: []string{"retail", "business"}},
		"newsletter":      {Type: "boolean"},
		"credit_limit":    {Type: "number"},
		"nickname":        {Type: "string", MaxLength: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		attrs  string
		fields []string // fields with errors, "" for none
	}{
		{"valid", `{"customer_number":"123456","segment":"retail","newsletter":true,"credit_limit":1000.5}`, nil},
		{"required missing", `{"newsletter":false}`, []string{"attributes.customer_number"}},
		{"pattern", `{"customer_number":"12345a"}`, []string{"attributes.customer_number"}},
		{"enum", `{"customer_number":"123456","segment":"vip"}`, []string{"attributes.segment"}},
		{"types", `{"customer_number":123456,"newsletter":"yes","credit_limit":"high"}`, []string{"attributes.credit_limit", "attributes.customer_number", "attributes.newsletter"}},
		{"unknown", `{"customer_number":"123456","shoe_size":44}`, []string{"attributes.shoe_size"}},
		{"too long", `{"customer_number":"123456","nickname":"Ådalsvägen"}`, []string{"attributes.nickname"}},
		{"not an object", `[1,2]`, []string{"attributes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Validate(json.RawMessage(tc.attrs))
			var got []string
			for _, e := range flattenErrs(err) {
				var fe FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields with errors = %v, want %v (%v)", got, tc.fields, err)
			}
		})
	}
}

func TestAttributeSchemaRulesChecked(t *testing.T) {
	_, err := NewAttributeSchema(map[string]AttributeRule{
		"Bad-Name": {Type: "string"},
		"age":      {Type: "integer"},
		"code":     {Type: "string", Pattern: "("},
		"flag":     {Type: "boolean", Pattern: "x"},
	})
	for _, want := range []string{`"Bad-Name"`, `"integer"`, "code: pattern", "flag: pattern"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestNoSchemaAcceptsAnyObject(t *testing.T) {
	var s *AttributeSchema
	if err := s.Validate(json.RawMessage(`{"anything":[1,{"x":true}]}`)); err != nil {
		t.Errorf("nil schema refused an object: %v", err)
	}
	if err := s.Validate(json.RawMessage(`"text"`)); err == nil {
		t.Errorf("nil schema accepted a string")
	}
	big := `{"x":"` + strings.Repeat("a", maxAttributesBytes) + `"}`
	if err := s.Validate(json.RawMessage(big)); err == nil {
		t.Errorf("nil schema accepted %d bytes", len(big))
	}
}

func flattenErrs(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrs(e)...)
		}
		return out
	}
	return []error{err}
}

func TestAttributeSelfServiceRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rule    AttributeRule
		wantErr string // "" for none
	}{
		{"hidden by default", AttributeRule{Type: "number"}, ""},
		{"shown with an English label", AttributeRule{Type: "string", SelfService: "show", Label: map[string]string{"en": "Customer number"}}, ""},
		{"edited with every label and hint", AttributeRule{Type: "boolean", SelfService: "edit", Label: map[string]string{"en": "News", "sv": "Nyheter", "fi": "Uutiset"}, Hint: map[string]string{"en": "Monthly"}}, ""},
		{"unknown mode", AttributeRule{Type: "string", SelfService: "write"}, `x: self_service "write" is not hide, show or edit`},
		{"shown without a label", AttributeRule{Type: "string", SelfService: "show"}, "x: self_service show needs a label with at least en (English)"},
		{"edited with only a Swedish label", AttributeRule{Type: "string", SelfService: "edit", Label: map[string]string{"sv": "Smeknamn"}}, "x: self_service edit needs a label with at least en"},
		{"unknown language", AttributeRule{Type: "string", Label: map[string]string{"en": "Nick", "de": "Spitzname"}}, `x: label: language "de" is not one of en, sv, fi`},
		{"empty hint", AttributeRule{Type: "string", Hint: map[string]string{"fi": " "}}, "x: hint.fi is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewAttributeSchema(map[string]AttributeRule{"x": tc.rule})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if r, _ := s.Rule("x"); tc.rule.SelfService == "" && r.SelfService != SelfServiceHide {
					t.Errorf("self_service = %q, want hide by default", r.SelfService)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestAttributeLabels(t *testing.T) {
	s, err := NewAttributeSchema(map[string]AttributeRule{
		"nickname":     {Type: "string", SelfService: "edit", Label: map[string]string{"en": "Nickname", "sv": "Smeknamn"}, Hint: map[string]string{"en": "What we call you"}},
		"segment":      {Type: "string", SelfService: "show", Label: map[string]string{"en": "Segment"}},
		"credit_limit": {Type: "number"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.SelfService(); strings.Join(got, ",") != "nickname,segment" {
		t.Errorf("SelfService() = %v, want [nickname segment] (the hidden credit limit left out)", got)
	}
	for _, tc := range []struct{ name, lang, label, hint string }{
		{"nickname", "sv", "Smeknamn", "What we call you"},
		{"nickname", "fi", "Nickname", "What we call you"},
		{"segment", "sv", "Segment", ""},
		{"credit_limit", "en", "credit_limit", ""},
	} {
		if got := s.Label(tc.name, tc.lang); got != tc.label {
			t.Errorf("Label(%s, %s) = %q, want %q", tc.name, tc.lang, got, tc.label)
		}
		if got := s.Hint(tc.name, tc.lang); got != tc.hint {
			t.Errorf("Hint(%s, %s) = %q, want %q", tc.name, tc.lang, got, tc.hint)
		}
	}
	if !s.PersonMayEdit("nickname") || s.PersonMayEdit("segment") || s.PersonMayEdit("credit_limit") || s.PersonMayEdit("nope") {
		t.Error("PersonMayEdit is true for other than the edited attribute")
	}
	var none *AttributeSchema
	if none.SelfService() != nil || none.PersonMayEdit("x") || none.Label("x", "en") != "x" {
		t.Error("a nil schema shows or edits attributes")
	}
}

func TestMergeAttributes(t *testing.T) {
	cur := json.RawMessage(`{"credit_limit": 5000, "nickname": "Pia", "tags": ["a", "b"]}`)
	for _, tc := range []struct {
		name    string
		set     map[string]json.RawMessage
		want    string // the object after, "" for cur unchanged
		changed string
	}{
		{"nothing", nil, "", ""},
		{"same value", map[string]json.RawMessage{"nickname": json.RawMessage(`"Pia"`)}, "", ""},
		{"removing an absent one", map[string]json.RawMessage{"newsletter": nil}, "", ""},
		{"set one, keep the rest", map[string]json.RawMessage{"nickname": json.RawMessage(`"Pi"`)}, `{"credit_limit":5000,"nickname":"Pi","tags":["a","b"]}`, "nickname"},
		{"add and remove", map[string]json.RawMessage{"newsletter": json.RawMessage(`false`), "nickname": json.RawMessage(`null`)}, `{"credit_limit":5000,"newsletter":false,"tags":["a","b"]}`, "newsletter,nickname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changes, changed, err := mergeAttributes(cur, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = string(cur)
			}
			if string(got) != want {
				t.Errorf("merged = %s, want %s", got, want)
			}
			if strings.Join(changed, ",") != tc.changed || len(changes) != len(changed) {
				t.Errorf("changed = %v (%v), want %s", changed, changes, tc.changed)
			}
		})
	}
	_, changes, _, _ := mergeAttributes(cur, map[string]json.RawMessage{"nickname": nil, "newsletter": json.RawMessage(`true`)})
	nick := changes["attributes.nickname"].(map[string]any)
	news := changes["attributes.newsletter"].(map[string]any)
	if nick["old"] != "Pia" || nick["new"] != nil || news["old"] != nil || news["new"] != true {
		t.Errorf("changes = %v, want nickname Pia → nil and newsletter nil → true", changes)
	}
}
