-- Consents: every grant and withdrawal of a person's consent to a purpose
-- (terms of service, marketing mail, …) is a receipt, never changed (the
-- trigger refuses updates); consent_states is where the receipts have led,
-- one row per person and purpose, read at sign-ins and authorizations. A
-- receipt's ID is the UUID of its event. Both go with their user.

-- +goose Up
CREATE TABLE consent_receipts (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('granted', 'withdrawn')),
    recorded_at BIGINT  NOT NULL,
    channel     TEXT    NOT NULL,
    client_id   TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL,
    method      TEXT    NOT NULL
);
CREATE INDEX consent_receipts_user ON consent_receipts (user_id, recorded_at);

CREATE TABLE consent_states (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL,
    granted     BOOLEAN NOT NULL,
    version     TEXT    NOT NULL,
    recorded_at BIGINT  NOT NULL,
    receipt_id  TEXT    NOT NULL,
    PRIMARY KEY (user_id, purpose)
);

-- +goose StatementBegin
CREATE TRIGGER consent_receipts_append_only BEFORE UPDATE ON consent_receipts
BEGIN
    SELECT RAISE(ABORT, 'consent receipts are never changed');
END;
-- +goose StatementEnd
