package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoginCode: sign-in by a code sent by mail, where enabled; the same
// answer for unknown addresses; a code works once; wrong codes run out.
func TestLoginCode(t *testing.T) {
	s := newStack(t)
	u := s.createUser("ada@example.com", goodPassword, false)
	b := s.browser()
	if res := b.get("/login/code"); res.status != http.StatusNotFound {
		t.Fatalf("/login/code while off: %d, want 404", res.status)
	}
	if strings.Contains(b.get("/login").body, "/login/code") {
		t.Error("the sign-in page links to codes while they are off")
	}
	s.pages.EmailCodes = true
	login := b.get("/login")
	link := regexp.MustCompile(`href="(/login/code\?flow=[0-9a-f]+)"`).FindStringSubmatch(login.body)
	if link == nil {
		t.Fatal("no link to sign in with a code")
	}
	page := b.get(link[1])
	sentUnknown := b.submit(b.get("/login/code"), map[string]string{"email": "nobody@example.com"})
	sent := b.submit(page, map[string]string{"email": "ADA@example.com"})
	if sent.status != http.StatusOK || !strings.Contains(sent.body, "If ada@example.com belongs to an account") {
		t.Fatalf("after asking for a code: %d\n%s", sent.status, sent.body)
	}
	if sentUnknown.status != sent.status || !strings.Contains(sentUnknown.body, "If nobody@example.com belongs to an account") {
		t.Errorf("an unknown address is answered differently: %d", sentUnknown.status)
	}
	// The mail consumer would issue the code; here the service does.
	_, code, err := s.accounts.IssueSignInCode(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wrong := b.submit(sent, map[string]string{"code": "000000"}); wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, "That code is wrong") {
		t.Errorf("a wrong code: %d", wrong.status)
	}
	acct := b.submit(sent, map[string]string{"code": code})
	if acct.url != "/account" || !strings.Contains(acct.body, "(verified)") {
		t.Fatalf("the right code led to %s; want the account page, the address now verified", acct.url)
	}
	b.signOut()
	if again := b.submit(sent, map[string]string{"code": code}); again.url == "/account" {
		t.Error("the same code signed in twice")
	}

	// Expired after ten minutes; wrong codes run out (the flow wants a new
	// code, and the account's throttle slows guessing down).
	page = b.get("/login/code")
	sent = b.submit(page, map[string]string{"email": "ada@example.com"})
	_, code, _ = s.accounts.IssueSignInCode(t.Context(), u.ID)
	s.advance(11 * time.Minute)
	if res := b.submit(sent, map[string]string{"code": code}); res.url == "/account" {
		t.Error("an expired code signed in")
	}
	var res response
	for range 5 {
		res = b.submit(sent, map[string]string{"code": "111111"})
	}
	if !strings.Contains(res.body, "Too many wrong codes") && (res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "") {
		t.Errorf("after wrong codes: %d, want them refused\n%s", res.status, res.body)
	}
}
