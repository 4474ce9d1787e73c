-- Mail made by the outbox's mail consumer: one row per event, so that an
-- event delivered twice sends one mail. body holds the display name and the
-- text and HTML bodies, encrypted with the keyring (they carry links and
-- codes); its associated data is 'mail:' || id.

-- +goose Up
CREATE TABLE mails (
    id         TEXT    PRIMARY KEY,
    event_uuid TEXT    NOT NULL UNIQUE,
    recipient  TEXT    NOT NULL,
    template   TEXT    NOT NULL,
    lang       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       BYTEA   NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'captured', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    sent_at    BIGINT
);
CREATE INDEX mails_created ON mails (created_at, id);
