-- Customer accounts.

-- +goose Up
CREATE TABLE users (
    id                   TEXT    PRIMARY KEY,
    email                TEXT    NOT NULL,
    email_normalized     TEXT    NOT NULL UNIQUE,
    email_verified       BOOLEAN NOT NULL DEFAULT FALSE,
    given_name           TEXT    NOT NULL DEFAULT '',
    family_name          TEXT    NOT NULL DEFAULT '',
    phone                TEXT    NOT NULL DEFAULT '',
    locale               TEXT    NOT NULL DEFAULT '',
    status               TEXT    NOT NULL DEFAULT 'active',
    external_id          TEXT    UNIQUE,
    attributes           TEXT    NOT NULL DEFAULT '{}',
    password_hash        TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    profile_confirmed_at INTEGER
);
