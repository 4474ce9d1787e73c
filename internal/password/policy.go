package password

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/text/unicode/norm"
)

// Reason is the stable ID of the rule a password breaks. The web layer
// translates it; it never changes once released.
type Reason string

// Reasons for refusing a password.
const (
	// ReasonTooShort means fewer code points than Policy.MinLength.
	ReasonTooShort Reason = "too_short"
	// ReasonTooLong means more code points than Policy.MaxLength.
	ReasonTooLong Reason = "too_long"
	// ReasonTooCommon means a common, leaked or easily guessed password
	// (zxcvbn score below Policy.MinScore). Callers that check breaches with
	// PwnedChecker report a breached password with this reason too.
	ReasonTooCommon Reason = "too_common"
	// ReasonPersonalInfo means the password contains, or is built from, the
	// user's email, names or the product name.
	ReasonPersonalInfo Reason = "contains_personal_info"
)

// PolicyError is a refusal of a password by a Policy.
type PolicyError struct {
	// Reason names the rule broken.
	Reason Reason
	// Min and Max are the policy's length limits in code points, set for
	// every reason so that messages can mention them.
	Min, Max int
}

// Error returns a message for developers and logs, not for people: show a
// translation of Reason instead.
func (e *PolicyError) Error() string {
	switch e.Reason {
	case ReasonTooShort:
		return fmt.Sprintf("password is shorter than %d characters", e.Min)
	case ReasonTooLong:
		return fmt.Sprintf("password is longer than %d characters", e.Max)
	case ReasonTooCommon:
		return "password is too common or too easy to guess"
	case ReasonPersonalInfo:
		return "password contains personal information or the product name"
	}
	return fmt.Sprintf("password refused (%s)", string(e.Reason))
}

// ReasonID returns Reason as a string, for callers that match errors by an
// interface rather than by this type.
func (e *PolicyError) ReasonID() string { return string(e.Reason) }

// Defaults of Policy fields left zero.
const (
	defaultMinLength = 8
	defaultMaxLength = 128
	defaultMinScore  = 2
	// nistMinMaxLength is the longest limit NIST SP 800-63B lets a verifier
	// set below: passwords of at least 64 characters must be allowed.
	nistMinMaxLength = 64
)

// Tuning of the checks.
const (
	// scoredRunes is how much of a password zxcvbn scores. Its cost grows
	// steeply with length (tens of milliseconds at 64 code points, seconds
	// at 256), and a policy check is not rate-limited like hashing is. A
	// longer password whose first 64 code points are weak is still refused.
	scoredRunes = 64
	// minContained is the shortest personal word that a password may not
	// contain; shorter ones (e.g. "Li") occur inside ordinary words.
	minContained = 4
	// minPart is the shortest part of a personal word that counts when
	// asking whether a password is built from personal words.
	minPart = 3
	// minOwnLetters is how many letters a password must have besides
	// personal words and their parts.
	minOwnLetters = 4
)

// Policy decides which new passwords are acceptable, following NIST SP
// 800-63B: a length range, no composition rules, and a block-list of common,
// guessable and personal passwords. Zero fields take their defaults. The
// zero Policy is ready to use.
type Policy struct {
	// MinLength is the fewest code points allowed (default 8).
	MinLength int
	// MaxLength is the most code points allowed (default 128); it must be at
	// least 64.
	MaxLength int
	// MinScore is the lowest acceptable zxcvbn score, 0–4 (default 2). A
	// negative value accepts every score.
	MinScore int
	// ProductName is the name of the service (e.g. "Portvakt"); passwords
	// built from it are refused like those built from the user's details.
	ProductName string
}

func (p Policy) withDefaults() Policy {
	if p.MinLength == 0 {
		p.MinLength = defaultMinLength
	}
	if p.MaxLength == 0 {
		p.MaxLength = defaultMaxLength
	}
	if p.MinScore == 0 {
		p.MinScore = defaultMinScore
	}
	return p
}

// Validate reports every field out of range, after defaults are applied:
// MinLength of at least 8, MaxLength of at least 64 and MinLength, and
// MinScore of at most 4.
func (p Policy) Validate() error {
	p = p.withDefaults()
	var errs []error
	if p.MinLength < defaultMinLength {
		errs = append(errs, fmt.Errorf("minimum length %d is below %d", p.MinLength, defaultMinLength))
	}
	if p.MaxLength < nistMinMaxLength {
		errs = append(errs, fmt.Errorf("maximum length %d is below %d", p.MaxLength, nistMinMaxLength))
	}
	if p.MaxLength < p.MinLength {
		errs = append(errs, fmt.Errorf("maximum length %d is below the minimum %d", p.MaxLength, p.MinLength))
	}
	if p.MinScore > 4 {
		errs = append(errs, fmt.Errorf("minimum score %d is above 4", p.MinScore))
	}
	return errors.Join(errs...)
}

