-- Webhooks: subscriptions with their sealed signing secrets, the
-- deliveries fanned out from the event log (one per event and
-- subscription, so handling an event again queues nothing twice), and
-- every attempt at sending one.

-- +goose Up
CREATE TABLE webhook_subscriptions (
    id                  TEXT    PRIMARY KEY,
    url                 TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    event_types         TEXT    NOT NULL,
    enabled             BOOLEAN NOT NULL,
    secret              BLOB   NOT NULL,
    previous_secret     BLOB,
    previous_expires_at INTEGER,
    start_position      INTEGER    NOT NULL,
    paused_at           INTEGER,
    pause_reason        TEXT    NOT NULL DEFAULT '',
    failing_since       INTEGER,
    created_at          INTEGER    NOT NULL,
    updated_at          INTEGER    NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              TEXT    PRIMARY KEY,
    subscription_id TEXT    NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_uuid      TEXT    NOT NULL,
    event_position  INTEGER    NOT NULL,
    event_type      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER    NOT NULL,
    window_start    INTEGER    NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_holder    TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER    NOT NULL DEFAULT 0,
    created_at      INTEGER    NOT NULL,
    updated_at      INTEGER    NOT NULL,
    UNIQUE (subscription_id, event_uuid)
);
-- The queue of each subscription and subject, for the order check.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, subject, event_position) WHERE status = 'pending';
-- Due deliveries, for claiming.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, event_position) WHERE status = 'pending';
-- Listing a subscription's deliveries by status.
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (subscription_id, status, event_position);

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at INTEGER    NOT NULL,
    status_code  INTEGER NOT NULL,
    latency_us   INTEGER    NOT NULL,
    response     TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
