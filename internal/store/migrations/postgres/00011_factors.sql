-- Second factors: authenticator apps (TOTP, the secret encrypted under the
-- keyring) and recovery codes (SHA-256 digests), deleted with their user.

-- +goose Up
CREATE TABLE auth_factors (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    secret       BYTEA   NOT NULL,
    last_step    BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL
);
CREATE INDEX auth_factors_user ON auth_factors (user_id);

CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, digest)
);
