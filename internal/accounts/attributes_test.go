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
