package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Permission sets and account assignments (issue 6), migration 00012.

// Table names of this file.
const (
	tPermissionSets     = "permission_sets"
	tAccountAssignments = "account_assignments"
)

// RefPermissionSets is the CountExisting and NamesOf kind of permission sets.
const RefPermissionSets = tPermissionSets

// Principal types of account assignments (as the API names them).
const (
	PrincipalUser           = "user"
	PrincipalGroup          = "group"
	PrincipalServiceAccount = "serviceAccount"
)

// TargetProject is the target type of an assignment to a project.
const TargetProject = "project"

// PermissionSet is a bundle of roles and an optional inline policy that an
// account assignment grants on its target.
type PermissionSet struct {
	Meta
	// RoleIDs are assignable system roles or custom roles of the
	// organization, sorted (a view of permission_set_roles).
	RoleIDs []string
	// InlinePolicy is the JSON policy document, "" for none.
	InlinePolicy    string
	SessionDuration int64 // seconds
	// Version grows with every change (the inline policy's cache key).
	Version int64
	// AssignmentCount is how many assignments use the set; filled by reads,
	// ignored by writes.
	AssignmentCount int
}

func (p *PermissionSet) meta() *Meta { return &p.Meta }
func (p *PermissionSet) columns() []string {
	return []string{"inline_policy", "session_duration", "version"}
}
func (p *PermissionSet) values() []any { return []any{p.InlinePolicy, p.SessionDuration, p.Version} }
func (p *PermissionSet) targets() []any {
	return []any{&p.InlinePolicy, &p.SessionDuration, &p.Version}
}

// PermissionSetSortable are the columns a permission set list may be
// sorted by.
var PermissionSetSortable = []string{"name", "created_at", "id"}

// CreatePermissionSet inserts p with its roles.
func (q *Q) CreatePermissionSet(ctx context.Context, p *PermissionSet) error {
	if err := insert(ctx, q, tPermissionSets, p); err != nil {
		return err
	}
	return q.setPermissionSetRoles(ctx, p)
}

// UpdatePermissionSet rewrites p and its roles, and renames it in its
// assignments.
func (q *Q) UpdatePermissionSet(ctx context.Context, p *PermissionSet) error {
	if err := update(ctx, q, tPermissionSets, p); err != nil {
		return err
	}
	if err := q.setPermissionSetRoles(ctx, p); err != nil {
		return err
	}
	_, err := q.q.ExecContext(ctx, `UPDATE account_assignments SET permission_set_name = $1
		WHERE organization_id = $2 AND permission_set_id = $3 AND permission_set_name <> $1`, p.Name, p.OrganizationID, p.ID)
	if err != nil {
		return fmt.Errorf("rename permission set %s in its assignments: %w", p.ID, err)
	}
	return nil
}

func (q *Q) setPermissionSetRoles(ctx context.Context, p *PermissionSet) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM permission_set_roles WHERE permission_set_id = $1", p.ID); err != nil {
		return fmt.Errorf("clear permission set roles: %w", err)
	}
	var rows [][]any
	for _, id := range dedupe(p.RoleIDs) {
		rows = append(rows, []any{p.ID, id})
	}
	return execEach(ctx, q, "add permission set role", "INSERT INTO permission_set_roles (permission_set_id, role_id) VALUES ($1, $2)", rows)
}

// GetPermissionSet reads one permission set of orgID with its roles and
// assignment count.
func (q *Q) GetPermissionSet(ctx context.Context, orgID, id string) (*PermissionSet, error) {
	p, err := get[PermissionSet](ctx, q, tPermissionSets, orgID, id)
	if err != nil {
		return nil, err
	}
	return p, q.fillPermissionSets(ctx, orgID, []*PermissionSet{p})
}

