package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// AttributeRule describes one custom profile attribute.
type AttributeRule struct {
	// Type is "string", "number" or "boolean".
	Type string `koanf:"type" json:"type"`
	// Required attributes must be present and non-empty.
	Required bool `koanf:"required" json:"required,omitempty"`
	// MaxLength caps a string's length in characters (default 1000).
	MaxLength int `koanf:"max_length" json:"max_length,omitempty"`
	// Pattern is a regular expression (RE2) a string must match entirely.
	Pattern string `koanf:"pattern" json:"pattern,omitempty"`
	// Enum lists the values a string may take.
	Enum []string `koanf:"enum" json:"enum,omitempty"`
	// SelfService says what the person does with the attribute on the
	// account page: SelfServiceHide (the default: not shown at all),
	// SelfServiceShow (shown read-only) or SelfServiceEdit (edited).
	SelfService string `koanf:"self_service" json:"self_service,omitempty"`
	// Label is the attribute's name as pages show it, by language (en,
	// sv, fi); English is required for an attribute that is shown.
	Label map[string]string `koanf:"label" json:"label,omitempty"`
	// Hint is an optional help text under the attribute, by language.
	Hint map[string]string `koanf:"hint" json:"hint,omitempty"`
}

// What the person does with an attribute on the account page
// (AttributeRule.SelfService).
const (
	// SelfServiceHide: the attribute is not shown to the person (a credit
	// limit, a customer number); the default.
	SelfServiceHide = "hide"
	// SelfServiceShow: the account page shows the attribute read-only.
	SelfServiceShow = "show"
	// SelfServiceEdit: the person edits the attribute on the account page.
	SelfServiceEdit = "edit"
)

// AttributeLanguages are the languages labels and hints may be given in,
// English first (the fallback).
var AttributeLanguages = []string{"en", "sv", "fi"}

// AttributeSchema validates users' custom attributes. Without a schema any
// JSON object up to maxAttributesBytes is accepted; with one, only the
// attributes it names, of their types.
type AttributeSchema struct {
	rules    map[string]AttributeRule
	patterns map[string]*regexp.Regexp
}

const maxAttributesBytes = 16 << 10

var attrName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// NewAttributeSchema checks the rules and compiles their patterns. It
// reports every bad rule at once.
func NewAttributeSchema(rules map[string]AttributeRule) (*AttributeSchema, error) {
	s := &AttributeSchema{rules: map[string]AttributeRule{}, patterns: map[string]*regexp.Regexp{}}
	var errs []error
	for _, name := range sortedKeys(rules) {
		r := rules[name]
		if !attrName.MatchString(name) {
			errs = append(errs, fmt.Errorf("attribute %q: names are lower case letters, digits and _, starting with a letter", name))
		}
		switch r.Type {
		case "string":
		case "number", "boolean":
			if r.Pattern != "" || len(r.Enum) > 0 || r.MaxLength != 0 {
				errs = append(errs, fmt.Errorf("attribute %s: pattern, enum and max_length apply to strings only", name))
			}
		default:
			errs = append(errs, fmt.Errorf("attribute %s: type %q is not string, number or boolean", name, r.Type))
		}
		switch r.SelfService {
		case "":
			r.SelfService = SelfServiceHide
		case SelfServiceHide, SelfServiceShow, SelfServiceEdit:
		default:
			errs = append(errs, fmt.Errorf("attribute %s: self_service %q is not hide, show or edit", name, r.SelfService))
		}
		for _, key := range []struct {
			name  string
			texts map[string]string
		}{{"label", r.Label}, {"hint", r.Hint}} {
			for _, lang := range sortedKeys(key.texts) {
				if !contains(AttributeLanguages, lang) {
					errs = append(errs, fmt.Errorf("attribute %s: %s: language %q is not one of en, sv, fi", name, key.name, lang))
				} else if strings.TrimSpace(key.texts[lang]) == "" {
					errs = append(errs, fmt.Errorf("attribute %s: %s.%s is empty", name, key.name, lang))
				}
			}
		}
		if (r.SelfService == SelfServiceShow || r.SelfService == SelfServiceEdit) && strings.TrimSpace(r.Label["en"]) == "" {
			errs = append(errs, fmt.Errorf("attribute %s: self_service %s needs a label with at least en (English)", name, r.SelfService))
		}
		if r.MaxLength == 0 {
			r.MaxLength = 1000
		}
		if r.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + r.Pattern + `)$`)
			if err != nil {
				errs = append(errs, fmt.Errorf("attribute %s: pattern: %w", name, err))
			} else {
				s.patterns[name] = re
			}
		}
		s.rules[name] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks a user's attributes object against the schema; a nil
