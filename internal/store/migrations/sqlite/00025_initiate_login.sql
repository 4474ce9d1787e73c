-- Where a person is sent on to an application: a client's
-- initiate_login_uri (OpenID Connect third-party-initiated login), and the
-- application an invitation leads to once accepted.

-- +goose Up
ALTER TABLE clients ADD COLUMN initiate_login_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
