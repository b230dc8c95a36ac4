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
	// ObjectOAuth2Clients are an organization's own OAuth2 clients.
	ObjectOAuth2Clients = tClients
)

// objectsLockSpace keeps LockObjects' advisory locks apart from the others
// ("objs" in ASCII).
const objectsLockSpace int32 = 0x6f626a73

// LockObjects serializes, for the rest of the transaction, the creates of
// one kind of object (an Object* table) in orgID, so that a count of them
// followed by an insert cannot interleave with another one's: the second
// waits for the first to commit, then counts what it inserted. PostgreSQL:
// a transaction-scoped advisory lock on the pair's hash, which leaves every
// other write of the organization free (a row lock on the organization
// would also stop every insert that references it); SQLite: BEGIN
// IMMEDIATE already holds the database's single write lock.
func (q *Q) LockObjects(ctx context.Context, table, orgID string) error {
	if q.dialect != Postgres || !q.inTx {
		return nil
	}
	if _, err := q.q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", objectsLockSpace, table+"/"+orgID); err != nil {
		return fmt.Errorf("lock %s of organization %s: %w", table, orgID, classify(err))
	}
	return nil
}

// CountObjects counts the rows of table (one of the Object* tables) that
// belong to orgID. Each table has an index led by organization_id, so the
// count reads only the organization's entries.
func (q *Q) CountObjects(ctx context.Context, table, orgID string) (int, error) {
	switch table {
	case ObjectGroups, ObjectUsers, ObjectServiceAccounts, ObjectProjects, ObjectRoles, ObjectAPIKeys,
		ObjectOAuth2Providers, ObjectPermissionSets, ObjectAccountAssignments, ObjectOAuth2Clients:
	default:
		return 0, fmt.Errorf("count objects: table %q not allowed", table)
	}
	var n int
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE organization_id = $1", orgID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s of organization %s: %w", table, orgID, classify(err))
	}
	return n, nil
}
