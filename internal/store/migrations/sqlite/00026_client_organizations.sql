-- Whether a client is used in organizations: optional (the default),
-- required, or off (a consumer application: no organization chooser, no
-- organization in its tokens).

-- +goose Up
ALTER TABLE clients ADD COLUMN organizations TEXT NOT NULL DEFAULT 'optional';
