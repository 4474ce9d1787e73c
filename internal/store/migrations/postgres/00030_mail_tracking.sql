-- A mail can be tracked: when it is sent, or refused for good, an event of
-- the tracked kind is written with its status change (e.g. an invitation's
-- invitation.sent or invitation.delivery_failed). JSON: {"type", "subject",
-- "data"}; '' for an untracked mail.

-- +goose Up
ALTER TABLE mails ADD COLUMN track TEXT NOT NULL DEFAULT '';
