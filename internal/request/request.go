// Package request owns the facts Portvakt keeps about each HTTP request it
// serves: its ID (on every log line and error page) and the client's real IP
// address (for throttling and the audit trail), taken from X-Forwarded-For
// only when the direct peer is a configured trusted proxy.
package request

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
)

type ctxKey int

const (
	idKey ctxKey = iota
	ipKey
)

// ID returns the request's ID, or "" outside a request.
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey).(string)
	return id
}

// ClientIP returns the client's address, or the zero Addr outside a request.
func ClientIP(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(ipKey).(netip.Addr)
	return ip
}

// WithID returns ctx carrying a request ID; for work that is not an HTTP
// request but should be traceable the same way (a background job).
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey, id)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Identify is middleware that gives each request an ID and finds its
// client IP. An incoming X-Request-ID is kept only from a trusted proxy.
// The ID is echoed in the X-Request-ID response header.
type Identify struct {
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Request-ID headers are believed.
	TrustedProxies []netip.Prefix
}

// Wrap returns next behind the middleware.
func (m Identify) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := peerAddr(r.RemoteAddr)
		trusted := m.trusted(peer)
		id := ""
		if trusted {
			if in := r.Header.Get("X-Request-ID"); idPattern.MatchString(in) {
				id = in
			}
		}
		if id == "" {
			id = newID()
		}
		ip := peer
		if trusted {
			ip = m.forwardedFor(r.Header.Values("X-Forwarded-For"), peer)
		}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(context.WithValue(r.Context(), idKey, id), ipKey, ip)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (m Identify) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range m.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right, past trusted proxies,
// to the first address that is not one: the client as the outermost trusted
// proxy saw it. Addresses further left were written by the client and could
// be forged.
func (m Identify) forwardedFor(headers []string, peer netip.Addr) netip.Addr {
	var hops []string
	for _, h := range headers {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = ip.Unmap()
		if !m.trusted(client) {
			return client
		}
	}
	return client
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// LogHandler is a slog.Handler that adds the request ID of the record's
// context to every line logged with one.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := ID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}
