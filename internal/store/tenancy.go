package store

import (
	"context"
	"fmt"
)

// --- organizations ---

// CreateOrganization inserts o (o.OrganizationID is set to o.ID).
func (q *Q) CreateOrganization(ctx context.Context, o *Organization) error {
	o.OrganizationID = o.ID
	return insert(ctx, q, tOrganizations, o)
}

// GetOrganization reads one organization.
func (q *Q) GetOrganization(ctx context.Context, id string) (*Organization, error) {
	return get[Organization](ctx, q, tOrganizations, id, id)
}

// UpdateOrganization rewrites o's mutable fields.
func (q *Q) UpdateOrganization(ctx context.Context, o *Organization) error {
	o.OrganizationID = o.ID
	return update(ctx, q, tOrganizations, o)
}

// OrganizationsWithoutDomainToken lists the IDs of organizations whose
// domain claim has no challenge yet (claims made before migration 00017).
func (q *Q) OrganizationsWithoutDomainToken(ctx context.Context) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT id FROM organizations WHERE domain IS NOT NULL AND domain_token = '' ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("organizations without domain token: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("organizations without domain token: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("organizations without domain token: %w", err)
	}
	return ids, nil
}

// SetMissingDomainToken gives organization id's domain claim the challenge
// token unless it has one already (another replica may have been first);
// it reports whether it did.
func (q *Q) SetMissingDomainToken(ctx context.Context, id, token string) (bool, error) {
	res, err := q.q.ExecContext(ctx, "UPDATE organizations SET domain_token = $1 WHERE id = $2 AND domain IS NOT NULL AND domain_token = ''", token, id)
	if err != nil {
		return false, fmt.Errorf("set domain token of %s: %w", id, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set domain token of %s: %w", id, err)
	}
	return n == 1, nil
}

// ListOrganizations pages through every organization.
func (q *Q) ListOrganizations(ctx context.Context, page Page) ([]*Organization, error) {
	return list[Organization](ctx, q, tOrganizations, "1 = 1", page)
}

// ListOrganizationsOfSubject pages through the organizations in which a user
// with that subject (email) exists.
func (q *Q) ListOrganizationsOfSubject(ctx context.Context, subject string, page Page) ([]*Organization, error) {
	return list[Organization](ctx, q, tOrganizations, "id IN (SELECT organization_id FROM users WHERE subject = $1)", page, subject)
}

// DeleteOrganization removes the organization and everything in it. Tables
// whose organization_id may be ” (platform rows) have no foreign key and are
// cleared explicitly; the rest cascade.
func (q *Q) DeleteOrganization(ctx context.Context, id string) error {
	// Its OAuth2 clients, with their sessions: their tokens end with it.
	if err := q.DeleteOAuth2ClientsOf(ctx, id); err != nil {
		return err
	}
	for _, table := range []string{"group_members", tServiceAccounts, tProviders} {
		if _, err := q.q.ExecContext(ctx, "DELETE FROM "+table+" WHERE organization_id = $1", id); err != nil {
			return fmt.Errorf("delete organization %s: clear %s: %w", id, table, err)
		}
	}
	// The organization's workload issuer keys (scope = its ID); the platform
	// scope is '' and never an organization ID.
	if _, err := q.q.ExecContext(ctx, "DELETE FROM signing_keys WHERE scope = $1", id); err != nil {
		return fmt.Errorf("delete organization %s: clear signing keys: %w", id, err)
	}
	return remove(ctx, q, tOrganizations, id, id)
}

// --- groups ---

// CreateGroup inserts g with its members and roles.
func (q *Q) CreateGroup(ctx context.Context, g *Group) error {
	if err := insert(ctx, q, tGroups, g); err != nil {
		return err
	}
	return q.setGroupEdges(ctx, g)
}

// UpdateGroup rewrites g, its members and roles, and renames it in its
// account assignments.
func (q *Q) UpdateGroup(ctx context.Context, g *Group) error {
	if err := update(ctx, q, tGroups, g); err != nil {
		return err
	}
	if err := q.renameInAssignments(ctx, g.OrganizationID, "principal", PrincipalGroup, g.ID, g.Name); err != nil {
		return err
	}
	return q.setGroupEdges(ctx, g)
}

func (q *Q) setGroupEdges(ctx context.Context, g *Group) error {
	if err := q.SetGroupMembers(ctx, g.OrganizationID, g.ID, MemberUser, g.UserIDs); err != nil {
		return err
	}
	if err := q.SetGroupMembers(ctx, g.OrganizationID, g.ID, MemberServiceAccount, g.ServiceAccountIDs); err != nil {
		return err
	}
	return q.SetGroupRoles(ctx, g.ID, g.RoleIDs)
}

// GetGroup reads one group with its members and roles.
func (q *Q) GetGroup(ctx context.Context, orgID, id string) (*Group, error) {
	g, err := get[Group](ctx, q, tGroups, orgID, id)
	if err != nil {
		return nil, err
	}
	return g, q.fillGroups(ctx, []*Group{g})
}

// ListGroups pages through an organization's groups.
func (q *Q) ListGroups(ctx context.Context, orgID string, page Page) ([]*Group, error) {
	gs, err := list[Group](ctx, q, tGroups, "organization_id = $1", page, orgID)
	if err != nil {
		return nil, err
	}
	return gs, q.fillGroups(ctx, gs)
}

func (q *Q) fillGroups(ctx context.Context, gs []*Group) error {
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	users, err := q.MembersOfGroups(ctx, MemberUser, ids)
	if err != nil {
		return err
	}
	sas, err := q.MembersOfGroups(ctx, MemberServiceAccount, ids)
	if err != nil {
		return err
	}
	roles, err := q.RolesOfGroups(ctx, ids)
	if err != nil {
		return err
	}
	for _, g := range gs {
		g.UserIDs, g.ServiceAccountIDs, g.RoleIDs = users[g.ID], sas[g.ID], roles[g.ID]
	}
	return nil
}

// DeleteGroup removes a group and its account assignments; memberships,
// role grants and project access cascade.
func (q *Q) DeleteGroup(ctx context.Context, orgID, id string) error {
	if err := q.removeAssignmentsOf(ctx, orgID, "principal", PrincipalGroup, id); err != nil {
		return err
	}
	return remove(ctx, q, tGroups, orgID, id)
}

// --- users ---

// CreateUser inserts u with its group memberships.
func (q *Q) CreateUser(ctx context.Context, u *User) error {
	if err := insert(ctx, q, tUsers, u); err != nil {
		return err
	}
	return q.SetMemberGroups(ctx, u.OrganizationID, MemberUser, u.ID, u.GroupIDs)
}

// UpdateUser rewrites u and its group memberships, and renames it in its
// account assignments.
func (q *Q) UpdateUser(ctx context.Context, u *User) error {
	if err := update(ctx, q, tUsers, u); err != nil {
		return err
	}
	if err := q.renameInAssignments(ctx, u.OrganizationID, "principal", PrincipalUser, u.ID, u.Name); err != nil {
		return err
	}
	return q.SetMemberGroups(ctx, u.OrganizationID, MemberUser, u.ID, u.GroupIDs)
}

// GetUser reads one user with its groups.
func (q *Q) GetUser(ctx context.Context, orgID, id string) (*User, error) {
	u, err := get[User](ctx, q, tUsers, orgID, id)
	if err != nil {
		return nil, err
	}
	return u, q.fillUsers(ctx, orgID, []*User{u})
}

// GetUserBySubject reads the user with that subject in orgID.
func (q *Q) GetUserBySubject(ctx context.Context, orgID, subject string) (*User, error) {
	us, err := list[User](ctx, q, tUsers, "organization_id = $1 AND subject = $2", Page{Limit: 1}, orgID, subject)
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, fmt.Errorf("user %s: %w", subject, ErrNotFound)
	}
	return us[0], q.fillUsers(ctx, orgID, us)
}

