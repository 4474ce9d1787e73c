package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
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
}

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
