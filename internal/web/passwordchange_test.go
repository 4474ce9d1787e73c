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
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/session"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/web"
)

const newPassword = "a-new-and-long-passphrase-5"

// sessionCookie is b's session cookie value, "" without one.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.s.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "portvakt_session" {
			return c.Value
		}
	}
	return ""
}

// TestChangePassword: the current password is needed, a weak new one is
// refused with its reason, wrong ones are throttled as sign-ins are; the
// change signs the other devices out and gives this one a new session.
func TestChangePassword(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		ada := s.createUser("ada@example.com", goodPassword, true)
		b, elsewhere := s.browser(), s.browser()
		acct := b.signIn("ada@example.com")
		elsewhere.signIn("ada@example.com")
		if !strings.Contains(acct.body, `href="/account/password"`) || !strings.Contains(acct.body, "Change password") {
			t.Fatal("the account page has no link to change the password")
		}
		form := b.get("/account/password")
		for _, want := range []string{`autocomplete="current-password"`, `autocomplete="new-password"`, `<label for="current_password">Current password</label>`, `<label for="password">New password</label>`} {
			if !strings.Contains(form.body, want) {
				t.Errorf("the form lacks %s", want)
			}
		}
		if res := b.do(http.MethodPost, "/account/password", url.Values{"current_password": {goodPassword}, "password": {newPassword}}); res.status != http.StatusForbidden {
			t.Errorf("without the form's token: %d, want 403", res.status)
		}
		for _, tc := range []struct {
			name          string
			current, next string
			status        int
			want          string
		}{
			{"no current password", "", newPassword, http.StatusBadRequest, "Enter your current password."},
			{"too common", goodPassword, "password123", http.StatusBadRequest, "This password is too common"},
			{"the same", goodPassword, goodPassword, http.StatusBadRequest, "That is your current password."},
			{"wrong current password", "not-my-password-1", newPassword, http.StatusUnauthorized, "That is not your current password."},
		} {
			res := b.submit(form, map[string]string{"current_password": tc.current, "password": tc.next})
			if res.status != tc.status || !strings.Contains(res.body, tc.want) || !strings.Contains(res.body, `aria-invalid="true"`) {
				t.Errorf("%s: %d, want %d saying %q", tc.name, res.status, tc.status, tc.want)
			}
		}
		if evs := eventTypes(t, s, "user:"+ada.ID); slices.Contains(evs, "password.changed") {
			t.Fatal("a refused change was written")
		}

		before := b.sessionCookie()
		done := b.submit(form, map[string]string{"current_password": goodPassword, "password": newPassword})
		if done.url != "/account?done=password_changed" || !strings.Contains(done.body, "Your password was changed") {
			t.Fatalf("after the change: %s", done.url)
		}
		if after := b.sessionCookie(); after == "" || after == before {
			t.Error("this browser's session ID did not change")
		}
		if _, err := s.store.SessionByHash(context.Background(), session.Hash(before)); err == nil {
			t.Error("the session from before the change lives on")
		}
		if res := elsewhere.get("/account"); res.url == "/account" {
			t.Error("the other browser is still signed in")
		}
		evs := allEventsOf(t, s, "user:"+ada.ID)
		if !hasData(evs, "password.changed", `"via":"account"`) || !hasData(evs, "session.ended", `"reason":"password_changed"`) {
			t.Errorf("events: %v, want password.changed via account and session.ended for the other browser", eventTypes(t, s, "user:"+ada.ID))
		}
		if res := s.browser().signIn("ada@example.com"); res.url == "/account" {
			t.Error("the old password still signs in")
		}
		fresh := s.browser()
		if res := fresh.submit(fresh.get("/login"), map[string]string{"email": "ada@example.com", "password": newPassword}); res.url != "/account" {
			t.Errorf("sign-in with the new password: %s", res.url)
		}
	})
}

func hasData(evs []events.Event, typ, fragment string) bool {
	return slices.ContainsFunc(evs, func(e events.Event) bool { return e.Type == typ && strings.Contains(string(e.Data), fragment) })
}

