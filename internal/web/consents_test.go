package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/storetest"
)

// termsOnly is what terms_url stands for: one required purpose, terms,
// asked at registration only.
func termsOnly(link string) []consents.Purpose {
	return []consents.Purpose{{ID: "terms", Required: true, RegistrationOnly: true, Title: map[string]string{"en": "Terms of service"},
		Versions: []consents.Version{{Label: "1", Effective: time.Unix(0, 0), URL: map[string]string{"en": link}}}}}
}

// day is midnight UTC of a date.
func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// testPurposes are a deployment's purposes at the stack's clock
// (2026-11-25): terms with version 2 announced for 2026-12-01, a privacy
// notice given as text, marketing mail (optional), and for the webshop
// only its own terms (required) and profiling (optional).
func testPurposes() []consents.Purpose {
	return []consents.Purpose{
		{ID: "terms", Required: true, Title: map[string]string{"en": "Terms of service", "sv": "Användarvillkor"},
			Versions: []consents.Version{
				{Label: "1", Effective: day("2026-01-01"), URL: map[string]string{"en": "https://example.com/terms/1", "sv": "https://example.com/sv/villkor/1"}},
				{Label: "2", Effective: day("2026-12-01"), URL: map[string]string{"en": "https://example.com/terms/2"}},
			}},
		{ID: "privacy", Required: true, Title: map[string]string{"en": "Privacy notice"},
			Versions: []consents.Version{{Label: "2026-01", Effective: day("2026-01-01"), Text: map[string]string{"en": "We keep your address <b>safe</b>.\nAsk us anything."}}}},
		{ID: "marketing_email", Title: map[string]string{"en": "News and offers by email"}, Description: map[string]string{"en": "At most once a week."},
			Versions: []consents.Version{{Label: "1", Effective: day("2026-01-01"), URL: map[string]string{"en": "/marketing"}}}},
		{ID: "webshop_terms", Required: true, Clients: []string{"webshop"}, Title: map[string]string{"en": "Webshop terms of sale"},
			Versions: []consents.Version{{Label: "1", Effective: day("2026-01-01"), URL: map[string]string{"en": "https://shop.example.com/terms"}}}},
		{ID: "profiling", Clients: []string{"webshop"}, Title: map[string]string{"en": "Recommendations from your orders"},
			Versions: []consents.Version{{Label: "1", Effective: day("2026-01-01"), URL: map[string]string{"en": "https://shop.example.com/profiling"}}}},
	}
}

// consents is a consents service on the stack's store and clock.
func (s *stack) consents(ps []consents.Purpose) *consents.Service {
	s.t.Helper()
	if err := consents.Validate(ps, *s.clock); err != nil {
		s.t.Fatal(err)
	}
	return &consents.Service{Purposes: ps, Store: s.store, Now: func() time.Time { return *s.clock }}
}

// appNames names the webshop.
type appNames map[string]string

func (a appNames) AppName(_ context.Context, id string) (string, bool, error) {
	n, ok := a[id]
	return n, ok, nil
}

// expectReceipts checks userID's receipts, oldest first, each as
// purpose:version:action:channel:method (and :client when there is one).
func expectReceipts(t *testing.T, s *stack, userID string, want ...string) {
	t.Helper()
	rs, err := s.store.ConsentReceipts(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		g := fmt.Sprintf("%s:%s:%s:%s:%s", r.Purpose, r.Version, r.Action, r.Channel, r.Method)
		if r.ClientID != "" {
			g += ":" + r.ClientID
		}
		if r.Actor != "user:"+userID {
			g += ":" + r.Actor
		}
		got = append(got, g)
	}
	if !slices.Equal(got, want) {
		t.Errorf("receipts:\n got %q\nwant %q", got, want)
	}
}

// register registers email on the form with the consents ticked.
func (b *browser) register(email string, ticked map[string]string) response {
	b.s.t.Helper()
	values := map[string]string{"email": email, "password": goodPassword}
	for k, v := range ticked {
		values["consent_"+k] = v
	}
	return b.submit(b.get("/registration"), values)
}

