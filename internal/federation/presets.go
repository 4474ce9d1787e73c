package federation

import (
	"fmt"
	"strings"
)

// Presets are the known providers Preset fills in.
var Presets = []string{"google", "microsoft", "apple", "github", "facebook", "linkedin"}

// microsoftMultiTenant are Entra ID's endpoints for more than one tenant.
var microsoftMultiTenant = map[string]bool{"common": true, "organizations": true, "consumers": true}

// Preset returns what a known provider needs: its ID, name, endpoints,
// scopes, branding and whether its addresses are verified. The client ID
// and secret (for Apple, the team and key IDs and the private key) are
// the operator's. For Microsoft, tenant is the Entra ID tenant (its ID or
// domain), or common, organizations or consumers for a multi-tenant
// registration, where each ID token's issuer is checked against its own
// tenant.
func Preset(name, tenant string) (Provider, error) {
	switch name {
	case "google":
		return Provider{ID: "google", Name: "Google", Issuer: "https://accounts.google.com", TrustEmail: true,
			Scopes: []string{"openid", "email", "profile"}, Options: Options{Brand: "google"}}, nil
	case "linkedin":
		return Provider{ID: "linkedin", Name: "LinkedIn", Issuer: "https://www.linkedin.com/oauth", TrustEmail: true,
			Scopes: []string{"openid", "email", "profile"}, Options: Options{Brand: "linkedin"}}, nil
	case "microsoft":
		tenant = strings.TrimSpace(tenant)
		switch {
		case tenant == "":
			return Provider{}, fmt.Errorf("the Microsoft preset needs a tenant: the Entra ID tenant's ID or domain, or common, organizations or consumers")
		case strings.ContainsAny(tenant, "/?#@ {}"):
			return Provider{}, fmt.Errorf("%q is not a tenant ID or domain", tenant)
		}
		// Entra ID's email claim is not verified by Microsoft.
		p := Provider{ID: "microsoft", Name: "Microsoft", Issuer: "https://login.microsoftonline.com/" + tenant + "/v2.0",
			Scopes: []string{"openid", "email", "profile"}, Options: Options{Brand: "microsoft"}}
		if microsoftMultiTenant[tenant] {
			p.TenantIssuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
		}
		return p, nil
	case "apple":
		// Apple posts its answer (form_post) when names or the address are
		// asked for, and sends the name only on the first sign-in.
		return Provider{ID: "apple", Name: "Apple", Issuer: "https://appleid.apple.com", TrustEmail: true,
			Scopes: []string{"openid", "email", "name"}, Options: Options{Brand: "apple", ResponseMode: "form_post"}}, nil
	case "github":
		// GitHub has no ID tokens; the primary verified address comes from
		// its emails API.
		return Provider{ID: "github", Name: "GitHub", Kind: KindOAuth2, TrustEmail: true,
			AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
			UserinfoURL: "https://api.github.com/user", Scopes: []string{"read:user", "user:email"},
			ClaimMap: map[string]string{"sub": "id"},
			Options:  Options{Brand: "github", EmailsURL: "https://api.github.com/user/emails"}}, nil
	case "facebook":
		// Facebook says nothing of whether an address is verified.
		return Provider{ID: "facebook", Name: "Facebook", Kind: KindOAuth2,
			AuthURL: "https://www.facebook.com/v21.0/dialog/oauth", TokenURL: "https://graph.facebook.com/v21.0/oauth/access_token",
			UserinfoURL: "https://graph.facebook.com/v21.0/me?fields=id,email,first_name,last_name",
			Scopes:      []string{"email", "public_profile"},
			ClaimMap:    map[string]string{"sub": "id", "given_name": "first_name", "family_name": "last_name"},
			Options:     Options{Brand: "facebook"}}, nil
	}
	return Provider{}, fmt.Errorf("%q is not a known provider; known are %s", name, strings.Join(Presets, ", "))
}
