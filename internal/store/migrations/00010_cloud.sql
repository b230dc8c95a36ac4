-- +goose Up
-- Cloud credential federation (internal/cloud).

-- Signing keys get a scope: '' is the platform (the OpenID Connect provider's
-- keys, as before), an organization ID is that organization's workload issuer
-- (/oidc/organizations/{id}). Each scope has its own next/active/retired keys,
-- so one organization's key can never verify as another's. The private key of
-- a scoped key is sealed with "signingkey:" || scope || ":" || id as AAD.
ALTER TABLE signing_keys ADD COLUMN scope TEXT NOT NULL DEFAULT '';
DROP INDEX signing_keys_one_per_state;
-- At most one next and one active key per scope; also the lookup path of
-- "the active key of this scope".
CREATE UNIQUE INDEX signing_keys_one_per_scope_state ON signing_keys (scope, state) WHERE state IN ('next', 'active');
-- Published keys and expiry deletes of one scope.
CREATE INDEX signing_keys_scope ON signing_keys (scope, state, expires_at);
-- The rotation schedule's "which scopes have an active key".
CREATE INDEX signing_keys_state_scope ON signing_keys (state, scope);

-- Cloud identities: how a project's principals federate into AWS or GCP.
-- spec is the provider configuration as JSON (no secret: federation has none).
CREATE TABLE cloud_identities (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    modified_at     BIGINT NOT NULL DEFAULT 0,
    modified_by     TEXT NOT NULL DEFAULT '',
    project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL CHECK (provider IN ('aws', 'gcp')),
    spec            TEXT NOT NULL
);
CREATE UNIQUE INDEX cloud_identities_project_name ON cloud_identities (project_id, name);
CREATE UNIQUE INDEX cloud_identities_org_id ON cloud_identities (organization_id, id);
-- A project's identities in creation order (keyset pagination).
CREATE INDEX cloud_identities_project_id ON cloud_identities (project_id, id);

-- The credential store. spec holds what may be shown (access key ID, role
-- ARN); secret holds the sealed secret access key (AAD "cloudcredential:" || id),
-- '' for types without one. The API never returns it.
CREATE TABLE cloud_credentials (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    modified_at     BIGINT NOT NULL DEFAULT 0,
    modified_by     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL CHECK (type IN ('awsAccessKey', 'awsAssumeRole')),
    spec            TEXT NOT NULL,
    secret          TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX cloud_credentials_org_name ON cloud_credentials (organization_id, name);
CREATE UNIQUE INDEX cloud_credentials_org_id ON cloud_credentials (organization_id, id);

-- The external ID Gatehouse generated for an organization: the value its AWS
-- role trust policies require in sts:ExternalId (the confused-deputy guard).
-- One per organization, generated on first need, never chosen by a caller.
CREATE TABLE cloud_external_ids (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    external_id     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX cloud_external_ids_value ON cloud_external_ids (external_id);

-- Cloud connections: an AWS organization linked to a Gatehouse organization,
-- validated on every write. credential_id / cloud_identity_id name what the
-- connection assumes the management role with ('' when unused); they are
-- columns so that deleting a credential or cloud identity in use can be
-- refused with one indexed count. status is the last validation as JSON
-- (organization details and discovered accounts).
CREATE TABLE cloud_connections (
    id                       TEXT PRIMARY KEY,
    organization_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    description              TEXT NOT NULL DEFAULT '',
    tags                     TEXT NOT NULL DEFAULT '[]',
    created_at               BIGINT NOT NULL,
    created_by               TEXT NOT NULL DEFAULT '',
    modified_at              BIGINT NOT NULL DEFAULT 0,
    modified_by              TEXT NOT NULL DEFAULT '',
    provider                 TEXT NOT NULL CHECK (provider IN ('aws')),
    credential_id            TEXT NOT NULL DEFAULT '',
    cloud_identity_id        TEXT NOT NULL DEFAULT '',
    external_organization_id TEXT NOT NULL,
    spec                     TEXT NOT NULL,
    status                   TEXT NOT NULL
);
CREATE UNIQUE INDEX cloud_connections_org_name ON cloud_connections (organization_id, name);
CREATE UNIQUE INDEX cloud_connections_org_id ON cloud_connections (organization_id, id);
-- One connection per AWS organization in a Gatehouse organization.
CREATE UNIQUE INDEX cloud_connections_org_external ON cloud_connections (organization_id, external_organization_id);
CREATE INDEX cloud_connections_credential ON cloud_connections (organization_id, credential_id);
CREATE INDEX cloud_connections_cloud_identity ON cloud_connections (organization_id, cloud_identity_id);

-- +goose Down
DROP TABLE cloud_connections;
DROP TABLE cloud_external_ids;
DROP TABLE cloud_credentials;
DROP TABLE cloud_identities;
DELETE FROM signing_keys WHERE scope <> '';
DROP INDEX signing_keys_state_scope;
DROP INDEX signing_keys_scope;
DROP INDEX signing_keys_one_per_scope_state;
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'active');
ALTER TABLE signing_keys DROP COLUMN scope;
