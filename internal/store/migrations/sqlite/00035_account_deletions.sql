-- Accounts whose owner asked for their deletion: erased once due_at has
-- passed (by the retention sweep), unless the person signs in before. The
-- request goes with the account.

-- +goose Up
CREATE TABLE account_deletions (
    user_id      TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requested_at INTEGER NOT NULL,
    due_at       INTEGER NOT NULL
);
CREATE INDEX account_deletions_due ON account_deletions (due_at);
