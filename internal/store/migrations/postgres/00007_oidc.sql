-- OpenID Connect: authorization requests and codes, issued tokens, consents.

-- +goose Up
CREATE TABLE oidc_auth_requests (
    id           TEXT    PRIMARY KEY,
    client_id    TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    user_id      TEXT    NOT NULL DEFAULT '',
    auth_time    BIGINT  NOT NULL DEFAULT 0,
    amr          TEXT    NOT NULL DEFAULT '',
    acr          TEXT    NOT NULL DEFAULT '',
    session_id   TEXT    NOT NULL DEFAULT '',
    done         BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash    TEXT    UNIQUE,
    code_used_at BIGINT,
    family_id    TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_at);

CREATE TABLE oidc_tokens (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    family_id   TEXT    NOT NULL,
    token_hash  TEXT    UNIQUE,
    client_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    scopes      TEXT    NOT NULL,
    audience    TEXT    NOT NULL,
    auth_time   BIGINT  NOT NULL,
    amr         TEXT    NOT NULL,
    session_id  TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX oidc_tokens_family ON oidc_tokens (family_id);
CREATE INDEX oidc_tokens_user ON oidc_tokens (user_id, client_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);

CREATE TABLE oidc_consents (
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE oidc_revoked_jtis (
    jti        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
