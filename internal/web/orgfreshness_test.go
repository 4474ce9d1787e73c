package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/storetest"
)

// memberArticle returns the part of the organization page about email.
func memberArticle(t *testing.T, page response, email string) string {
	t.Helper()
	for _, a := range regexp.MustCompile(`(?s)<article class="member".*?</article>`).FindAllString(page.body, -1) {
		if strings.Contains(a, email) {
			return a
		}
	}
	return ""
}

// TestOrgAdminStaleMembers: the organization page shows each member's
// last confirmation, marks the profiles that may be out of date with a
// count, and lists only those on request; another organization's admin
// sees none of it.
func TestOrgAdminStaleMembers(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e, freshness(year))
		w := s.withOrgs(t)
		ctx := context.Background()
		// A year and a day on, Anna and Bo confirm theirs; Mats does not.
		*s.clock = s.clock.Add(year + 24*time.Hour)
		for _, id := range []string{w.admin, w.betaAdmin} {
			if _, err := s.accounts.ConfirmProfile(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		today := s.clock.Format("2006-01-02")
		b := s.browser()
		if acct := b.signIn("anna@acme.example"); acct.url != "/account" {
			t.Fatalf("Anna's sign-in: at %s", acct.url)
		}
		page := b.get("/org/" + w.acme.ID)
		if page.status != http.StatusOK {
			t.Fatalf("the organization page: %d", page.status)
		}
		if !strings.Contains(page.body, "Profiles that may be out of date: 1 of 2.") {
			t.Errorf("the page lacks the count of stale profiles:\n%s", page.body)
		}
		mats, anna := memberArticle(t, page, "mats@acme.example"), memberArticle(t, page, "anna@acme.example")
		if !strings.Contains(mats, `<span class="badge stale">May be out of date</span>`) || !strings.Contains(mats, "profile never confirmed") {
			t.Errorf("Mats is not marked stale and never confirmed:\n%s", mats)
		}
		if strings.Contains(anna, "May be out of date") || !strings.Contains(anna, "profile confirmed "+today) {
			t.Errorf("Anna is not shown fresh, confirmed %s:\n%s", today, anna)
		}

		only := b.get(link(t, page, "Show only these"))
		if only.status != http.StatusOK || memberArticle(t, only, "mats@acme.example") == "" || memberArticle(t, only, "anna@acme.example") != "" {
			t.Errorf("only the stale: %d, Mats listed %v, Anna listed %v", only.status,
				memberArticle(t, only, "mats@acme.example") != "", memberArticle(t, only, "anna@acme.example") != "")
		}
		if !strings.Contains(only.body, "1 of 2") || link(t, only, "Show everyone") != "/org/"+w.acme.ID {
			t.Error("the filtered list lacks the count or the way back")
		}
		sv := b.get("/org/" + w.acme.ID + "?lang=sv")
		if !strings.Contains(sv.body, "Kan vara inaktuell") || !strings.Contains(sv.body, "Profiler som kan vara inaktuella: 1 av 2.") {
			t.Error("the marks are not in Swedish")
		}

		// Beta's admin: 404, filtered or not.
		bo := s.browser()
		bo.signIn("bo@beta.example")
		for _, path := range []string{"/org/" + w.acme.ID, "/org/" + w.acme.ID + "?stale=1"} {
			if res := bo.get(path); res.status != http.StatusNotFound || strings.Contains(res.body, "mats@acme.example") {
				t.Errorf("Beta's admin at %s: %d", path, res.status)
			}
		}
		// A member who is not an admin: 404 too.
		m := s.browser()
		m.submit(m.signIn("mats@acme.example"), nil) // past the question
		if res := m.get("/org/" + w.acme.ID + "?stale=1"); res.status != http.StatusNotFound {
			t.Errorf("a member who is not an admin: %d, want 404", res.status)
		}
	})
}

// TestOrgAdminFreshnessOff: with freshness off nobody is marked and no
// count is shown; the confirmation dates still are.
func TestOrgAdminFreshnessOff(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	*s.clock = s.clock.Add(10 * year)
	b := s.browser()
	b.signIn("anna@acme.example")
	page := b.get("/org/" + w.acme.ID)
	if page.status != http.StatusOK || strings.Contains(page.body, "May be out of date") || strings.Contains(page.body, "Profiles that may be out of date") {
		t.Errorf("with freshness off: %d, marked or counted", page.status)
	}
	if !strings.Contains(memberArticle(t, page, "mats@acme.example"), "profile never confirmed") {
		t.Error("the confirmation is not shown with freshness off")
	}
}
