package web_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/privacy"
	"github.com/portvakt/portvakt/internal/storetest"
)

// csrfOf is the CSRF token of a page's forms.
func csrfOf(t *testing.T, r response) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no form on %s:\n%s", r.url, r.body)
	}
	return m[1]
}

// TestYourData: the person reads and downloads everything kept about
// them, after a recent sign-in and with the form's token, only their own;
// and deletes their account, at once without a grace period.
func TestYourData(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		ada := s.createUser("ada@example.com", goodPassword, true)
		s.createUser("bo@example.com", goodPassword, true)
		b := s.browser()
		b.header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
		account := b.signIn("ada@example.com")
		if !strings.Contains(account.body, `href="/account/data"`) {
			t.Fatalf("the account page does not lead to the data page:\n%s", account.body)
		}
		page := b.get("/account/data")
		if page.status != http.StatusOK || !strings.Contains(page.body, "Download my data (JSON)") || !strings.Contains(page.body, "Delete my account") ||
			!strings.Contains(page.body, "deleted at once") {
			t.Fatalf("data page: %d\n%s", page.status, page.body)
		}
		token := csrfOf(t, page)

		// The download: an attachment that no cache keeps, of Ada's data only.
		res := b.do(http.MethodPost, "/account/data/export", url.Values{"csrf_token": {token}})
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") ||
			res.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(res.header.Get("Content-Disposition"), `attachment; filename="my-data-2026-11-25.json"`) {
			t.Fatalf("download: %d %v", res.status, res.header)
		}
		var x privacy.Export
		if err := json.Unmarshal([]byte(res.body), &x); err != nil {
			t.Fatalf("download: %v\n%s", err, res.body)
		}
		if x.Format != privacy.Format || x.User.ID != ada.ID || x.User.Email != "ada@example.com" || len(x.Sessions) != 1 ||
			x.Sessions[0].UserAgent != b.header.Get("User-Agent") || strings.Contains(res.body, "bo@example.com") {
			t.Errorf("download holds %+v", x.User)
		}
		if res := b.do(http.MethodPost, "/account/data/export", url.Values{}); res.status != http.StatusForbidden || strings.Contains(res.body, ada.ID) {
			t.Errorf("download without the form's token: %d", res.status)
		}
		view := b.get("/account/data/view")
		if view.status != http.StatusOK || !strings.Contains(view.body, "Everything kept about you") || !strings.Contains(view.body, "ada@example.com") ||
			!strings.Contains(view.body, "user.login_succeeded") || view.header.Get("Cache-Control") != "no-store" {
			t.Errorf("view: %d\n%s", view.status, view.body)
		}
		exported := 0
		for _, ev := range allEventsOf(t, s, "user:"+ada.ID) {
			if ev.Type == "user.exported" && ev.Actor == "user:"+ada.ID {
				exported++
			}
		}
		if exported != 2 {
			t.Errorf("%d user.exported events, want 2 (the download and the view)", exported)
		}
		if sv := b.get("/account/data?lang=sv"); !strings.Contains(sv.body, "Radera mitt konto") || !strings.Contains(sv.body, "Ladda ned mina uppgifter (JSON)") {
			t.Errorf("the data page in Swedish:\n%s", sv.body)
		}
		b.get("/account/data?lang=en")

		// Another person sees their own data, never Ada's.
		bo := s.browser()
		bo.signIn("bo@example.com")
		boPage := bo.get("/account/data")
		if res := bo.do(http.MethodPost, "/account/data/export", url.Values{"csrf_token": {csrfOf(t, boPage)}}); strings.Contains(res.body, "ada@example.com") ||
			!strings.Contains(res.body, "bo@example.com") {
			t.Errorf("Bo's download:\n%s", res.body)
		}

		// Nobody signed in: to the sign-in page, nothing given away.
		anon := s.browser()
		login := anon.get("/login")
		for _, r := range []response{anon.get("/account/data"), anon.get("/account/data/view"),
			anon.do(http.MethodPost, "/account/data/export", url.Values{"csrf_token": {csrfOf(t, login)}})} {
			if !strings.HasPrefix(r.url, "/login") || strings.Contains(r.body, "ada@example.com") {
				t.Errorf("anonymous: at %s", r.url)
			}
		}

		// A sign-in older than 15 minutes: sign in again, then back here.
		s.advance(16 * time.Minute)
		stale := b.get("/account/data")
		if !strings.HasPrefix(stale.url, "/login") {
			t.Fatalf("stale sign-in: at %s, want the sign-in page", stale.url)
		}
		if res := b.do(http.MethodPost, "/account/data/export", url.Values{"csrf_token": {token}}); !strings.HasPrefix(res.url, "/login") {
			t.Errorf("download with a stale sign-in: at %s", res.url)
		}
		back := b.submit(stale, map[string]string{"email": "ada@example.com", "password": goodPassword})
		if back.url != "/account/data" {
			t.Fatalf("after signing in again: at %s, want /account/data", back.url)
		}

		// Deleting needs the box ticked and the form's token.
		refused := b.do(http.MethodPost, "/account/data/delete", url.Values{"csrf_token": {token}})
		if refused.status != http.StatusUnprocessableEntity || !strings.Contains(refused.body, "Tick the box") || !strings.Contains(refused.body, `aria-invalid="true"`) {
			t.Errorf("delete without confirming: %d\n%s", refused.status, refused.body)
		}
		if res := b.do(http.MethodPost, "/account/data/delete", url.Values{"confirm": {"yes"}}); res.status != http.StatusForbidden {
			t.Errorf("delete without the form's token: %d", res.status)
		}
		if _, err := s.store.UserByID(t.Context(), ada.ID); err != nil {
			t.Fatalf("the account after refused deletions: %v", err)
		}
		done := b.do(http.MethodPost, "/account/data/delete", url.Values{"csrf_token": {token}, "confirm": {"yes"}})
		if done.url != "/account/deleted" || !strings.Contains(done.body, "Your account is deleted") {
			t.Fatalf("after deleting: at %s\n%s", done.url, done.body)
		}
		if _, err := s.store.UserByID(t.Context(), ada.ID); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("the account after deleting it: %v", err)
		}
		if got := b.get("/account"); !strings.HasPrefix(got.url, "/login") {
			t.Errorf("still signed in: %s", got.url)
		}
		again := s.browser()
		if res := again.signIn("ada@example.com"); res.status != http.StatusUnauthorized {
			t.Errorf("signing in to the deleted account: %d at %s", res.status, res.url)
		}
		if res := bo.get("/account"); res.url != "/account" {
			t.Errorf("Bo was signed out: %s", res.url)
		}
	})
}

