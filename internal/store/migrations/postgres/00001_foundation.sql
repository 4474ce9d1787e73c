-- The outbox, worker checkpoints and leases, and the keyring.

-- +goose Up
CREATE TABLE events (
    position    BIGSERIAL PRIMARY KEY,
    uuid        TEXT      NOT NULL UNIQUE,
    type        TEXT      NOT NULL,
    subject     TEXT      NOT NULL,
    actor       TEXT      NOT NULL,
    occurred_at BIGINT    NOT NULL,
    data        TEXT      NOT NULL
);
CREATE INDEX events_subject ON events (subject, position);

CREATE TABLE event_checkpoints (
    consumer   TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE keyring_keys (
    id            TEXT    PRIMARY KEY,
    master_key_id TEXT    NOT NULL,
    wrapped       BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL,
    active        BOOLEAN NOT NULL
);
