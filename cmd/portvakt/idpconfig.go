package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/portvakt/portvakt/internal/federation"
)

// idpConfig is an upstream identity provider in the config file
// (identity_providers). A preset fills in a known provider; the other keys
// override it. Secrets are given inline or, better, as files.
type idpConfig struct {
	ID                  string            `koanf:"id" json:"id"`
	Preset              string            `koanf:"preset" json:"preset,omitempty"`
	Tenant              string            `koanf:"tenant" json:"tenant,omitempty"`
	AllowedTenants      []string          `koanf:"allowed_tenants" json:"allowed_tenants,omitempty"`
	Name                string            `koanf:"name" json:"name,omitempty"`
	Kind                string            `koanf:"kind" json:"kind,omitempty"`
	Issuer              string            `koanf:"issuer" json:"issuer,omitempty"`
	AuthURL             string            `koanf:"auth_url" json:"auth_url,omitempty"`
	TokenURL            string            `koanf:"token_url" json:"token_url,omitempty"`
	UserinfoURL         string            `koanf:"userinfo_url" json:"userinfo_url,omitempty"`
	EmailsURL           string            `koanf:"emails_url" json:"emails_url,omitempty"`
	ClientID            string            `koanf:"client_id" json:"client_id"`
	ClientSecret        Secret            `koanf:"client_secret" json:"client_secret,omitempty"`
	ClientSecretFile    string            `koanf:"client_secret_file" json:"client_secret_file,omitempty"`
	AppleTeamID         string            `koanf:"apple_team_id" json:"apple_team_id,omitempty"`
	AppleKeyID          string            `koanf:"apple_key_id" json:"apple_key_id,omitempty"`
	ApplePrivateKeyFile string            `koanf:"apple_private_key_file" json:"apple_private_key_file,omitempty"`
	Scopes              []string          `koanf:"scopes" json:"scopes,omitempty"`
	TrustEmail          *bool             `koanf:"trust_email" json:"trust_email,omitempty"`
	ClaimMap            map[string]string `koanf:"claim_map" json:"claim_map,omitempty"`
	RequiredFields      []string          `koanf:"required_fields" json:"required_fields,omitempty"`
	Brand               string            `koanf:"brand" json:"brand,omitempty"`
	ResponseMode        string            `koanf:"response_mode" json:"response_mode,omitempty"`
	Proofing            bool              `koanf:"proofing" json:"proofing,omitempty"`
	ACRMap              map[string]string `koanf:"acr_map" json:"acr_map,omitempty"`
	NationalIDClaim     string            `koanf:"national_id_claim" json:"national_id_claim,omitempty"`
}

// idpConfigKeys are the keys an identity_providers entry may have.
var idpConfigKeys = []string{
	"id", "preset", "tenant", "allowed_tenants", "name", "kind", "issuer", "auth_url", "token_url", "userinfo_url", "emails_url",
	"client_id", "client_secret", "client_secret_file", "apple_team_id", "apple_key_id", "apple_private_key_file", "scopes",
	"trust_email", "claim_map", "required_fields", "brand", "response_mode", "proofing", "acr_map", "national_id_claim",
}

// checkIdpKeys reports keys of identity_providers entries that are not
// settings (a typo would otherwise be ignored).
func checkIdpKeys(raw any) error {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return errors.New("identity_providers: a list of providers, each with id, client_id and a preset or issuer")
	}
	var errs []error
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("identity_providers[%d]: a provider is a map of settings", i))
			continue
		}
		var unknown []string
		for k := range m {
			if !slices.Contains(idpConfigKeys, k) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		if len(unknown) > 0 {
			errs = append(errs, fmt.Errorf("identity_providers[%d]: unknown settings %s", i, strings.Join(unknown, ", ")))
		}
	}
	return errors.Join(errs...)
}

// provider is the configured provider, its secret (or Apple key) read.
func (c idpConfig) provider() (federation.Provider, error) {
	secrets := 0
	for _, v := range []string{string(c.ClientSecret), c.ClientSecretFile, c.ApplePrivateKeyFile} {
		if v != "" {
			secrets++
		}
	}
	if secrets > 1 {
		return federation.Provider{}, errors.New("give one of client_secret, client_secret_file and apple_private_key_file")
	}
	spec := federation.Spec{ID: c.ID, Preset: c.Preset, Tenant: c.Tenant, AllowedTenants: c.AllowedTenants, Name: c.Name, Kind: c.Kind,
		Issuer: c.Issuer, AuthURL: c.AuthURL, TokenURL: c.TokenURL, UserinfoURL: c.UserinfoURL, EmailsURL: c.EmailsURL,
		ClientID: c.ClientID, ClientSecret: string(c.ClientSecret), AppleTeamID: c.AppleTeamID, AppleKeyID: c.AppleKeyID,
		Scopes: c.Scopes, TrustEmail: c.TrustEmail, ClaimMap: c.ClaimMap, RequiredFields: c.RequiredFields, Brand: c.Brand,
		ResponseMode: c.ResponseMode, Proofing: c.Proofing, ACRMap: c.ACRMap, NationalIDClaim: c.NationalIDClaim}
	for _, file := range []string{c.ClientSecretFile, c.ApplePrivateKeyFile} {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return federation.Provider{}, fmt.Errorf("secret file: %w", err)
		}
		spec.ClientSecret = strings.TrimRight(string(b), "\r\n")
	}
	p, err := spec.Provider()
	var fe federation.FieldError
	if errors.As(err, &fe) && fe.Field == "preset" {
		return p, fmt.Errorf("preset: %s", fe.Message)
	}
	if errors.As(err, &fe) && fe.Field == "acr_map" {
		return p, errors.New("acr_map is for identity-proofing providers: set proofing: true")
	}
	return p, err
}

// idpProblems checks the configured providers: each must be valid, its
// secret readable, and no ID given twice.
func idpProblems(list []idpConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range list {
		p, err := c.provider()
		if err == nil {
			err = p.Validate()
		}
		if err == nil && p.AppleTeamID != "" && !strings.Contains(p.SecretPlain, "PRIVATE KEY") {
			err = errors.New("apple_team_id: give the key's .p8 file as apple_private_key_file")
		}
		if err != nil {
			for _, e := range flattenErrors(err) {
				errs = append(errs, fmt.Errorf("identity_providers[%d] (%s): %w", i, p.ID, e))
			}
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("identity_providers[%d]: the id %q is given twice", i, p.ID))
		}
		seen[p.ID] = true
	}
	return errs
}

// flattenErrors lists the errors joined in err (errors.Join), depth
// first.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// applyIdps puts the configured providers in the database: new ones are
// created, changed ones replaced (their linked accounts kept), unchanged
// ones left alone. Providers made with the CLI are not touched.
func applyIdps(ctx context.Context, a *app, fed *federation.Service, list []idpConfig) error {
	for i, c := range list {
		p, err := c.provider()
		if err != nil {
			return configError{fmt.Errorf("identity_providers[%d]: %w", i, err)}
		}
		changed, err := fed.Put(ctx, p, "system:config")
		if err != nil {
			return fmt.Errorf("identity_providers[%d] (%s): %w", i, p.ID, err)
		}
		if changed {
			a.log.InfoContext(ctx, "identity provider applied from the config file", "idp", p.ID)
		}
	}
	return nil
}
