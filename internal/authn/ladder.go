package authn

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Default acr values of the ladder, lowest first.
const (
	LoALow         = "urn:portvakt:loa:low"
	LoASubstantial = "urn:portvakt:loa:substantial"
	LoAHigh        = "urn:portvakt:loa:high"
)

// Authentication method references (RFC 8176) that Portvakt records.
const (
	// MethodPassword is a password.
	MethodPassword = "pwd"
	// MethodOTP is a one-time code from an authenticator app (TOTP) or a
	// recovery code.
	MethodOTP = "otp"
	// MethodMFA is added when two or more factors were used.
	MethodMFA = "mfa"
	// MethodHardwareKey is proof of possession of a hardware-bound key
	// (a passkey on a security key or platform authenticator).
	MethodHardwareKey = "hwk"
	// MethodSoftwareKey is proof of possession of a software key.
	MethodSoftwareKey = "swk"
	// MethodUser is user presence and verification (PIN or biometrics) by
	// the authenticator.
	MethodUser = "user"
	// MethodEmail is a one-time code sent by mail. It is not an RFC 8176
	// value (that registry has none for mail); the amr claim carries it
	// as is.
	MethodEmail = "email"
	// MethodFederated is a sign-in at an upstream identity provider
	// ("Continue with …"). Not an RFC 8176 value.
	MethodFederated = "fed"
	// MethodEID marks a sign-in through an identity-proofing provider (a
	// strong eID broker), beside fed. Not an RFC 8176 value.
	MethodEID = "eid"
)

// Level is one rung of the ladder: an acr value, its eIDAS equivalent and
// the combinations of methods that reach it (any one suffices; a
// combination is met when the sign-in used all of its methods).
type Level struct {
	ACR   string     `json:"acr"`
	EIDAS string     `json:"eidas,omitempty"`
	Rules [][]string `json:"rules"`
}

// Ladder is the levels of assurance from lowest to highest. A sign-in
// reaches the highest level one of whose rules its methods meet, and at
// least the lowest level.
type Ladder struct {
	Levels []Level
}

// DefaultLadder is low < substantial < high, mapped to eIDAS: a password
// (or any single factor) is low; a password with an authenticator-app code
// or a passkey, or a user-verifying passkey alone, is substantial; an
// identity proofed by a strong eID together with a phishing-resistant
// factor is high.
func DefaultLadder() Ladder {
	return Ladder{Levels: []Level{
		{ACR: LoALow, EIDAS: "http://eidas.europa.eu/LoA/low", Rules: [][]string{{MethodPassword}}},
		{ACR: LoASubstantial, EIDAS: "http://eidas.europa.eu/LoA/substantial", Rules: [][]string{
			{MethodPassword, MethodOTP}, {MethodPassword, MethodHardwareKey}, {MethodPassword, MethodSoftwareKey},
			{MethodHardwareKey, MethodUser}, {MethodSoftwareKey, MethodUser},
		}},
		{ACR: LoAHigh, EIDAS: "http://eidas.europa.eu/LoA/high", Rules: [][]string{{MethodEID, MethodHardwareKey}}},
	}}
}

// ParseRules reads rules written as "pwd+otp pwd+hwk" (combinations
// separated by spaces or commas, methods joined by "+").
func ParseRules(s string) ([][]string, error) {
	var rules [][]string
	for _, combo := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		methods := strings.Split(combo, "+")
		for _, m := range methods {
			if m == "" || strings.ToLower(m) != m || strings.ContainsAny(m, "\t\n") {
				return nil, fmt.Errorf("%q: methods are lowercase names joined by +, such as pwd+otp", combo)
			}
		}
		rules = append(rules, methods)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no combination of methods given")
	}
	return rules, nil
}

// Validate checks that the ladder has levels with distinct, non-empty acr
// values, each reachable by some rule.
func (l Ladder) Validate() error {
	if len(l.Levels) == 0 {
		return fmt.Errorf("the ladder has no levels")
	}
	seen := map[string]bool{}
	for i, lv := range l.Levels {
		if lv.ACR == "" {
			return fmt.Errorf("level %d has no acr value", i+1)
		}
		if seen[lv.ACR] {
			return fmt.Errorf("acr value %q appears twice", lv.ACR)
		}
		seen[lv.ACR] = true
		if len(lv.Rules) == 0 {
			return fmt.Errorf("level %q has no rule (combination of methods) that reaches it", lv.ACR)
		}
	}
	return nil
}

