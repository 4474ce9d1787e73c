package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portvakt/portvakt/internal/request"
	"github.com/portvakt/portvakt/internal/server"
)

// probe is a surface that reports what the handler saw.
type probe struct {
	seenIP string
	seenID string
}

func (p *probe) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) {
		p.seenIP = request.ClientIP(r.Context()).String()
		p.seenID = request.ID(r.Context())
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
}

func newServer(t *testing.T, issuer string, mutate func(*server.Config)) (*httptest.Server, *probe) {
	t.Helper()
	u, _ := url.Parse(issuer)
	cfg := server.Config{Issuer: u, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), MaxRequestBytes: 1024}
	if mutate != nil {
		mutate(&cfg)
	}
	p := &probe{}
	s, err := server.New(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, p
}

func get(t *testing.T, rawURL string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
		wantHSTS     bool
	}{
		{"http issuer", "http://localhost:8080", false},
		{"https issuer", "https://id.example.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _ := newServer(t, tc.issuer, nil)
			for _, path := range []string{"/healthz", "/probe", "/no-such-page"} {
				res := get(t, ts.URL+path, nil)
				h := res.Header
				if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
					t.Errorf("%s: CSP = %q, want default-src and frame-ancestors 'none'", path, csp)
				}
				for k, want := range map[string]string{
					"X-Content-Type-Options": "nosniff",
					"X-Frame-Options":        "DENY",
					"Referrer-Policy":        "no-referrer",
				} {
					if got := h.Get(k); got != want {
						t.Errorf("%s: %s = %q, want %q", path, k, got, want)
					}
				}
				if got := h.Get("Strict-Transport-Security") != ""; got != tc.wantHSTS {
					t.Errorf("%s: HSTS present = %v, want %v", path, got, tc.wantHSTS)
				}
				if h.Get("X-Request-ID") == "" {
					t.Errorf("%s: no X-Request-ID", path)
				}
			}
		})
	}
}

func TestClientIPAndRequestID(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		header  map[string]string
		wantIP  string
		wantID  string // "" means any generated ID
	}{
		{"no proxy configured ignores headers", nil,
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "abc"}, "127.0.0.1", ""},
		{"trusted proxy is believed", []netip.Prefix{loopback},
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "abc-123"}, "203.0.113.9", "abc-123"},
		{"forged left-most hop is skipped", []netip.Prefix{loopback, netip.MustParsePrefix("10.0.0.0/8")},
			map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3"}, "203.0.113.9", ""},
		{"malformed hop stops the walk", []netip.Prefix{loopback},
			map[string]string{"X-Forwarded-For": "not-an-ip"}, "127.0.0.1", ""},
		{"request ID with bad characters is replaced", []netip.Prefix{loopback},
			map[string]string{"X-Request-ID": "<script>"}, "127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, p := newServer(t, "http://localhost", func(c *server.Config) { c.TrustedProxies = tc.trusted })
			res := get(t, ts.URL+"/probe", tc.header)
			if p.seenIP != tc.wantIP {
				t.Errorf("client IP = %q, want %q", p.seenIP, tc.wantIP)
			}
			if tc.wantID != "" && p.seenID != tc.wantID {
				t.Errorf("request ID = %q, want %q", p.seenID, tc.wantID)
			}
			if tc.wantID == "" && (p.seenID == "" || p.seenID == tc.header["X-Request-ID"]) {
				t.Errorf("request ID = %q, want a generated one", p.seenID)
			}
			if got := res.Header.Get("X-Request-ID"); got != p.seenID {
				t.Errorf("X-Request-ID header = %q, want %q", got, p.seenID)
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	var readyErr error
	ts, _ := newServer(t, "http://localhost", func(c *server.Config) {
		c.Ready = func(context.Context) error { return readyErr }
	})
	if res := get(t, ts.URL+"/readyz", nil); res.StatusCode != http.StatusOK {
		t.Errorf("ready: status %d, want 200", res.StatusCode)
	}
	readyErr = errors.New("database unreachable")
	res := get(t, ts.URL+"/readyz", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "database unreachable") {
		t.Errorf("not ready: status %d body %s, want 503 naming the reason", res.StatusCode, body)
	}
	if res := get(t, ts.URL+"/healthz", nil); res.StatusCode != http.StatusOK {
		t.Errorf("healthz while not ready: status %d, want 200", res.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	ts, _ := newServer(t, "http://localhost", nil)
	for _, tc := range []struct {
		name string
		size int
		want int
	}{
		{"under the limit", 1000, http.StatusOK},
		{"over the limit", 5000, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Post(ts.URL+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", tc.size)))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}

func TestPanicBecomes500AndServerLivesOn(t *testing.T) {
	ts, _ := newServer(t, "http://localhost", nil)
	if res := get(t, ts.URL+"/panic", nil); res.StatusCode != http.StatusInternalServerError {
		t.Errorf("panic: status %d, want 500", res.StatusCode)
	}
	if res := get(t, ts.URL+"/healthz", nil); res.StatusCode != http.StatusOK {
		t.Errorf("after panic: status %d, want 200", res.StatusCode)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	ts, _ := newServer(t, "http://localhost", nil)
	get(t, ts.URL+"/probe", nil)
	get(t, ts.URL+"/nothing-here", nil)
	res := get(t, ts.URL+"/metrics", nil)
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`portvakt_http_requests_total{code="200",method="GET",route="GET /probe"} 1`,
		`portvakt_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	u, _ := url.Parse("http://localhost")
	release := make(chan struct{})
	started := make(chan struct{})
	slow := mounter(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			io.WriteString(w, "done")
		})
	})
	s, err := server.New(server.Config{Issuer: u}, slow)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel() // as on SIGTERM
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want done", body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

type mounter func(*http.ServeMux)

func (m mounter) Mount(mux *http.ServeMux) { m(mux) }