// ListUsers pages through an organization's users.
func (q *Q) ListUsers(ctx context.Context, orgID string, page Page) ([]*User, error) {
	us, err := list[User](ctx, q, tUsers, "organization_id = $1", page, orgID)
	if err != nil {
		return nil, err
	}
	return us, q.fillUsers(ctx, orgID, us)
}

func (q *Q) fillUsers(ctx context.Context, orgID string, us []*User) error {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	groups, err := q.GroupsOfMembers(ctx, orgID, MemberUser, ids)
	if err != nil {
		return err
	}
	for _, u := range us {
		u.GroupIDs = groups[u.ID]
	}
	return nil
}

// DeleteUser removes a user, its memberships and its account assignments.
func (q *Q) DeleteUser(ctx context.Context, orgID, id string) error {
	if err := q.SetMemberGroups(ctx, orgID, MemberUser, id, nil); err != nil {
		return err
	}
	if err := q.removeAssignmentsOf(ctx, orgID, "principal", PrincipalUser, id); err != nil {
		return err
	}
	return remove(ctx, q, tUsers, orgID, id)
}

// --- service accounts ---

// CreateServiceAccount inserts s with its group memberships.
func (q *Q) CreateServiceAccount(ctx context.Context, s *ServiceAccount) error {
	if err := insert(ctx, q, tServiceAccounts, s); err != nil {
		return err
	}
	return q.SetMemberGroups(ctx, s.OrganizationID, MemberServiceAccount, s.ID, s.GroupIDs)
}

