package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// ada is the personal information of a test user, as accounts passes it:
// email, its local part, given and family name.
var ada = []string{"ada.lovelace@example.com", "ada.lovelace", "Ada", "Lovelace"}

// runes returns a password of exactly n code points that zxcvbn scores well.
func runes(t *testing.T, n int) string {
	t.Helper()
	s := strings.Repeat("violet kettle morning drum sings under a copper lantern at dusk! ", 3)
	s = string([]rune(s)[:n])
	if got := utf8.RuneCountInString(s); got != n {
		t.Fatalf("runes(%d): got %d code points", n, got)
	}
	return s
}

func TestPolicyCheck(t *testing.T) {
	def := Policy{ProductName: "Portvakt"}
	tests := []struct {
		name     string
		policy   Policy
		password string
		personal []string
		want     Reason // "" for accepted
	}{
		{"empty", def, "", ada, ReasonTooShort},
		{"7 characters", def, "kettle!", ada, ReasonTooShort},
		{"8 characters", def, "k3ttle!?", nil, ""},
		{"passphrase", def, "correct horse battery staple", ada, ""},
		{"hyphenated passphrase", def, "violet-kettle-morning-drum", ada, ""},
		{"64 characters", def, runes(t, 64), ada, ""},
		{"128 characters", def, runes(t, 128), ada, ""},
		{"129 characters", def, runes(t, 129), ada, ReasonTooLong},
		{"64 at a maximum of 64", Policy{MaxLength: 64}, runes(t, 64), nil, ""},
		{"65 at a maximum of 64", Policy{MaxLength: 64}, runes(t, 65), nil, ReasonTooLong},
		{"12 at a minimum of 15", Policy{MinLength: 15}, "k3ttle!?drums", nil, ReasonTooShort},
		{"common: password1", def, "password1", ada, ReasonTooCommon},
		{"common: qwertyuiop", def, "qwertyuiop", ada, ReasonTooCommon},
		{"common: 12345678", def, "12345678", ada, ReasonTooCommon},
		{"common: l33t", def, "P@ssw0rd", ada, ReasonTooCommon},
		{"common: repeated", def, strings.Repeat("a", 20), ada, ReasonTooCommon},
		{"common accepted without score check", Policy{MinScore: -1}, "password1", nil, ""},
		{"email local part and digit", def, "ada.lovelace1", ada, ReasonPersonalInfo},
		{"local part without dot", def, "AdaLovelace#1", ada, ReasonPersonalInfo},
		{"family name", def, "Lovelace1815!", ada, ReasonPersonalInfo},
		{"family name in a phrase", def, "lovelace-forever-and-ever", ada, ReasonPersonalInfo},
		{"whole email", def, "ada.lovelace@example.com", ada, ReasonPersonalInfo},
		{"given name and digits", def, "ada-2024!x", ada, ReasonPersonalInfo},
		{"local part parts only", def, "Lovelace-Ada-1815", []string{"ada.lovelace@example.com"}, ReasonPersonalInfo},
		{"product name", def, "portvakt2024", nil, ReasonPersonalInfo},
		{"product name upper case", def, "PORTVAKT-rocks", nil, ReasonPersonalInfo},
		{"other product name", Policy{ProductName: "Acme Shop"}, "acme-shop-2024", nil, ReasonPersonalInfo},
		{"product word inside a longer word", Policy{ProductName: "Acme Shop"}, "shopping-list-banana-tree", nil, ""},
		{"short given name inside words", def, "comet-ada-rides-tonight", ada, ""},
		{"email domain is not personal", def, "example-of-fine-tea-leaves", ada, ""},
		{"two-letter name is ignored", def, "believe-in-kite-flying", []string{"Li"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.password, tc.personal...)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tc.password, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check(%q) = %v, want a *PolicyError with reason %s", tc.password, err, tc.want)
			}
			if pe.Reason != tc.want {
				t.Errorf("Check(%q): got reason %s, want %s", tc.password, pe.Reason, tc.want)
			}
			p := tc.policy.withDefaults()
			if pe.Min != p.MinLength || pe.Max != p.MaxLength {
				t.Errorf("Check(%q): got limits [%d, %d], want [%d, %d]", tc.password, pe.Min, pe.Max, p.MinLength, p.MaxLength)
			}
		})
	}
}

