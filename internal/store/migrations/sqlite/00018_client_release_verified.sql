-- The verified attributes a client receives (legal_name, birthdate,
-- national_id), as a JSON array of their names; '[]' for none.

-- +goose Up
ALTER TABLE clients ADD COLUMN release_verified TEXT NOT NULL DEFAULT '[]';
