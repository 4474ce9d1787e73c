-- OpenID Connect: client assertions (private_key_jwt) already used, kept
-- until they expire so that none is accepted twice.

-- +goose Up
CREATE TABLE oidc_client_assertions (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oidc_client_assertions_expires ON oidc_client_assertions (expires_at);