// UpdateServiceAccount rewrites s (including its token hash and expiry) and
// its group memberships, and renames it in its account assignments.
func (q *Q) UpdateServiceAccount(ctx context.Context, s *ServiceAccount) error {
	if err := update(ctx, q, tServiceAccounts, s); err != nil {
		return err
	}
	if err := q.renameInAssignments(ctx, s.OrganizationID, "principal", PrincipalServiceAccount, s.ID, s.Name); err != nil {
		return err
	}
	return q.SetMemberGroups(ctx, s.OrganizationID, MemberServiceAccount, s.ID, s.GroupIDs)
}

// GetServiceAccount reads one service account with its groups.
func (q *Q) GetServiceAccount(ctx context.Context, orgID, id string) (*ServiceAccount, error) {
	s, err := get[ServiceAccount](ctx, q, tServiceAccounts, orgID, id)
	if err != nil {
		return nil, err
	}
	return s, q.fillServiceAccounts(ctx, orgID, []*ServiceAccount{s})
}

// GetServiceAccountByTokenHash finds the service account whose token hashes
// to hash, in any organization (authentication).
func (q *Q) GetServiceAccountByTokenHash(ctx context.Context, hash string) (*ServiceAccount, error) {
	ss, err := list[ServiceAccount](ctx, q, tServiceAccounts, "token_hash = $1", Page{Limit: 1}, hash)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("service account token: %w", ErrNotFound)
	}
	return ss[0], nil
}

// ListServiceAccounts pages through an organization's service accounts.
func (q *Q) ListServiceAccounts(ctx context.Context, orgID string, page Page) ([]*ServiceAccount, error) {
	ss, err := list[ServiceAccount](ctx, q, tServiceAccounts, "organization_id = $1", page, orgID)
	if err != nil {
		return nil, err
	}
	return ss, q.fillServiceAccounts(ctx, orgID, ss)
}

func (q *Q) fillServiceAccounts(ctx context.Context, orgID string, ss []*ServiceAccount) error {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	groups, err := q.GroupsOfMembers(ctx, orgID, MemberServiceAccount, ids)
	if err != nil {
		return err
	}
	for _, s := range ss {
		s.GroupIDs = groups[s.ID]
	}
	return nil
}

// DeleteServiceAccount removes a service account, its memberships, its
// account assignments and any platform role bindings; its token stops
// working with the commit.
func (q *Q) DeleteServiceAccount(ctx context.Context, orgID, id string) error {
	if err := q.SetMemberGroups(ctx, orgID, MemberServiceAccount, id, nil); err != nil {
		return err
	}
	if err := q.removeAssignmentsOf(ctx, orgID, "principal", PrincipalServiceAccount, id); err != nil {
		return err
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM platform_role_bindings WHERE principal_type = $1 AND principal_id = $2", MemberServiceAccount, id); err != nil {
		return fmt.Errorf("delete platform bindings: %w", err)
	}
	return remove(ctx, q, tServiceAccounts, orgID, id)
}

