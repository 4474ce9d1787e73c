-- A client of the management API can be limited to one organization (its
-- ID; '' for none): it then sees and changes that organization, its members
-- and its invitations only.

-- +goose Up
ALTER TABLE clients ADD COLUMN organization TEXT NOT NULL DEFAULT '';
