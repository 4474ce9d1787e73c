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
    secret              BYTEA   NOT NULL,
    previous_secret     BYTEA,
    previous_expires_at BIGINT,
    start_position      BIGINT    NOT NULL,
    paused_at           BIGINT,
    pause_reason        TEXT    NOT NULL DEFAULT '',
    failing_since       BIGINT,
    created_at          BIGINT    NOT NULL,
    updated_at          BIGINT    NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              TEXT    PRIMARY KEY,
    subscription_id TEXT    NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_uuid      TEXT    NOT NULL,
    event_position  BIGINT    NOT NULL,
    event_type      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT    NOT NULL,
    window_start    BIGINT    NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_holder    TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT    NOT NULL DEFAULT 0,
    created_at      BIGINT    NOT NULL,
    updated_at      BIGINT    NOT NULL,
    UNIQUE (subscription_id, event_uuid)
);
-- The queue of each subscription and subject, for the order check.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, subject, event_position) WHERE status = 'pending';
-- Due deliveries, for claiming.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, event_position) WHERE status = 'pending';
-- Listing a subscription's deliveries by status.
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (subscription_id, status, event_position);

CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT    NOT NULL,
    status_code  INTEGER NOT NULL,
    latency_us   BIGINT    NOT NULL,
    response     TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
