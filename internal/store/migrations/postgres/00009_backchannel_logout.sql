-- OpenID Connect Back-Channel Logout: which clients a session (or a user)
-- has tokens for, and the outcome of each logout token sent. A delivery is
-- keyed by the event that caused it, the client and the session (sid, ''
-- for a token naming only the user), so a replayed event sends nothing
-- twice.

-- +goose Up
CREATE INDEX oidc_tokens_session ON oidc_tokens (session_id);
CREATE INDEX oidc_auth_requests_session ON oidc_auth_requests (session_id);

CREATE TABLE oidc_backchannel_deliveries (
    event_uuid  TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    sid         TEXT    NOT NULL DEFAULT '',
    delivered   BOOLEAN NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (event_uuid, client_id, sid)
);
CREATE INDEX oidc_backchannel_deliveries_created ON oidc_backchannel_deliveries (created_at);
