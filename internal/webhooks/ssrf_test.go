package webhooks_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/storetest"
	"github.com/portvakt/portvakt/internal/webhooks"
)

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"93.184.215.14", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"fe80::1", false},
		{"fd00::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
		{"255.255.255.255", false},
	} {
		if got := webhooks.Public(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Public(%s): got %t, want %t", tc.ip, got, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	prod := webhooks.Policy{}
	for _, tc := range []struct {
		name   string
		policy webhooks.Policy
		url    string
		ok     bool
	}{
		{"https", prod, "https://crm.example/hooks?token=x", true},
		{"http refused", prod, "http://crm.example/hooks", false},
		{"http allowed", webhooks.Policy{AllowHTTP: true}, "http://crm.example/hooks", true},
		{"ftp", prod, "ftp://crm.example/", false},
		{"relative", prod, "/hooks", false},
		{"user info", prod, "https://user:pw@crm.example/", false},
		{"loopback literal", prod, "https://127.0.0.1/", false},
		{"private literal", prod, "https://10.0.0.5/", false},
		{"metadata literal", prod, "https://169.254.169.254/latest", false},
		{"IPv6 loopback", prod, "https://[::1]:8443/", false},
		{"localhost", prod, "https://localhost/", false},
		{"private allowed", webhooks.Policy{AllowPrivate: true}, "https://10.0.0.5/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckURL(tc.url)
			if (err == nil) != tc.ok {
				t.Errorf("CheckURL(%q): got %v, want ok %t", tc.url, err, tc.ok)
			}
		})
	}
}

// TestDialerRefusesNonPublicAddresses: the check runs on the address
// dialled, after resolution, before any packet is sent.
func TestDialerRefusesNonPublicAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	client := webhooks.Policy{AllowHTTP: true}.Client(2 * time.Second)
	for _, u := range []string{
		srv.URL,                          // 127.0.0.1
		"http://localhost" + port,        // resolves to loopback
		"http://[::1]" + port,            // IPv6 loopback
		"http://10.0.0.1:9/",             // RFC 1918
		"http://169.254.169.254/latest/", // link-local (cloud metadata)
		"http://100.64.0.1:9/",           // CGNAT
	} {
		res, err := client.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			_ = res.Body.Close()
			t.Errorf("POST %s: got an answer, want the address refused", u)
			continue
		}
		if !errors.Is(err, webhooks.ErrAddressRefused) {
			t.Errorf("POST %s: got %v, want ErrAddressRefused", u, err)
		}
	}
	httpsOnly := webhooks.Policy{AllowPrivate: true}.Client(2 * time.Second)
	if res, err := httpsOnly.Post(srv.URL, "application/json", strings.NewReader("{}")); err == nil {
		_ = res.Body.Close()
		t.Error("an http URL was posted to without webhooks_allow_http")
	} else if !errors.Is(err, webhooks.ErrAddressRefused) {
		t.Errorf("http without webhooks_allow_http: got %v, want ErrAddressRefused", err)
	}
	allowed := webhooks.Policy{AllowHTTP: true, AllowPrivate: true}.Client(2 * time.Second)
	res, err := allowed.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST with private networks allowed: %v", err)
	}
	_ = res.Body.Close()
}

func TestRedirectsAreNotFollowedAndTimeoutsEndAttempts(t *testing.T) {
	f := newFixture(t, storetest.Engine{Name: "sqlite", NewURL: storetest.SQLiteURL})
	var hit atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hit.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	f.disp.Client = local.Client(300 * time.Millisecond)
	r, _ := f.subscribe(redirect.URL, "user.*")
	s, _ := f.subscribe(slow.URL, "user.*")
	f.emit(f.event("user.created", "user:1", nil))
	f.step()
	if hit.Load() != 0 {
		t.Error("the redirect was followed")
	}
	for _, tc := range []struct{ sub, want string }{{r.ID, "redirect (status 307), not followed"}, {s.ID, "timeout"}} {
		ds := f.deliveries(tc.sub, webhooks.StatusPending)
		if len(ds) != 1 || ds[0].LastError != tc.want {
			t.Errorf("delivery: got %+v, want last error %q", ds, tc.want)
		}
	}
}