// schema checks only that it is an object of sensible size. Problems are
// FieldErrors named "attributes.<name>".
func (s *AttributeSchema) Validate(raw json.RawMessage) error {
	if len(raw) == 0 {
		raw = json.RawMessage(`{}`)
	}
	if len(raw) > maxAttributesBytes {
		return FieldError{"attributes", "too_long", fmt.Sprintf("is larger than %d bytes", maxAttributesBytes)}
	}
	var values map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&values); err != nil || values == nil {
		return FieldError{"attributes", "invalid", "is not a JSON object"}
	}
	if s == nil {
		return nil
	}
	var errs []error
	for _, name := range sortedKeys(values) {
		r, ok := s.rules[name]
		if !ok {
			errs = append(errs, FieldError{"attributes." + name, "unknown", "is not a configured attribute"})
			continue
		}
		if err := s.check(name, r, values[name]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedKeys(s.rules) {
		if _, ok := values[name]; !ok && s.rules[name].Required {
			errs = append(errs, FieldError{"attributes." + name, "required", "is required"})
		}
	}
	return errors.Join(errs...)
}

func (s *AttributeSchema) check(name string, r AttributeRule, raw json.RawMessage) error {
	field := "attributes." + name
	if string(raw) == "null" {
		if r.Required {
			return FieldError{field, "required", "is required"}
		}
		return nil
	}
	switch r.Type {
	case "number":
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			return FieldError{field, "invalid", "is not a number"}
		}
	case "boolean":
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return FieldError{field, "invalid", "is not true or false"}
		}
	case "string":
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return FieldError{field, "invalid", "is not a string"}
		}
		switch {
		case r.Required && v == "":
			return FieldError{field, "required", "is required"}
		case utf8.RuneCountInString(v) > r.MaxLength:
			return FieldError{field, "too_long", fmt.Sprintf("is longer than %d characters", r.MaxLength)}
		case s.patterns[name] != nil && !s.patterns[name].MatchString(v):
			return FieldError{field, "invalid", fmt.Sprintf("%q does not match %s", v, r.Pattern)}
		case len(r.Enum) > 0 && !contains(r.Enum, v):
			return FieldError{field, "invalid", fmt.Sprintf("%q is not one of %v", v, r.Enum)}
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Rule returns the rule of the attribute name, and whether the schema has
// one. A nil schema has none.
func (s *AttributeSchema) Rule(name string) (AttributeRule, bool) {
	if s == nil {
		return AttributeRule{}, false
	}
	r, ok := s.rules[name]
	return r, ok
}

// SelfService returns the names of the attributes the account page shows
// (SelfServiceShow and SelfServiceEdit), in name order; a nil schema has
// none.
func (s *AttributeSchema) SelfService() []string {
	if s == nil {
		return nil
	}
	var names []string
	for _, name := range sortedKeys(s.rules) {
		if m := s.rules[name].SelfService; m == SelfServiceShow || m == SelfServiceEdit {
			names = append(names, name)
		}
	}
	return names
}

// PersonMayEdit reports whether people edit the attribute name themselves
// (SelfServiceEdit).
func (s *AttributeSchema) PersonMayEdit(name string) bool {
	r, ok := s.Rule(name)
	return ok && r.SelfService == SelfServiceEdit
}

// Text returns the text of an attribute's label or hint (texts) in lang,
// falling back to English, then to fallback.
func Text(texts map[string]string, lang, fallback string) string {
	if v := texts[lang]; v != "" {
		return v
	}
	if v := texts["en"]; v != "" {
		return v
	}
	return fallback
}

// Label returns how pages name the attribute name in lang: its label in
// lang, else in English, else the name itself.
func (s *AttributeSchema) Label(name, lang string) string {
	r, _ := s.Rule(name)
	return Text(r.Label, lang, name)
}

// Hint returns the attribute's hint in lang, else in English, else "".
func (s *AttributeSchema) Hint(name, lang string) string {
	r, _ := s.Rule(name)
	return Text(r.Hint, lang, "")
}

// AttributeValues decodes a user's attributes object into its values by
// name; an empty or broken object has none.
func AttributeValues(raw json.RawMessage) map[string]json.RawMessage {
	values := map[string]json.RawMessage{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &values)
		if values == nil {
			values = map[string]json.RawMessage{}
		}
	}
	return values
}

// mergeAttributes applies set (name → JSON value; null or an empty value
// removes the attribute) to the attributes object cur. It returns the new
// object, the changes as user.updated names them ("attributes.<name>"
// with the old and new values, nil for absent) and the names of the
// attributes that changed. An attribute set to the value it has is no
// change; the object is rewritten only when something changed, so that
// attributes set does not name are kept exactly as they were.
func mergeAttributes(cur json.RawMessage, set map[string]json.RawMessage) (json.RawMessage, map[string]any, []string, error) {
	if len(set) == 0 {
		return cur, nil, nil, nil
	}
	values := AttributeValues(cur)
	changes := map[string]any{}
	var changed []string
	for _, name := range sortedKeys(set) {
		v := set[name]
		old, had := values[name]
		remove := len(v) == 0 || string(v) == "null"
		var oldV, newV any
		if had {
			if err := json.Unmarshal(old, &oldV); err != nil {
				return nil, nil, nil, fmt.Errorf("attribute %s: %w", name, err)
			}
		}
		if !remove {
			if err := json.Unmarshal(v, &newV); err != nil {
				return nil, nil, nil, FieldError{"attributes." + name, "invalid", "is not a JSON value"}
			}
		}
		if (remove && !had) || (!remove && had && jsonEqual(old, v)) {
			continue
		}
		if remove {
			delete(values, name)
		} else {
			values[name] = v
		}
		changes["attributes."+name] = map[string]any{"old": oldV, "new": newV}
		changed = append(changed, name)
	}
	if len(changed) == 0 {
		return cur, nil, nil, nil
	}
	out, err := json.Marshal(values)
	if err != nil {
		return nil, nil, nil, err
	}
	return out, changes, changed, nil
}

// jsonEqual reports whether two JSON values are the same value.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// validateChanged checks the merged attributes object against the schema
// and keeps the problems of the attributes in changed, and of the object
// as a whole: an attribute the change leaves as it was is not judged again
// (a required attribute the CRM has not set yet does not stop the
// person's change of another).
func (s *AttributeSchema) validateChanged(merged json.RawMessage, changed []string) error {
	var errs []error
	for _, e := range flattenJoined(s.Validate(merged)) {
		var fe FieldError
		if errors.As(e, &fe) && strings.HasPrefix(fe.Field, "attributes.") && !contains(changed, strings.TrimPrefix(fe.Field, "attributes.")) {
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func flattenJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenJoined(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
