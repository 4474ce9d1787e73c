package oidc

import (
	"bytes"
	"encoding/json"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/accounts"
)

// The claims request parameter (OpenID Connect Core, section 5.5): a
// client names claims it wants in the ID token or from userinfo, beyond
// what its scopes give. Claims Portvakt has are returned whether or not
// they are marked essential; one it does not have is left out, which
// section 5.5.1 allows even for essential ones.

// maxClaimsParam bounds the claims parameter.
const maxClaimsParam = 4096

// claimsRequest is the parameter's shape: for each target, claim names
// mapped to null or to an object (essential, value, values).
type claimsRequest struct {
	UserInfo map[string]*claimRequest `json:"userinfo"`
	IDToken  map[string]*claimRequest `json:"id_token"`
}

type claimRequest struct {
	Essential bool            `json:"essential"`
	Value     json.RawMessage `json:"value,omitempty"`
	Values    json.RawMessage `json:"values,omitempty"`
}

// parseClaimsParam checks the parameter and returns it compacted, or an
// invalid_request error that says what is wrong.
func parseClaimsParam(raw string) (json.RawMessage, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxClaimsParam {
		return nil, zoidc.ErrInvalidRequest().WithDescription("claims is longer than %d bytes", maxClaimsParam)
	}
	var cr claimsRequest
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&cr); err != nil {
		return nil, zoidc.ErrInvalidRequest().WithDescription("claims is not a JSON object of userinfo and id_token members: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return nil, zoidc.ErrInvalidRequest().WithDescription("claims is not valid JSON")
	}
	return buf.Bytes(), nil
}

// protocolClaims are set by the provider alone; the claims parameter
// cannot change them.
var protocolClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"nonce": true, "acr": true, "amr": true, "auth_time": true, "azp": true, "sid": true, "at_hash": true, "c_hash": true,
}

// requestedClaims returns the names of the claims that the claims
// parameter raw asks for in target ("id_token" or "userinfo").
func requestedClaims(raw json.RawMessage, target string) []string {
	if len(raw) == 0 {
		return nil
	}
	var cr claimsRequest
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil // checked when the request came; nothing to add
	}
	want := cr.UserInfo
	if target == "id_token" {
		want = cr.IDToken
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	return names
}

// claimValues returns u's values of the named claims that Portvakt holds,
// leaving out the protocol's own.
func claimValues(u accounts.User, names []string) map[string]any {
	if len(names) == 0 {
		return nil
	}
	have := standardClaims(u)
	out := make(map[string]any, len(names))
	for _, name := range names {
		if v, ok := have[name]; ok && !protocolClaims[name] {
			out[name] = v
		}
	}
	return out
}

// standardClaims are the user's standard claims (section 5.1) that
// Portvakt holds.
func standardClaims(u accounts.User) map[string]any {
	c := map[string]any{
		"email":          u.Email,
		"email_verified": u.EmailVerified,
		"updated_at":     u.UpdatedAt.Unix(),
	}
	if name := strings.TrimSpace(u.GivenName + " " + u.FamilyName); name != "" {
		c["name"] = name
	}
	if u.GivenName != "" {
		c["given_name"] = u.GivenName
	}
	if u.FamilyName != "" {
		c["family_name"] = u.FamilyName
	}
	if u.Locale != "" {
		c["locale"] = language.Make(u.Locale).String()
	}
	if u.Phone != "" {
		c["phone_number"], c["phone_number_verified"] = u.Phone, false
	}
	return c
}

// supportedClaims are the claims discovery lists.
var supportedClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash",
	"name", "given_name", "family_name", "locale", "updated_at",
	"email", "email_verified", "phone_number", "phone_number_verified",
	"org_id", "org_name", "roles", "permissions",
}
