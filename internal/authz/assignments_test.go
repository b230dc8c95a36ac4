package authz_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAssignedPermissionSets: a permission set assigned on a project grants
// there what its system roles allow on that project's operations, and
// nothing in other projects or organization-wide; custom and unknown role
// IDs grant nothing here (policies are internal/access's); every assigned
// project has an ACL section.
func TestAssignedPermissionSets(t *testing.T) {
	t.Parallel()
	const org, p1, p2, p3 = "org-1", "proj-1", "proj-2", "proj-3"
	m := &authz.Membership{OrganizationID: org, Member: true, Assigned: []store.AssignedSet{
		{TargetType: store.TargetProject, TargetID: p1, PermissionSetID: "set-adm", Name: "adm", RoleIDs: []string{role(t, authz.RoleAdministrator)}},
		{TargetType: store.TargetProject, TargetID: p2, PermissionSetID: "set-read", Name: "read", RoleIDs: []string{role(t, authz.RoleReader), "custom-role"}},
		{TargetType: store.TargetProject, TargetID: p3, PermissionSetID: "set-custom", Name: "custom", RoleIDs: []string{"custom-role", role(t, authz.RolePlatformAdministrator)}},
		{TargetType: "cloudAccount", TargetID: "acct-1", PermissionSetID: "set-adm", Name: "adm", RoleIDs: []string{role(t, authz.RoleAdministrator)}},
	}}
	g := authz.Compute(nil, m)
	cases := []struct {
		op, proj string
		by, set  string
	}{
		{"deleteProject", p1, "permissionset:adm/role:administrator", "set-adm"},
		{"createAllocation", p1, "permissionset:adm/role:administrator", "set-adm"},
		{"getProject", p2, "permissionset:read/role:reader", "set-read"},
		{"getAllocation", p2, "permissionset:read/role:reader", "set-read"},
		{"updateProject", p2, "", ""},
		{"deleteProject", p2, "", ""},
		{"getProject", p3, "", ""}, // a custom role and a platform role grant nothing here
		{"getProject", "acct-1", "", ""},
		{"createProject", "", "", ""},
		{"listGroups", "", "", ""},
		{"listOrganizationAllocations", "", "", ""},
		{"getOrganization", "", "", ""},
		{"listProjects", "", "organization membership", ""},
	}
	for _, c := range cases {
		e := authz.Catalogue[c.op]
		by, set := g.AllowedThrough(e, org, c.proj)
		if by != c.by || set != c.set || g.Allows(e, org, c.proj) != (c.by != "") {
			t.Errorf("%s in %q: AllowedThrough = %q, %q (Allows %v), want %q, %q", c.op, c.proj, by, set, g.Allows(e, org, c.proj), c.by, c.set)
		}
	}
	if got := g.ProjectIDs(); !slices.Equal(got, []string{p1, p2, p3}) {
		t.Errorf("ProjectIDs = %v, want the three assigned projects", got)
	}
	if got := g.ProjectsWith(authz.EndpointProjects, authz.Read); !slices.Equal(got, []string{p1, p2}) {
		t.Errorf("projects readable = %v", got)
	}
	if g.OrganizationWide(authz.EndpointProjects, authz.Read) {
		t.Error("a permission set grants an organization-wide read")
	}
	acl := g.ACL()
	if len(acl.Organization.Endpoints) != 0 {
		t.Errorf("organization section %v, want empty", acl.Organization.Endpoints)
	}
	want := map[string][]authz.EndpointACL{
		p1: {{Name: authz.EndpointAllocations, Operations: []authz.Operation{authz.Create, authz.Read, authz.Update, authz.Delete}},
			{Name: authz.EndpointCloudIdentities, Operations: []authz.Operation{authz.Create, authz.Read, authz.Update, authz.Delete}},
			{Name: authz.EndpointCloudIdentityTokens, Operations: []authz.Operation{authz.Create}},
			{Name: authz.EndpointProjects, Operations: []authz.Operation{authz.Read, authz.Update, authz.Delete}}},
		p2: {{Name: authz.EndpointAllocations, Operations: []authz.Operation{authz.Read}},
			{Name: authz.EndpointCloudIdentities, Operations: []authz.Operation{authz.Read}},
			{Name: authz.EndpointProjects, Operations: []authz.Operation{authz.Read}}},
		p3: {},
	}
	for _, s := range acl.Projects {
		if !slices.EqualFunc(s.Endpoints, want[s.ID], func(a, b authz.EndpointACL) bool { return a.Name == b.Name && slices.Equal(a.Operations, b.Operations) }) {
			t.Errorf("ACL section %s = %v, want %v", s.ID, s.Endpoints, want[s.ID])
		}
	}
	if got := g.RoleIDs(); len(got) != 0 {
		t.Errorf("RoleIDs = %v: a permission set's roles are not the organization-wide roles", got)
	}
	if len(g.Assigned()) != 4 {
		t.Errorf("Assigned = %v", g.Assigned())
	}
}
