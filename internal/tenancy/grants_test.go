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
	groups, assigned := []string{"groups g"}, []string{"account assignments of ops on project web"}
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
		// The second review: whatever gives the record rights (held, as
		// authz.HeldBy lists it) counts, not its groups alone.
		{"user: renamed only", tenancy.UserGrantChange(user("a@x", "active", "g"), user("a@x", "active", "g"), groups), ""},
		{"user: subject changed with groups", tenancy.UserGrantChange(user("a@x", "active", "g"), user("m@evil", "active", "g"), groups),
			"changing the spec.subject of a user holding rights (from a@x to m@evil; it holds groups g)"},
		{"user: subject changed with an account assignment", tenancy.UserGrantChange(user("a@x", "active"), user("m@evil", "active"), assigned),
			"changing the spec.subject of a user holding rights (from a@x to m@evil; it holds account assignments of ops on project web)"},
		{"user: reactivated with groups", tenancy.UserGrantChange(user("a@x", "suspended", "g"), user("a@x", "active", "g"), groups),
			"making a suspended user holding rights active (it holds groups g)"},
		{"user: reactivated with an account assignment", tenancy.UserGrantChange(user("a@x", "suspended"), user("a@x", "active"), assigned),
			"making a suspended user holding rights active (it holds account assignments of ops on project web)"},
		{"user: both, and a group added", tenancy.UserGrantChange(user("a@x", "pending", "g"), user("m@evil", "active", "g", "h"), []string{"groups g, h"}),
			"changing a user's spec.groupIDs (adding h) and changing the spec.subject of a user holding rights (from a@x to m@evil; it holds groups g, h) and making a pending user holding rights active (it holds groups g, h)"},
		{"user: subject changed and reactivated holding nothing", tenancy.UserGrantChange(user("a@x", "suspended"), user("m@evil", "active"), nil), ""},
		{"user: suspended", tenancy.UserGrantChange(user("a@x", "active", "g"), user("a@x", "suspended", "g"), groups), ""},
		{"rotation: account with groups", tenancy.RotationGrantChange(groups),
			"rotating the token of a service account holding rights (which hands them to the caller; it holds groups g)"},
		{"rotation: account with platform roles", tenancy.RotationGrantChange([]string{"platform roles platform-administrator"}),
			"rotating the token of a service account holding rights (which hands them to the caller; it holds platform roles platform-administrator)"},
		{"rotation: account holding nothing", tenancy.RotationGrantChange(nil), ""},
	}
	for _, c := range cases {
		if c.change != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.change, c.want)
		}
	}
}
