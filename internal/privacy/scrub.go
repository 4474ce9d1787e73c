package privacy

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Erased replaces what an erasure scrubs.
const Erased = "[erased]"

// Scrubber takes a person's personal data out of what outlives their
// account: event data, webhook payloads and the text of errors and
// answers kept with them.
//
// A string that contains one of the person's addresses, their phone
// number or their full name (in any case) becomes Erased, and so does a
// string that is exactly their given or family name (a name alone is too
// short to look for inside other text). In data about the person (events
// whose subject is their account) every string under a key that names
// personal data (email, given_name, name, phone, client_ip, …, or any key
// with "email" or "phone" in it) is erased too, whatever it holds, so
// that old values (a user.updated event's changes) go as well. Numbers,
// booleans and the structure stay.
type Scrubber struct {
	// contained are looked for inside strings, whole are compared with
	// whole strings; both lower case.
	contained, whole []string
}

// NewScrubber makes the scrubber of the person e is about to erase.
func NewScrubber(e Erasure) *Scrubber {
	s := &Scrubber{}
	u := e.User
	for _, v := range append([]string{u.Email, u.EmailNormalized, u.Phone}, e.Addresses...) {
		s.addContained(v)
	}
	given, family := strings.TrimSpace(u.GivenName), strings.TrimSpace(u.FamilyName)
	if given != "" && family != "" {
		s.addContained(given + " " + family)
	}
	for _, v := range []string{given, family} {
		if v = strings.ToLower(v); v != "" {
			s.whole = append(s.whole, v)
		}
	}
	return s
}

func (s *Scrubber) addContained(v string) {
	v = strings.ToLower(strings.TrimSpace(v))
	// Anything shorter would match unrelated text.
	if len(v) >= 5 {
		s.contained = append(s.contained, v)
	}
}

// Patterns are the lower-case strings a store can look for (LIKE) to find
// rows the scrubber may change: the person's addresses and phone.
func (s *Scrubber) Patterns() []string { return s.contained }

// Text scrubs a piece of text and reports whether it changed.
func (s *Scrubber) Text(v string) (string, bool) {
	if v == "" || v == Erased {
		return v, false
	}
	low := strings.ToLower(v)
	for _, n := range s.contained {
		if strings.Contains(low, n) {
			return Erased, true
		}
	}
	trimmed := strings.TrimSpace(low)
	for _, n := range s.whole {
		if trimmed == n {
			return Erased, true
		}
	}
	return v, false
}

// Data scrubs a JSON document (event data, a webhook payload) and
// reports whether it changed; about says that it is about the person, so
// that personal keys go too. A document that is not JSON is scrubbed as
// text.
func (s *Scrubber) Data(raw []byte, about bool) ([]byte, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		out, changed := s.Text(string(raw))
		return []byte(out), changed
	}
	v, changed := s.value(v, about, false)
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		// Decoded JSON always encodes again.
		return raw, false
	}
	return out, true
}

// value scrubs one JSON value; personal says it sits under a personal key
// of data about the person.
func (s *Scrubber) value(v any, about, personal bool) (any, bool) {
	switch x := v.(type) {
	case string:
		if personal && x != "" && x != Erased {
			return Erased, true
		}
		return s.Text(x)
	case map[string]any:
		changed := false
		for k, item := range x {
			nv, c := s.value(item, about, personal || (about && PersonalKey(k)))
			if c {
				x[k], changed = nv, true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, item := range x {
			nv, c := s.value(item, about, personal)
			if c {
				x[i], changed = nv, true
			}
		}
		return x, changed
	}
	return v, false
}

// personalKeys name personal data in event data.
var personalKeys = map[string]bool{
	"email": true, "given_name": true, "family_name": true, "name": true, "legal_name": true, "phone": true,
	"birthdate": true, "national_id": true, "client_ip": true, "ip": true, "ip_address": true,
	"user_agent": true, "address": true, "login_hint": true,
}

// PersonalKey reports whether a key of event data about a person names
// personal data, which an erasure takes out.
func PersonalKey(k string) bool {
	k = strings.ToLower(k)
	return personalKeys[k] || strings.Contains(k, "email") || strings.Contains(k, "phone")
}
