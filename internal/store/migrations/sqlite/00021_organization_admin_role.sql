-- The built-in role of an organization's own admins: they manage its
-- people and their roles on the hosted pages (delegated administration).

-- +goose Up
INSERT INTO roles (app, name, description, permissions, delegable, created_at)
VALUES ('portvakt', 'org_admin', 'Manages the organization: invites people, gives and takes their roles, removes leavers', '["org:manage"]', FALSE, 0);