// TestRegistrationConsents: the form asks for the required purposes (to
// be ticked) and offers the optional ones, unticked; the application's
// own purposes are not on it. Without a required one nothing is created;
// with them, the account comes with a receipt and an event per purpose
// ticked, which name no address.
func TestRegistrationConsents(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		s.pages.Consents = s.consents(testPurposes())
		b := s.browser()
		form := b.get("/registration")
		for _, want := range []string{
			`name="consent_terms" type="checkbox" value="1" required aria-invalid="false"`,
			`name="consent_privacy" type="checkbox" value="2026-01" required`,
			`name="consent_marketing_email" type="checkbox" value="1" aria-describedby="consent-marketing_email-hint"`,
			`href="https://example.com/terms/1"`, "I have read and accept: Terms of service",
			"We keep your address &lt;b&gt;safe&lt;/b&gt;.", "At most once a week.", "<legend>Optional",
		} {
			if !strings.Contains(form.body, want) {
				t.Errorf("the registration form lacks %s", want)
			}
		}
		for _, not := range []string{"webshop_terms", "profiling", "checked", "https://example.com/terms/2"} {
			if strings.Contains(form.body, not) {
				t.Errorf("the registration form has %s", not)
			}
		}
		// Only the terms ticked; the privacy notice ticked for a version
		// it no longer has.
		bad := b.submit(form, map[string]string{"email": "rita@example.com", "password": goodPassword, "consent_terms": "1", "consent_privacy": "2025-01"})
		if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `<span class="field-error" id="consent-privacy-error">Accept this to create an account.</span>`) ||
			!strings.Contains(bad.body, `value="1" required checked`) || strings.Contains(bad.body, `id="consent-terms-error"`) {
			t.Fatalf("registration without the privacy notice = %d\n%s", bad.status, bad.body)
		}
		if n := countUsers(t, s); n != 0 {
			t.Fatalf("%d users after a refused registration", n)
		}
		ok := b.submit(bad, map[string]string{"email": "rita@example.com", "password": goodPassword, "consent_terms": "1", "consent_privacy": "2026-01", "consent_marketing_email": "1"})
		if ok.status != http.StatusOK || !strings.HasPrefix(ok.url, "/verification") {
			t.Fatalf("registration = %d %s", ok.status, ok.url)
		}
		u, err := s.store.UserByEmail(t.Context(), "rita@example.com")
		if err != nil {
			t.Fatal(err)
		}
		expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox",
			"marketing_email:1:granted:registration:checkbox")
		evs := allEventsOf(t, s, "user:"+u.ID)
		if got := eventTypes(t, s, "user:"+u.ID); !slices.Equal(got[:4], []string{"user.registered", "consent.granted", "consent.granted", "consent.granted"}) {
			t.Errorf("events %v", got)
		}
		rs, _ := s.store.ConsentReceipts(t.Context(), u.ID)
		var data map[string]any
		if err := json.Unmarshal(evs[3].Data, &data); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"purpose": "marketing_email", "version": "1", "channel": "registration", "client_id": "", "method": "checkbox"}
		if fmt.Sprint(data) != fmt.Sprint(want) || evs[3].UUID != rs[2].ID || evs[3].Actor != "user:"+u.ID {
			t.Errorf("consent.granted %s by %s (UUID %s, receipt %s)", evs[3].Data, evs[3].Actor, evs[3].UUID, rs[2].ID)
		}
		// The address had an account: the page answers the same, and the
		// account's consents are not touched.
		again := s.browser().register("rita@example.com", map[string]string{"terms": "1", "privacy": "2026-01"})
		if again.status != http.StatusOK || !strings.HasPrefix(again.url, "/verification") {
			t.Errorf("a registration of a taken address = %d %s", again.status, again.url)
		}
		expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox",
			"marketing_email:1:granted:registration:checkbox")
	})
}

