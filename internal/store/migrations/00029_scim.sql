-- +goose Up
-- SCIM 2.0 provisioning (issue 18): what a directory says of the users and
-- groups it provisions beyond what Gatehouse models. A user or group is the
-- directory's (visible to SCIM, its attributes kept) once a row here names
-- it; the row goes with the user or group (ON DELETE CASCADE), and so with
-- the organization. external_id is the directory's own identifier
-- (RFC 7643 externalId); attributes is the JSON of the SCIM attributes
-- Gatehouse keeps for the directory only (name, displayName, emails, the
-- enterprise extension), never read for a decision.
CREATE TABLE scim_users (
    resource_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    external_id     TEXT NOT NULL DEFAULT '',
    attributes      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX scim_users_org ON scim_users (organization_id);

CREATE TABLE scim_groups (
    resource_id     TEXT PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    external_id     TEXT NOT NULL DEFAULT '',
    attributes      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX scim_groups_org ON scim_groups (organization_id);

-- +goose Down
DROP TABLE scim_groups;
DROP TABLE scim_users;
