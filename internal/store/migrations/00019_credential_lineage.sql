-- +goose Up
-- Credential lineage (issue 12): a derived credential dies with its source.

-- Bumped only when what the assume-role decision reads of the role changes
-- (its assume-role policy, name, tags or labels): a role session carries the
-- trust version it began under and ends when it moves on. Editing the
-- description or the role's own policy does not end sessions.
ALTER TABLE iam_roles ADD COLUMN trust_version BIGINT NOT NULL DEFAULT 1;

-- An API key created by a machine credential (a role session, an API key,
-- a service account) records its parent and the links it depends on (JSON
-- array, checked on every use); '' for a key a person created, which is an
-- organization object. from_role_session: the lineage holds a session of
-- the role the key is bound to, so deleting that role deletes the key
-- instead of refusing.
ALTER TABLE api_keys ADD COLUMN parent_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN from_role_session BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN from_role_session;
ALTER TABLE api_keys DROP COLUMN lineage;
ALTER TABLE api_keys DROP COLUMN parent_id;
ALTER TABLE api_keys DROP COLUMN parent_kind;
ALTER TABLE iam_roles DROP COLUMN trust_version;
