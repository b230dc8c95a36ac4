-- +goose Up
-- IAM (issue 4): custom roles with CEL policies, the organization guardrail
-- policy, API keys bound to one role, and the append-only audit log. One
-- schema text for SQLite and PostgreSQL, like 00001: TEXT/BIGINT/BOOLEAN,
-- times as unix milliseconds, JSON documents as TEXT.

-- Custom roles of an organization (system roles are code, not rows). The
-- group_roles table holds system and custom role IDs alike.
CREATE TABLE iam_roles (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    tags               TEXT NOT NULL DEFAULT '[]',
    created_at         BIGINT NOT NULL,
    created_by         TEXT NOT NULL DEFAULT '',
    modified_at        BIGINT NOT NULL DEFAULT 0,
    modified_by        TEXT NOT NULL DEFAULT '',
    -- The role's policy document (JSON), compiled when written.
    policy             TEXT NOT NULL,
    -- Who may assume the role (JSON policy); '' = nobody.
    assume_role_policy TEXT NOT NULL DEFAULT '',
    max_session_ttl    BIGINT NOT NULL,
    -- JSON array of permission names, JSON object of labels.
    permissions        TEXT NOT NULL DEFAULT '[]',
    labels             TEXT NOT NULL DEFAULT '{}',
    -- Fixed at creation: false freezes the policy.
    editable           BOOLEAN NOT NULL,
    -- Bumped on every change: compiled policies are cached by (id, version),
    -- so every replica sees a change at its next request.
    version            BIGINT NOT NULL
);
CREATE UNIQUE INDEX iam_roles_org_name ON iam_roles (organization_id, name);
CREATE UNIQUE INDEX iam_roles_org_id ON iam_roles (organization_id, id);
-- "Which groups hold this role?" when a role is deleted.
CREATE INDEX group_roles_role ON group_roles (role_id);

-- The organization guardrail: at most one policy per organization. No row,
-- or an empty policy (after a reset), means no guardrail. A reset keeps the
-- row so that the version only ever grows.
CREATE TABLE organization_policies (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    policy          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL,
    modified_by     TEXT NOT NULL DEFAULT ''
);

-- API keys: credentials bound to one role (system or custom) of their
-- organization. The id is the public key ID inside the token
-- ghak_<id>_<secret>; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    modified_at     BIGINT NOT NULL DEFAULT 0,
    modified_by     TEXT NOT NULL DEFAULT '',
    role_id         TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    -- 0 = never expires.
    expires_at      BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_keys_org_name ON api_keys (organization_id, name);
CREATE UNIQUE INDEX api_keys_org_id ON api_keys (organization_id, id);
CREATE INDEX api_keys_role ON api_keys (role_id);

-- The audit log: one row per successful /api/v1 write, inserted in the
-- write's own transaction. Append-only: the store offers insert and list,
-- nothing else. No foreign key to organizations, so the events of a deleted
-- organization are kept ('' = platform-level write).
CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    actor_subject   TEXT NOT NULL,
    -- The whole actor as JSON (role and source principal of a session).
    actor           TEXT NOT NULL,
    operation_id    TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    -- JSON snapshots, secrets redacted; 'null' when there is none.
    before_state    TEXT NOT NULL,
    after_state     TEXT NOT NULL,
    request_id      TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);
CREATE INDEX audit_events_org_resource ON audit_events (organization_id, resource_type, resource_id, id);
CREATE INDEX audit_events_org_actor ON audit_events (organization_id, actor_id, id);
CREATE INDEX audit_events_request ON audit_events (request_id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE organization_policies;
DROP INDEX group_roles_role;
DROP TABLE iam_roles;
