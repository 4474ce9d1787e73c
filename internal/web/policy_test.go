package web_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/orgs"
)

// TestPolicyNotice: the sign-in page asked for by an organization's
// policy names the organization and the ways it allows, in the person's
// language; without a policy of ways, it says nothing of the kind.
func TestPolicyNotice(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	ways := []string{orgs.SignInPassword, orgs.SignInPasskey, orgs.SignInEmailCode}
	if _, err := s.pages.Orgs.UpdateOrganization(context.Background(), w.acme.ID, orgs.Change{SignInMethods: &ways}, "system:test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang, org, want string
	}{
		{"en", w.acme.ID, "Acme Oy asks its members to sign in with a password, a code sent by email or a passkey."},
		{"sv", w.acme.ID, "Acme Oy kräver att medlemmarna loggar in med ett lösenord, en kod som skickas via e-post eller en passkey."},
		{"fi", w.acme.ID, "Acme Oy edellyttää, että sen jäsenet kirjautuvat salasanalla, sähköpostiin lähetettävällä koodilla tai pääsyavaimella."},
		{"en", w.beta.ID, ""},
		{"en", "no-such-org", ""},
	} {
		t.Run(tc.lang+"/"+tc.org, func(t *testing.T) {
			q := url.Values{"return_to": {"/account"}, "ui_locales": {tc.lang}, "org": {tc.org}}
			res := s.browser().get("/login?" + q.Encode())
			body := html.UnescapeString(res.body)
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("the sign-in page does not say %q:\n%s", tc.want, body)
			}
			if tc.want == "" && strings.Contains(body, `class="notice"`) {
				t.Errorf("a notice without a policy of ways:\n%s", body)
			}
			if !strings.Contains(body, `name="password"`) {
				t.Error("no sign-in form")
			}
		})
	}
}
