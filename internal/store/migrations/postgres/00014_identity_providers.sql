-- Upstream identity providers ("Continue with …"), their client secrets
-- sealed by the keyring, and the upstream accounts linked to users.

-- +goose Up
CREATE TABLE identity_providers (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    secret      BYTEA,
    scopes      TEXT    NOT NULL,
    trust_email BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE user_identities (
    provider_id  TEXT    NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject      TEXT    NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