// TestInvitationConsents: the invitation's registration form asks the
// same, and its receipts name the invitation channel.
func TestInvitationConsents(t *testing.T) {
	s := newStack(t)
	w := s.withOrgs(t)
	inv, _ := s.withInvitations(t)
	s.pages.Consents = s.consents(testPurposes())
	_, token, err := inv.InviteWithLink(t.Context(), orgs.Invitation{OrgID: w.acme.ID, Email: "ines@acme.example"}, false, "system:test")
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	users := countUsers(t, s)
	form := b.get("/invitation?token=" + url.QueryEscape(token))
	if !strings.Contains(form.body, `name="consent_terms"`) || !strings.Contains(form.body, `name="consent_marketing_email"`) {
		t.Fatalf("the invitation form lacks the consents:\n%s", form.body)
	}
	bad := b.submit(form, map[string]string{"password": goodPassword, "consent_terms": "1"})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "Accept this to create an account.") || countUsers(t, s) != users {
		t.Fatalf("without the privacy notice = %d, %d users", bad.status, countUsers(t, s))
	}
	done := b.submit(bad, map[string]string{"password": goodPassword, "consent_terms": "1", "consent_privacy": "2026-01"})
	if done.url != "/account?done=org_joined" {
		t.Fatalf("after registering: %s (%d)", done.url, done.status)
	}
	u, _ := s.store.UserByEmail(t.Context(), "ines@acme.example")
	expectReceipts(t, s, u.ID, "terms:1:granted:invitation:checkbox", "privacy:2026-01:granted:invitation:checkbox")
}

// TestNewVersionAtSignIn: once a required purpose's new version takes
// effect, the next sign-in stops at the page that shows it, with what was
// accepted before; accepting records it (channel sign_in) and goes on to
// return_to — never to another site; the next sign-in goes straight on.
func TestNewVersionAtSignIn(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		s.pages.Consents = s.consents(testPurposes())
		s.browser().register("olle@example.com", map[string]string{"terms": "1", "privacy": "2026-01"})
		u, _ := s.store.UserByEmail(t.Context(), "olle@example.com")
		b := s.browser()
		if got := b.signIn("olle@example.com"); got.url != "/account" {
			t.Fatalf("sign-in with every version accepted: %s", got.url)
		}
		*s.clock = day("2026-12-02")
		b = s.browser()
		page := b.signIn("olle@example.com")
		if page.url != "/consent/update?return_to=%2Faccount" || page.status != http.StatusOK {
			t.Fatalf("sign-in after version 2: %s (%d)", page.url, page.status)
		}
		for _, want := range []string{"Before you continue", "Terms of service", "Version 2, in effect from 2026-12-01", "You accepted version 1 on 2026-11-25.",
			`href="https://example.com/terms/2"`, `name="accept_terms" value="2"`, "Accept and continue", "Decline and sign out", `action="/logout"`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
		if strings.Contains(page.body, "Privacy notice") || strings.Contains(page.body, "consent_marketing_email") {
			t.Error("the page asks for what is accepted or decided already")
		}
		// The account pages are not for applications: only the provider's
		// check holds them back (tested in the provider).
		if got, _ := s.pages.Pending(t.Context(), u.ID, "", "/authorize/callback?id=x"); got != "/consent/update?return_to=%2Fauthorize%2Fcallback%3Fid%3Dx" {
			t.Errorf("the provider's check: %q", got)
		}
		// Without a CSRF token: nothing.
		if res := b.do(http.MethodPost, "/consent/update", url.Values{"accept_terms": {"2"}}); res.status != http.StatusForbidden {
			t.Errorf("without CSRF = %d", res.status)
		}
		// The version the page showed must be the one in effect.
		stale := b.submit(page, map[string]string{"accept_terms": "1"})
		if stale.status != http.StatusConflict || !strings.Contains(stale.body, "The documents changed") {
			t.Errorf("accepting another version = %d", stale.status)
		}
		expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox")
		done := b.submit(page, nil)
		if done.url != "/account" {
			t.Fatalf("after accepting: %s", done.url)
		}
		expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox",
			"terms:2:granted:sign_in:button")
		if got := s.browser().signIn("olle@example.com"); got.url != "/account" {
			t.Errorf("the next sign-in: %s", got.url)
		}
		if got := b.get("/consent/update?return_to=%2Faccount%3Fdone%3Dx"); got.url != "/account?done=x" {
			t.Errorf("the page with nothing to accept: %s, want return_to", got.url)
		}

		// return_to is followed only to a path on this server.
		*s.clock = day("2026-12-03")
		s.pages.Consents.Purposes[0].Versions = append(s.pages.Consents.Purposes[0].Versions,
			consents.Version{Label: "3", Effective: day("2026-12-03"), URL: map[string]string{"en": "https://example.com/terms/3"}})
		b = s.browser()
		if got := b.signIn("olle@example.com"); !strings.HasPrefix(got.url, "/consent/update") {
			t.Fatalf("sign-in after version 3: %s", got.url)
		}
		for _, evil := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
			page := b.get("/consent/update?return_to=" + url.QueryEscape(evil))
			if !strings.Contains(page.body, `name="return_to" value="/account"`) {
				t.Errorf("the page keeps return_to %q", evil)
			}
		}
		page = b.get("/consent/update?return_to=" + url.QueryEscape("https://evil.example/"))
		form := url.Values{"csrf_token": {csrfField.FindStringSubmatch(page.body)[1]}, "accept_terms": {"3"}, "return_to": {"https://evil.example/"}}
		if done := b.do(http.MethodPost, "/consent/update", form); done.url != "/account" {
			t.Errorf("after accepting with an outside return_to: %s", done.url)
		}
	})
}

