package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/web"
)

const year = 365 * 24 * time.Hour

// freshness turns profile freshness on with maxAge.
func freshness(maxAge time.Duration) func(*web.Handler) {
	return func(h *web.Handler) { h.Accounts.ProfileMaxAge = maxAge }
}

// staleUser makes a user by the back office (never confirmed by the
// person) and moves the clock past maxAge, so that the profile is stale.
func (s *stack) staleUser(email string, maxAge time.Duration) accounts.User {
	s.t.Helper()
	u, err := s.accounts.Create(context.Background(), accounts.NewUser{Email: email, Password: goodPassword, Verified: true, GivenName: "Stina", Phone: "+46701234567"}, "client:crm")
	if err != nil {
		s.t.Fatal(err)
	}
	*s.clock = s.clock.Add(maxAge + time.Hour)
	return u
}

// eventsOf returns the events about u, oldest first.
func (s *stack) eventsOf(u accounts.User) []events.Event {
	s.t.Helper()
	evs, err := s.store.EventsFor(context.Background(), u.Subject(), 100)
	if err != nil {
		s.t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

var linkRe = regexp.MustCompile(`<a (?:class="[^"]*" )?href="([^"]+)"[^>]*>([^<]+)</a>`)

// link returns the href of the page's link with text, or fails.
func link(t *testing.T, page response, text string) string {
	t.Helper()
	for _, m := range linkRe.FindAllStringSubmatch(page.body, -1) {
		if m[2] == text {
			return htmlUnescape(m[1])
		}
	}
	t.Fatalf("no link %q on %s:\n%s", text, page.url, page.body)
	return ""
}

// TestProfileFreshnessConfirm: a sign-in with a stale profile stops at
// "Is this still correct?" on the way to return_to; one press records the
// confirmation (user.profile_confirmed by the person) and lands at
// return_to; the next sign-in goes straight through. The post needs its
// CSRF token.
func TestProfileFreshnessConfirm(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e, freshness(year))
		ctx := context.Background()
		u := s.staleUser("stina@example.com", year)
		b := s.browser()
		next := "/account?lang=fi"
		stop := b.submit(b.get("/login?return_to="+url.QueryEscape(next)), map[string]string{"email": u.Email, "password": goodPassword})
		want := "/account/confirm-profile?return_to=" + url.QueryEscape(next)
		if stop.status != http.StatusOK || stop.url != want {
			t.Fatalf("a stale profile's sign-in: %d at %s, want 200 at %s", stop.status, stop.url, want)
		}
		for _, w := range []string{"<h1>Is this still correct?</h1>", "stina@example.com", "Stina", "&#43;46701234567", "Not given", "Same as my browser",
			"You have not confirmed them before.", ">Yes, this is correct</button>", "We will ask again the next time you sign in."} {
			if !strings.Contains(stop.body, w) {
				t.Errorf("the stop page lacks %q", w)
			}
		}
		if got := link(t, stop, "Not now"); got != next {
			t.Errorf("Not now goes to %q, want %q", got, next)
		}
		checkAccessible(t, stop, "en", "Is this still correct?")
		for lang, h1 := range map[string]string{"sv": "Stämmer det här fortfarande?", "fi": "Ovatko nämä tiedot yhä oikein?"} {
			checkAccessible(t, b.get(stop.url+"&lang="+lang), lang, h1)
		}

		// Without the form token nothing is recorded.
		if res := b.do(http.MethodPost, "/account/confirm-profile?return_to=%2Faccount", url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("a post without the CSRF token: %d, want 403", res.status)
		}
		if got, _ := s.store.UserByID(ctx, u.ID); !got.ProfileConfirmedAt.IsZero() {
			t.Fatal("a post without the CSRF token confirmed the profile")
		}

		done := b.submit(stop, nil)
		if done.status != http.StatusOK || done.url != next || !strings.Contains(done.body, "<h1>Oma tili</h1>") {
			t.Fatalf("after confirming: %d at %s, want the Finnish account page at %s", done.status, done.url, next)
		}
		got, err := s.store.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ProfileConfirmedAt.Equal(*s.clock) || s.accounts.ProfileStale(got) {
			t.Errorf("after confirming: confirmed at %v, want %v and fresh", got.ProfileConfirmedAt, *s.clock)
		}
		evs := s.eventsOf(u)
		last := evs[len(evs)-1]
		var data map[string]any
		_ = json.Unmarshal(last.Data, &data)
		if last.Type != "user.profile_confirmed" || last.Actor != u.Subject() || data["via"] != "confirmation" {
			t.Errorf("the last event: %s by %s with %v; want user.profile_confirmed by %s via confirmation", last.Type, last.Actor, data, u.Subject())
		}

		// Signing in again goes straight through, also a month later.
		*s.clock = s.clock.Add(30 * 24 * time.Hour)
		again := s.browser()
		acct := again.submit(again.get("/login"), map[string]string{"email": u.Email, "password": goodPassword})
		if acct.url != "/account" {
			t.Errorf("the next sign-in: at %s, want /account", acct.url)
		}
		// The page still opens on request, with the date last confirmed.
		if page := again.get("/account/confirm-profile"); page.status != http.StatusOK || !strings.Contains(page.body, "You last confirmed them on "+got.ProfileConfirmedAt.Format("2006-01-02")+".") {
			t.Errorf("the page opened by hand: %d, without the date last confirmed", page.status)
		}
	})
}

