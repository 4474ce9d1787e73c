-- Requests to join an organization by the domain of a verified address.
-- A person has at most one pending request per organization; approved and
-- declined ones stay as a record and go with the organization and the
-- person.
--
-- IDs compare byte by byte (COLLATE "C"), as on SQLite: they break ties in
-- the oldest-first order.

-- +goose Up
CREATE TABLE join_requests (
    id         TEXT    COLLATE "C" PRIMARY KEY,
    org_id     TEXT    COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT    COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address when they asked, for the organization's admins.
    email      TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'pending',
    created_at BIGINT  NOT NULL,
    -- NULL and '' until it is approved or declined.
    decided_at BIGINT,
    decided_by TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX join_requests_pending ON join_requests (org_id, user_id) WHERE status = 'pending';
CREATE INDEX join_requests_org ON join_requests (org_id, status, created_at);
CREATE INDEX join_requests_user ON join_requests (user_id);
