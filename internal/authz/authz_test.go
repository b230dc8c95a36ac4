package authz_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/authz"
)

// TestCatalogueMatchesSpec: every /api/v1 operation of api/openapi.yaml is
// declared in the catalogue and nothing else is, so no route can be served
// without an authorization rule (the guard also fails closed). The
// Gatehouse/OIDC operations (x-gatehouse-provider) are never in it: the
// guard does not serve them, and an entry would put them in RBAC, the ACL
// and the simulator as if it did.
func TestCatalogueMatchesSpec(t *testing.T) {
	t.Parallel()
	spec, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	if err != nil {
		t.Fatal(err)
	}
	inSpec := map[string]bool{}
	providerOps := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if api.IsProviderOperation(op) {
				providerOps++
				if _, ok := authz.Catalogue[op.OperationID]; ok {
					t.Errorf("%s %s (%s) is a Gatehouse/OIDC operation but in the authorization catalogue", method, path, op.OperationID)
				}
				continue
			}
			inSpec[op.OperationID] = true
			e, ok := authz.Catalogue[op.OperationID]
			if !ok {
				t.Errorf("%s %s (%s) is not in the authorization catalogue", method, path, op.OperationID)
				continue
			}
			hasProject := false
			for _, p := range op.Parameters {
				hasProject = hasProject || p.Value.Name == "projectID"
			}
			for _, p := range item.Parameters {
				hasProject = hasProject || p.Value.Name == "projectID"
			}
			if e.Scope == authz.ScopeProject && !hasProject {
				t.Errorf("%s is project-scoped but %s has no projectID", op.OperationID, path)
			}
		}
	}
	for id, r := range authz.SCIMRoutes {
		if inSpec[id] {
			t.Errorf("%s is a SCIM operation (%s %s) but in the spec too", id, r.Method, r.Path)
		}
		if _, ok := authz.Catalogue[id]; !ok {
			t.Errorf("SCIM operation %s is not in the catalogue", id)
		}
		if !strings.HasPrefix(r.Path, authz.SCIMBase+"/") {
			t.Errorf("SCIM operation %s answers at %s, outside %s", id, r.Path, authz.SCIMBase)
		}
		inSpec[id] = true // served, by the SCIM handler
	}
	for id := range authz.Catalogue {
		if !inSpec[id] {
			t.Errorf("catalogue declares %s, which neither the spec nor SCIMRoutes has", id)
		}
	}
	if providerOps == 0 {
		t.Error("the spec has no Gatehouse/OIDC operation: is the x-gatehouse-provider mark still read?")
	}
}

func role(t *testing.T, name string) string {
	t.Helper()
	r, ok := authz.RoleByName(name)
	if !ok {
		t.Fatalf("no role %s", name)
	}
	return r.ID
}

func TestAllows(t *testing.T) {
	t.Parallel()
	const org, other, proj, otherProj = "org-1", "org-2", "proj-1", "proj-2"
	member := func(roles ...string) *authz.Membership {
		ids := make([]string, len(roles))
		for i, r := range roles {
			ids[i] = role(t, r)
		}
		return &authz.Membership{OrganizationID: org, Member: true,
			GroupRoles: map[string][]string{"g1": ids}, GroupProjects: map[string][]string{"g1": {proj}}}
	}
	platform := []string{role(t, authz.RolePlatformAdministrator)}
	cases := []struct {
		name      string
		platform  []string
		m         *authz.Membership
		op        string
		org, proj string
		want      bool
	}{
		{"platform admin creates organizations", platform, nil, "createOrganization", "", "", true},
		{"platform admin reads any organization", platform, &authz.Membership{OrganizationID: other}, "getOrganization", other, "", true},
		{"platform admin sets quotas", platform, &authz.Membership{OrganizationID: org}, "updateQuotas", org, "", true},
		{"platform admin reads any organization's ACL", platform, &authz.Membership{OrganizationID: other}, "getOrganizationAcl", other, "", true},
		{"administrator cannot create organizations", nil, member(authz.RoleAdministrator), "createOrganization", "", "", false},
		{"administrator manages groups", nil, member(authz.RoleAdministrator), "createGroup", org, "", true},
		{"administrator cannot raise quotas", nil, member(authz.RoleAdministrator), "updateQuotas", org, "", false},
		{"administrator reads quotas", nil, member(authz.RoleAdministrator), "getQuotas", org, "", true},
		{"administrator cannot delete the organization", nil, member(authz.RoleAdministrator), "deleteOrganization", org, "", false},
		{"administrator updates the organization", nil, member(authz.RoleAdministrator), "updateOrganization", org, "", true},
		{"administrator deletes any project", nil, member(authz.RoleAdministrator), "deleteProject", org, otherProj, true},
		{"administrator has nothing in another organization", nil, member(authz.RoleAdministrator), "listGroups", other, "", false},
		{"administrator cannot manage system providers", nil, member(authz.RoleAdministrator), "createSystemOauth2Provider", "", "", false},
		{"reader reads users", nil, member(authz.RoleReader), "listUsers", org, "", true},
		{"reader cannot create users", nil, member(authz.RoleReader), "createUser", org, "", false},
		{"reader cannot rotate service accounts", nil, member(authz.RoleReader), "rotateServiceAccount", org, "", false},
		{"user reads its project", nil, member(authz.RoleUser), "getProject", org, proj, true},
		{"user cannot read another project", nil, member(authz.RoleUser), "getProject", org, otherProj, false},
		{"user allocates in its project", nil, member(authz.RoleUser), "createAllocation", org, proj, true},
		{"user cannot allocate in another project", nil, member(authz.RoleUser), "createAllocation", org, otherProj, false},
		{"user cannot delete its project", nil, member(authz.RoleUser), "deleteProject", org, proj, false},
		{"user lists projects (filtered by the handler)", nil, member(authz.RoleUser), "listProjects", org, "", true},
		{"user cannot list groups", nil, member(authz.RoleUser), "listGroups", org, "", false},
		{"user cannot list the organization's allocations", nil, member(authz.RoleUser), "listOrganizationAllocations", org, "", false},
		{"member without roles reads its own ACL", nil, member(), "getOrganizationAcl", org, "", true},
		{"member without roles lists projects (sees none)", nil, member(), "listProjects", org, "", true},
		{"non-member cannot list projects", nil, &authz.Membership{OrganizationID: org}, "listProjects", org, "", false},
		{"member without roles reads nothing else", nil, member(), "getOrganization", org, "", false},
		{"non-member cannot read the ACL", nil, &authz.Membership{OrganizationID: org}, "getOrganizationAcl", org, "", false},
		{"anyone authenticated reads the global ACL", nil, nil, "getGlobalAcl", "", "", true},
		{"platform-administrator granted through a group grants nothing", nil, member(authz.RolePlatformAdministrator), "listGroups", org, "", false},
		{"unknown role IDs grant nothing", nil, &authz.Membership{OrganizationID: org, Member: true, GroupRoles: map[string][]string{"g": {"nope"}}}, "getOrganization", org, "", false},
		{"grants for one organization do not apply to a path naming another", nil, member(authz.RoleAdministrator), "getOrganization", other, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, ok := authz.Catalogue[c.op]
			if !ok {
				t.Fatalf("no operation %s", c.op)
			}
			g := authz.Compute(c.platform, c.m)
			if got := g.Allows(e, c.org, c.proj); got != c.want {
				t.Errorf("Allows(%s, org=%q, project=%q) = %v, want %v", c.op, c.org, c.proj, got, c.want)
			}
		})
	}
}