// TestProfileFreshnessEdit: "Correct my details" gives the form; mistakes
// come back localized with nothing written; a good save changes the
// fields the person owns (never the CRM's), confirms the profile and
// lands at return_to.
func TestProfileFreshnessEdit(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e, freshness(year))
		ctx := context.Background()
		s.accounts.Owners = accounts.Owners{"family_name": accounts.OwnerCRM}
		u := s.staleUser("erik@example.com", year)
		berg := "Berg"
		if _, err := s.accounts.Update(ctx, u.ID, accounts.Update{FamilyName: &berg}, "", "client:crm"); err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		next := "/account/mfa"
		stop := b.submit(b.get("/login?return_to="+url.QueryEscape(next)), map[string]string{"email": u.Email, "password": goodPassword})
		if !strings.HasPrefix(stop.url, "/account/confirm-profile?") {
			t.Fatalf("a stale profile's sign-in: at %s", stop.url)
		}
		if !strings.Contains(stop.body, "Managed by your account manager — ask them to change it.") {
			t.Error("the CRM-owned family name is not marked as the CRM's")
		}
		form := b.get(link(t, stop, "Correct my details"))
		for _, w := range []string{`<label for="given_name">`, `<label for="phone">`, `<label for="locale">`, ">Save and continue</button>", "Berg", ">Back without changes</a>"} {
			if !strings.Contains(form.body, w) {
				t.Errorf("the form lacks %q", w)
			}
		}
		if strings.Contains(form.body, `name="family_name"`) {
			t.Error("the CRM-owned family name is an input")
		}
		checkAccessible(t, form, "en", "Is this still correct?")
		before := len(s.eventsOf(u))

		bad := b.submit(form, map[string]string{"phone": "555-1234", "given_name": "Erik"})
		if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `id="phone-error"`) || !strings.Contains(bad.body, `value="555-1234"`) {
			t.Fatalf("a bad phone number: %d, want 400 with its error and the typed value", bad.status)
		}
		token := csrfField.FindStringSubmatch(form.body)[1]
		forged := b.do(http.MethodPost, "/account/confirm-profile/edit?return_to=%2Faccount", url.Values{"csrf_token": {token}, "family_name": {"Forged"}})
		if forged.status != http.StatusBadRequest || !strings.Contains(forged.body, `id="family_name-error"`) {
			t.Errorf("a forged change of the CRM-owned field: %d, want 400 with its error", forged.status)
		}
		if got := len(s.eventsOf(u)); got != before {
			t.Errorf("refused saves wrote %d events", got-before)
		}
		if got, _ := s.store.UserByID(ctx, u.ID); !got.ProfileConfirmedAt.IsZero() || got.FamilyName != "Berg" {
			t.Fatalf("after refused saves: confirmed at %v, family name %q", got.ProfileConfirmedAt, got.FamilyName)
		}
		// The error page's language links come back to the form.
		sv := b.get(strings.Replace(bad.url, "/account/confirm-profile/edit?", "/account/confirm-profile/edit?lang=sv&", 1))
		if sv.status != http.StatusOK || !strings.Contains(sv.body, "Spara och fortsätt") || !strings.Contains(sv.url, "edit=1") {
			t.Errorf("the form in Swedish: %d at %s", sv.status, sv.url)
		}

		done := b.submit(form, map[string]string{"given_name": "Erik", "phone": "+46 70 765 43 21", "locale": "sv"})
		if done.url != next {
			t.Fatalf("after saving: at %s, want %s", done.url, next)
		}
		got, _ := s.store.UserByID(ctx, u.ID)
		if got.GivenName != "Erik" || got.Phone != "+46707654321" || got.Locale != "sv" || got.FamilyName != "Berg" || got.ProfileConfirmedAt.Before(*s.clock) {
			t.Errorf("saved: %q %q %q %q confirmed %v", got.GivenName, got.FamilyName, got.Phone, got.Locale, got.ProfileConfirmedAt)
		}
		var types []string
		for _, ev := range s.eventsOf(u)[before:] {
			types = append(types, ev.Type+" by "+ev.Actor)
		}
		if want := []string{"user.updated by " + u.Subject(), "user.profile_confirmed by " + u.Subject()}; strings.Join(types, ", ") != strings.Join(want, ", ") {
			t.Errorf("the save wrote %v, want %v", types, want)
		}
	})
}

