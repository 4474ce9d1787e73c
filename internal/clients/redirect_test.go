package clients

import (
	"slices"
	"strings"
	"testing"
)

var (
	webRedirects = []string{
		"https://app.example.com/cb",
		"https://app.example.com/cb?mode=popup",
		"http://localhost:3000/cb",
		"http://127.0.0.1:4000/cb",
	}
	nativeRedirects = []string{
		"http://127.0.0.1/cb",
		"http://[::1]:8080/cb?x=1",
		"http://localhost:7000/cb",
		"com.example.app:/oauth",
		"https://app.example.com/native",
	}
)

func TestMatchRedirectURI(t *testing.T) {
	tests := []struct {
		name      string
		app       ApplicationType
		requested string
		want      bool
	}{
		{"exact", ApplicationTypeWeb, "https://app.example.com/cb", true},
		{"exact with query", ApplicationTypeWeb, "https://app.example.com/cb?mode=popup", true},
		{"exact localhost", ApplicationTypeWeb, "http://localhost:3000/cb", true},
		{"native loopback on its registered port", ApplicationTypeNative, "http://[::1]:8080/cb?x=1", true},
		{"native loopback without a port", ApplicationTypeNative, "http://127.0.0.1/cb", true},
		{"native loopback on any port", ApplicationTypeNative, "http://127.0.0.1:51234/cb", true},
		{"native IPv6 loopback on another port", ApplicationTypeNative, "http://[::1]:1/cb?x=1", true},
		{"native IPv6 loopback without a port", ApplicationTypeNative, "http://[::1]/cb?x=1", true},
		{"native private-use scheme", ApplicationTypeNative, "com.example.app:/oauth", true},
		{"native claimed https", ApplicationTypeNative, "https://app.example.com/native", true},

		{"empty", ApplicationTypeWeb, "", false},
		{"suffix: trailing slash", ApplicationTypeWeb, "https://app.example.com/cb/", false},
		{"suffix: longer path", ApplicationTypeWeb, "https://app.example.com/cbx", false},
		{"suffix: deeper path", ApplicationTypeWeb, "https://app.example.com/cb/evil", false},
		{"prefix", ApplicationTypeWeb, "https://app.example.com/c", false},
		{"suffix on the host", ApplicationTypeWeb, "https://app.example.com.evil.example/cb", false},
		{"registered URI inside another", ApplicationTypeWeb, "https://evil.example/https://app.example.com/cb", false},
		{"sub-domain", ApplicationTypeWeb, "https://evil.app.example.com/cb", false},
		{"host in upper case", ApplicationTypeWeb, "https://APP.example.com/cb", false},
		{"scheme in upper case", ApplicationTypeWeb, "HTTPS://app.example.com/cb", false},
		{"path in upper case", ApplicationTypeWeb, "https://app.example.com/CB", false},
		{"dot segments after", ApplicationTypeWeb, "https://app.example.com/cb/../evil", false},
		{"dot segments before", ApplicationTypeWeb, "https://app.example.com/evil/../cb", false},
		{"encoded dot segments", ApplicationTypeWeb, "https://app.example.com/cb/%2e%2e/evil", false},
		{"encoded path", ApplicationTypeWeb, "https://app.example.com/%63b", false},
		{"backslash", ApplicationTypeWeb, "https://app.example.com\\@evil.example/cb", false},
		{"userinfo before", ApplicationTypeWeb, "https://app.example.com@evil.example/cb", false},
		{"userinfo good@evil", ApplicationTypeWeb, "https://good.example@evil.example/", false},
		{"userinfo on the registered host", ApplicationTypeWeb, "https://evil@app.example.com/cb", false},
		{"extra query", ApplicationTypeWeb, "https://app.example.com/cb?x=1", false},
		{"extra query parameter", ApplicationTypeWeb, "https://app.example.com/cb?mode=popup&next=https://evil.example", false},
		{"empty query", ApplicationTypeWeb, "https://app.example.com/cb?", false},
		{"fragment", ApplicationTypeWeb, "https://app.example.com/cb#frag", false},
		{"empty fragment", ApplicationTypeWeb, "https://app.example.com/cb#", false},
		{"web: default port written out", ApplicationTypeWeb, "https://app.example.com:443/cb", false},
		{"web: other port", ApplicationTypeWeb, "https://app.example.com:8443/cb", false},
		{"web: localhost on another port", ApplicationTypeWeb, "http://localhost:3001/cb", false},
		{"web: loopback on another port", ApplicationTypeWeb, "http://127.0.0.1:4001/cb", false},
		{"web: loopback without its port", ApplicationTypeWeb, "http://127.0.0.1/cb", false},
		{"web: http for https", ApplicationTypeWeb, "http://app.example.com/cb", false},

		{"native: trailing slash", ApplicationTypeNative, "http://127.0.0.1:5000/cb/", false},
		{"native: longer path", ApplicationTypeNative, "http://127.0.0.1:5000/cbx", false},
		{"native: path in upper case", ApplicationTypeNative, "http://127.0.0.1:5000/CB", false},
		{"native: dot segments", ApplicationTypeNative, "http://127.0.0.1:5000/cb/../evil", false},
		{"native: extra query", ApplicationTypeNative, "http://127.0.0.1:5000/cb?x=1", false},
		{"native: missing query", ApplicationTypeNative, "http://[::1]:5000/cb", false},
		{"native: other query", ApplicationTypeNative, "http://[::1]:5000/cb?x=2", false},
		{"native: fragment", ApplicationTypeNative, "http://127.0.0.1:5000/cb#x", false},
		{"native: userinfo after the port", ApplicationTypeNative, "http://127.0.0.1:5000@evil.example/cb", false},
		{"native: userinfo before the host", ApplicationTypeNative, "http://evil@127.0.0.1:5000/cb", false},
		{"native: backslash", ApplicationTypeNative, "http://127.0.0.1:5000\\@evil.example/cb", false},
		{"native: longer host", ApplicationTypeNative, "http://127.0.0.1.evil.example/cb", false},
		{"native: longer host with port", ApplicationTypeNative, "http://127.0.0.1.evil.example:5000/cb", false},
		{"native: other loopback address", ApplicationTypeNative, "http://127.0.0.2:5000/cb", false},
		{"native: IPv6 for IPv4", ApplicationTypeNative, "http://[::1]:5000/cb", false},
		{"native: https on loopback", ApplicationTypeNative, "https://127.0.0.1:5000/cb", false},
		{"native: scheme in upper case", ApplicationTypeNative, "HTTP://127.0.0.1:5000/cb", false},
		{"native: port 0", ApplicationTypeNative, "http://127.0.0.1:0/cb", false},
		{"native: port too large", ApplicationTypeNative, "http://127.0.0.1:65536/cb", false},
		{"native: port too long", ApplicationTypeNative, "http://127.0.0.1:123456/cb", false},
		{"native: empty port", ApplicationTypeNative, "http://127.0.0.1:/cb", false},
		{"native: signed port", ApplicationTypeNative, "http://127.0.0.1:+80/cb", false},
		{"native: localhost on another port", ApplicationTypeNative, "http://localhost:7001/cb", false},
		{"native: private-use scheme with slash", ApplicationTypeNative, "com.example.app:/oauth/", false},
		{"native: private-use scheme with authority", ApplicationTypeNative, "com.example.app://oauth", false},
		{"native: private-use scheme in upper case", ApplicationTypeNative, "COM.EXAMPLE.APP:/oauth", false},
		{"native: https on another port", ApplicationTypeNative, "https://app.example.com:8443/native", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registered := webRedirects
			if tc.app == ApplicationTypeNative {
				registered = nativeRedirects
			}
			if got := MatchRedirectURI(registered, tc.requested, tc.app); got != tc.want {
				t.Errorf("MatchRedirectURI(%q, %s): got %v, want %v", tc.requested, tc.app, got, tc.want)
			}
		})
	}
}