// TestApplicationsOwnPurposes: a purpose limited to an application is
// asked when the person goes to it: the provider's check finds it, the
// page names the application and offers its optional purposes unticked,
// and the receipts name it.
func TestApplicationsOwnPurposes(t *testing.T) {
	s := newStack(t)
	s.pages.Consents = s.consents(testPurposes())
	s.pages.AppNames = appNames{"webshop": "Webshop"}
	b := s.browser()
	b.register("pia@example.com", map[string]string{"terms": "1", "privacy": "2026-01"})
	u, _ := s.store.UserByEmail(t.Context(), "pia@example.com")
	if got := b.signIn("pia@example.com"); got.url != "/account" {
		t.Fatalf("sign-in: %s", got.url)
	}
	next := "/authorize/callback?id=abc"
	if got, _ := s.pages.Pending(t.Context(), u.ID, "", next); got != "" {
		t.Errorf("for the service as a whole: %q", got)
	}
	stop, err := s.pages.Pending(t.Context(), u.ID, "webshop", next)
	if err != nil || stop != "/consent/update?client_id=webshop&return_to=%2Fauthorize%2Fcallback%3Fid%3Dabc" {
		t.Fatalf("for the webshop: %q, %v", stop, err)
	}
	page := b.get(stop)
	for _, want := range []string{"Webshop needs you to accept these", "Webshop terms of sale", `name="client_id" value="webshop"`,
		`name="consent_profiling" type="checkbox" value="1" aria-describedby`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// An unknown application is not recorded.
	if other := b.get("/consent/update?client_id=nope"); other.url != "/account" {
		t.Errorf("for an unknown application: %s", other.url)
	}
	done := b.submit(page, map[string]string{"consent_profiling": "1"})
	if done.url != next {
		t.Fatalf("after accepting: %s", done.url)
	}
	expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox",
		"webshop_terms:1:granted:sign_in:button:webshop", "profiling:1:granted:sign_in:checkbox:webshop")
	if got, _ := s.pages.Pending(t.Context(), u.ID, "webshop", next); got != "" {
		t.Errorf("after accepting, for the webshop: %q", got)
	}
}

