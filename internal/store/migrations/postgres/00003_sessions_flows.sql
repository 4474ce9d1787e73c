-- Sign-in sessions, self-service flows, one-time account tokens, throttling.

-- +goose Up
CREATE TABLE sessions (
    id_hash       TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    auth_time     BIGINT  NOT NULL,
    methods       TEXT    NOT NULL,
    acr           TEXT    NOT NULL DEFAULT '',
    expires_at    BIGINT  NOT NULL,
    client_ip     TEXT    NOT NULL DEFAULT '',
    user_agent    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE flows (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX flows_expires ON flows (expires_at);

CREATE TABLE account_tokens (
    id          TEXT    PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    code_hash   TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, kind);

CREATE TABLE throttle (
    key           TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  BIGINT  NOT NULL,
    blocked_until BIGINT  NOT NULL
);
