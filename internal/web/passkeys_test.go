package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/portvakt/portvakt/internal/authn"
)

var (
	optionsRe = regexp.MustCompile(`data-options="([^"]+)"`)
	sealedRe  = regexp.MustCompile(`name="sealed" value="([^"]+)"`)
	passkeyRe = regexp.MustCompile(`<form method="post" action="([^"]+)" data-passkey=`)
)

// withPasskeys turns passkeys on for the stack's issuer, http://localhost.
func (s *stack) withPasskeys() virtualwebauthn.RelyingParty {
	s.t.Helper()
	w, _, err := authn.NewWebAuthn(authn.PasskeyConfig{Issuer: &url.URL{Scheme: "http", Host: "localhost"}, Name: "Portvakt"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.authn.WebAuthn = w
	return virtualwebauthn.RelyingParty{Name: "Portvakt", ID: "localhost", Origin: "http://localhost"}
}

// passkeyForm returns the passkey form's action and options on page.
func passkeyForm(t *testing.T, page response) (string, string) {
	t.Helper()
	a, o := passkeyRe.FindStringSubmatch(page.body), optionsRe.FindStringSubmatch(page.body)
	if a == nil || o == nil {
		t.Fatalf("no passkey form on %s:\n%s", page.url, page.body)
	}
	return htmlUnescape(a[1]), html.UnescapeString(o[1])
}

func TestPasskeyPages(t *testing.T) {
	s := newStack(t)
	rp := s.withPasskeys()
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")

	// Add a passkey from the account page.
	add := b.get("/account/passkeys/new")
	if add.status != http.StatusOK || !strings.Contains(add.body, `<script src="/assets/webauthn.js" defer></script>`) ||
		!strings.Contains(add.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("add-a-passkey page %d: want the script, allowed by the CSP", add.status)
	}
	action, options := passkeyForm(t, add)
	attOpts, err := virtualwebauthn.ParseAttestationOptions(options)
	if err != nil {
		t.Fatal(err)
	}
	auth := virtualwebauthn.NewAuthenticator()
	cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
	token := csrfField.FindStringSubmatch(add.body)[1]
	done := b.do(http.MethodPost, action, url.Values{
		"csrf_token": {token}, "sealed": {sealedRe.FindStringSubmatch(add.body)[1]}, "name": {"Laptop"},
		"credential": {virtualwebauthn.CreateAttestationResponse(rp, auth, cred, *attOpts)},
	})
	if done.url != "/account?done=passkey_added" || !strings.Contains(done.body, "Laptop") {
		t.Fatalf("after adding: %s", done.url)
	}
	auth.Options.UserHandle = []byte(userID(t, s, "ada@example.com"))
	auth.AddCredential(cred)
	b.signOut()

	// Passwordless sign-in; the challenge works once.
	login := b.get("/login")
	if !strings.Contains(login.body, `autocomplete="username webauthn"`) {
		t.Error("the email field does not offer passkeys in its autofill")
	}
	action, options = passkeyForm(t, login)
	asOpts, _ := virtualwebauthn.ParseAssertionOptions(options)
	answer := virtualwebauthn.CreateAssertionResponse(rp, auth, cred, *asOpts)
	token = csrfField.FindStringSubmatch(login.body)[1]
	if acct := b.do(http.MethodPost, action, url.Values{"csrf_token": {token}, "credential": {answer}}); acct.url != "/account" {
		t.Fatalf("passkey sign-in led to %s", acct.url)
	}
	b.signOut()
	if res := b.do(http.MethodPost, action, url.Values{"csrf_token": {token}, "credential": {answer}}); res.status != http.StatusUnauthorized || res.url == "/account" {
		t.Errorf("the same answer again: %d %s, want 401", res.status, res.url)
	}
	other := b.get("/login") // a new flow with a new challenge
	action2, _ := passkeyForm(t, other)
	if res := b.do(http.MethodPost, action2, url.Values{"csrf_token": {token}, "credential": {answer}}); res.status != http.StatusUnauthorized {
		t.Errorf("an old answer to a new challenge: %d, want 401", res.status)
	}
	if res := b.do(http.MethodPost, action2, url.Values{"csrf_token": {"forged"}, "credential": {answer}}); res.status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", res.status)
	}

	// With a password, the passkey is the second step.
	step := b.get(b.signIn("ada@example.com").url)
	if !strings.Contains(step.body, `name="method" value="passkey"`) {
		t.Fatalf("second step without a passkey form:\n%s", step.body)
	}
	action, options = passkeyForm(t, step)
	asOpts, _ = virtualwebauthn.ParseAssertionOptions(options)
	token = csrfField.FindStringSubmatch(step.body)[1]
	if acct := b.do(http.MethodPost, action, url.Values{"csrf_token": {token}, "method": {"passkey"},
		"credential": {virtualwebauthn.CreateAssertionResponse(rp, auth, cred, *asOpts)}}); acct.url != "/account" {
		t.Fatalf("passkey as the second step led to %s", acct.url)
	}

	// Remove it: only one's own, by its ID.
	acct := b.get("/account")
	m := regexp.MustCompile(`action="(/account/passkeys/[0-9a-f]+/remove)"`).FindStringSubmatch(acct.body)
	if m == nil {
		t.Fatal("no remove button on the account page")
	}
	token = csrfField.FindStringSubmatch(acct.body)[1]
	intruder := s.browser()
	s.createUser("eve@example.com", goodPassword, true)
	intruder.signIn("eve@example.com")
	eveToken := csrfField.FindStringSubmatch(intruder.get("/account").body)[1]
	intruder.do(http.MethodPost, m[1], url.Values{"csrf_token": {eveToken}})
	if !strings.Contains(b.get("/account").body, "Laptop") {
		t.Fatal("another user removed Ada's passkey")
	}
	if res := b.do(http.MethodPost, m[1], url.Values{"csrf_token": {token}}); !strings.Contains(res.body, "The passkey was removed") || strings.Contains(res.body, "Laptop") {
		t.Errorf("after removal: %s", res.url)
	}
}

func userID(t *testing.T, s *stack, email string) string {
	t.Helper()
	u, err := s.store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
