-- The lowest level of assurance (acr value) a client accepts; '' for none.

-- +goose Up
ALTER TABLE clients ADD COLUMN min_acr TEXT NOT NULL DEFAULT '';
