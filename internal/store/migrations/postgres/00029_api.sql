-- The management API: requests with an Idempotency-Key, kept with their
-- answer so that a retry gets the same answer instead of doing the work
-- twice; and invitations' reference (the integrating system's own ID for
-- the invitation) and delivery (email: Portvakt mails the link; link: the
-- caller got the link to send through its own channel).

-- +goose Up
CREATE TABLE api_idempotency (
    client_id     TEXT   COLLATE "C" NOT NULL,
    idem_key      TEXT   COLLATE "C" NOT NULL,
    -- SHA-256 of method, path and body: the same key with another
    -- request is refused.
    request_hash  TEXT   NOT NULL,
    -- 0 while the request is being served.
    status        INT    NOT NULL DEFAULT 0,
    location      TEXT   NOT NULL DEFAULT '',
    etag          TEXT   NOT NULL DEFAULT '',
    body          TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (client_id, idem_key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
ALTER TABLE invitations ADD COLUMN reference TEXT NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN delivery TEXT NOT NULL DEFAULT 'email';
