package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/storetest"
)

// requestEmailChange asks, from b's account, to change its address to
// addr, and returns the code page.
func (b *browser) requestEmailChange(addr string) response {
	b.s.t.Helper()
	form := b.get("/account/email")
	if form.status != http.StatusOK || form.url != "/account/email" {
		b.s.t.Fatalf("email change page: %d at %s", form.status, form.url)
	}
	return b.submit(form, map[string]string{"email": addr})
}

// changeCode mints the code and link that the mail to addr would carry.
func (s *stack) changeCode(u accounts.User, addr string) (link, code string) {
	s.t.Helper()
	u, err := s.accounts.Store.UserByID(context.Background(), u.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	link, code, err = s.accounts.IssueEmailChange(context.Background(), u, addr)
	if err != nil {
		s.t.Fatal(err)
	}
	return link, code
}

func (s *stack) email(id string) string {
	s.t.Helper()
	u, err := s.accounts.Store.UserByID(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return u.Email
}

// TestChangeEmail: the address changes only with the code sent to the new
// one; the page is the same for a taken address; the undo link restores
// the old one, signs everyone out and leads to a new password.
func TestChangeEmail(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		ada := s.createUser("ada@example.com", goodPassword, true)
		s.createUser("bo@example.com", goodPassword, true)
		b, elsewhere := s.browser(), s.browser()
		acct := b.signIn("ada@example.com")
		elsewhere.signIn("ada@example.com")
		if !strings.Contains(acct.body, `href="/account/email"`) {
			t.Fatalf("the account page has no link to change the address")
		}

		// Mistakes are shown on the form.
		for _, tc := range []struct{ addr, want string }{
			{"ADA@example.com", "That is your address already"},
			{"not-an-address", "Enter an email address"},
		} {
			res := b.requestEmailChange(tc.addr)
			if res.status != http.StatusBadRequest || !strings.Contains(res.body, tc.want) || !strings.Contains(res.body, `aria-invalid="true"`) {
				t.Errorf("requesting %q: %d, want 400 saying %q", tc.addr, res.status, tc.want)
			}
		}

		// A free and a taken address get the same page.
		taken := strip(b.requestEmailChange("bo@example.com"), "bo@example.com")
		sent := b.requestEmailChange("Ada.New@Example.org")
		if sent.status != http.StatusOK || !strings.HasPrefix(sent.url, "/account/email?flow=") || !strings.Contains(sent.body, "We sent an email to Ada.New@Example.org") {
			t.Fatalf("after the request: %d at %s", sent.status, sent.url)
		}
		if free := strip(sent, "Ada.New@Example.org"); free.status != taken.status || free.url != taken.url || free.body != taken.body {
			t.Errorf("a taken and a free address differ:\n%d %s\n%s\n---\n%d %s\n%s", taken.status, taken.url, taken.body, free.status, free.url, free.body)
		}
		if got := eventTypes(t, s, "user:"+ada.ID); slices.Index(got, "user.email_change_requested") < 0 {
			t.Errorf("events: %v, want user.email_change_requested", got)
		}
		if s.email(ada.ID) != "ada@example.com" {
			t.Fatal("the address changed before the code")
		}

		_, code := s.changeCode(ada, "Ada.New@Example.org")
		wrong := b.submit(sent, map[string]string{"code": otherCode(code)})
		if wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "That code is wrong") {
			t.Errorf("a wrong code: %d, want 400 saying so", wrong.status)
		}
		// Another person's browser cannot use the flow.
		bo := s.browser()
		boPage := bo.signIn("bo@example.com")
		action := htmlUnescape(actionRe.FindStringSubmatch(wrong.body)[1])
		if res := bo.do(http.MethodPost, action, url.Values{"csrf_token": {csrfField.FindStringSubmatch(boPage.body)[1]}, "code": {code}}); res.status != http.StatusGone {
			t.Errorf("the code posted to Ada's flow by Bo: %d, want 410", res.status)
		}
		done := b.submit(wrong, map[string]string{"code": code})
		if done.url != "/account?done=email_changed" || !strings.Contains(done.body, "Your email address was changed") || !strings.Contains(done.body, "Ada.New@Example.org") {
			t.Fatalf("after the right code: %s", done.url)
		}
		if got := eventTypes(t, s, "user:"+ada.ID); !slices.Contains(got, "user.email_changed") || !slices.Contains(got, "user.updated") {
			t.Errorf("events: %v, want user.email_changed and user.updated", got)
		}
		if got := elsewhere.get("/account"); got.url != "/account" {
			t.Errorf("a change of address signed the other browser out (%s); only an undo does", got.url)
		}

		// The old address's undo link, opened in a browser not signed in.
		u, _ := s.accounts.Store.UserByID(context.Background(), ada.ID)
		undo, err := s.accounts.IssueEmailUndo(context.Background(), u, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		mailbox := s.browser()
		page := mailbox.get("/account/email/undo?token=" + undo)
		if page.status != http.StatusOK || !strings.Contains(page.body, "Restore my address") || !strings.Contains(page.body, "ada@example.com") {
			t.Fatalf("undo page: %d", page.status)
		}
		if s.email(ada.ID) != "Ada.New@Example.org" {
			t.Fatal("opening the undo link changed the address; only its button may")
		}
		if res := mailbox.do(http.MethodPost, "/account/email/undo", url.Values{"token": {undo}}); res.status != http.StatusForbidden {
			t.Errorf("undo without the form's token: %d, want 403", res.status)
		}
		reset := mailbox.submit(page, nil)
		if reset.status != http.StatusOK || !strings.Contains(reset.body, "is your account&#39;s address again") || !strings.Contains(reset.body, `autocomplete="new-password"`) {
			t.Fatalf("after the undo: %d\n%s", reset.status, reset.body)
		}
		if s.email(ada.ID) != "ada@example.com" {
			t.Errorf("address after the undo: %s", s.email(ada.ID))
		}
		for name, br := range map[string]*browser{"this": b, "the other": elsewhere} {
			if got := br.get("/account"); got.url == "/account" {
				t.Errorf("%s browser is still signed in after the undo", name)
			}
		}
		newPassword := "a-fresh-start-passphrase-7"
		if res := mailbox.submit(reset, map[string]string{"password": newPassword}); res.status != http.StatusOK || !strings.Contains(res.body, "password") {
			t.Fatalf("new password after the undo: %d", res.status)
		}
		if res := mailbox.submit(mailbox.get("/login"), map[string]string{"email": "ada@example.com", "password": newPassword}); res.url != "/account" {
			t.Errorf("sign-in with the restored address and new password: %s", res.url)
		}
		if res := s.browser().get("/account/email/undo?token=" + undo); res.status != http.StatusGone {
			t.Errorf("the undo link again: %d, want 410", res.status)
		}
	})
}

