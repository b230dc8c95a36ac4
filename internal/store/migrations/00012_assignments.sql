-- +goose Up
-- Permission sets and account assignments (issue 6). One schema text for
-- SQLite and PostgreSQL, like 00001: TEXT/BIGINT, times as unix
-- milliseconds, JSON documents as TEXT.

-- A permission set bundles roles (assignable system roles or custom roles of
-- the organization, in permission_set_roles) and an optional inline policy.
-- It grants nothing until it is assigned.
CREATE TABLE permission_sets (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    tags             TEXT NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL DEFAULT '',
    modified_at      BIGINT NOT NULL DEFAULT 0,
    modified_by      TEXT NOT NULL DEFAULT '',
    -- The inline policy document (JSON), compiled when written; '' = none.
    inline_policy    TEXT NOT NULL DEFAULT '',
    -- Seconds, 3600..43200.
    session_duration BIGINT NOT NULL,
    -- Bumped on every change: the compiled inline policy is cached by
    -- (id, version), like custom roles.
    version          BIGINT NOT NULL
);
CREATE UNIQUE INDEX permission_sets_org_name ON permission_sets (organization_id, name);
CREATE UNIQUE INDEX permission_sets_org_id ON permission_sets (organization_id, id);
CREATE INDEX permission_sets_org_created ON permission_sets (organization_id, created_at, id);

CREATE TABLE permission_set_roles (
    permission_set_id TEXT NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    role_id           TEXT NOT NULL,
    PRIMARY KEY (permission_set_id, role_id)
);
-- "Which permission sets hold this role?" when a custom role is deleted.
CREATE INDEX permission_set_roles_role ON permission_set_roles (role_id);

-- An account assignment: principal (user, group or service account) x
-- permission set x target (a project today; target_type leaves room for
-- cloud accounts). The principal, permission set and target names are
-- copies, kept in step by the transactions that rename those objects, so
-- that lists sort and filter on them through indexes. Principals and
-- targets have no foreign key (their tables differ by type): the store
-- deletes a principal's or a project's assignments in the transaction that
-- deletes it. A permission set cannot be deleted while assigned (no
-- cascade from permission_set_id).
CREATE TABLE account_assignments (
    id                  TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    principal_type      TEXT NOT NULL,
    principal_id        TEXT NOT NULL,
    principal_name      TEXT NOT NULL,
    permission_set_id   TEXT NOT NULL REFERENCES permission_sets (id),
    permission_set_name TEXT NOT NULL,
    target_type         TEXT NOT NULL,
    target_id           TEXT NOT NULL,
    target_name         TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    created_by          TEXT NOT NULL DEFAULT ''
);
-- One assignment per triple; also "the assignments of a principal" (the
-- decision's query, cascades, renames, the effective lists). IDs lead
-- types, so that a filter on a principal ID alone uses it too (IDs are
-- unique across types).
CREATE UNIQUE INDEX account_assignments_triple ON account_assignments
    (organization_id, principal_id, principal_type, permission_set_id, target_id, target_type);
CREATE UNIQUE INDEX account_assignments_org_id ON account_assignments (organization_id, id);
-- Sorted lists: each sort field, then created_at and id (the tie-breaker).
CREATE INDEX account_assignments_org_created ON account_assignments (organization_id, created_at, id);
CREATE INDEX account_assignments_org_principal_name ON account_assignments (organization_id, principal_name, created_at, id);
CREATE INDEX account_assignments_org_set_name ON account_assignments (organization_id, permission_set_name, created_at, id);
CREATE INDEX account_assignments_org_target_name ON account_assignments (organization_id, target_name, created_at, id);
-- Filters by target and by permission set (and their cascades, renames and
-- counts), in creation order. They hold every sort key too, so that a
-- filtered list sorted by another key is sorted from the index alone,
-- without reading a table row per match.
CREATE INDEX account_assignments_org_target ON account_assignments
    (organization_id, target_id, target_type, created_at, id, principal_name, permission_set_name, target_name, principal_type);
CREATE INDEX account_assignments_org_set ON account_assignments
    (organization_id, permission_set_id, created_at, id, principal_name, permission_set_name, target_name, principal_type);

-- The number of assignments of each organization, by principal type, kept
-- by the transactions that insert and delete them: the total of an
-- unfiltered list (and of one filtered by principal type alone) without
-- counting 100,000 rows on every page.
CREATE TABLE account_assignment_counts (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    principal_type  TEXT NOT NULL,
    total           BIGINT NOT NULL,
    PRIMARY KEY (organization_id, principal_type)
);

-- +goose Down
DROP TABLE account_assignment_counts;
DROP TABLE account_assignments;
DROP TABLE permission_set_roles;
DROP TABLE permission_sets;
