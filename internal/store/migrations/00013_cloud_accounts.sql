-- +goose Up
-- Cloud accounts (issue 6 with issue 5): the member accounts a cloud
-- connection discovered, so that account assignments can target them
-- (target_type 'cloudAccount', target_id the AWS account ID). The rows are
-- rewritten by the transaction that stores the connection's discovery; an
-- account no longer discovered goes, with its assignments, in that same
-- transaction, as does every account of a deleted connection. An AWS
-- account belongs to one AWS organization, and an AWS organization to one
-- connection of a Gatehouse organization (cloud_connections_org_external),
-- so the AWS account ID is unique in a Gatehouse organization.
CREATE TABLE cloud_accounts (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The AWS account ID (12 digits).
    id              TEXT NOT NULL,
    connection_id   TEXT NOT NULL REFERENCES cloud_connections (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    -- The account's ARN in AWS Organizations: its partition is that of the
    -- roles Gatehouse assumes in it.
    arn             TEXT NOT NULL,
    -- AWS's account state (ACTIVE, SUSPENDED, ...) at the last discovery.
    state           TEXT NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX cloud_accounts_connection ON cloud_accounts (connection_id);

-- +goose Down
DELETE FROM account_assignments WHERE target_type = 'cloudAccount';
DELETE FROM account_assignment_counts;
INSERT INTO account_assignment_counts (organization_id, principal_type, total)
    SELECT organization_id, principal_type, COUNT(*) FROM account_assignments GROUP BY organization_id, principal_type;
DROP TABLE cloud_accounts;
