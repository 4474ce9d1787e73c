package federation

import (
	"context"
	"errors"
	"fmt"
)

// Spec is a provider as an operator writes it — in the configuration file
// or to the management API: a preset (google, microsoft, …) and the
// settings that differ from it, or every setting of a generic provider.
// Secrets travel in the clear here, on their way to being sealed.
type Spec struct {
	ID             string   `json:"id"`
	Preset         string   `json:"preset,omitempty"`
	Tenant         string   `json:"tenant,omitempty"`
	AllowedTenants []string `json:"allowed_tenants,omitempty"`
	Name           string   `json:"name,omitempty"`
	Kind           string   `json:"kind,omitempty"`
	Issuer         string   `json:"issuer,omitempty"`
	AuthURL        string   `json:"auth_url,omitempty"`
	TokenURL       string   `json:"token_url,omitempty"`
	UserinfoURL    string   `json:"userinfo_url,omitempty"`
	EmailsURL      string   `json:"emails_url,omitempty"`
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret,omitempty"`
	AppleTeamID    string   `json:"apple_team_id,omitempty"`
	AppleKeyID     string   `json:"apple_key_id,omitempty"`
	// ApplePrivateKey is the .p8 key (PEM) Apple's client secret is
	// signed with; given instead of ClientSecret.
	ApplePrivateKey string            `json:"apple_private_key,omitempty"`
	Scopes          []string          `json:"scopes,omitempty"`
	TrustEmail      *bool             `json:"trust_email,omitempty"`
	ClaimMap        map[string]string `json:"claim_map,omitempty"`
	RequiredFields  []string          `json:"required_fields,omitempty"`
	Brand           string            `json:"brand,omitempty"`
	ResponseMode    string            `json:"response_mode,omitempty"`
	Proofing        bool              `json:"proofing,omitempty"`
	ACRMap          map[string]string `json:"acr_map,omitempty"`
	NationalIDClaim string            `json:"national_id_claim,omitempty"`
}

// Provider is the provider s describes, its secret (or Apple key) in
// SecretPlain, not yet validated (the Service validates what it stores).
func (s Spec) Provider() (Provider, error) {
	var p Provider
	if s.Preset != "" {
		var err error
		if p, err = Preset(s.Preset, s.Tenant); err != nil {
			return p, FieldError{"preset", err.Error()}
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&p.ID, s.ID)
	set(&p.Name, s.Name)
	set(&p.Kind, s.Kind)
	set(&p.Issuer, s.Issuer)
	set(&p.AuthURL, s.AuthURL)
	set(&p.TokenURL, s.TokenURL)
	set(&p.UserinfoURL, s.UserinfoURL)
	set(&p.EmailsURL, s.EmailsURL)
	set(&p.ClientID, s.ClientID)
	set(&p.AppleTeamID, s.AppleTeamID)
	set(&p.AppleKeyID, s.AppleKeyID)
	set(&p.Brand, s.Brand)
	set(&p.ResponseMode, s.ResponseMode)
	set(&p.NationalIDClaim, s.NationalIDClaim)
	if len(s.Scopes) > 0 {
		p.Scopes = s.Scopes
	}
	if s.TrustEmail != nil {
		p.TrustEmail = *s.TrustEmail
	}
	for k, v := range s.ClaimMap {
		if p.ClaimMap == nil {
			p.ClaimMap = map[string]string{}
		}
		p.ClaimMap[k] = v
	}
	p.Tenants, p.RequiredFields, p.Proofing, p.ACRMap = s.AllowedTenants, s.RequiredFields, s.Proofing, s.ACRMap
	if p.Scopes == nil {
		p.Scopes = []string{"openid", "email", "profile"}
	}
	if s.ClientSecret != "" && s.ApplePrivateKey != "" {
		return p, FieldError{"client_secret", "give one of client_secret and apple_private_key"}
	}
	p.SecretPlain = s.ClientSecret
	if s.ApplePrivateKey != "" {
		p.SecretPlain = s.ApplePrivateKey
	}
	if len(p.ACRMap) > 0 && !p.Proofing {
		return p, FieldError{"acr_map", fmt.Sprintf("is for identity-proofing providers: set proofing (%d values given)", len(p.ACRMap))}
	}
	return p, nil
}

// PutSpec creates the provider s describes, or replaces the one with its
// ID (see Put), on behalf of actor. A spec without a secret keeps the
// stored provider's. It reports whether the provider is new.
func (svc *Service) PutSpec(ctx context.Context, s Spec, actor string) (bool, error) {
	p, err := s.Provider()
	if err != nil {
		return false, err
	}
	old, err := svc.Store.ProviderByID(ctx, p.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		_, err = svc.Put(ctx, p, actor)
		return true, err
	case err != nil:
		return false, err
	}
	if p.SecretPlain == "" && len(old.Secret) > 0 {
		b, err := svc.Cipher.Decrypt(ctx, old.Secret, []byte("idp-secret:"+p.ID))
		if err != nil {
			return false, fmt.Errorf("decrypt the client secret of %s: %w", p.ID, err)
		}
		p.SecretPlain = string(b)
	}
	_, err = svc.Put(ctx, p, actor)
	return false, err
}