// TestDeletionCancelledBySigningIn: with a grace period the person is
// signed out everywhere and told the date; signing in within it keeps
// the account, wherever the sign-in was going.
func TestDeletionCancelledBySigningIn(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		s.privacy.GracePeriod = 14 * 24 * time.Hour
		ada := s.createUser("ada@example.com", goodPassword, true)
		laptop, phone := s.browser(), s.browser()
		laptop.signIn("ada@example.com")
		phone.signIn("ada@example.com")
		page := laptop.get("/account/data")
		due := s.clock.Add(14 * 24 * time.Hour).Format("2006-01-02 15:04 UTC")
		if !strings.Contains(page.body, due) || !strings.Contains(page.body, "signing in again cancels") {
			t.Fatalf("the data page does not say when:\n%s", page.body)
		}
		done := laptop.do(http.MethodPost, "/account/data/delete", url.Values{"csrf_token": {csrfOf(t, page)}, "confirm": {"yes"}})
		if !strings.HasPrefix(done.url, "/account/deleted?due=") || !strings.Contains(done.body, due) || !strings.Contains(done.body, `href="/login"`) {
			t.Fatalf("after asking: at %s\n%s", done.url, done.body)
		}
		for name, b := range map[string]*browser{"laptop": laptop, "phone": phone} {
			if got := b.get("/account"); !strings.HasPrefix(got.url, "/login") {
				t.Errorf("the %s is still signed in: %s", name, got.url)
			}
		}
		if _, err := s.privacy.DeletionOf(t.Context(), ada.ID); err != nil {
			t.Fatalf("DeletionOf: %v", err)
		}

		// Signing in keeps the account, with a notice.
		kept := laptop.signIn("ada@example.com")
		if kept.url != "/account?done=deletion_cancelled" || !strings.Contains(kept.body, "will not be deleted after all") {
			t.Fatalf("signing in during the grace period: at %s\n%s", kept.url, kept.body)
		}
		if _, err := s.privacy.DeletionOf(t.Context(), ada.ID); !errors.Is(err, privacy.ErrNotFound) {
			t.Errorf("DeletionOf after signing in: %v", err)
		}
		types := eventTypes(t, s, "user:"+ada.ID)
		for _, want := range []string{"user.deletion_requested", "session.ended", "user.deletion_cancelled"} {
			if !strings.Contains(strings.Join(types, " "), want) {
				t.Errorf("events %v lack %s", types, want)
			}
		}

		// Asked again, and a sign-in on its way elsewhere: told, then on.
		page = laptop.get("/account/data")
		laptop.do(http.MethodPost, "/account/data/delete", url.Values{"csrf_token": {csrfOf(t, page)}, "confirm": {"yes"}})
		login := phone.get("/login?return_to=" + url.QueryEscape("/account/data"))
		res := phone.submit(login, map[string]string{"email": "ada@example.com", "password": goodPassword})
		if !strings.HasPrefix(res.url, "/account/deletion-cancelled?") || !strings.Contains(res.body, "Your account stays") ||
			!strings.Contains(res.body, `href="/account/data"`) {
			t.Errorf("a sign-in going elsewhere: at %s\n%s", res.url, res.body)
		}
		// An open redirect is not made of it.
		if res := phone.get("/account/deletion-cancelled?return_to=" + url.QueryEscape("https://evil.example/")); strings.Contains(res.body, `href="https://evil`) || !strings.Contains(res.body, `class="button" href="/account"`) {
			t.Errorf("the notice links to another site:\n%s", res.body)
		}

		// Asked again and left alone: the sweep erases it when due.
		page = phone.get("/account/data")
		phone.do(http.MethodPost, "/account/data/delete", url.Values{"csrf_token": {csrfOf(t, page)}, "confirm": {"yes"}})
		s.advance(14*24*time.Hour + time.Minute)
		if n, err := s.privacy.Sweep(t.Context(), 10); err != nil || n != 1 {
			t.Fatalf("Sweep: %d, %v", n, err)
		}
		if res := s.browser().signIn("ada@example.com"); res.status != http.StatusUnauthorized {
			t.Errorf("signing in after the erasure: %d at %s", res.status, res.url)
		}
	})
}
