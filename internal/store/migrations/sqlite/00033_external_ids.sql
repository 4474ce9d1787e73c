-- The IDs other systems give users and organizations, per source system:
-- one per subject and source, unique within the source. They go with their
-- user or organization.

-- +goose Up
CREATE TABLE user_external_ids (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source  TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (source, value),
    UNIQUE (user_id, source)
);
CREATE TABLE organization_external_ids (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (source, value),
    UNIQUE (org_id, source)
);