// TestChangePasswordThrottles: wrong current passwords count as wrong
// sign-ins of the account; past the allowance the page waits.
func TestChangePasswordThrottles(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	form := b.get("/account/password")
	for i := range 6 {
		if res := b.submit(form, map[string]string{"current_password": "guess-number-" + string(rune('a'+i)), "password": newPassword}); res.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, res.status)
		}
	}
	res := b.submit(form, map[string]string{"current_password": goodPassword, "password": newPassword})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("after 6 wrong passwords: %d, want 429 with Retry-After", res.status)
	}
	// The same count holds at the sign-in page.
	if res := s.browser().signIn("ada@example.com"); res.status != http.StatusTooManyRequests {
		t.Errorf("sign-in after 6 wrong passwords on the change page: %d, want 429", res.status)
	}
	s.advance(16 * time.Minute)
	if res := b.submit(b.get("/account/password"), map[string]string{"current_password": goodPassword, "password": newPassword}); res.url != "/account?done=password_changed" {
		t.Errorf("after the wait: %d at %s", res.status, res.url)
	}
}

// TestSetPasswordWithoutOne: someone without a password (they sign in
// with an identity provider or a passkey) sets one after a recent sign-in,
// without being asked for a current one.
func TestSetPasswordWithoutOne(t *testing.T) {
	s := newStack(t)
	ada := s.createUser("ada@example.com", goodPassword, true)
	b := s.browser()
	b.signIn("ada@example.com")
	if _, err := s.store.UpdateUser(context.Background(), ada.ID, func(u accounts.User) (accounts.Change, error) {
		u.PasswordHash = ""
		return accounts.Change{User: u}, nil
	}); err != nil {
		t.Fatal(err)
	}
	acct := b.get("/account")
	if !strings.Contains(acct.body, "Set a password") {
		t.Error("the account page does not offer to set a password")
	}
	form := b.get("/account/password")
	if form.status != http.StatusOK || strings.Contains(form.body, "current_password") || !strings.Contains(form.body, "Set a password") {
		t.Fatalf("the form for a first password: %d", form.status)
	}
	s.advance(16 * time.Minute)
	if res := b.get("/account/password"); !strings.HasPrefix(res.url, "/login") {
		t.Errorf("the form after 16 minutes: %s, want sign-in", res.url)
	}
	if res := b.submit(form, map[string]string{"password": newPassword}); !strings.HasPrefix(res.url, "/login") {
		t.Errorf("setting a password after 16 minutes: %s, want sign-in", res.url)
	}
	s.advance(-16 * time.Minute)
	if res := b.submit(form, map[string]string{"password": newPassword}); res.url != "/account?done=password_changed" {
		t.Fatalf("setting a first password: %d at %s", res.status, res.url)
	}
	fresh := s.browser()
	if res := fresh.submit(fresh.get("/login"), map[string]string{"email": "ada@example.com", "password": newPassword}); res.url != "/account" {
		t.Errorf("sign-in with the password set: %s", res.url)
	}
}

// TestAccountChangePagesAreTranslated: the new account pages in Swedish
// and Finnish, with labels for every input.
func TestAccountChangePagesAreTranslated(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	s.pages.Connections = &fakeConnections{apps: map[string][]web.ConnectedApp{}}
	b := s.browser()
	b.signIn("ada@example.com")
	for _, tc := range []struct{ lang, path, h1 string }{
		{"sv", "/account/email", "Byt din e-postadress"},
		{"fi", "/account/email", "Vaihda sähköpostiosoitteesi"},
		{"sv", "/account/password", "Byt ditt lösenord"},
		{"fi", "/account/password", "Vaihda salasanasi"},
		{"sv", "/account/applications", "Anslutna applikationer"},
		{"fi", "/account/applications", "Yhdistetyt sovellukset"},
	} {
		b.header.Set("Accept-Language", tc.lang)
		res := b.get(tc.path)
		if res.status != http.StatusOK || !strings.Contains(res.body, `<html lang="`+tc.lang+`">`) || !strings.Contains(res.body, "<h1>"+tc.h1+"</h1>") {
			t.Errorf("%s in %s: %d, want <h1>%s</h1>", tc.path, tc.lang, res.status, tc.h1)
		}
		for _, id := range regexp.MustCompile(`<input id="([^"]+)"`).FindAllStringSubmatch(res.body, -1) {
			if !strings.Contains(res.body, `<label for="`+id[1]+`">`) {
				t.Errorf("%s: input %s has no label", tc.path, id[1])
			}
		}
	}
}
