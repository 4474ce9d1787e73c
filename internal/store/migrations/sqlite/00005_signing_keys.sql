-- Token signing keys. sealed_private is the private key in PKCS #8, encrypted
-- with the keyring; its associated data is 'signing-key:' || id. public_jwk
-- is the public key as a JSON Web Key. A key is next (published, not yet
-- signing), active (signing: at most one per algorithm) or retired
-- (published until expires_at, then deleted).
--
-- signing_keys_version has one row. Every change to signing_keys first
-- increments its version in the same transaction: that takes a lock which
-- makes changes from different nodes take turns, and lets nodes see with
-- one cheap read whether their cached keys are current.

-- +goose Up
CREATE TABLE signing_keys (
    id             TEXT    PRIMARY KEY,
    alg            TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    sealed_private BLOB    NOT NULL,
    public_jwk     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER,
    expires_at     INTEGER
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

CREATE TABLE signing_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);
