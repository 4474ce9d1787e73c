-- An organization's settings, as one JSON object: the upstream identity
-- provider its people sign in with (home-realm discovery) and the roles
-- they join with.

-- +goose Up
ALTER TABLE organizations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