// ACRs lists the ladder's acr values, lowest first.
func (l Ladder) ACRs() []string {
	out := make([]string, len(l.Levels))
	for i, lv := range l.Levels {
		out[i] = lv.ACR
	}
	return out
}

// Rank is the position of acr on the ladder (0 is the lowest), or -1 for
// a value the ladder does not have.
func (l Ladder) Rank(acr string) int {
	for i, lv := range l.Levels {
		if lv.ACR == acr {
			return i
		}
	}
	return -1
}

// Of returns the level that methods reach.
func (l Ladder) Of(methods []string) string {
	if len(l.Levels) == 0 {
		return ""
	}
	for i := len(l.Levels) - 1; i > 0; i-- {
		if l.Levels[i].reachedBy(methods) {
			return l.Levels[i].ACR
		}
	}
	return l.Levels[0].ACR
}

func (lv Level) reachedBy(methods []string) bool {
	for _, rule := range lv.Rules {
		met := true
		for _, m := range rule {
			if !slices.Contains(methods, m) {
				met = false
				break
			}
		}
		if met {
			return true
		}
	}
	return false
}

// Meets reports whether the level have is at least the level want. An acr
// value the ladder does not know is met by nothing, and asks for nothing.
func (l Ladder) Meets(have, want string) bool {
	w := l.Rank(want)
	if w < 0 {
		return true
	}
	return l.Rank(have) >= w
}

// Minimum returns the lowest known level among acrs, which is what a list
// of acceptable values asks for at least; "" when none is known.
func (l Ladder) Minimum(acrs []string) string {
	best := -1
	for _, a := range acrs {
		if r := l.Rank(a); r >= 0 && (best < 0 || r < best) {
			best = r
		}
	}
	if best < 0 {
		return ""
	}
	return l.Levels[best].ACR
}

// Highest returns the higher of two acr values (unknown values count as
// lowest).
func (l Ladder) Highest(a, b string) string {
	if l.Rank(b) > l.Rank(a) {
		return b
	}
	return a
}

// AMR returns methods as the amr claim: each once, with "mfa" added when
// two or more factors were used (user verification and the eid marker do
// not count as factors of their own).
func AMR(methods []string) []string {
	out := make([]string, 0, len(methods)+1)
	factors := 0
	for _, m := range methods {
		if m == MethodMFA || slices.Contains(out, m) {
			continue
		}
		out = append(out, m)
		if m != MethodUser && m != MethodEID {
			factors++
		}
	}
	if factors >= 2 {
		out = append(out, MethodMFA)
	}
	return out
}

// ParseLadder reads a ladder written as levels from lowest to highest,
// separated by semicolons, each an acr value, "=" and its rules:
//
//	urn:portvakt:loa:low=pwd; urn:portvakt:loa:substantial=pwd+otp pwd+hwk; urn:portvakt:loa:high=eid+hwk
//
// An empty string is DefaultLadder. The default ladder's eIDAS mapping is
// kept for levels whose acr values it knows.
func ParseLadder(s string) (Ladder, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultLadder(), nil
	}
	eidas := map[string]string{}
	for _, lv := range DefaultLadder().Levels {
		eidas[lv.ACR] = lv.EIDAS
	}
	var l Ladder
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		acr, rules, ok := strings.Cut(part, "=")
		acr = strings.TrimSpace(acr)
		if !ok || acr == "" || strings.ContainsFunc(acr, unicode.IsSpace) {
			return Ladder{}, fmt.Errorf("%q: a level is an acr value, = and combinations of methods, such as urn:portvakt:loa:substantial=pwd+otp pwd+hwk", part)
		}
		rs, err := ParseRules(rules)
		if err != nil {
			return Ladder{}, fmt.Errorf("level %s: %w", acr, err)
		}
		l.Levels = append(l.Levels, Level{ACR: acr, EIDAS: eidas[acr], Rules: rs})
	}
	return l, l.Validate()
}
