package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/portvakt/portvakt/internal/geoip"
	"github.com/portvakt/portvakt/internal/geoip/geoiptest"
	"github.com/portvakt/portvakt/internal/server"
	"github.com/portvakt/portvakt/internal/storetest"
)

var sessionForm = regexp.MustCompile(`action="/account/sessions/([0-9a-f]{16})/end"`)

// TestSignOutElsewhere: the account page lists where the person is signed
// in, marks this device, and signs out another session or all others —
// never someone else's — each with session.ended.
func TestSignOutElsewhere(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := newStackOn(t, e)
		u := s.createUser("ada@example.com", goodPassword, true)
		other := s.createUser("bo@example.com", goodPassword, true)
		ctx := context.Background()
		phone, laptop, tablet := s.browser(), s.browser(), s.browser()
		phone.header.Set("User-Agent", "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36")
		laptop.header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
		for _, b := range []*browser{phone, laptop, tablet} {
			b.signIn("ada@example.com")
		}
		bo := s.browser()
		bo.signIn("bo@example.com")

		page := laptop.get("/account")
		if !strings.Contains(page.body, "Where you&#39;re signed in") || !strings.Contains(page.body, "This device, now") ||
			!strings.Contains(page.body, "Chrome, Android") || !strings.Contains(page.body, "Firefox, Linux") {
			t.Fatalf("the sessions section:\n%s", page.body)
		}
		ids := sessionForm.FindAllStringSubmatch(page.body, -1)
		if len(ids) != 2 {
			t.Fatalf("%d sessions to sign out, want the 2 others", len(ids))
		}
		token := csrfField.FindStringSubmatch(page.body)[1]

		// Someone else's session, or one that does not exist, is not found.
		boSessions, err := s.store.SessionsOf(ctx, other.ID)
		if err != nil || len(boSessions) != 1 {
			t.Fatalf("Bo's sessions: %v, %v", boSessions, err)
		}
		for _, id := range []string{boSessions[0].IDHash[:16], "0123456789abcdef"} {
			if res := laptop.do(http.MethodPost, "/account/sessions/"+id+"/end", url.Values{"csrf_token": {token}}); res.status != http.StatusNotFound {
				t.Errorf("signing out session %s, not hers: %d, want 404", id, res.status)
			}
		}
		if res := laptop.do(http.MethodPost, "/account/sessions/"+ids[0][1]+"/end", url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("without the form's token: %d, want 403", res.status)
		}

		// One, then the rest.
		res := laptop.do(http.MethodPost, "/account/sessions/"+ids[0][1]+"/end", url.Values{"csrf_token": {token}})
		if res.url != "/account?done=sessions_ended" || len(sessionForm.FindAllStringSubmatch(res.body, -1)) != 1 {
			t.Errorf("after signing out one: %s, %d left", res.url, len(sessionForm.FindAllStringSubmatch(res.body, -1)))
		}
		res = laptop.do(http.MethodPost, "/account/sessions/end-others", url.Values{"csrf_token": {token}})
		if res.url != "/account?done=sessions_ended" || sessionForm.MatchString(res.body) {
			t.Errorf("after signing out the others: %s", res.url)
		}
		for name, b := range map[string]*browser{"phone": phone, "tablet": tablet} {
			if got := b.get("/account"); got.url == "/account" {
				t.Errorf("the %s is still signed in", name)
			}
		}
		if got := laptop.get("/account"); got.url != "/account" {
			t.Errorf("this device was signed out: %s", got.url)
		}
		if got := bo.get("/account"); got.url != "/account" {
			t.Errorf("someone else was signed out: %s", got.url)
		}
		evs := allEventsOf(t, s, "user:"+u.ID)
		ended := 0
		for _, ev := range evs {
			if ev.Type == "session.ended" && strings.Contains(string(ev.Data), "signed_out_elsewhere") {
				ended++
			}
		}
		if ended != 2 {
			t.Errorf("%d session.ended events, want 2", ended)
		}
		list, err := s.store.SessionsOf(ctx, other.ID)
		if err != nil || len(list) != 1 {
			t.Errorf("Bo's sessions: %v, %v", list, err)
		}
	})
}

// TestSessionPlaces: with a database of places, each session shows
// roughly where its address is, in the page's language; a private
// address shows nothing.
func TestSessionPlaces(t *testing.T) {
	s := newStack(t)
	s.createUser("ada@example.com", goodPassword, true)
	db, err := geoip.Open(geoiptest.Write(t, "GeoLite2-City",
		geoiptest.Network{CIDR: "203.0.113.0/24", City: "Stockholm", Country: "SE"},
		geoiptest.Network{CIDR: "198.51.100.0/24", Country: "FI"},
	))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s.pages.Places = db
	// Behind a proxy the server believes, so that browsers can come from
	// public addresses.
	srv, err := server.New(server.Config{Issuer: s.pages.Issuer, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, s.pages)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	proxied := *s
	proxied.url = ts.URL
	for _, ip := range []string{"203.0.113.9", "198.51.100.20", "10.1.2.3"} {
		b := proxied.browser()
		b.header.Set("X-Forwarded-For", ip)
		b.signIn("ada@example.com")
	}
	b := proxied.browser()
	b.header.Set("X-Forwarded-For", "10.1.2.3")
	b.signIn("ada@example.com")
	for _, tc := range []struct{ lang, stockholm, finland string }{
		{"en", "near Stockholm, Sweden", "near Finland"},
		{"sv", "i närheten av Stockholm, Sverige", "i närheten av Finland"},
		{"fi", "Stockholm, Ruotsi (arvio)", "Suomi (arvio)"},
	} {
		b.header.Set("Accept-Language", tc.lang)
		page := b.get("/account")
		for _, want := range []string{tc.stockholm, tc.finland} {
			if !strings.Contains(page.body, want) {
				t.Errorf("%s: the sessions lack %q", tc.lang, want)
			}
		}
		if n := strings.Count(page.body, "<small>10.1.2.3</small> <small>"); n != 0 {
			t.Errorf("%s: a private address has a place", tc.lang)
		}
	}
}
