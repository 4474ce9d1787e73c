package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Errors of Verify for a stored hash that cannot be used. They are wrapped
// with details; match them with errors.Is.
var (
	// ErrUnknownAlgorithm means the hash names a format no verifier is
	// registered for.
	ErrUnknownAlgorithm = errors.New("unknown password hash algorithm")
	// ErrVersion means an argon2 hash of a version other than 19 (0x13).
	ErrVersion = errors.New("unsupported argon2 version")
	// ErrParams means the hash's cost parameters or lengths are outside the
	// accepted bounds.
	ErrParams = errors.New("password hash parameters out of range")
	// ErrMalformed means the hash is not a well-formed PHC string.
	ErrMalformed = errors.New("malformed password hash")
)

// argon2idID is the PHC identifier of argon2id.
const argon2idID = "argon2id"

// phcID returns the identifier of a PHC string: "argon2id" for
// "$argon2id$v=19$…". Identifiers are 1–32 characters of [a-z0-9-].
func phcID(encoded string) (string, error) {
	rest, ok := strings.CutPrefix(encoded, "$")
	if !ok {
		return "", fmt.Errorf("%w: does not start with '$'", ErrMalformed)
	}
	id, _, _ := strings.Cut(rest, "$")
	if len(id) < 1 || len(id) > 32 {
		return "", fmt.Errorf("%w: identifier of %d bytes", ErrMalformed, len(id))
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", fmt.Errorf("%w: identifier has a character outside [a-z0-9-]", ErrMalformed)
		}
	}
	return id, nil
}

// encodeArgon2id returns the PHC string of an argon2id key.
func encodeArgon2id(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2idID, argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$SALT$KEY" strictly: every
// field present, in that order and nothing else, decimal numbers without
// signs or leading zeros, unpadded standard base64 without stray bits. A
// string that parses is therefore exactly what encodeArgon2id makes of the
// result. The returned Params carry the salt and key lengths.
func parseArgon2id(encoded string) (p Params, salt, key []byte, err error) {
	fields := strings.Split(encoded, "$")
	if len(fields) < 2 || fields[0] != "" || fields[1] != argon2idID {
		return Params{}, nil, nil, fmt.Errorf("%w: not an argon2id hash", ErrMalformed)
	}
	if len(fields) == 5 && strings.HasPrefix(fields[2], "m=") {
		return Params{}, nil, nil, fmt.Errorf("%w: no version field (argon2 1.0)", ErrVersion)
	}
	if len(fields) != 6 {
		return Params{}, nil, nil, fmt.Errorf("%w: %d '$'-separated fields, want 6", ErrMalformed, len(fields))
	}

	v, ok := strings.CutPrefix(fields[2], "v=")
	if !ok {
		return Params{}, nil, nil, fmt.Errorf("%w: version field does not start with 'v='", ErrMalformed)
	}
	version, ok := parseDecimal(v)
	if !ok {
		return Params{}, nil, nil, fmt.Errorf("%w: version is not a decimal number", ErrMalformed)
	}
	if version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: v=%d, want v=%d", ErrVersion, version, argon2.Version)
	}

	kv := strings.Split(fields[3], ",")
	if len(kv) != 3 {
		return Params{}, nil, nil, fmt.Errorf("%w: %d parameters, want m, t and p", ErrMalformed, len(kv))
	}
	var n [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %d is not %s=", ErrMalformed, i+1, name)
		}
		if n[i], ok = parseDecimal(s); !ok {
			return Params{}, nil, nil, fmt.Errorf("%w: %s is not a decimal number", ErrMalformed, name)
		}
	}
	m, t, threads := n[0], n[1], n[2]
	switch {
	case m > maxMemory:
		return Params{}, nil, nil, fmt.Errorf("%w: memory %d KiB exceeds %d", ErrParams, m, maxMemory)
	case t > maxTime:
		return Params{}, nil, nil, fmt.Errorf("%w: time %d exceeds %d", ErrParams, t, maxTime)
	case threads > 255:
		return Params{}, nil, nil, fmt.Errorf("%w: parallelism %d exceeds 255", ErrParams, threads)
	}

	// The decoder skips CR and LF even in strict mode; a canonical string
	// has none, so check the alphabet first.
	b64 := base64.RawStdEncoding.Strict()
	if !isBase64(fields[4]) {
		return Params{}, nil, nil, fmt.Errorf("%w: salt is not unpadded base64", ErrMalformed)
	}
	if !isBase64(fields[5]) {
		return Params{}, nil, nil, fmt.Errorf("%w: key is not unpadded base64", ErrMalformed)
	}
	if salt, err = b64.DecodeString(fields[4]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt is not unpadded base64", ErrMalformed)
	}
	if key, err = b64.DecodeString(fields[5]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: key is not unpadded base64", ErrMalformed)
	}
	p = Params{
		Memory: uint32(m), Time: uint32(t), Threads: uint8(threads),
		SaltLen: uint32(len(salt)), KeyLen: uint32(len(key)),
	}
	if errs := p.check(); len(errs) > 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrParams, errors.Join(errs...))
	}
	return p, salt, key, nil
}

// parseDecimal parses 1–10 ASCII digits with no sign and no leading zero
// (except "0" itself), the only spelling of a number in a canonical PHC
// string.
func parseDecimal(s string) (uint64, bool) {
	if len(s) < 1 || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// isBase64 reports whether s has only characters of the standard base64
// alphabet (no padding).
func isBase64(s string) bool {
	for _, c := range []byte(s) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