// TestProfileFreshnessNoStop: a fresh profile, and any profile with
// freshness off, go straight on; "Not now" records nothing and the
// question comes again at the next sign-in.
func TestProfileFreshnessNoStop(t *testing.T) {
	t.Run("fresh", func(t *testing.T) {
		s := newStackOn(t, sqlite, freshness(year))
		u := s.createUser("new@example.com", goodPassword, true)
		*s.clock = s.clock.Add(year - time.Hour)
		b := s.browser()
		if res := b.signIn(u.Email); res.url != "/account" {
			t.Errorf("a fresh profile's sign-in: at %s, want /account", res.url)
		}
	})
	t.Run("off", func(t *testing.T) {
		s := newStackOn(t, sqlite)
		u := s.staleUser("old@example.com", 10*year)
		b := s.browser()
		if res := b.signIn(u.Email); res.url != "/account" {
			t.Errorf("with freshness off: at %s, want /account", res.url)
		}
	})
	t.Run("not now", func(t *testing.T) {
		s := newStackOn(t, sqlite, freshness(year))
		u := s.staleUser("later@example.com", year)
		b := s.browser()
		stop := b.signIn(u.Email)
		if !strings.HasPrefix(stop.url, "/account/confirm-profile?") {
			t.Fatalf("a stale profile's sign-in: at %s", stop.url)
		}
		if res := b.get(link(t, stop, "Not now")); res.url != "/account" {
			t.Errorf("Not now: at %s, want /account", res.url)
		}
		if got, _ := s.store.UserByID(context.Background(), u.ID); !got.ProfileConfirmedAt.IsZero() {
			t.Error("Not now confirmed the profile")
		}
		again := s.browser()
		if res := again.signIn(u.Email); !strings.HasPrefix(res.url, "/account/confirm-profile?") {
			t.Errorf("the sign-in after Not now: at %s, want the question again", res.url)
		}
	})
}

// TestProfileFreshnessReturnTo: return_to is a local path or nothing; a
// page opened with another site's address goes on to the account page.
func TestProfileFreshnessReturnTo(t *testing.T) {
	s := newStackOn(t, sqlite, freshness(year))
	u := s.staleUser("redirect@example.com", year)
	b := s.browser()
	b.signIn(u.Email)
	for _, evil := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		page := b.get("/account/confirm-profile?return_to=" + url.QueryEscape(evil))
		if page.status != http.StatusOK {
			t.Fatalf("return_to %q: %d", evil, page.status)
		}
		if !strings.Contains(page.body, `action="/account/confirm-profile?return_to=%2Faccount"`) {
			t.Errorf("return_to %q: the form does not go on to /account", evil)
		}
		if got := link(t, page, "Correct my details"); got != "/account/confirm-profile?edit=1&return_to=%2Faccount" {
			t.Errorf("return_to %q: the edit link is %q", evil, got)
		}
		if got := link(t, page, "Not now"); got != "/account" {
			t.Errorf("return_to %q: Not now goes to %q, want /account", evil, got)
		}
	}
	// A forged post with another site's address lands on the account page.
	page := b.get("/account/confirm-profile")
	token := csrfField.FindStringSubmatch(page.body)[1]
	res := b.do(http.MethodPost, "/account/confirm-profile?return_to="+url.QueryEscape("https://evil.example/"), url.Values{"csrf_token": {token}})
	if res.url != "/account?done=profile_confirmed" || !strings.Contains(res.body, "Thank you — your profile is confirmed.") {
		t.Errorf("a post with another site's return_to: at %s, want /account?done=profile_confirmed with its notice", res.url)
	}
	// Signed out, the page sends the browser to sign in and back.
	anon := s.browser()
	if res := anon.get("/account/confirm-profile"); !strings.HasPrefix(res.url, "/login") {
		t.Errorf("signed out: at %s, want the sign-in page", res.url)
	}
	if res := anon.do(http.MethodPost, "/account/confirm-profile", url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("signed out, without a token: %d, want 403", res.status)
	}
}
