-- +goose Up
-- Organization-owned OAuth2 clients (issue 13): an organization's
-- administrators register relying parties that sign in that organization's
-- members only (internal/client, internal/oidc). NULL is a platform client,
-- as every client before this migration is.
ALTER TABLE oauth2_clients ADD COLUMN organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE;
-- The organization's clients in client_id order (its list and the object
-- limit's count), and the platform list (organization_id IS NULL).
CREATE INDEX oauth2_clients_organization ON oauth2_clients (organization_id, id);

-- +goose Down
DROP INDEX oauth2_clients_organization;
ALTER TABLE oauth2_clients DROP COLUMN organization_id;
