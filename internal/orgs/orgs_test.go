package orgs_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/orgs"
)

func TestOrganizationValidate(t *testing.T) {
	o := orgs.Organization{Name: "  Acme Oy ", Slug: "acme", Domains: []string{"Acme.Example.", "b.example"}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Name != "Acme Oy" || !slices.Equal(o.Domains, []string{"acme.example", "b.example"}) || o.Status != orgs.StatusActive || string(o.Metadata) != "{}" {
		t.Errorf("normalized to %+v", o)
	}
	for _, tc := range []struct {
		o     orgs.Organization
		field string
	}{
		{orgs.Organization{Slug: "acme"}, "name"},
		{orgs.Organization{Name: "A", Slug: "Acme"}, "slug"},
		{orgs.Organization{Name: "A", Slug: "-acme"}, "slug"},
		{orgs.Organization{Name: "A", Slug: "acme", Domains: []string{"localhost"}}, "domains"},
		{orgs.Organization{Name: "A", Slug: "acme", Domains: []string{"a.example", "A.example"}}, "domains"},
		{orgs.Organization{Name: "A", Slug: "acme", Metadata: json.RawMessage(`[1]`)}, "metadata"},
		{orgs.Organization{Name: "A", Slug: "acme", Metadata: json.RawMessage(`{`)}, "metadata"},
		{orgs.Organization{Name: "A", Slug: "acme", Status: "gone"}, "status"},
		{orgs.Organization{Name: "A", Slug: "acme", ExternalID: strings.Repeat("x", 256)}, "external_id"},
	} {
		var fe orgs.FieldError
		if err := tc.o.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Validate(%+v) = %v, want a %s error", tc.o, err, tc.field)
		}
	}
}

func TestRoleValidateAndGrants(t *testing.T) {
	ok := orgs.Role{App: "portal", Name: "buyer", Permissions: []string{"orders:read", "orders:create"}}
	if err := ok.Validate(); err != nil || ok.Key() != "portal/buyer" {
		t.Errorf("a good role: %v, key %s", err, ok.Key())
	}
	for _, r := range []orgs.Role{
		{App: "Portal", Name: "buyer"},
		{App: "portal", Name: "buy er"},
		{App: "portal", Name: "buyer", Permissions: []string{"orders:read", "orders:read"}},
		{App: "portal", Name: "buyer", Permissions: []string{"Orders"}},
		{App: orgs.AdminApp, Name: "superuser"},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("role %+v accepted", r)
		}
	}
	gs, err := orgs.ParseGrants("portal", []string{"viewer", "crm/admin", "portal/viewer", " "})
	if err != nil || !slices.Equal(gs, []orgs.Grant{{App: "crm", Role: "admin"}, {App: "portal", Role: "viewer"}}) {
		t.Errorf("ParseGrants = %v, %v", gs, err)
	}
	if _, err := orgs.ParseGrants("", []string{"viewer"}); err == nil {
		t.Error("a role without an application was accepted")
	}
}

func TestAllowsSignIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		methods []string
		amr     []string
		want    bool
	}{
		{"no policy, password", nil, []string{"pwd"}, true},
		{"no policy, nothing recorded", nil, nil, true},
		{"password allowed", []string{orgs.SignInPassword}, []string{"pwd"}, true},
		{"password with a second factor", []string{orgs.SignInPassword}, []string{"pwd", "otp", "mfa"}, true},
		{"passkey only, password", []string{orgs.SignInPasskey}, []string{"pwd"}, false},
		{"passkey only, password and app code", []string{orgs.SignInPasskey}, []string{"pwd", "otp", "mfa"}, false},
		{"passkey only, hardware key", []string{orgs.SignInPasskey}, []string{"hwk", "user"}, true},
		{"passkey only, software key", []string{orgs.SignInPasskey}, []string{"swk", "user"}, true},
		{"email code", []string{orgs.SignInEmailCode}, []string{"email"}, true},
		{"email code only, password", []string{orgs.SignInEmailCode}, []string{"pwd"}, false},
		{"federated, upstream", []string{orgs.SignInFederated}, []string{"fed"}, true},
		{"federated admits an eID broker", []string{orgs.SignInFederated}, []string{"fed", "eid"}, true},
		{"eid, plain upstream", []string{orgs.SignInEID}, []string{"fed"}, false},
		{"eid, eID broker", []string{orgs.SignInEID}, []string{"fed", "eid"}, true},
		{"second factors are not sign-ins", []string{orgs.SignInPasskey}, []string{"otp", "user", "mfa"}, false},
		{"one of several", []string{orgs.SignInPasskey, orgs.SignInFederated}, []string{"fed"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := orgs.Settings{SignInMethods: tc.methods}
			if got := s.AllowsSignIn(tc.amr); got != tc.want {
				t.Errorf("AllowsSignIn(%v) with %v = %v, want %v", tc.amr, tc.methods, got, tc.want)
			}
		})
	}
}

func TestHasPolicy(t *testing.T) {
	for _, tc := range []struct {
		s    orgs.Settings
		want bool
	}{
		{orgs.Settings{}, false},
		{orgs.Settings{AutoJoin: true, SSOProvider: "okta"}, false},
		{orgs.Settings{RequireMFA: true}, true},
		{orgs.Settings{MinACR: "urn:portvakt:loa:substantial"}, true},
		{orgs.Settings{SignInMethods: []string{orgs.SignInPasskey}}, true},
	} {
		if got := tc.s.HasPolicy(); got != tc.want {
			t.Errorf("HasPolicy(%+v) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
