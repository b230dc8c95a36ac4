-- +goose Up
-- DeleteOrganization clears group_members by organization_id; without an
-- index that statement reads the whole table (every tenant's memberships)
-- while it holds the write lock. Found by TestQueryPlans.
CREATE INDEX group_members_org ON group_members (organization_id);

-- +goose Down
DROP INDEX group_members_org;
