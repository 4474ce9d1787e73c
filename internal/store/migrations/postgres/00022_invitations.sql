-- Invitations to join an organization with roles. The link's token is kept
-- as its SHA-256 only. An organization has at most one pending invitation
-- per address; accepted, revoked and expired ones stay as a record and go
-- with the organization.
--
-- IDs compare byte by byte (COLLATE "C"), as on SQLite: they break ties in
-- the newest-first order.

-- +goose Up
CREATE TABLE invitations (
    id          TEXT    COLLATE "C" PRIMARY KEY,
    org_id      TEXT    COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    given_name  TEXT    NOT NULL DEFAULT '',
    family_name TEXT    NOT NULL DEFAULT '',
    phone       TEXT    NOT NULL DEFAULT '',
    locale      TEXT    NOT NULL DEFAULT '',
    -- A JSON array of "app/role" names, given when it is accepted: not
    -- foreign keys, so that deleting a role does not touch invitations.
    roles       TEXT    NOT NULL DEFAULT '[]',
    return_to   TEXT    NOT NULL DEFAULT '',
    token_hash  TEXT    NOT NULL UNIQUE,
    status      TEXT    NOT NULL DEFAULT 'pending',
    invited_by  TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    -- NULL until it is accepted.
    accepted_at BIGINT,
    accepted_by TEXT
);
CREATE UNIQUE INDEX invitations_pending ON invitations (org_id, email) WHERE status = 'pending';
CREATE INDEX invitations_org ON invitations (org_id, created_at);
CREATE INDEX invitations_expiry ON invitations (status, expires_at);
