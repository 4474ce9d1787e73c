-- What an erasure and the purge of unverified registrations look for:
-- the webhook deliveries about a subject (whose payloads an erasure
-- scrubs), and accounts whose address was never verified, oldest first.

-- +goose Up
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (subject);
CREATE INDEX users_unverified ON users (created_at) WHERE email_verified = FALSE;
