-- Organizations (business customers and partners) with their verified
-- email domains, the roles applications declare, and who holds which of
-- them: in an organization (memberships) or outside any (user_roles).
-- Deleting an organization, a user or a role deletes what hangs on it.

-- +goose Up
CREATE TABLE organizations (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    -- NULL when unset: NULLs never collide in a unique key.
    external_id TEXT    UNIQUE,
    status      TEXT    NOT NULL DEFAULT 'active',
    -- A JSON object, kept as given.
    metadata    TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A domain belongs to one organization at most: it is the key.
CREATE TABLE organization_domains (
    domain TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX organization_domains_org ON organization_domains (org_id);

CREATE TABLE roles (
    app         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    -- A JSON array of permission names; '[]' for none.
    permissions TEXT    NOT NULL DEFAULT '[]',
    delegable   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app, name)
);

CREATE TABLE memberships (
    org_id     TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- The roles held in an organization go with the membership and with the
-- role.
CREATE TABLE membership_roles (
    org_id  TEXT NOT NULL,
    user_id TEXT NOT NULL,
    app     TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, app, role),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (app, role) REFERENCES roles (app, name) ON DELETE CASCADE
);
CREATE INDEX membership_roles_role ON membership_roles (app, role);

-- Roles held outside any organization.
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app     TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, app, role),
    FOREIGN KEY (app, role) REFERENCES roles (app, name) ON DELETE CASCADE
);
CREATE INDEX user_roles_role ON user_roles (app, role);
