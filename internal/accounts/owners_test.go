package accounts

import (
	"strings"
	"testing"
)

func TestNewOwners(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		wantErr []string
	}{
		{"none", nil, nil},
		{"all owners", map[string]string{"given_name": "crm", "family_name": "idp", "phone": "person", "locale": "crm"}, nil},
		{"unknown field", map[string]string{"email": "crm"}, []string{`unknown field "email"`}},
		{"unknown owner", map[string]string{"phone": "erp"}, []string{`phone: unknown owner "erp"`}},
		{"every problem at once", map[string]string{"nickname": "person", "locale": "IdP"}, []string{`unknown field "nickname"`, `locale: unknown owner "IdP"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOwners(tc.in)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("NewOwners(%v): got %v, want no error", tc.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewOwners(%v): got no error, want %q", tc.in, tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewOwners(%v): got %q, want it to name %q", tc.in, err, w)
				}
			}
		})
	}
}

func TestOwners(t *testing.T) {
	o, err := NewOwners(map[string]string{"given_name": "crm", "family_name": "idp"})
	if err != nil {
		t.Fatal(err)
	}
	locked := User{LockedFields: []string{"phone", "family_name"}}
	tests := []struct {
		field      string
		owner      string
		personEdit bool
		ofLocked   string
	}{
		{"given_name", OwnerCRM, false, OwnerCRM},
		{"family_name", OwnerIdP, false, OwnerIdP}, // a lock never takes a field from the IdP
		{"phone", OwnerPerson, true, OwnerCRM},
		{"locale", OwnerPerson, true, OwnerPerson},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			if got := o.Owner(tc.field); got != tc.owner {
				t.Errorf("Owner(%s): got %q, want %q", tc.field, got, tc.owner)
			}
			if got := o.PersonMayEdit(tc.field); got != tc.personEdit {
				t.Errorf("PersonMayEdit(%s): got %v, want %v", tc.field, got, tc.personEdit)
			}
			if got := o.Of(locked, tc.field); got != tc.ofLocked {
				t.Errorf("Of(locked user, %s): got %q, want %q", tc.field, got, tc.ofLocked)
			}
		})
	}
	var none Owners
	if got := none.Owner("phone"); got != OwnerPerson {
		t.Errorf("zero Owners: Owner(phone): got %q, want person", got)
	}
}