// --- projects ---

// CreateProject inserts p with its groups.
func (q *Q) CreateProject(ctx context.Context, p *Project) error {
	if err := insert(ctx, q, tProjects, p); err != nil {
		return err
	}
	return q.SetProjectGroups(ctx, p.ID, p.GroupIDs)
}

// UpdateProject rewrites p and its groups, and renames it in the account
// assignments that target it.
func (q *Q) UpdateProject(ctx context.Context, p *Project) error {
	if err := update(ctx, q, tProjects, p); err != nil {
		return err
	}
	if err := q.renameInAssignments(ctx, p.OrganizationID, "target", TargetProject, p.ID, p.Name); err != nil {
		return err
	}
	return q.SetProjectGroups(ctx, p.ID, p.GroupIDs)
}

// GetProject reads one project with its groups.
func (q *Q) GetProject(ctx context.Context, orgID, id string) (*Project, error) {
	p, err := get[Project](ctx, q, tProjects, orgID, id)
	if err != nil {
		return nil, err
	}
	return p, q.fillProjects(ctx, []*Project{p})
}

// ListProjects pages through an organization's projects.
func (q *Q) ListProjects(ctx context.Context, orgID string, page Page) ([]*Project, error) {
	ps, err := list[Project](ctx, q, tProjects, "organization_id = $1", page, orgID)
	if err != nil {
		return nil, err
	}
	return ps, q.fillProjects(ctx, ps)
}

// ListProjectsByID pages through the organization's projects among ids.
func (q *Q) ListProjectsByID(ctx context.Context, orgID string, ids []string, page Page) ([]*Project, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{orgID}
	for _, id := range ids {
		args = append(args, id)
	}
	ps, err := list[Project](ctx, q, tProjects, "organization_id = $1 AND id IN ("+placeholders(2, len(ids))+")", page, args...)
	if err != nil {
		return nil, err
	}
	return ps, q.fillProjects(ctx, ps)
}

func (q *Q) fillProjects(ctx context.Context, ps []*Project) error {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	groups, err := q.GroupsOfProjects(ctx, ids)
	if err != nil {
		return err
	}
	for _, p := range ps {
		p.GroupIDs = groups[p.ID]
	}
	return nil
}

// DeleteProject removes a project and the account assignments that target
// it; its allocations and group links cascade.
func (q *Q) DeleteProject(ctx context.Context, orgID, id string) error {
	if err := q.removeAssignmentsOf(ctx, orgID, "target", TargetProject, id); err != nil {
		return err
	}
	return remove(ctx, q, tProjects, orgID, id)
}

// --- OAuth2 providers ---

// CreateOAuth2Provider inserts p (OrganizationID ” for a system provider).
func (q *Q) CreateOAuth2Provider(ctx context.Context, p *OAuth2Provider) error {
	return insert(ctx, q, tProviders, p)
}

// UpdateOAuth2Provider rewrites p.
func (q *Q) UpdateOAuth2Provider(ctx context.Context, p *OAuth2Provider) error {
	return update(ctx, q, tProviders, p)
}

// GetOAuth2Provider reads one provider.
func (q *Q) GetOAuth2Provider(ctx context.Context, orgID, id string) (*OAuth2Provider, error) {
	return get[OAuth2Provider](ctx, q, tProviders, orgID, id)
}

// ListOAuth2Providers pages through the providers of orgID (” = system).
func (q *Q) ListOAuth2Providers(ctx context.Context, orgID string, page Page) ([]*OAuth2Provider, error) {
	return list[OAuth2Provider](ctx, q, tProviders, "organization_id = $1", page, orgID)
}

// DeleteOAuth2Provider removes a provider.
func (q *Q) DeleteOAuth2Provider(ctx context.Context, orgID, id string) error {
	return remove(ctx, q, tProviders, orgID, id)
}

