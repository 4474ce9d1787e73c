package password

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
)

// sha1Hex returns the upper-case hex SHA-1 of s, split as the range API
// splits it.
func sha1Hex(s string) (prefix, suffix string) {
	sum := sha1.Sum([]byte(s))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	return h[:5], h[5:]
}

// rangeServer serves one canned range response for every prefix and keeps
// the requests it was sent.
type rangeServer struct {
	*httptest.Server
	mu    sync.Mutex
	dumps []string
	paths []string
	pads  []string
}

func newRangeServer(t *testing.T, status int, body string) *rangeServer {
	t.Helper()
	s := &rangeServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, err := httputil.DumpRequest(r, true)
		if err != nil {
			t.Errorf("dump request: %v", err)
		}
		s.mu.Lock()
		s.dumps = append(s.dumps, string(dump))
		s.paths = append(s.paths, r.URL.RequestURI())
		s.pads = append(s.pads, r.Header.Get("Add-Padding"))
		s.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns what the server recorded: request dumps, request URIs
// and Add-Padding headers.
func (s *rangeServer) requests() (dumps, paths, pads []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dumps, s.paths, s.pads
}

func TestPwnedChecker(t *testing.T) {
	const breachedPW, unseenPW, paddedPW = "P@ssw0rd", "violet-kettle-morning-drum", "gnarled-otter-pasta-lamp"
	_, breachedSuffix := sha1Hex(breachedPW)
	_, paddedSuffix := sha1Hex(paddedPW)
	// A range response: CRLF lines, one for the breached password, padding
	// lines with count 0 (one of them the padded password's suffix), and a
	// lower-case one, which must match too.
	body := strings.Join([]string{
		"0018A45C4D1DEF81644B54AB7F969B88D65:1",
		strings.ToLower(breachedSuffix) + ":52579",
		paddedSuffix + ":0",
		"00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0",
		"011053FD0102E94D6AE2F8B83D76FAF94F6:3",
	}, "\r\n") + "\r\n"

	tests := []struct {
		name     string
		password string
		minCount int
		want     bool
	}{
		{"breached", breachedPW, 0, true},
		{"breached often enough", breachedPW, 52579, true},
		{"breached too rarely", breachedPW, 52580, false},
		{"not in range", unseenPW, 0, false},
		{"padding line", paddedPW, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRangeServer(t, http.StatusOK, body)
			c := &PwnedChecker{Client: srv.Client(), BaseURL: srv.URL + "/range/", MinCount: tc.minCount}
			got, err := c.Check(t.Context(), tc.password)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tc.want {
				t.Errorf("Check(%q) = %v, want %v", tc.password, got, tc.want)
			}

			prefix, suffix := sha1Hex(tc.password)
			dumps, paths, pads := srv.requests()
			if len(paths) != 1 {
				t.Fatalf("got %d requests, want 1", len(paths))
			}
			if want := "/range/" + prefix; paths[0] != want {
				t.Errorf("got request URI %q, want %q", paths[0], want)
			}
			if pads[0] != "true" {
				t.Errorf("got Add-Padding %q, want %q", pads[0], "true")
			}
			dump := strings.ToUpper(dumps[0])
			for _, secret := range []string{suffix, suffix[:8], strings.ToUpper(tc.password)} {
				if strings.Contains(dump, secret) {
					t.Errorf("request contains %q, want only the prefix %q:\n%s", secret, prefix, dumps[0])
				}
			}
		})
	}
}

func TestPwnedCheckerErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, "oops"},
		{"rate limited", http.StatusTooManyRequests, ""},
		{"not a range response", http.StatusOK, "<html>maintenance</html>"},
		{"bad count", http.StatusOK, "0018A45C4D1DEF81644B54AB7F969B88D65:many\r\n"},
		{"short suffix", http.StatusOK, "0018A45C:1\r\n"},
		{"too large", http.StatusOK, strings.Repeat("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n", maxRangeBody/38+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRangeServer(t, tc.status, tc.body)
			c := &PwnedChecker{Client: srv.Client(), BaseURL: srv.URL + "/range/"}
			if got, err := c.Check(t.Context(), "violet-kettle-morning-drum"); err == nil || got {
				t.Errorf("Check = (%v, %v), want (false, an error)", got, err)
			}
		})
	}
}
