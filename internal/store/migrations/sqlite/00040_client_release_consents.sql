-- Whether a client receives the consents claim (the person's consents to
-- the purposes that concern it) in ID tokens and from userinfo.

-- +goose Up
ALTER TABLE clients ADD COLUMN release_consents BOOLEAN NOT NULL DEFAULT FALSE;
