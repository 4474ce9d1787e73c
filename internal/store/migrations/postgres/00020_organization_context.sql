-- The organization context of tokens: the application whose roles a
-- client's tokens carry (a name several clients can share; '' is the
-- client's own ID), and the organization a token was issued in ('' for
-- none), so that userinfo and refreshes read the person's current roles
-- there and a leaver's tokens can be revoked.

-- +goose Up
ALTER TABLE clients ADD COLUMN app TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_tokens ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_tokens_org ON oidc_tokens (user_id, org_id) WHERE org_id <> '';
