-- The link of an invitation that is both mailed and handed to its inviter:
-- its token, sealed by the keyring, until the mailer has put it in the
-- mail; NULL otherwise (only the token's hash is kept).

-- +goose Up
ALTER TABLE invitations ADD COLUMN sealed_token BYTEA;
