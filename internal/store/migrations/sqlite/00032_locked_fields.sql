-- Attribute ownership: an invitation can lock the profile fields it
-- pre-fills (a JSON array of field names, such as ["given_name"]); the
-- user who registers with it keeps the list, and those fields are then
-- owned by the CRM for that user.

-- +goose Up
ALTER TABLE invitations ADD COLUMN locked_fields TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN locked_fields TEXT NOT NULL DEFAULT '[]';
