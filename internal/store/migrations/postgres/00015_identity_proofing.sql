-- Identity-proofing providers (eID brokers): how their acr values map to
-- the levels of assurance and which claim holds the national identity
-- number; the attributes they verified, sealed by the keyring; and a keyed
-- hash (HMAC) of each national identity number, to find the person again.

-- +goose Up
ALTER TABLE identity_providers ADD COLUMN proofing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE identity_providers ADD COLUMN acr_map TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_providers ADD COLUMN national_id_claim TEXT NOT NULL DEFAULT '';

CREATE TABLE verified_attributes (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    value       BYTEA   NOT NULL,
    source      TEXT    NOT NULL,
    verified_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE national_ids (
    digest  TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX national_ids_user ON national_ids (user_id);
