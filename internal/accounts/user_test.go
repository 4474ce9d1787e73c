package accounts_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portvakt/portvakt/internal/accounts"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"ada@example.com",
		" Ada.Lovelace@Example.COM\t",
		"user+tag@sub.example.co.uk",
		"Bob <bob@example.com>",
		`"quoted"@example.com`,
		`"with space"@example.com`,
		"a@b",
		"a@b.c",
		"@example.com",
		"ada@",
		"ada@@example.com",
		"ada@example..com",
		"åsa@exempel.se",
		"ÅSA@EXEMPEL.SE",
		"İ@example.com",
		"\u212a@example.com", // KELVIN SIGN lower-cases to ASCII k
		"ada@example.com (comment)",
		"ada@[127.0.0.1]",
		"",
		" ",
		strings.Repeat("a", 243) + "@example.com",
		strings.Repeat("a", 242) + "@example.com",
		"\xff@example.com",
		// 254 bytes, 255 once lower-cased (Ⱥ is 2 bytes, ⱥ 3).
		"Ⱥ" + strings.Repeat("a", 240) + "@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		norm, err := accounts.NormalizeEmail(email)
		if err != nil {
			var fe accounts.FieldError
			if !errors.As(err, &fe) || fe.Field != "email" || !errors.Is(err, accounts.ErrInvalid) {
				t.Fatalf("NormalizeEmail(%q): got error %#v, want a FieldError of email that is ErrInvalid", email, err)
			}
			if !slices.Contains([]string{"required", "too_long", "invalid"}, fe.Code) {
				t.Fatalf("NormalizeEmail(%q): got code %q, want required, too_long or invalid", email, fe.Code)
			}
			return
		}

		// The unique form is the address trimmed and lower-cased...
		if want := strings.ToLower(strings.TrimSpace(email)); norm != want {
			t.Fatalf("NormalizeEmail(%q): got %q, want %q", email, norm, want)
		}
		// ...a bare address with a domain that has a dot...
		at := strings.LastIndexByte(norm, '@')
		if at < 1 || !strings.Contains(norm[at:], ".") || !utf8.ValidString(norm) {
			t.Fatalf("NormalizeEmail(%q): got %q, want a valid address with a dotted domain", email, norm)
		}
		// ...and normalizing it again changes nothing: look-ups by an
		// already normalized address find the same account.
		again, err := accounts.NormalizeEmail(norm)
		if err != nil || again != norm {
			t.Fatalf("NormalizeEmail(NormalizeEmail(%q) = %q): got %q, %v, want %q, nil", email, norm, again, err, norm)
		}
		// Surrounding white space does not matter.
		if padded, err := accounts.NormalizeEmail(" \t" + email + "\r\n"); err != nil || padded != norm {
			t.Fatalf("NormalizeEmail of %q padded with white space: got %q, %v, want %q, nil", email, padded, err, norm)
		}
		// Nor does case, for ASCII addresses.
		if isASCII(email) {
			if upper, err := accounts.NormalizeEmail(strings.ToUpper(email)); err != nil || upper != norm {
				t.Fatalf("NormalizeEmail(%q): got %q, %v, want %q, nil as for %q", strings.ToUpper(email), upper, err, norm, email)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fieldCodes returns "field.code" of every FieldError in err.
func fieldCodes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe accounts.FieldError
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			if errors.As(err, &fe) {
				out = append(out, fe.Field+"."+fe.Code)
			} else {
				out = append(out, "unexpected: "+err.Error())
			}
		}
	}
	walk(err)
	return out
}