// TestACLAgreesWithAllows: for every principal shape above, an operation is
// listed in the ACL exactly when Allows permits it, so what the ACL tells
// other services and what the API enforces cannot drift.
func TestACLAgreesWithAllows(t *testing.T) {
	t.Parallel()
	const org, proj = "org-1", "proj-1"
	for _, rn := range []string{authz.RoleAdministrator, authz.RoleUser, authz.RoleReader} {
		m := &authz.Membership{OrganizationID: org, Member: true,
			GroupRoles: map[string][]string{"g": {role(t, rn)}}, GroupProjects: map[string][]string{"g": {proj}}}
		g := authz.Compute(nil, m)
		acl := g.ACL()
		listed := func(eps []authz.EndpointACL, endpoint string, op authz.Operation) bool {
			for _, e := range eps {
				if e.Name == endpoint {
					for _, o := range e.Operations {
						if o == op {
							return true
						}
					}
				}
			}
			return false
		}
		for id, e := range authz.Catalogue {
			switch e.Scope {
			case authz.ScopeOrganization:
				if got, want := listed(acl.Organization.Endpoints, e.Endpoint, e.Operation), g.Allows(e, org, ""); got != want {
					t.Errorf("%s: %s in organization ACL = %v, Allows = %v", rn, id, got, want)
				}
			case authz.ScopeProject:
				var pe []authz.EndpointACL
				for _, p := range acl.Projects {
					if p.ID == proj {
						pe = p.Endpoints
					}
				}
				if got, want := listed(pe, e.Endpoint, e.Operation), g.Allows(e, org, proj); got != want {
					t.Errorf("%s: %s in project ACL = %v, Allows = %v", rn, id, got, want)
				}
			}
		}
	}
}

func TestSystemRoles(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	ids := map[string]bool{}
	for _, r := range authz.SystemRoles {
		if names[r.Name] || ids[r.ID] {
			t.Errorf("duplicate role %s / %s", r.Name, r.ID)
		}
		names[r.Name], ids[r.ID] = true, true
		if got, ok := authz.RoleByID(r.ID); !ok || got != r {
			t.Errorf("RoleByID(%s) does not find %s", r.ID, r.Name)
		}
	}
	for _, want := range []string{authz.RolePlatformAdministrator, authz.RoleAdministrator, authz.RoleUser, authz.RoleReader} {
		if !names[want] {
			t.Errorf("missing system role %s", want)
		}
	}
	var assignable []string
	for _, r := range authz.AssignableRoles() {
		assignable = append(assignable, r.Name)
	}
	if want := []string{"administrator", "reader", "scim-provisioner", "user"}; !reflect.DeepEqual(assignable, want) {
		t.Errorf("assignable roles %v, want %v", assignable, want)
	}
	// Role IDs are stable across installations and releases: clients store them.
	if id := role(t, authz.RoleAdministrator); id != "66f4be77-3d62-54ac-bcfd-5a5f55a38808" {
		t.Errorf("administrator role ID changed to %s", id)
	}
	// Every endpoint a role names exists in the catalogue.
	endpoints := map[string]bool{}
	for _, e := range authz.Catalogue {
		endpoints[e.Endpoint] = true
	}
	for _, r := range authz.SystemRoles {
		for _, perms := range []authz.Permissions{r.Global, r.Organization, r.Project} {
			keys := make([]string, 0, len(perms))
			for k := range perms {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !endpoints[k] {
					t.Errorf("role %s names unknown endpoint %s", r.Name, k)
				}
			}
		}
	}
}
