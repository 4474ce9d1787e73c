-- Upstream providers that speak plain OAuth 2 rather than OpenID Connect:
-- their endpoints, and how their userinfo answer maps to claims.

-- +goose Up
ALTER TABLE identity_providers ADD COLUMN kind TEXT NOT NULL DEFAULT 'oidc';
ALTER TABLE identity_providers ADD COLUMN auth_url TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_providers ADD COLUMN token_url TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_providers ADD COLUMN userinfo_url TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_providers ADD COLUMN claim_map TEXT NOT NULL DEFAULT '';
