-- Whether everyone signing in to a client must use a second factor.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