// CountOrganizationsUsingProvider reports how many organizations log in
// through provider id of scope (global or organization).
func (q *Q) CountOrganizationsUsingProvider(ctx context.Context, scope, id string) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM organizations WHERE provider_scope = $1 AND provider_id = $2", scope, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("count organizations using provider %s: %w", id, err)
	}
	return n, nil
}

// --- quotas and allocations ---

// Quotas returns the organization's explicit quota quantities by kind; kinds
// not present use the catalogue default.
func (q *Q) Quotas(ctx context.Context, orgID string) (map[string]int64, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT kind, quantity FROM quotas WHERE organization_id = $1", orgID)
	if err != nil {
		return nil, fmt.Errorf("read quotas: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("scan quota: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// SetQuota upserts one quota quantity.
func (q *Q) SetQuota(ctx context.Context, orgID, kind string, quantity int64) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO quotas (organization_id, kind, quantity) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id, kind) DO UPDATE SET quantity = excluded.quantity`, orgID, kind, quantity)
	if err != nil {
		return fmt.Errorf("set quota %s: %w", kind, classify(err))
	}
	return nil
}

// Usage is the total allocated amount of one quota kind.
type Usage struct {
	Committed int64
	Reserved  int64
}

// Usage sums the organization's allocations per kind, leaving out the
// allocation excludeID (the one being replaced, or ”).
func (q *Q) Usage(ctx context.Context, orgID, excludeID string) (map[string]Usage, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT kind, SUM(committed), SUM(reserved) FROM allocation_items
		WHERE organization_id = $1 AND allocation_id <> $2 GROUP BY kind`, orgID, excludeID)
	if err != nil {
		return nil, fmt.Errorf("sum usage: %w", err)
	}
	defer rows.Close()
	out := map[string]Usage{}
	for rows.Next() {
		var k string
		var u Usage
		if err := rows.Scan(&k, &u.Committed, &u.Reserved); err != nil {
			return nil, fmt.Errorf("scan usage: %w", err)
		}
		out[k] = u
	}
	return out, rows.Err()
}

// LockOrganization serializes concurrent writers of organization-wide
// invariants for the rest of the transaction.
func (q *Q) LockOrganization(ctx context.Context, orgID string) error {
	return q.lockOrganization(ctx, orgID)
}

// LockServiceAccount holds the service account's row until the transaction
// ends, so that a read-modify-write of it (rotation, update) cannot
// interleave with another one on another replica and write back a token hash
// or memberships it read before the other committed. PostgreSQL takes a row
// lock; SQLite transactions already hold the database write lock.
// ErrNotFound when there is no such service account.
func (q *Q) LockServiceAccount(ctx context.Context, orgID, id string) error {
	if q.dialect != Postgres || !q.inTx {
		return nil
	}
	var got string
	err := q.q.QueryRowContext(ctx, "SELECT id FROM service_accounts WHERE organization_id = $1 AND id = $2 FOR UPDATE", orgID, id).Scan(&got)
	if err != nil {
		return fmt.Errorf("lock service account %s: %w", id, classify(err))
	}
	return nil
}

// CreateAllocation inserts a with its items.
func (q *Q) CreateAllocation(ctx context.Context, a *Allocation) error {
	if err := insert(ctx, q, tAllocations, a); err != nil {
		return err
	}
	return q.setAllocationItems(ctx, a)
}

// UpdateAllocation rewrites a and its items.
func (q *Q) UpdateAllocation(ctx context.Context, a *Allocation) error {
	if err := update(ctx, q, tAllocations, a); err != nil {
		return err
	}
	return q.setAllocationItems(ctx, a)
}

func (q *Q) setAllocationItems(ctx context.Context, a *Allocation) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM allocation_items WHERE allocation_id = $1", a.ID); err != nil {
		return fmt.Errorf("clear allocation items: %w", err)
	}
	var rows [][]any
	for _, it := range a.Items {
		rows = append(rows, []any{a.ID, a.OrganizationID, it.Kind, it.Committed, it.Reserved})
	}
	return execEach(ctx, q, "add allocation item",
		"INSERT INTO allocation_items (allocation_id, organization_id, kind, committed, reserved) VALUES ($1, $2, $3, $4, $5)", rows)
}

