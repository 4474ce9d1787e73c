package webhooks

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var (
	typeRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	prefixRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$`)
)

// ownPrefix is the prefix of the events about webhooks themselves, which
// are never delivered.
const ownPrefix = "webhook."

// ValidatePatterns checks event type patterns and returns them cleaned:
// trimmed, without duplicates, sorted. A pattern is an exact type
// ("user.created") or a prefix ending in ".*" ("user.*", "membership.*");
// "*" alone matches every type. Patterns for webhook.* events are
// refused: those are never delivered.
func ValidatePatterns(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case p == "*", typeRe.MatchString(p), prefixRe.MatchString(p):
		default:
			return nil, FieldError{"event_types", fmt.Sprintf("%q is not an event type (user.created) or a prefix pattern (user.*)", p)}
		}
		if p == "webhook.*" || strings.HasPrefix(p, ownPrefix) {
			return nil, FieldError{"event_types", fmt.Sprintf("%q: events about webhooks are not delivered to webhooks", p)}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, FieldError{"event_types", "name at least one event type or pattern"}
	}
	slices.Sort(out)
	return out, nil
}

// Matches reports whether an event type is delivered to a subscription
// with patterns. webhook.* events never are.
func Matches(patterns []string, typ string) bool {
	if strings.HasPrefix(typ, ownPrefix) {
		return false
	}
	for _, p := range patterns {
		switch {
		case p == "*", p == typ:
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, p[:len(p)-1]):
			return true
		}
	}
	return false
}
