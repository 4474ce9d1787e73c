-- Changing the email address: a one-time token can name a second address
-- besides the account's own. A change_email token names the new address
-- the mail with it was sent to; an undo_email_change token names the
-- address the change replaced, which the link in the mail to that address
-- restores. Empty for the other kinds.

-- +goose Up
ALTER TABLE account_tokens ADD COLUMN target_email TEXT NOT NULL DEFAULT '';
