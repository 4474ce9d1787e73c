-- What a token's ID tokens and userinfo need after the authorization
-- request is gone: the authentication context class of the sign-in (acr)
-- and the claims request parameter (JSON, '' when there was none).

-- +goose Up
ALTER TABLE oidc_tokens ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_tokens ADD COLUMN claims TEXT NOT NULL DEFAULT '';
