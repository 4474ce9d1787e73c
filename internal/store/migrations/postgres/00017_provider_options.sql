-- A provider's less common settings (branding, response mode, multi-tenant
-- issuers, Apple's signed client secret, an emails endpoint, the fields a
-- registration through it must have), as one JSON object.

-- +goose Up
ALTER TABLE identity_providers ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