func TestPolicyCheckUnicodeLength(t *testing.T) {
	var p Policy
	tests := []struct {
		name      string
		password  string
		wantShort bool
	}{
		// Each emoji is one code point (four bytes in UTF-8).
		{"8 emoji", "😀😁😂🤣😃😄😅😆", false},
		{"7 emoji", "😀😁😂🤣😃😄😅", true},
		// e + COMBINING ACUTE ACCENT is two code points, one (é) after NFKC.
		{"8 decomposed é (16 code points)", strings.Repeat("e\u0301", 8), false},
		{"7 decomposed é (14 code points)", strings.Repeat("e\u0301", 7), true},
		// The ligature ﬁ is one code point, two (f, i) after NFKC.
		{"4 ligatures ﬁ (8 code points after NFKC)", "\ufb01\ufb01\ufb01\ufb01", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(tc.password)
			var pe *PolicyError
			short := errors.As(err, &pe) && pe.Reason == ReasonTooShort
			if short != tc.wantShort {
				t.Errorf("Check(%q) = %v: got too short %v, want %v", tc.password, err, short, tc.wantShort)
			}
		})
	}
	if err := p.Check("😀😁😂🤣😃😄😅😆"); err != nil {
		t.Errorf("Check(8 emoji) = %v, want nil", err)
	}
}

func TestPolicyStrength(t *testing.T) {
	p := Policy{ProductName: "Portvakt"}
	tests := []struct {
		name     string
		password string
		personal []string
		want     int
	}{
		{"empty", "", nil, 0},
		{"common", "password1", nil, 0},
		{"keyboard walk", "qwertyuiop", nil, 0},
		{"passphrase", "correct horse battery staple", ada, 4},
		{"personal", "AdaLovelace#1", ada, 0},
		{"same without personal words", "AdaLovelace#1", nil, 3},
		{"product name", "portvakt2024", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Strength(tc.password, tc.personal...); got != tc.want {
				t.Errorf("Strength(%q) = %d, want %d", tc.password, got, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantErr bool
	}{
		{"zero", Policy{}, false},
		{"NIST 800-63B-4 single factor", Policy{MinLength: 15, MaxLength: 64}, false},
		{"minimum below 8", Policy{MinLength: 6}, true},
		{"maximum below 64", Policy{MaxLength: 63}, true},
		{"maximum below minimum", Policy{MinLength: 100, MaxLength: 80}, true},
		{"score above 4", Policy{MinScore: 5}, true},
		{"score off", Policy{MinScore: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate(%+v) = %v, want error %v", tc.policy, err, tc.wantErr)
			}
		})
	}
}

// TestReasonIDs pins the reason IDs: translations are keyed by them.
func TestReasonIDs(t *testing.T) {
	tests := []struct {
		reason Reason
		want   string
	}{
		{ReasonTooShort, "too_short"},
		{ReasonTooLong, "too_long"},
		{ReasonTooCommon, "too_common"},
		{ReasonPersonalInfo, "contains_personal_info"},
	}
	for _, tc := range tests {
		e := &PolicyError{Reason: tc.reason, Min: 8, Max: 128}
		if got := e.ReasonID(); got != tc.want {
			t.Errorf("ReasonID() = %q, want %q", got, tc.want)
		}
		if e.Error() == "" {
			t.Errorf("Error() of %s is empty", tc.reason)
		}
	}
}

func TestPolicyCheckInvalidUTF8(t *testing.T) {
	// Invalid bytes count as one replacement character each and must not
	// reach zxcvbn, which scores invalid UTF-8 as 0.
	if err := (Policy{}).Check("violet-kettle-\xff-morning-drum"); err != nil {
		t.Errorf("Check(invalid UTF-8 in a passphrase) = %v, want nil", err)
	}
}
