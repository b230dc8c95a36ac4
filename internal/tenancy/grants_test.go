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
	user := func(subject, state string, groups ...string) *store.User {
		return &store.User{Subject: subject, State: state, GroupIDs: groups}
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
		// The attacker review of main, finding 4: the same groups handed to
		// another person, or back to a suspended one; a rotation hands the
		// caller the account's token.
		{"user: renamed only", tenancy.UserGrantChange(user("a@x", "active", "g"), user("a@x", "active", "g")), ""},
		{"user: subject changed with groups", tenancy.UserGrantChange(user("a@x", "active", "g"), user("m@evil", "active", "g")),
			"changing the spec.subject of a user with groups (from a@x to m@evil)"},
		{"user: reactivated with groups", tenancy.UserGrantChange(user("a@x", "suspended", "g"), user("a@x", "active", "g")),
			"making a suspended user with groups active"},
		{"user: both, and a group added", tenancy.UserGrantChange(user("a@x", "pending", "g"), user("m@evil", "active", "g", "h")),
			"changing a user's spec.groupIDs (adding h) and changing the spec.subject of a user with groups (from a@x to m@evil) and making a pending user with groups active"},
		{"user: subject changed and reactivated without groups", tenancy.UserGrantChange(user("a@x", "suspended"), user("m@evil", "active")), ""},
		{"user: suspended", tenancy.UserGrantChange(user("a@x", "active", "g"), user("a@x", "suspended", "g")), ""},
		{"rotation: account with groups", tenancy.RotationGrantChange(&store.ServiceAccount{GroupIDs: []string{"g"}}),
			"rotating the token of a service account with groups (which hands its rights to the caller)"},
		{"rotation: account without groups", tenancy.RotationGrantChange(&store.ServiceAccount{}), ""},
	}
	for _, c := range cases {
		if c.change != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.change, c.want)
		}
	}
}