// GetAllocation reads one allocation of a project.
func (q *Q) GetAllocation(ctx context.Context, orgID, projectID, id string) (*Allocation, error) {
	a, err := get[Allocation](ctx, q, tAllocations, orgID, id)
	if err != nil {
		return nil, err
	}
	if a.ProjectID != projectID {
		return nil, fmt.Errorf("allocation %s in project %s: %w", id, projectID, ErrNotFound)
	}
	return a, q.fillAllocations(ctx, []*Allocation{a})
}

// ListAllocations pages through an organization's allocations.
func (q *Q) ListAllocations(ctx context.Context, orgID string, page Page) ([]*Allocation, error) {
	as, err := list[Allocation](ctx, q, tAllocations, "organization_id = $1", page, orgID)
	if err != nil {
		return nil, err
	}
	return as, q.fillAllocations(ctx, as)
}

func (q *Q) fillAllocations(ctx context.Context, as []*Allocation) error {
	if len(as) == 0 {
		return nil
	}
	byID := make(map[string]*Allocation, len(as))
	ids := make([]string, len(as))
	for i, a := range as {
		byID[a.ID] = a
		ids[i] = a.ID
		a.Items = nil
	}
	return inChunks(ids, func(chunk []string) error {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.q.QueryContext(ctx, "SELECT allocation_id, kind, committed, reserved FROM allocation_items WHERE allocation_id IN ("+
			placeholders(1, len(args))+") ORDER BY kind", args...)
		if err != nil {
			return fmt.Errorf("load allocation items: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var it AllocationItem
			if err := rows.Scan(&id, &it.Kind, &it.Committed, &it.Reserved); err != nil {
				return fmt.Errorf("scan allocation item: %w", err)
			}
			byID[id].Items = append(byID[id].Items, it)
		}
		return rows.Err()
	})
}

// DeleteAllocation removes an allocation of a project; its items cascade.
func (q *Q) DeleteAllocation(ctx context.Context, orgID, projectID, id string) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM allocations WHERE organization_id = $1 AND project_id = $2 AND id = $3", orgID, projectID, id)
	if err != nil {
		return fmt.Errorf("delete allocation: %w", err)
	}
	return expectOne(res, tAllocations, id)
}

// --- platform ---

// PlatformRoles lists the platform-wide roles bound to a principal.
func (q *Q) PlatformRoles(ctx context.Context, principalType, principalID string) ([]string, error) {
	m, err := loadEdges(ctx, q, "platform_role_bindings", "principal_id", "role_id", "principal_type = $1", []any{principalType}, []string{principalID})
	if err != nil {
		return nil, err
	}
	return m[principalID], nil
}

// BindPlatformRole grants a platform-wide role to a principal.
func (q *Q) BindPlatformRole(ctx context.Context, principalType, principalID, roleID string) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO platform_role_bindings (principal_type, principal_id, role_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, principalType, principalID, roleID)
	if err != nil {
		return fmt.Errorf("bind platform role: %w", classify(err))
	}
	return nil
}

// PlatformState reads a platform fact (” if unset).
func (q *Q) PlatformState(ctx context.Context, key string) (string, error) {
	var v string
	err := q.q.QueryRowContext(ctx, "SELECT value FROM platform_state WHERE key = $1", key).Scan(&v)
	if err != nil {
		if err = classify(err); err == ErrNotFound {
			return "", nil
		}
		return "", fmt.Errorf("read platform state %s: %w", key, err)
	}
	return v, nil
}

// ClaimPlatformState sets key to value unless it is already set, and reports
// whether this call set it. Concurrent first starts of several replicas race
// here, and exactly one wins.
func (q *Q) ClaimPlatformState(ctx context.Context, key, value string) (bool, error) {
	res, err := q.q.ExecContext(ctx, "INSERT INTO platform_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", key, value)
	if err != nil {
		return false, fmt.Errorf("claim platform state %s: %w", key, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim platform state %s: %w", key, err)
	}
	return n == 1, nil
}