// ListPermissionSets reads one page of orgID's permission sets and their
// total number.
func (q *Q) ListPermissionSets(ctx context.Context, orgID string, page OffsetPage) ([]*PermissionSet, int, error) {
	l := offsetQuery{table: tPermissionSets, columns: selectColumns(&PermissionSet{}), cond: "organization_id = $1",
		args: []any{orgID}, sortable: PermissionSetSortable}
	total, err := l.count(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	ps, err := offsetList(ctx, q, l, page, total, scanRecord[PermissionSet])
	if err != nil {
		return nil, 0, err
	}
	return ps, total, q.fillPermissionSets(ctx, orgID, ps)
}

func (q *Q) fillPermissionSets(ctx context.Context, orgID string, ps []*PermissionSet) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	roles, err := loadEdges(ctx, q, "permission_set_roles", "permission_set_id", "role_id", "", nil, ids)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	err = inChunks(ids, func(chunk []string) error {
		args := params{orgID}
		rows, err := q.q.QueryContext(ctx, `SELECT permission_set_id, COUNT(*) FROM account_assignments
			WHERE organization_id = $1 AND permission_set_id IN `+args.in(chunk)+` GROUP BY permission_set_id`, args...)
		if err != nil {
			return fmt.Errorf("count assignments of permission sets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return fmt.Errorf("scan assignment count: %w", err)
			}
			counts[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	for _, p := range ps {
		p.RoleIDs, p.AssignmentCount = roles[p.ID], counts[p.ID]
	}
	return nil
}

// DeletePermissionSet removes a permission set and its role links. The
// database refuses it (ErrReference) while an assignment uses it.
func (q *Q) DeletePermissionSet(ctx context.Context, orgID, id string) error {
	return remove(ctx, q, tPermissionSets, orgID, id)
}

// PermissionSetInlinePolicy reads a permission set's inline policy at the
// given version; ErrNotFound when the set is gone or has moved on to another
// version.
func (q *Q) PermissionSetInlinePolicy(ctx context.Context, orgID, id string, version int64) (string, error) {
	var p string
	err := q.q.QueryRowContext(ctx, "SELECT inline_policy FROM permission_sets WHERE organization_id = $1 AND id = $2 AND version = $3",
		orgID, id, version).Scan(&p)
	if err != nil {
		return "", fmt.Errorf("permission set %s version %d: %w", id, version, classify(err))
	}
	return p, nil
}

// PermissionSetsWithRole names the permission sets of orgID that hold
// roleID, sorted.
func (q *Q) PermissionSetsWithRole(ctx context.Context, orgID, roleID string) ([]string, error) {
	names, err := q.names(ctx, `SELECT p.name FROM permission_set_roles r JOIN permission_sets p ON p.id = r.permission_set_id
		WHERE r.role_id = $1 AND p.organization_id = $2 ORDER BY p.name`, roleID, orgID)
	if err != nil {
		return nil, fmt.Errorf("permission sets holding role %s: %w", roleID, err)
	}
	return names, nil
}

// PermissionSetsWithRoles lists the IDs of orgID's permission sets that
// hold any of roleIDs.
func (q *Q) PermissionSetsWithRoles(ctx context.Context, orgID string, roleIDs []string) ([]string, error) {
	roleIDs = dedupe(roleIDs)
	if len(roleIDs) == 0 {
		return nil, nil
	}
	args := params{orgID}
	ids, err := q.names(ctx, `SELECT DISTINCT r.permission_set_id FROM permission_set_roles r JOIN permission_sets p ON p.id = r.permission_set_id
		WHERE p.organization_id = $1 AND r.role_id IN `+args.in(roleIDs)+` ORDER BY r.permission_set_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("permission sets holding roles: %w", err)
	}
	return ids, nil
}

// --- account assignments ---

// AccountAssignment is one principal × permission set × target. The names
// are copies of the named objects', kept in step by their renames.
type AccountAssignment struct {
	ID, OrganizationID                        string
	PrincipalType, PrincipalID, PrincipalName string
	PermissionSetID, PermissionSetName        string
	TargetType, TargetID, TargetName          string
	CreatedAt                                 time.Time
	CreatedBy                                 string
	// TargetEmail is a cloud account target's email as its connection
	// last discovered it (the seed's target_account_email), read with the
	// assignment rather than copied into it: discovery keeps it current
	// without touching the assignments. "" for a project.
	TargetEmail string
}

const assignmentColumns = "id, organization_id, principal_type, principal_id, principal_name, permission_set_id, permission_set_name, " +
	"target_type, target_id, target_name, created_at, created_by"

// targetEmailColumn is an assignment's TargetEmail: one primary key lookup
// in cloud_accounts, for cloud account targets only.
const targetEmailColumn = "COALESCE((SELECT c.email FROM cloud_accounts c WHERE account_assignments.target_type = 'cloudAccount' " +
	"AND c.organization_id = account_assignments.organization_id AND c.id = account_assignments.target_id), '')"

// assignmentReadColumns are what scanAssignment reads.
const assignmentReadColumns = assignmentColumns + ", " + targetEmailColumn

func scanAssignment(rows *sql.Rows) (*AccountAssignment, error) {
	var a AccountAssignment
	var created int64
	if err := rows.Scan(&a.ID, &a.OrganizationID, &a.PrincipalType, &a.PrincipalID, &a.PrincipalName, &a.PermissionSetID,
		&a.PermissionSetName, &a.TargetType, &a.TargetID, &a.TargetName, &created, &a.CreatedBy, &a.TargetEmail); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMillis(created)
	return &a, nil
}

// AssignmentSortable are the columns an assignment list may be sorted by.
var AssignmentSortable = []string{"created_at", "principal_name", "principal_type", "permission_set_name", "target_name", "id"}

// assignmentRowsPerInsert bounds one multi-row INSERT: 12 parameters a row,
// far below SQLite's 32,766 parameters a statement.
const assignmentRowsPerInsert = 200

// counted is a key of account_assignment_counts.
type counted struct{ org, principalType string }

// InsertAccountAssignments inserts as, many rows a statement, and counts
// them in their organizations' totals. An assignment that exists already
// (same principal, permission set and target) is ErrConflict.
func (q *Q) InsertAccountAssignments(ctx context.Context, as []*AccountAssignment) error {
	added := map[counted]int{}
	for start := 0; start < len(as); start += assignmentRowsPerInsert {
		chunk := as[start:min(start+assignmentRowsPerInsert, len(as))]
		var values []string
		var args []any
		for _, a := range chunk {
			values = append(values, "("+placeholders(len(args)+1, 12)+")")
			args = append(args, a.ID, a.OrganizationID, a.PrincipalType, a.PrincipalID, a.PrincipalName, a.PermissionSetID,
				a.PermissionSetName, a.TargetType, a.TargetID, a.TargetName, toMillis(a.CreatedAt), a.CreatedBy)
			added[counted{a.OrganizationID, a.PrincipalType}]++
		}
		if _, err := q.q.ExecContext(ctx, "INSERT INTO account_assignments ("+assignmentColumns+") VALUES "+strings.Join(values, ", "), args...); err != nil {
			return fmt.Errorf("insert account assignments: %w", classify(err))
		}
	}
	return q.addAssignmentCounts(ctx, added)
}

// addAssignmentCounts adds each n (negative to subtract) to its total.
func (q *Q) addAssignmentCounts(ctx context.Context, added map[counted]int) error {
	for k, n := range added {
		if n == 0 {
			continue
		}
		_, err := q.q.ExecContext(ctx, `INSERT INTO account_assignment_counts (organization_id, principal_type, total) VALUES ($1, $2, $3)
			ON CONFLICT (organization_id, principal_type) DO UPDATE SET total = account_assignment_counts.total + excluded.total`,
			k.org, k.principalType, n)
		if err != nil {
			return fmt.Errorf("count assignments of %s: %w", k.org, classify(err))
		}
	}
	return nil
}

// GetAccountAssignment reads one assignment of orgID.
func (q *Q) GetAccountAssignment(ctx context.Context, orgID, id string) (*AccountAssignment, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+assignmentReadColumns+" FROM account_assignments WHERE organization_id = $1 AND id = $2", orgID, id)
	if err != nil {
		return nil, fmt.Errorf("get account assignment %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("get account assignment %s: %w", id, err)
		}
		return nil, fmt.Errorf("account assignment %s: %w", id, ErrNotFound)
	}
	a, err := scanAssignment(rows)
	if err != nil {
		return nil, fmt.Errorf("scan account assignment %s: %w", id, err)
	}
	return a, nil
}

// DeleteAccountAssignment removes one assignment of orgID.
func (q *Q) DeleteAccountAssignment(ctx context.Context, orgID, id string) error {
	_, err := q.deleteAssignments(ctx, orgID, "id = $2", id)
	return err
}

// deleteAssignments removes orgID's assignments meeting cond (on $2...)
// and takes them off its totals; ErrNotFound when there were none.
func (q *Q) deleteAssignments(ctx context.Context, orgID, cond string, args ...any) (int, error) {
	rows, err := q.q.QueryContext(ctx, "DELETE FROM account_assignments WHERE organization_id = $1 AND "+cond+" RETURNING principal_type",
		append([]any{orgID}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("delete account assignments: %w", classify(err))
	}
	removed, n := map[counted]int{}, 0
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			rows.Close()
			return 0, fmt.Errorf("delete account assignments: %w", err)
		}
		removed[counted{orgID, typ}]--
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("delete account assignments: %w", classify(err))
	}
	if n == 0 {
		return 0, fmt.Errorf("account assignments: %w", ErrNotFound)
	}
	return n, q.addAssignmentCounts(ctx, removed)
}

// removeAssignmentsOf deletes the assignments of a principal or of a target
// (column prefix "principal" or "target"), in the transaction that deletes
// it: principals and targets have no foreign key to cascade.
func (q *Q) removeAssignmentsOf(ctx context.Context, orgID, of, typ, id string) error {
	_, err := q.deleteAssignments(ctx, orgID, of+"_type = $2 AND "+of+"_id = $3", typ, id)
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// renameInAssignments copies a principal's or target's new name (column
// prefix "principal" or "target") into its assignments.
func (q *Q) renameInAssignments(ctx context.Context, orgID, of, typ, id, name string) error {
	_, err := q.q.ExecContext(ctx, "UPDATE account_assignments SET "+of+"_name = $1 WHERE organization_id = $2 AND "+
		of+"_type = $3 AND "+of+"_id = $4 AND "+of+"_name <> $1", name, orgID, typ, id)
	if err != nil {
		return fmt.Errorf("rename %s %s in its assignments: %w", of, id, err)
	}
	return nil
}

// AssignmentFilter narrows a list of assignments; zero fields do not filter.
// Every filter is an exact match.
type AssignmentFilter struct {
	TargetType, TargetID, TargetName string
	// TargetEmail keeps the assignments to the cloud accounts of that
	// email (TargetEmail).
	TargetEmail                               string
	PermissionSetID, PermissionSetName        string
	PrincipalType, PrincipalID, PrincipalName string
	// PermissionSetIDs, when not nil, keeps the assignments of these
	// permission sets only (none when empty).
	PermissionSetIDs []string
	// Member, when set, keeps the assignments that reach this user or
	// service account: its own and its groups'.
	Member *Member
}

// Member is a user or service account, by principal type and ID, with the
// IDs of its groups in the organization.
type Member struct {
	Type, ID string
	GroupIDs []string
}

// MemberOf reads a user or service account of orgID (principalType
// PrincipalUser or PrincipalServiceAccount) as a Member, with its groups;
// ErrNotFound when it does not exist.
func (q *Q) MemberOf(ctx context.Context, orgID, principalType, id string) (*Member, error) {
	m := &Member{Type: principalType, ID: id}
	switch principalType {
	case PrincipalUser:
		u, err := q.GetUser(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		m.GroupIDs = u.GroupIDs
	case PrincipalServiceAccount:
		sa, err := q.GetServiceAccount(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		m.GroupIDs = sa.GroupIDs
	default:
		return nil, fmt.Errorf("member of type %q: only users and service accounts have groups", principalType)
	}
	return m, nil
}

// reachesMember is the condition "this assignment is m's own or one of its
// groups'", its parameters added to args. The groups are given as values,
// so that both engines look each one up in the principal index (PostgreSQL
// would not look up the members of a subquery under an OR).
func reachesMember(m Member, args *params) string {
	own := "(principal_type = " + args.add(m.Type) + " AND principal_id = " + args.add(m.ID) + ")"
	groups := dedupe(m.GroupIDs)
	if len(groups) == 0 {
		return own
	}
	return "(" + own + " OR (principal_type = 'group' AND principal_id IN " + args.in(groups) + "))"
}

// kept reports whether the total of f is kept by the writes: with no
// filter, or with a principal type alone.
func (f AssignmentFilter) kept() bool {
	return f.TargetType == "" && f.TargetID == "" && f.TargetName == "" && f.TargetEmail == "" && f.PermissionSetID == "" && f.PermissionSetName == "" &&
		f.PrincipalID == "" && f.PrincipalName == "" && f.PermissionSetIDs == nil && f.Member == nil
}

// query is the condition and arguments of f in orgID.
func (f AssignmentFilter) query(orgID string) (cond string, args []any) {
	p := params{orgID}
	conds := []string{"organization_id = $1"}
	for _, c := range []struct{ column, value string }{
		{"target_type", f.TargetType}, {"target_id", f.TargetID}, {"target_name", f.TargetName},
		{"permission_set_id", f.PermissionSetID}, {"permission_set_name", f.PermissionSetName},
		{"principal_type", f.PrincipalType}, {"principal_id", f.PrincipalID}, {"principal_name", f.PrincipalName},
	} {
		if c.value != "" {
			conds = append(conds, c.column+" = "+p.add(c.value))
		}
	}
	if f.TargetEmail != "" {
		conds = append(conds, "target_type = 'cloudAccount' AND target_id IN (SELECT id FROM cloud_accounts WHERE organization_id = $1 AND email = "+
			p.add(f.TargetEmail)+")")
	}
	if f.PermissionSetIDs != nil {
		if len(f.PermissionSetIDs) == 0 {
			conds = append(conds, "1 = 0")
		} else {
			conds = append(conds, "permission_set_id IN "+p.in(f.PermissionSetIDs))
		}
	}
	if f.Member != nil {
		conds = append(conds, reachesMember(*f.Member, &p))
	}
	return strings.Join(conds, " AND "), p
}

// ListAccountAssignments reads one page of orgID's assignments meeting f,
// and how many meet it. Read the two in one Snapshot for a consistent page.
// The total of an unfiltered list, or of one filtered by principal type
// alone, is the organization's kept count; another filtered one is
// counted.
func (q *Q) ListAccountAssignments(ctx context.Context, orgID string, f AssignmentFilter, page OffsetPage) ([]*AccountAssignment, int, error) {
	if len(f.PermissionSetIDs) > maxInList || f.Member != nil && len(f.Member.GroupIDs) > maxInList {
		return nil, 0, fmt.Errorf("list account assignments: more than %d permission sets or groups", maxInList)
	}
	cond, args := f.query(orgID)
	l := offsetQuery{table: tAccountAssignments, columns: assignmentReadColumns, cond: cond, args: args, sortable: AssignmentSortable}
	var total int
	var err error
	if f.kept() {
		total, err = q.AccountAssignmentTotal(ctx, orgID, f.PrincipalType)
	} else {
		total, err = l.count(ctx, q)
	}
	if err != nil {
		return nil, 0, err
	}
	as, err := offsetList(ctx, q, l, page, total, scanAssignment)
	return as, total, err
}

// AccountAssignmentTotal is orgID's number of assignments to principals
// of principalType ("" for all), as kept by the writes.
func (q *Q) AccountAssignmentTotal(ctx context.Context, orgID, principalType string) (int, error) {
	query, args := "SELECT COALESCE(SUM(total), 0) FROM account_assignment_counts WHERE organization_id = $1", []any{orgID}
	if principalType != "" {
		query, args = query+" AND principal_type = $2", append(args, principalType)
	}
	var n int
	if err := q.q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("assignment total of %s: %w", orgID, err)
	}
	return n, nil
}

// CountAccountAssignments counts orgID's assignments meeting f.
func (q *Q) CountAccountAssignments(ctx context.Context, orgID string, f AssignmentFilter) (int, error) {
	cond, args := f.query(orgID)
	return offsetQuery{table: tAccountAssignments, cond: cond, args: args}.count(ctx, q)
}

// Triple names an assignment by what it joins.
type Triple struct {
	PrincipalType, PrincipalID, PermissionSetID, TargetType, TargetID string
}

// ExistingAssignments returns the assignments of orgID among the triples
// made of principals × permissionSetIDs × targets (at most 500 of each), in
// ID order.
func (q *Q) ExistingAssignments(ctx context.Context, orgID string, principalIDs, permissionSetIDs, targetIDs []string) ([]*AccountAssignment, error) {
	principalIDs, permissionSetIDs, targetIDs = dedupe(principalIDs), dedupe(permissionSetIDs), dedupe(targetIDs)
	if len(principalIDs) == 0 || len(permissionSetIDs) == 0 || len(targetIDs) == 0 {
		return nil, nil
	}
	if max(len(principalIDs), len(permissionSetIDs), len(targetIDs)) > maxInList {
		return nil, fmt.Errorf("existing assignments: more than %d IDs of a kind", maxInList)
	}
	args := params{orgID}
	query := "SELECT " + assignmentReadColumns + " FROM account_assignments WHERE organization_id = $1 AND principal_id IN " + args.in(principalIDs) +
		" AND permission_set_id IN " + args.in(permissionSetIDs) + " AND target_id IN " + args.in(targetIDs) + " ORDER BY id"
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("existing assignments: %w", err)
	}
	defer rows.Close()
	var out []*AccountAssignment
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, fmt.Errorf("scan account assignment: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// NamesOf maps the IDs among ids of rows of table (RefUsers, RefGroups,
// RefServiceAccounts, RefProjects, RefPermissionSets, RefCloudAccounts) in orgID to their
// names; IDs of other organizations are left out like unknown ones.
func (q *Q) NamesOf(ctx context.Context, table, orgID string, ids []string) (map[string]string, error) {
	switch table {
	case tUsers, tGroups, tServiceAccounts, tProjects, tPermissionSets, tCloudAccounts:
	default:
		return nil, fmt.Errorf("names of: table %q not allowed", table)
	}
	out := map[string]string{}
	err := inChunks(dedupe(ids), func(chunk []string) error {
		args := params{orgID}
		rows, err := q.q.QueryContext(ctx, "SELECT id, name FROM "+table+" WHERE organization_id = $1 AND id IN "+args.in(chunk), args...)
		if err != nil {
			return fmt.Errorf("names of %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return fmt.Errorf("scan name of %s: %w", table, err)
			}
			out[id] = name
		}
		return rows.Err()
	})
	return out, err
}

// AssignedSet is a permission set assigned on a target to a principal,
// directly or through one of its groups: what a decision needs of it.
type AssignedSet struct {
	TargetType, TargetID  string
	PermissionSetID, Name string
	Version               int64
	HasInlinePolicy       bool
	RoleIDs               []string // sorted
}

// AssignedPermissionSets reads the permission sets assigned to member in
// orgID (its own assignments and its groups'), once per target and set,
// ordered by target, then permission set name. Every request of a member
// asks, so it is one plain indexed query when nothing is assigned (the
// usual case), and one more for the sets when something is; at most 500
// groups.
func (q *Q) AssignedPermissionSets(ctx context.Context, orgID string, member Member) ([]AssignedSet, error) {
	if len(member.GroupIDs) > maxInList {
		return nil, fmt.Errorf("assigned permission sets: %d groups, at most %d", len(member.GroupIDs), maxInList)
	}
	args := params{orgID}
	rows, err := q.q.QueryContext(ctx, "SELECT target_type, target_id, permission_set_id FROM account_assignments WHERE organization_id = $1 AND "+
		reachesMember(member, &args), args...)
	if err != nil {
		return nil, fmt.Errorf("assigned permission sets: %w", err)
	}
	type key struct{ targetType, targetID, setID string }
	var out []AssignedSet
	seen := map[key]bool{}
	var setIDs []string
	for rows.Next() {
		var a AssignedSet
		if err := rows.Scan(&a.TargetType, &a.TargetID, &a.PermissionSetID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan assignment: %w", err)
		}
		if k := (key{a.TargetType, a.TargetID, a.PermissionSetID}); !seen[k] { // assigned to the member and to a group of it
			seen[k] = true
			out = append(out, a)
			setIDs = append(setIDs, a.PermissionSetID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("assigned permission sets: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	sets, err := q.permissionSetHeaders(ctx, orgID, setIDs)
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, a := range out {
		if h, ok := sets[a.PermissionSetID]; ok {
			a.Name, a.Version, a.HasInlinePolicy, a.RoleIDs = h.Name, h.Version, h.HasInlinePolicy, h.RoleIDs
			kept = append(kept, a)
		}
	}
	slices.SortFunc(kept, func(a, b AssignedSet) int {
		return cmp.Or(cmp.Compare(a.TargetType, b.TargetType), cmp.Compare(a.TargetID, b.TargetID), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.PermissionSetID, b.PermissionSetID))
	})
	return kept, nil
}

// permissionSetHeaders reads what decisions need of the permission sets
// ids of orgID (name, version, whether it has an inline policy, roles), by
// ID, in one query per 500 sets.
func (q *Q) permissionSetHeaders(ctx context.Context, orgID string, ids []string) (map[string]AssignedSet, error) {
	out := map[string]AssignedSet{}
	err := inChunks(dedupe(ids), func(chunk []string) error {
		args := params{orgID}
		rows, err := q.q.QueryContext(ctx, `SELECT p.id, p.name, p.version, p.inline_policy <> '', COALESCE(r.role_id, '')
			FROM permission_sets p LEFT JOIN permission_set_roles r ON r.permission_set_id = p.id
			WHERE p.organization_id = $1 AND p.id IN `+args.in(chunk)+` ORDER BY p.id, r.role_id`, args...)
		if err != nil {
			return fmt.Errorf("permission sets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h AssignedSet
			var role string
			if err := rows.Scan(&h.PermissionSetID, &h.Name, &h.Version, &h.HasInlinePolicy, &role); err != nil {
				return fmt.Errorf("scan permission set: %w", err)
			}
			if prev, ok := out[h.PermissionSetID]; ok {
				h.RoleIDs = prev.RoleIDs
			}
			if role != "" {
				h.RoleIDs = append(h.RoleIDs, role)
			}
			out[h.PermissionSetID] = h
		}
		return rows.Err()
	})
	return out, err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// params collects a statement's arguments; add appends one and names its
// placeholder.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// in appends ids and names their placeholders as an IN list: "($2, $3)".
func (p *params) in(ids []string) string {
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = p.add(id)
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

// CustomRoleNamed returns the ID of orgID's custom role called name, ""
// when it has none (names are unique per organization).
func (q *Q) CustomRoleNamed(ctx context.Context, orgID, name string) (string, error) {
	var id string
	err := q.q.QueryRowContext(ctx, "SELECT id FROM iam_roles WHERE organization_id = $1 AND name = $2", orgID, name).Scan(&id)
	if err = classify(err); err != nil && !isNotFound(err) {
		return "", fmt.Errorf("custom role %q: %w", name, err)
	}
	return id, nil
}
