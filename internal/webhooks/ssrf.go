package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy is where webhooks may be sent. The zero Policy is the production
// one: https only, public addresses only.
type Policy struct {
	// AllowHTTP accepts http:// URLs (development, or a receiver on a
	// trusted network).
	AllowHTTP bool
	// AllowPrivate lets requests reach loopback, private, link-local,
	// shared (CGNAT) and other non-public addresses.
	AllowPrivate bool
}

// ErrAddressRefused means a webhook's host resolved to an address that
// the policy does not let requests reach.
var ErrAddressRefused = errors.New("address refused")

// nonPublic are the ranges refused unless private networks are allowed,
// beyond those netip classifies (loopback, private, link-local,
// multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("fc00::/7"),       // unique local, RFC 4193
	netip.MustParsePrefix("169.254.0.0/16"), // link-local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("255.255.255.255/32"),
}

// Public reports whether ip is a public unicast address: one a webhook
// may reach when private networks are not allowed.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL reports whether a webhook URL is acceptable under the policy.
// Host names are checked again, after resolution, on every connection.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return FieldError{"url", "is not an absolute URL"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return FieldError{"url", "must use https (http is allowed only with webhooks_allow_http)"}
	default:
		return FieldError{"url", "must be an https URL"}
	}
	if u.User != nil {
		return FieldError{"url", "may not carry a user name or password; put credentials in the path or a query parameter"}
	}
	if u.Fragment != "" {
		return FieldError{"url", "may not have a fragment"}
	}
	if p.AllowPrivate {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return FieldError{"url", "names this machine; allowed only with webhooks_allow_private_networks"}
	}
	if ip, err := netip.ParseAddr(host); err == nil && !Public(ip) {
		return FieldError{"url", fmt.Sprintf("%s is not a public address; allowed only with webhooks_allow_private_networks", ip)}
	}
	return nil
}

// control refuses connections to non-public addresses. It runs after DNS
// resolution, on the address actually dialled, so a name that resolves
// (or re-resolves) to a private address is refused too.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read %q", ErrAddressRefused, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrAddressRefused, ap.Addr())
	}
	return nil
}

// schemeGuard refuses plain http unless the policy allows it, also for
// subscriptions made before http was turned off.
type schemeGuard struct {
	allowHTTP bool
	next      http.RoundTripper
}

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !(g.allowHTTP && req.URL.Scheme == "http") {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s URLs are not allowed (webhooks_allow_http)", ErrAddressRefused, req.URL.Scheme)
	}
	return g.next.RoundTrip(req)
}

// Client returns the HTTP client for deliveries: https only unless the
// policy allows http, the policy's dialer, no
// proxy from the environment (a proxy would dial for us, unchecked), the
// timeout for the whole request, and redirects returned as they are,
// never followed.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   min(timeout, 5*time.Second),
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     schemeGuard{allowHTTP: p.AllowHTTP, next: tr},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