// The registered URIs themselves pass validation: the test above matches
// against what could be registered.
func TestRegisteredRedirectsAreValid(t *testing.T) {
	for _, r := range webRedirects {
		if code, msg := checkRedirectURI(r, ApplicationTypeWeb); code != "" {
			t.Errorf("web %q: %s", r, msg)
		}
	}
	for _, r := range nativeRedirects {
		if code, msg := checkRedirectURI(r, ApplicationTypeNative); code != "" {
			t.Errorf("native %q: %s", r, msg)
		}
	}
}

// FuzzMatchRedirectURI checks the matcher's promise on any input: a web
// client's match is an exact one, and a native client's other matches
// differ from a registered loopback URI only in a port of digits.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range append(slices.Clone(webRedirects), nativeRedirects...) {
		f.Add(s)
	}
	for _, s := range []string{"http://127.0.0.1:5000/cb", "http://[::1]:1/cb?x=1", "http://127.0.0.1:5000@evil.example/cb", "http://127.0.0.1.evil/cb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, requested string) {
		if MatchRedirectURI(webRedirects, requested, ApplicationTypeWeb) && !slices.Contains(webRedirects, requested) {
			t.Fatalf("web match of %q is not exact", requested)
		}
		if !MatchRedirectURI(nativeRedirects, requested, ApplicationTypeNative) || slices.Contains(nativeRedirects, requested) {
			return
		}
		if strings.ContainsAny(requested, "#@\\") {
			t.Fatalf("native match of %q has #, @ or \\", requested)
		}
		// withoutPort drops the port after a loopback host.
		withoutPort := func(uri, host string) (string, bool) {
			rest, ok := strings.CutPrefix(uri, host)
			if !ok {
				return "", false
			}
			if p, ok := strings.CutPrefix(rest, ":"); ok {
				rest = strings.TrimLeft(p, "0123456789")
			}
			return host + rest, true
		}
		for _, r := range nativeRedirects {
			for _, host := range []string{"http://127.0.0.1", "http://[::1]"} {
				a, ok1 := withoutPort(r, host)
				b, ok2 := withoutPort(requested, host)
				if ok1 && ok2 && a == b {
					return
				}
			}
		}
		t.Fatalf("native match of %q differs from every registered loopback URI in more than its port", requested)
	})
}
