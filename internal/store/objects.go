package store

import (
	"context"
	"fmt"
)

// Tables whose rows CountObjects counts: what an organization's members
// can create in bulk, each limited per organization (internal/objectlimit).
const (
	ObjectGroups             = tGroups
	ObjectUsers              = tUsers
	ObjectServiceAccounts    = tServiceAccounts
	ObjectProjects           = tProjects
	ObjectRoles              = tIAMRoles
	ObjectAPIKeys            = tAPIKeys
	ObjectOAuth2Providers    = tProviders
	ObjectPermissionSets     = tPermissionSets
	ObjectAccountAssignments = tAccountAssignments
)

// CountObjects counts the rows of table (one of the Object* tables) that
// belong to orgID. Each table has an index led by organization_id, so the
// count reads only the organization's entries.
func (q *Q) CountObjects(ctx context.Context, table, orgID string) (int, error) {
	switch table {
	case ObjectGroups, ObjectUsers, ObjectServiceAccounts, ObjectProjects, ObjectRoles, ObjectAPIKeys,
		ObjectOAuth2Providers, ObjectPermissionSets, ObjectAccountAssignments:
	default:
		return 0, fmt.Errorf("count objects: table %q not allowed", table)
	}
	var n int
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE organization_id = $1", orgID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s of organization %s: %w", table, orgID, classify(err))
	}
	return n, nil
}
