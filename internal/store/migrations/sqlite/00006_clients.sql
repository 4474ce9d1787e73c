-- OAuth 2 and OpenID Connect clients. The list fields (grant_types,
-- redirect_uris, post_logout_redirect_uris, scopes, access_token_audience)
-- are JSON arrays of strings; jwks is the client's public key set as JSON,
-- '' when it has none. Secrets are kept only as SHA-256 digests (hex);
-- previous_secret_hash is accepted until previous_secret_expires_at, the
-- overlap of a rotation. Lifetimes are in seconds.

-- +goose Up
CREATE TABLE clients (
    id                                  TEXT    PRIMARY KEY,
    name                                TEXT    NOT NULL,
    type                                TEXT    NOT NULL CHECK (type IN ('confidential', 'public')),
    application_type                    TEXT    NOT NULL,
    grant_types                         TEXT    NOT NULL DEFAULT '[]',
    redirect_uris                       TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris           TEXT    NOT NULL DEFAULT '[]',
    scopes                              TEXT    NOT NULL DEFAULT '[]',
    first_party                         BOOLEAN NOT NULL DEFAULT FALSE,
    token_endpoint_auth_method          TEXT    NOT NULL,
    jwks                                TEXT    NOT NULL DEFAULT '',
    jwks_uri                            TEXT    NOT NULL DEFAULT '',
    id_token_alg                        TEXT    NOT NULL,
    access_token_format                 TEXT    NOT NULL,
    access_token_audience               TEXT    NOT NULL DEFAULT '[]',
    access_token_lifetime_seconds       INTEGER NOT NULL,
    id_token_lifetime_seconds           INTEGER NOT NULL,
    refresh_token_lifetime_seconds      INTEGER NOT NULL,
    subject_type                        TEXT    NOT NULL,
    sector_identifier                   TEXT    NOT NULL DEFAULT '',
    require_par                         BOOLEAN NOT NULL DEFAULT FALSE,
    backchannel_logout_uri              TEXT    NOT NULL DEFAULT '',
    backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE,
    secret_hash                         TEXT    NOT NULL DEFAULT '',
    previous_secret_hash                TEXT    NOT NULL DEFAULT '',
    previous_secret_expires_at          INTEGER,
    created_at                          INTEGER NOT NULL,
    updated_at                          INTEGER NOT NULL
);
