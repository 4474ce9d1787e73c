package oidc

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzClientAssertion presents arbitrary strings as private_key_jwt client
// assertions. Whatever the input, authentication must not panic, and it
// may succeed only for an assertion the test itself signed with one of the
// client's keys: no tampered, re-encoded or forged token gets through.
//
//	go test -run '^$' -fuzz FuzzClientAssertion -fuzztime 60s ./internal/oidc/
func FuzzClientAssertion(f *testing.F) {
	fx := newAuthFixture(f)
	// Replays are tested elsewhere; here every valid assertion is accepted
	// each time, so that the fuzzer can mutate from working inputs.
	fx.auth.assertions = anyAssertion{}
	now := fx.clock.now()

	signed := map[string]bool{}
	enc := base64.RawURLEncoding.EncodeToString
	for _, alg := range assertionAlgs {
		k := fx.keys[alg]
		tok := k.sign(f, claimsFor(jwtID, now))
		signed[tok] = true
		f.Add(tok)

		noKid := k
		noKid.kid = ""
		tok = noKid.sign(f, with(claimsFor(jwtID, now), "aud", []string{testIssuer}))
		signed[tok] = true
		f.Add(tok)

		parts := strings.Split(tok, ".")
		// Tampered: another payload under the same signature, a flipped
		// signature character, another alg in the header.
		f.Add(parts[0] + "." + enc([]byte(`{"iss":"signer","sub":"signer","aud":"`+testTokenURL+`","exp":1999999999,"jti":"x"}`)) + "." + parts[2])
		f.Add(parts[0] + "." + parts[1] + "." + flip(parts[2]))
		f.Add(enc([]byte(`{"alg":"HS256"}`)) + "." + parts[1] + "." + parts[2])
		f.Add(enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1])
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "{\"payload\":\"e30\",\"signatures\":[]}", strings.Repeat("A", 64)} {
		f.Add(s)
	}

	for tok := range signed {
		if _, err := fx.auth.authenticate(context.Background(), nil, url.Values{"client_assertion_type": {assertionTypeJWT}, "client_assertion": {tok}}); err != nil {
			f.Fatalf("a seed the test signed does not authenticate: %v", err)
		}
	}

	f.Fuzz(func(t *testing.T, assertion string) {
		form := url.Values{"client_assertion_type": {assertionTypeJWT}, "client_assertion": {assertion}}
		c, err := fx.auth.authenticate(context.Background(), nil, form)
		if err == nil && !signed[assertion] {
			t.Fatalf("an assertion the test did not sign authenticated client %q: %q", c.ID, assertion)
		}
	})
}

// flip changes the first character of s to another base64url one.
func flip(s string) string {
	if s == "" {
		return "A"
	}
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// anyAssertion accepts every assertion as unused.
type anyAssertion struct{}

func (anyAssertion) UseClientAssertion(context.Context, string, string, time.Time, time.Time) error {
	return nil
}
