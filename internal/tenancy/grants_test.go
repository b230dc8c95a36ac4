package tenancy_test

import (
	"reflect"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// TestGrantChanges: which writes change who reaches what (and so need the
// right to grant), and which leave it as it is whatever the order or repeats
// of their IDs.
func TestGrantChanges(t *testing.T) {
	t.Parallel()
	added, removed := tenancy.Changed([]string{"a", "b", "b"}, []string{"c", "b", "a", "d"})
	if !reflect.DeepEqual(added, []string{"c", "d"}) || removed != nil {
		t.Errorf("Changed = %v, %v; want [c d], []", added, removed)
	}
	group := func(roles, users, sas []string) *store.Group {
		return &store.Group{RoleIDs: roles, UserIDs: users, ServiceAccountIDs: sas}
	}
	cases := []struct {
		name   string
		change string
		want   string
	}{
		{"project: same groups reordered", tenancy.ProjectGrantChange([]string{"a", "b"}, []string{"b", "a", "a"}), ""},
		{"project: created without groups", tenancy.ProjectGrantChange(nil, nil), ""},
		{"project: group added", tenancy.ProjectGrantChange([]string{"a"}, []string{"a", "b"}), "changing a project's spec.groupIDs (adding b)"},
		{"project: group removed", tenancy.ProjectGrantChange([]string{"a", "admins"}, []string{"a"}), "changing a project's spec.groupIDs (removing admins)"},
		{"project: both", tenancy.ProjectGrantChange([]string{"a"}, []string{"b"}), "changing a project's spec.groupIDs (adding b; removing a)"},
		{"group: created", tenancy.GroupGrantChange(nil, group([]string{"r"}, []string{"u"}, nil)), ""},
		{"group: renamed only", tenancy.GroupGrantChange(group([]string{"r"}, []string{"u"}, []string{"s"}), group([]string{"r"}, []string{"u"}, []string{"s"})), ""},
		{"group: role added", tenancy.GroupGrantChange(group(nil, nil, nil), group([]string{"admin"}, nil, nil)), "changing a group's spec.roleIDs (adding admin)"},
		{"group: member and account", tenancy.GroupGrantChange(group(nil, []string{"u"}, nil), group(nil, nil, []string{"s"})),
			"changing a group's spec.userIDs (removing u) and changing a group's spec.serviceAccountIDs (adding s)"},
		{"user: joins", tenancy.MemberGrantChange("user", nil, []string{"g"}), "changing a user's spec.groupIDs (adding g)"},
		{"service account: same groups", tenancy.MemberGrantChange("service account", []string{"g"}, []string{"g"}), ""},
	}
	for _, c := range cases {
		if c.change != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.change, c.want)
		}
	}
}
