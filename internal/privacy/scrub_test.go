package privacy_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/privacy"
)

func scrubber() *privacy.Scrubber {
	return privacy.NewScrubber(privacy.Erasure{
		User: accounts.User{Email: "Ada.Lind@Example.com", EmailNormalized: "ada.lind@example.com", GivenName: "Ada",
			FamilyName: "Lind", Phone: "+46701234567"},
		Addresses: []string{"ada@upstream.example"},
	})
}

func TestScrubberText(t *testing.T) {
	sc := scrubber()
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"ada.lind@example.com", privacy.Erased},
		{"550 <ADA.LIND@EXAMPLE.COM>: no such mailbox", privacy.Erased},
		{"mail to ada@upstream.example bounced", privacy.Erased},
		{"call +46701234567", privacy.Erased},
		{"Ada Lind", privacy.Erased},
		{"  ada ", privacy.Erased},
		{"lind", privacy.Erased},
		// A name alone is looked for as a whole value, never inside text.
		{"Adam Lindqvist", "Adam Lindqvist"},
		{"metadata", "metadata"},
		{"status 503", "status 503"},
		{privacy.Erased, privacy.Erased},
	} {
		got, changed := sc.Text(tc.in)
		if got != tc.want || changed != (tc.in != tc.want) {
			t.Errorf("Text(%q) = %q, %v; want %q", tc.in, got, changed, tc.want)
		}
	}
}

func TestScrubberData(t *testing.T) {
	sc := scrubber()
	for _, tc := range []struct {
		name  string
		in    string
		about bool
		want  string
	}{
		{"old values of a change about the person", `{"changes":{"given_name":{"old":"Adelaide","new":"Ada"},"locale":{"old":"","new":"sv"}}}`, true,
			`{"changes":{"given_name":{"new":"[erased]","old":"[erased]"},"locale":{"new":"sv","old":""}}}`},
		{"the address one signed in from", `{"client_ip":"203.0.113.9","methods":["pwd"],"session":"session:abc"}`, true,
			`{"client_ip":"[erased]","methods":["pwd"],"session":"session:abc"}`},
		{"any key with email in it", `{"old_email":"x@example.net","email_verified":true,"count":3}`, true,
			`{"count":3,"email_verified":true,"old_email":"[erased]"}`},
		{"an organization's event: only the person's values go", `{"email":"ada.lind@example.com","invitation_id":"i1"}`, false,
			`{"email":"[erased]","invitation_id":"i1"}`},
		{"another person's address stays", `{"email":"bo@example.com","name":"Bo"}`, false, ""},
		{"personal keys of someone else's event stay", `{"client_ip":"203.0.113.9"}`, false, ""},
		{"nested in arrays", `{"to":["ada.lind@example.com","bo@example.com"]}`, false, `{"to":["[erased]","bo@example.com"]}`},
		{"big numbers keep their digits", `{"position":12345678901234567890,"email":"ada.lind@example.com"}`, false,
			`{"email":"[erased]","position":12345678901234567890}`},
		{"not JSON: as text", `oops ada.lind@example.com`, true, privacy.Erased},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := sc.Data([]byte(tc.in), tc.about)
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("Data (-want +got):\n%s", diff)
			}
			if changed != (want != tc.in) {
				t.Errorf("changed = %v", changed)
			}
			if tc.want != "" && tc.want != privacy.Erased && !json.Valid(got) {
				t.Errorf("not JSON: %s", got)
			}
		})
	}
}

func TestPersonalKey(t *testing.T) {
	for k, want := range map[string]bool{
		"email": true, "Email": true, "new_email": true, "given_name": true, "phone_number": true, "client_ip": true,
		"user_agent": true, "national_id": true, "locale": false, "session": false, "provider": false, "external_id": false,
	} {
		if got := privacy.PersonalKey(k); got != want {
			t.Errorf("PersonalKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestMaskNationalID(t *testing.T) {
	for in, want := range map[string]string{
		"19121212-1212": "********-1212",
		"121212-1212":   "******-1212",
		"121212A123B":   "*******123B",
		" 1234 ":        "****",
		"12":            "**",
		"":              "",
	} {
		if got := privacy.MaskNationalID(in); got != want {
			t.Errorf("MaskNationalID(%q) = %q, want %q", in, got, want)
		}
	}
}