// TestPrivacyPage: the account links the privacy page, which shows each
// purpose with where the person stands; an optional one is withdrawn and
// given again with one button each (receipts and events, channel
// account); a required one cannot be withdrawn there, only its current
// version accepted; a form without CSRF or for an unknown purpose does
// nothing.
func TestPrivacyPage(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		s.pages.Consents = s.consents(testPurposes())
		s.pages.AppNames = appNames{"webshop": "Webshop"}
		b := s.browser()
		b.register("ada@example.com", map[string]string{"terms": "1", "privacy": "2026-01", "marketing_email": "1"})
		u, _ := s.store.UserByEmail(t.Context(), "ada@example.com")
		acct := b.signIn("ada@example.com")
		if !strings.Contains(acct.body, `href="/account/privacy"`) {
			t.Fatalf("the account page does not link the privacy page:\n%s", acct.body)
		}
		page := b.get("/account/privacy")
		for _, want := range []string{"Privacy and consents", "Given: version 1, 2026-11-25", "Version 2 takes effect on 2026-12-01.",
			`href="https://example.com/terms/2"`, `aria-label="Withdraw consent: News and offers by email"`, "Concerns: Webshop",
			`href="/account/data"`, "Your consent history", "Given: News and offers by email, version 1", "When you registered"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the privacy page lacks %s", want)
			}
		}
		if strings.Contains(page.body, `/account/privacy/terms/withdraw`) || strings.Contains(page.body, `/account/privacy/privacy/withdraw`) {
			t.Error("a required purpose can be withdrawn on the page")
		}
		csrf := csrfField.FindStringSubmatch(page.body)[1]
		post := func(path string, form url.Values) response {
			if form == nil {
				form = url.Values{}
			}
			form.Set("csrf_token", csrf)
			return b.do(http.MethodPost, path, form)
		}
		if res := b.do(http.MethodPost, "/account/privacy/marketing_email/withdraw", url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("without CSRF = %d", res.status)
		}
		done := post("/account/privacy/marketing_email/withdraw", nil)
		if done.url != "/account/privacy?done=consent_withdrawn" || !strings.Contains(done.body, "Your consent was withdrawn.") ||
			!strings.Contains(done.body, "Withdrawn on 2026-11-25 (version 1)") || !strings.Contains(done.body, `aria-label="Give consent: News and offers by email"`) {
			t.Fatalf("after withdrawing: %s\n%s", done.url, done.body)
		}
		// Withdrawing what is withdrawn writes nothing.
		post("/account/privacy/marketing_email/withdraw", nil)
		evs := allEventsOf(t, s, "user:"+u.ID)
		last := evs[len(evs)-1]
		if last.Type != "consent.withdrawn" || !strings.Contains(string(last.Data), `"channel":"account"`) || strings.Contains(string(last.Data), "ada@") {
			t.Errorf("the last event %s %s", last.Type, last.Data)
		}
		if res := post("/account/privacy/marketing_email/grant", url.Values{"version": {"0"}}); res.url != "/account/privacy?done=consent_changed" {
			t.Errorf("giving another version: %s", res.url)
		}
		if res := post("/account/privacy/marketing_email/grant", url.Values{"version": {"1"}}); res.url != "/account/privacy?done=consent_given" {
			t.Errorf("giving: %s", res.url)
		}
		if res := post("/account/privacy/terms/withdraw", nil); res.url != "/account/privacy?done=consent_required" || !strings.Contains(res.body, "delete your account") {
			t.Errorf("withdrawing the terms: %s", res.url)
		}
		if res := post("/account/privacy/nope/withdraw", nil); res.status != http.StatusNotFound {
			t.Errorf("an unknown purpose = %d", res.status)
		}
		if res := post("/account/privacy/marketing_email/erase", nil); res.status != http.StatusNotFound {
			t.Errorf("an unknown action = %d", res.status)
		}
		// An application's own purpose can be given here too.
		if res := post("/account/privacy/profiling/grant", url.Values{"version": {"1"}}); res.url != "/account/privacy?done=consent_given" {
			t.Errorf("giving profiling: %s", res.url)
		}
		expectReceipts(t, s, u.ID, "terms:1:granted:registration:checkbox", "privacy:2026-01:granted:registration:checkbox",
			"marketing_email:1:granted:registration:checkbox", "marketing_email:1:withdrawn:account:button",
			"marketing_email:1:granted:account:button", "profiling:1:granted:account:button")
		// Signed out: the page asks to sign in first.
		if res := s.browser().get("/account/privacy"); !strings.HasPrefix(res.url, "/login") {
			t.Errorf("signed out: %s", res.url)
		}
	})
}

// TestTermsShorthandNotAtSignIn: terms_url's purpose is asked at
// registration only: a person without its receipt (made by an
// administrator) signs in straight through.
func TestTermsShorthandNotAtSignIn(t *testing.T) {
	s := newStack(t)
	s.pages.Consents = s.consents(termsOnly("/terms"))
	s.createUser("old@example.com", goodPassword, true)
	if got := s.browser().signIn("old@example.com"); got.url != "/account" {
		t.Errorf("sign-in: %s, want the account page", got.url)
	}
}