// Check returns nil if password is acceptable for a user described by the
// personal words (email, its local part, given and family name), and a
// *PolicyError otherwise. Rules are checked in this order: length, personal
// information, then guessability.
//
// Length is counted in code points after NFKC normalization. A password is
// personal when, ignoring case and everything but letters and digits, it
// contains one of the personal words or the product name (of at least 4
// characters), or when fewer than 4 letters remain once every such word and
// every part of one (runs of at least 3 letters or digits, such as "ada" and
// "lovelace" in "ada.lovelace") is removed.
//
// zxcvbn makes a check cost up to tens of milliseconds of CPU (only the
// first 64 code points are scored, to bound it), so callers should throttle
// it as they throttle sign-up.
func (p Policy) Check(password string, personal ...string) error {
	p = p.withDefaults()
	pw := normalize(password)
	refuse := func(r Reason) error { return &PolicyError{Reason: r, Min: p.MinLength, Max: p.MaxLength} }
	n := utf8.RuneCountInString(pw)
	if n < p.MinLength {
		return refuse(ReasonTooShort)
	}
	if n > p.MaxLength {
		return refuse(ReasonTooLong)
	}
	words := p.words(personal)
	if words.match(pw) {
		return refuse(ReasonPersonalInfo)
	}
	if p.MinScore > 0 && score(pw, words.inputs) < p.MinScore {
		return refuse(ReasonTooCommon)
	}
	return nil
}

// Strength returns the zxcvbn score of password, from 0 (guessed at once)
// to 4 (very hard to guess), for a strength meter. The personal words and the
// product name count as easily guessed, and a password that Check refuses as
// personal scores 0, so that the meter never praises one. It applies no
// length rule: Check decides acceptance.
func (p Policy) Strength(password string, personal ...string) int {
	pw := normalize(password)
	words := p.words(personal)
	if words.match(pw) {
		return 0
	}
	return score(pw, words.inputs)
}

// normalize returns password in NFKC, with invalid UTF-8 replaced so that
// every later step sees whole code points.
func normalize(password string) string {
	return norm.NFKC.String(strings.ToValidUTF8(password, "\uFFFD"))
}

// score runs zxcvbn on the first scoredRunes code points of pw.
func score(pw string, inputs []string) int {
	if i := runeOffset(pw, scoredRunes); i < len(pw) {
		pw = pw[:i]
	}
	return zxcvbn.PasswordStrength(pw, inputs).Score
}

// runeOffset returns the byte offset of the n-th code point of s, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// personalWords are the words a password must not be built from, prepared
// for matching.
type personalWords struct {
	// whole are the words (and email local parts) squashed, each of at
	// least minContained code points.
	whole []string
	// parts are whole words and their parts of at least minPart code points,
	// squashed, longest first.
	parts []string
	// inputs are the words for zxcvbn's user-input dictionary.
	inputs []string
}

// words prepares the personal words and the product name.
func (p Policy) words(personal []string) personalWords {
	var w personalWords
	add := func(s string) {
		if s = squash(s); utf8.RuneCountInString(s) >= minContained && !slices.Contains(w.whole, s) {
			w.whole = append(w.whole, s)
			w.inputs = append(w.inputs, s)
		}
	}
	addParts := func(s string) {
		if sq := squash(s); utf8.RuneCountInString(sq) >= minPart {
			w.parts = append(w.parts, sq)
		}
		for _, part := range strings.FieldsFunc(strings.ToLower(s), notAlnum) {
			w.inputs = append(w.inputs, part)
			for _, run := range splitRuns(part) {
				if utf8.RuneCountInString(run) >= minPart {
					w.parts = append(w.parts, run)
				}
			}
		}
	}
	for _, s := range append(slices.Clone(personal), p.ProductName) {
		s = strings.ToLower(normalize(strings.TrimSpace(s)))
		if s == "" {
			continue
		}
		w.inputs = append(w.inputs, s)
		if local, domain, ok := cutLast(s, "@"); ok {
			// The whole address and its local part are personal; the
			// domain only feeds zxcvbn ("example" is not the user's).
			add(s)
			add(local)
			addParts(local)
			w.inputs = append(w.inputs, local)
			w.inputs = append(w.inputs, strings.FieldsFunc(domain, notAlnum)...)
			continue
		}
		add(s)
		addParts(s)
	}
	// Longest first, so that "lovelace" goes before "love" would; equal
	// words end up adjacent for Compact.
	slices.SortFunc(w.parts, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	w.parts = slices.Compact(w.parts)
	return w
}

// match reports whether pw (normalized) contains or is built from the
// personal words.
func (w personalWords) match(pw string) bool {
	s := squash(strings.ToLower(pw))
	for _, word := range w.whole {
		if strings.Contains(s, word) {
			return true
		}
	}
	removed := false
	for _, part := range w.parts {
		if strings.Contains(s, part) {
			s = strings.ReplaceAll(s, part, "")
			removed = true
		}
	}
	if !removed {
		return false
	}
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters < minOwnLetters
}

// squash lowercases s and keeps only its letters and digits.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if notAlnum(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

func notAlnum(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }

// splitRuns splits s (letters and digits only) into runs of letters and
// runs of digits: "ada1815" into "ada" and "1815".
func splitRuns(s string) []string {
	var runs []string
	start, prevLetter := 0, false
	for i, r := range s {
		letter := unicode.IsLetter(r)
		if i > 0 && letter != prevLetter {
			runs = append(runs, s[start:i])
			start = i
		}
		prevLetter = letter
	}
	if start < len(s) {
		runs = append(runs, s[start:])
	}
	return runs
}

// cutLast slices s around the last instance of sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
