package store

import (
	"context"
	"fmt"
	"sort"
)

// Member types in group_members.
const (
	MemberUser           = "user"
	MemberServiceAccount = "serviceaccount"
)

// loadEdges reads the pairs (from, to) of table whose from column is one of
// keys, restricted by cond (a condition on $1..$len(condArgs)), and groups the
// to values by from. One query per call, whatever the number of keys.
func loadEdges(ctx context.Context, q *Q, table, from, to, cond string, condArgs []any, keys []string) (map[string][]string, error) {
	out := make(map[string][]string, len(keys))
	err := inChunks(keys, func(chunk []string) error {
		args := append([]any{}, condArgs...)
		for _, k := range chunk {
			args = append(args, k)
		}
		query := "SELECT " + from + ", " + to + " FROM " + table + " WHERE " + from + " IN (" + placeholders(len(condArgs)+1, len(chunk)) + ")"
		if cond != "" {
			query += " AND " + cond
		}
		query += " ORDER BY " + to
		rows, err := q.q.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var f, t string
			if err := rows.Scan(&f, &t); err != nil {
				return fmt.Errorf("scan %s: %w", table, err)
			}
			out[f] = append(out[f], t)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		return nil
	})
	return out, err
}

// maxInList bounds the placeholders of one IN list: SQLite refuses more than
// 32,766 bound parameters in a statement, and an unbounded list (no limit
// given) may fill relations for any number of rows.
const maxInList = 500

// inChunks calls f on consecutive slices of keys of at most maxInList.
func inChunks(keys []string, f func([]string) error) error {
	for len(keys) > 0 {
		n := min(len(keys), maxInList)
		if err := f(keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// execEach runs query once per row of args.
func execEach(ctx context.Context, q *Q, what, query string, rows [][]any) error {
	for _, args := range rows {
		if _, err := q.q.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("%s: %w", what, classify(err))
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// SetGroupMembers makes memberIDs (of memberType) exactly the members of the group.
func (q *Q) SetGroupMembers(ctx context.Context, orgID, groupID, memberType string, memberIDs []string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM group_members WHERE group_id = $1 AND member_type = $2", groupID, memberType); err != nil {
		return fmt.Errorf("clear group members: %w", err)
	}
	var rows [][]any
	for _, id := range dedupe(memberIDs) {
		rows = append(rows, []any{groupID, orgID, memberType, id})
	}
	return execEach(ctx, q, "add group member", "INSERT INTO group_members (group_id, organization_id, member_type, member_id) VALUES ($1, $2, $3, $4)", rows)
}

// SetMemberGroups makes groupIDs exactly the groups of the member within orgID.
func (q *Q) SetMemberGroups(ctx context.Context, orgID, memberType, memberID string, groupIDs []string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM group_members WHERE member_id = $1 AND member_type = $2 AND organization_id = $3", memberID, memberType, orgID); err != nil {
		return fmt.Errorf("clear memberships: %w", err)
	}
	var rows [][]any
	for _, id := range dedupe(groupIDs) {
		rows = append(rows, []any{id, orgID, memberType, memberID})
	}
	return execEach(ctx, q, "add membership", "INSERT INTO group_members (group_id, organization_id, member_type, member_id) VALUES ($1, $2, $3, $4)", rows)
}

// SetGroupRoles makes roleIDs exactly the roles the group grants.
func (q *Q) SetGroupRoles(ctx context.Context, groupID string, roleIDs []string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM group_roles WHERE group_id = $1", groupID); err != nil {
		return fmt.Errorf("clear group roles: %w", err)
	}
	var rows [][]any
	for _, id := range dedupe(roleIDs) {
		rows = append(rows, []any{groupID, id})
	}
	return execEach(ctx, q, "add group role", "INSERT INTO group_roles (group_id, role_id) VALUES ($1, $2)", rows)
}

// SetProjectGroups makes groupIDs exactly the groups with access to the project.
func (q *Q) SetProjectGroups(ctx context.Context, projectID string, groupIDs []string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM project_groups WHERE project_id = $1", projectID); err != nil {
		return fmt.Errorf("clear project groups: %w", err)
	}
	var rows [][]any
	for _, id := range dedupe(groupIDs) {
		rows = append(rows, []any{projectID, id})
	}
	return execEach(ctx, q, "add project group", "INSERT INTO project_groups (project_id, group_id) VALUES ($1, $2)", rows)
}

// GroupsOfMembers maps each member (of memberType, within orgID) to its groups.
func (q *Q) GroupsOfMembers(ctx context.Context, orgID, memberType string, memberIDs []string) (map[string][]string, error) {
	return loadEdges(ctx, q, "group_members", "member_id", "group_id", "member_type = $1 AND organization_id = $2", []any{memberType, orgID}, memberIDs)
}

// MembersOfGroups maps each group to its members of memberType.
func (q *Q) MembersOfGroups(ctx context.Context, memberType string, groupIDs []string) (map[string][]string, error) {
	return loadEdges(ctx, q, "group_members", "group_id", "member_id", "member_type = $1", []any{memberType}, groupIDs)
}

// RolesOfGroups maps each group to the roles it grants.
func (q *Q) RolesOfGroups(ctx context.Context, groupIDs []string) (map[string][]string, error) {
	return loadEdges(ctx, q, "group_roles", "group_id", "role_id", "", nil, groupIDs)
}

// GroupsOfProjects maps each project to its groups.
func (q *Q) GroupsOfProjects(ctx context.Context, projectIDs []string) (map[string][]string, error) {
	return loadEdges(ctx, q, "project_groups", "project_id", "group_id", "", nil, projectIDs)
}

// ProjectsOfGroups maps each group to the projects it has access to.
func (q *Q) ProjectsOfGroups(ctx context.Context, groupIDs []string) (map[string][]string, error) {
	return loadEdges(ctx, q, "project_groups", "group_id", "project_id", "", nil, groupIDs)
}

// CountExisting reports how many of ids exist in table within orgID; callers
// compare with len(ids) to reject references to unknown or foreign rows.
func (q *Q) CountExisting(ctx context.Context, table, orgID string, ids []string) (int, error) {
	ids = dedupe(ids)
	if len(ids) == 0 {
		return 0, nil
	}
	switch table {
	case tGroups, tUsers, tServiceAccounts, tProjects, tIAMRoles, tPermissionSets:
	default:
		return 0, fmt.Errorf("count existing: table %q not allowed", table)
	}
	args := []any{orgID}
	for _, id := range ids {
		args = append(args, id)
	}
	var n int
	query := "SELECT COUNT(*) FROM " + table + " WHERE organization_id = $1 AND id IN (" + placeholders(2, len(ids)) + ")"
	if err := q.q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// Reference kinds for CountExisting.
const (
	RefGroups          = tGroups
	RefUsers           = tUsers
	RefServiceAccounts = tServiceAccounts
	RefProjects        = tProjects
)
