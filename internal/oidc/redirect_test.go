package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestNativeLoopbackRedirect: a native app's loopback redirect URI matches
// on any port (RFC 8252, section 7.3) and in nothing else: not another
// loopback host, not localhost, not https. Errors are not sent there
// either.
func TestNativeLoopbackRedirect(t *testing.T) {
	s := newStack(t, storetest.SQLite())
	b, _, _ := signedInAt(t, s)
	// Follow redirects on the provider only.
	b.c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.url+"/") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	authorize := func(redirect string, extra ...string) stop {
		q := url.Values{"client_id": {"cli"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {redirect},
			"state": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return b.open("/authorize?" + q.Encode())
	}
	for _, ok := range []string{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", "com.example.cli:/cb"} {
		if p := authorize(ok); p.to == nil || p.to.Query().Get("code") == "" || !strings.HasPrefix(p.to.String(), strings.Replace(ok, "/cb", "/cb?", 1)) {
			t.Errorf("redirect_uri %s: %d at %s (to %v), want a code there", ok, p.status, p.url, p.to)
		}
	}
	for _, bad := range []string{
		"http://localhost:51234/cb", "http://127.0.0.2/cb", "http://127.0.0.0:/cb", "https://127.0.0.1/cb",
		"http://[::1]:51234/cb", "http://127.0.0.1:51234/cb/x", "http://user@127.0.0.1/cb",
	} {
		for _, extra := range [][]string{nil, {"scope", ""}, {"prompt", "none login"}} {
			p := authorize(bad, extra...)
			if p.to != nil || p.status != http.StatusBadRequest {
				t.Errorf("redirect_uri %s with %v: %d (to %v), want 400 and no redirect", bad, extra, p.status, p.to)
			}
		}
	}
	// Parameter names are read regardless of case: a second, differently
	// written redirect_uri cannot slip through.
	q := "client_id=cli&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb") +
		"&Redirect_URI=" + url.QueryEscape("http://localhost/cb") + "&code_challenge=" + challenge + "&code_challenge_method=S256"
	if p := b.open("/authorize?" + q); p.to != nil && !strings.HasPrefix(p.to.String(), "http://127.0.0.1/cb?") {
		t.Errorf("two redirect_uri spellings: redirect to %s", p.to)
	}
}
