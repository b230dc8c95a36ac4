package assignment_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/assignment"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSetGrantChange: only a change of what an assigned permission set
// grants (its roles or inline policy) needs the right to grant; a rename,
// reordered roles, or any change to an unassigned set does not.
func TestSetGrantChange(t *testing.T) {
	t.Parallel()
	set := func(n int, policy string, roles ...string) *store.PermissionSet {
		return &store.PermissionSet{Meta: store.Meta{Name: "s"}, RoleIDs: roles, InlinePolicy: policy, AssignmentCount: n}
	}
	cases := []struct {
		name          string
		before, after *store.PermissionSet
		want          string
	}{
		{"unassigned, widened", set(0, "", "r"), set(0, "{}", "r", "admin"), ""},
		{"assigned, roles reordered", set(2, "", "a", "b"), set(2, "", "b", "a", "a"), ""},
		{"assigned, role added", set(2, "", "a"), set(2, "", "a", "admin"), `changing the spec.roleIDs of permission set "s" (assigned 2 times)`},
		{"assigned, role removed", set(1, "", "a", "b"), set(1, "", "a"), `changing the spec.roleIDs of permission set "s" (assigned 1 times)`},
		{"assigned, inline policy", set(1, "", "a"), set(1, "{}", "a"), `changing the spec.inlinePolicy of permission set "s" (assigned 1 times)`},
	}
	for _, c := range cases {
		if got := assignment.SetGrantChange(c.before, c.after); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