// strip is a response with what differs between two requests replaced:
// the address, flow IDs and CSRF tokens.
func strip(r response, addr string) response {
	r.body = strings.ReplaceAll(r.body, addr, "ADDR")
	r.body = regexp.MustCompile(`[0-9a-f]{24,}`).ReplaceAllString(r.body, "ID")
	r.url = regexp.MustCompile(`[0-9a-f]{24,}`).ReplaceAllString(r.url, "ID")
	r.body = regexp.MustCompile(`value="[A-Za-z0-9_-]{43}"`).ReplaceAllString(r.body, `value="CSRF"`)
	r.header = nil
	return r
}

func TestChangeEmailByLink(t *testing.T) {
	s := newStack(t)
	ada := s.createUser("ada@example.com", goodPassword, true)
	link, _ := s.changeCode(ada, "ada@new.example")
	other := s.browser() // the new mailbox, perhaps on another device
	page := other.get("/account/email/confirm?token=" + link)
	if page.status != http.StatusOK || !strings.Contains(page.body, "ada@new.example") || strings.Contains(page.body, "ada@example.com") {
		t.Fatalf("confirmation page: %d; it must name the new address only", page.status)
	}
	if s.email(ada.ID) != "ada@example.com" {
		t.Fatal("opening the link changed the address; only its button may")
	}
	if res := other.do(http.MethodPost, "/account/email/confirm", url.Values{"token": {link}}); res.status != http.StatusForbidden {
		t.Errorf("without the form's token: %d, want 403", res.status)
	}
	done := other.submit(page, nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, "ada@new.example") || s.email(ada.ID) != "ada@new.example" {
		t.Fatalf("after confirming: %d, address %s", done.status, s.email(ada.ID))
	}
	if again := other.get("/account/email/confirm?token=" + link); again.status != http.StatusGone {
		t.Errorf("the link again: %d, want 410", again.status)
	}

	// Taken meanwhile: refused with a page that says so.
	link, _ = s.changeCode(ada, "carl@example.com")
	s.createUser("carl@example.com", goodPassword, true)
	page = other.get("/account/email/confirm?token=" + link)
	if res := other.submit(page, nil); res.status != http.StatusConflict || s.email(ada.ID) != "ada@new.example" {
		t.Errorf("confirming a taken address: %d, address %s, want 409 and no change", res.status, s.email(ada.ID))
	}
}

func TestChangeEmailNeedsRecentSignIn(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	acct := b.signIn("ada@example.com")
	s.advance(16 * time.Minute)
	login := b.get("/account/email")
	if !strings.HasPrefix(login.url, "/login?") || !strings.Contains(login.body, `value="ada@example.com"`) {
		t.Errorf("the page after 16 minutes: %s, want sign-in with the address filled in", login.url)
	}
	res := b.do(http.MethodPost, "/account/email", url.Values{"csrf_token": {csrfField.FindStringSubmatch(acct.body)[1]}, "email": {"new@example.com"}})
	if !strings.HasPrefix(res.url, "/login?") {
		t.Errorf("a request after 16 minutes: %s, want sign-in", res.url)
	}
	if evs := eventTypes(t, s, "user:"+s.userID("ada@example.com")); slices.Contains(evs, "user.email_change_requested") {
		t.Error("a request without a recent sign-in was written")
	}
	// Signing in again brings the person back to the page.
	if again := b.submit(login, map[string]string{"email": "ada@example.com", "password": goodPassword}); again.url != "/account/email" || again.status != http.StatusOK {
		t.Errorf("after signing in again: %d at %s, want the page", again.status, again.url)
	}
}

func TestChangeEmailThrottles(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	for i := range 4 {
		if res := b.requestEmailChange("new" + string(rune('a'+i)) + "@example.com"); res.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, res.status)
		}
	}
	res := b.requestEmailChange("newer@example.com")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("request past the allowance: %d, want 429 with Retry-After", res.status)
	}
}

func TestUndoEmailChangeExpires(t *testing.T) {
	s := newStack(t)
	ada := s.createUser("ada@example.com", goodPassword, true)
	undo, err := s.accounts.IssueEmailUndo(context.Background(), ada, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s.advance(accounts.UndoEmailChangeTTL)
	if res := s.browser().get("/account/email/undo?token=" + undo); res.status != http.StatusGone || !strings.Contains(res.body, "no longer works") {
		t.Errorf("an expired undo link: %d, want 410 saying so", res.status)
	}
}

func (s *stack) userID(email string) string {
	s.t.Helper()
	u, err := s.accounts.Find(context.Background(), email)
	if err != nil {
		s.t.Fatal(err)
	}
	return u.ID
}
