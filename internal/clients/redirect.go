package clients

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MatchRedirectURI reports whether requested is one of the registered
// redirect URIs. The comparison is of exact strings: no normalization of
// case, percent-encoding, dot segments, default ports or trailing slashes,
// since every such leniency has been a way around the check. The one
// exception is RFC 8252, section 7.3, for native apps: a loopback URI on an
// IP literal (http://127.0.0.1/path or http://[::1]/path) matches a
// registered loopback URI with the same host, path and query on any port,
// because the app picks a free port when it runs. Web clients get no such
// exception, and "localhost" is matched exactly (RFC 8252, section 8.3).
func MatchRedirectURI(registered []string, requested string, app ApplicationType) bool {
	if requested == "" || strings.ContainsRune(requested, '#') {
		return false
	}
	if slices.Contains(registered, requested) {
		return true
	}
	if app != ApplicationTypeNative {
		return false
	}
	host, rest, ok := splitLoopback(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, ok := splitLoopback(r); ok && h == host && rr == rest {
			return true
		}
	}
	return false
}

// splitLoopback splits an http URI on a loopback IP literal into its host
// and what follows the port: "http://127.0.0.1:8080/cb?x=1" gives
// "127.0.0.1" and "/cb?x=1". It works on the string as written, so that
// what is compared is exactly what the browser will be sent to.
func splitLoopback(uri string) (host, rest string, ok bool) {
	for _, h := range []string{"127.0.0.1", "[::1]"} {
		after, found := strings.CutPrefix(uri, "http://"+h)
		if !found {
			continue
		}
		if p, hasPort := strings.CutPrefix(after, ":"); hasPort {
			n := 0
			for n < len(p) && p[n] >= '0' && p[n] <= '9' {
				n++
			}
			if n == 0 || n > 5 {
				return "", "", false
			}
			if port, _ := strconv.Atoi(p[:n]); port < 1 || port > 65535 {
				return "", "", false
			}
			after = p[n:]
		}
		// The authority must end here: no userinfo ("@"), no longer host
		// name ("127.0.0.1.evil.example"), no fragment.
		if after != "" && after[0] != '/' && after[0] != '?' {
			return "", "", false
		}
		if strings.ContainsAny(after, "#\\") {
			return "", "", false
		}
		return h, after, true
	}
	return "", "", false
}

// checkURIText checks what every URI Portvakt stores must be: not too long,
// printable ASCII (percent-encode the rest), absolute, without fragment or
// userinfo. It returns the parsed URI, or a code and a message.
func checkURIText(raw string) (u *url.URL, code, msg string) {
	switch {
	case raw == "":
		return nil, "invalid", "a URI is empty"
	case len(raw) > maxURILength:
		return nil, "too_long", fmt.Sprintf("%.40q… is longer than %d characters", raw, maxURILength)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= 0x20 || raw[i] >= 0x7f {
			return nil, "invalid", fmt.Sprintf("%q has spaces, control or non-ASCII characters: percent-encode them", raw)
		}
	}
	if strings.ContainsRune(raw, '#') {
		return nil, "fragment", fmt.Sprintf("%q has a fragment (#…), which redirect URIs may not have", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "invalid", fmt.Sprintf("%q is not a valid URI", raw)
	}
	if !u.IsAbs() {
		return nil, "not_absolute", fmt.Sprintf("%q is not an absolute URI", raw)
	}
	if u.User != nil {
		return nil, "userinfo", fmt.Sprintf("%q has a user name (…@), which is not allowed", raw)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && (u.Opaque != "" || u.Hostname() == "") {
		return nil, "invalid", fmt.Sprintf("%q has no host", raw)
	}
	return u, "", ""
}

// checkRedirectURI checks a redirect URI to register for an application of
// type app: https; http only on localhost and loopback addresses; and for
// native apps also private-use schemes named after a domain
// (com.example.app:/callback, RFC 8252, section 7.1).
func checkRedirectURI(raw string, app ApplicationType) (code, msg string) {
	u, code, msg := checkURIText(raw)
	if code != "" {
		return code, msg
	}
	switch u.Scheme {
	case "https":
		return "", ""
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return "", ""
		}
		return "insecure", fmt.Sprintf("%q must use https (http only on localhost and loopback addresses)", raw)
	}
	if app != ApplicationTypeNative {
		return "scheme", fmt.Sprintf("%q must use https: only native apps may use their own URI schemes", raw)
	}
	if !privateUseScheme(u.Scheme) {
		return "scheme", fmt.Sprintf("%q: a native app's own scheme must be a reversed domain name such as com.example.app", raw)
	}
	return "", ""
}

// checkServerURI checks a URI that Portvakt itself calls (a JWKS URI, a
// back-channel logout URI): https, or http on a loopback address for
// development.
func checkServerURI(raw string) (code, msg string) {
	u, code, msg := checkURIText(raw)
	if code != "" {
		return code, msg
	}
	switch {
	case u.Scheme == "https":
		return "", ""
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return "", ""
	}
	return "insecure", fmt.Sprintf("%q must use https (http only on localhost and loopback addresses)", raw)
}

// isLoopbackHost reports whether host (without brackets or port) is
// localhost or a loopback IP address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// privateUseScheme reports whether scheme looks like a reversed domain
// name: at least two non-empty labels. That rules out the schemes that
// mean something to a browser (javascript, data, file, …).
func privateUseScheme(scheme string) bool {
	labels := strings.Split(scheme, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return true
}

// redirectHosts returns the distinct hosts of uris, lower-cased and without
// port; for a private-use scheme, the scheme.
func redirectHosts(uris []string) []string {
	var out []string
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		h := u.Scheme
		if h == "http" || h == "https" {
			h = strings.ToLower(u.Hostname())
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}