func TestUserValidate(t *testing.T) {
	valid := func() accounts.User {
		return accounts.User{Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace"}
	}
	tests := []struct {
		name   string
		mutate func(*accounts.User)
		want   []string // field.code of every problem, in field order
	}{
		{"valid", func(*accounts.User) {}, nil},
		{"every optional field set", func(u *accounts.User) {
			u.Phone, u.Locale, u.Status, u.ExternalID = "+46701234567", "fi-FI", accounts.StatusDisabled, "crm-1"
			u.Attributes = json.RawMessage(`{"tier":"gold"}`)
		}, nil},
		{"missing email", func(u *accounts.User) { u.Email = "  " }, []string{"email.required"}},
		{"email with display name", func(u *accounts.User) { u.Email = "Ada <ada@example.com>" }, []string{"email.invalid"}},
		{"email without dotted domain", func(u *accounts.User) { u.Email = "ada@localhost" }, []string{"email.invalid"}},
		{"email too long", func(u *accounts.User) { u.Email = strings.Repeat("a", 243) + "@example.com" }, []string{"email.too_long"}},
		{"names of 200 characters", func(u *accounts.User) {
			u.GivenName, u.FamilyName = strings.Repeat("å", 200), strings.Repeat("x", 200)
		}, nil},
		{"given name too long", func(u *accounts.User) { u.GivenName = strings.Repeat("å", 201) }, []string{"given_name.too_long"}},
		{"family name too long", func(u *accounts.User) { u.FamilyName = strings.Repeat("x", 201) }, []string{"family_name.too_long"}},
		{"phone not E.164", func(u *accounts.User) { u.Phone = "070-123 45 67" }, []string{"phone.invalid"}},
		{"phone without plus", func(u *accounts.User) { u.Phone = "46701234567" }, []string{"phone.invalid"}},
		{"phone with leading zero", func(u *accounts.User) { u.Phone = "+0701234567" }, []string{"phone.invalid"}},
		{"phone too short", func(u *accounts.User) { u.Phone = "+46123" }, []string{"phone.invalid"}},
		{"phone too long", func(u *accounts.User) { u.Phone = "+4670123456789012" }, []string{"phone.invalid"}},
		{"language only", func(u *accounts.User) { u.Locale = "sv" }, nil},
		{"locale with underscore", func(u *accounts.User) { u.Locale = "sv_SE" }, []string{"locale.invalid"}},
		{"locale upper case", func(u *accounts.User) { u.Locale = "SV" }, []string{"locale.invalid"}},
		{"unknown status", func(u *accounts.User) { u.Status = "banned" }, []string{"status.invalid"}},
		{"external ID of 255 bytes", func(u *accounts.User) { u.ExternalID = strings.Repeat("x", 255) }, nil},
		{"external ID too long", func(u *accounts.User) { u.ExternalID = strings.Repeat("x", 256) }, []string{"external_id.too_long"}},
		{"attributes an array", func(u *accounts.User) { u.Attributes = json.RawMessage(`[]`) }, []string{"attributes.invalid"}},
		{"attributes null", func(u *accounts.User) { u.Attributes = json.RawMessage(`null`) }, []string{"attributes.invalid"}},
		{"attributes malformed", func(u *accounts.User) { u.Attributes = json.RawMessage(`{"a":`) }, []string{"attributes.invalid"}},
		{"everything wrong at once", func(u *accounts.User) {
			u.Email, u.GivenName, u.Phone, u.Locale, u.Status = "nope", strings.Repeat("x", 201), "123", "x", "gone"
			u.ExternalID, u.Attributes = strings.Repeat("x", 256), json.RawMessage(`1`)
		}, []string{"email.invalid", "given_name.too_long", "phone.invalid", "locale.invalid", "status.invalid", "external_id.too_long", "attributes.invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := valid()
			tt.mutate(&u)
			err := u.Validate()
			if got := fieldCodes(err); !slices.Equal(got, tt.want) {
				t.Fatalf("Validate: got problems %q, want %q (error: %v)", got, tt.want, err)
			}
			if err != nil && !errors.Is(err, accounts.ErrInvalid) {
				t.Errorf("Validate: got %v, want an error that is ErrInvalid", err)
			}
		})
	}
}

func TestUserValidateNormalizes(t *testing.T) {
	u := accounts.User{Email: "  Ada.Lovelace@Example.COM \n"}
	if err := u.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct{ field, got, want string }{
		{"Email", u.Email, "Ada.Lovelace@Example.COM"},
		{"EmailNormalized", u.EmailNormalized, "ada.lovelace@example.com"},
		{"Status", string(u.Status), string(accounts.StatusActive)},
		{"Attributes", string(u.Attributes), "{}"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("after Validate, %s: got %q, want %q", c.field, c.got, c.want)
		}
	}
}

func TestUserValidateInvalidUTF8(t *testing.T) {
	u := accounts.User{Email: "ada@example.com", FamilyName: "Lov\xffelace"}
	err := u.Validate()
	var fe accounts.FieldError
	if !errors.As(err, &fe) || fe.Field != "family_name" {
		t.Fatalf("Validate of a family name that is not UTF-8: got %v, want a FieldError of family_name", err)
	}
	if !strings.Contains(fe.Message, "UTF-8") {
		t.Errorf("Validate of a family name that is not UTF-8: got message %q, want it to say UTF-8", fe.Message)
	}
}
