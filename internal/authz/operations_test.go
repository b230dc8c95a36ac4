package authz_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
)

func TestKebab(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"getProject":                      "get-project",
		"listOrganizationOauth2Providers": "list-organization-oauth2-providers",
		"createSystemOauth2Provider":      "create-system-oauth2-provider",
		"getGlobalAcl":                    "get-global-acl",
		"listApiKeys":                     "list-api-keys",
		"updateRoleAssumeRolePolicy":      "update-role-assume-role-policy",
		"getACLEntry":                     "get-acl-entry",
		"rotateServiceAccount":            "rotate-service-account",
		"x":                               "x",
		"":                                "",
	}
	for in, want := range cases {
		if got := authz.Kebab(in); got != want {
			t.Errorf("Kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOperationNames: every catalogue entry has a policy service and a
// unique (service, operation) name, the service is its endpoint's without
// the prefix, and Operations, Services and ByName all agree with Catalogue.
func TestOperationNames(t *testing.T) {
	t.Parallel()
	ops := authz.Operations()
	if len(ops) != len(authz.Catalogue) {
		t.Fatalf("Operations lists %d operations, the catalogue has %d", len(ops), len(authz.Catalogue))
	}
	if !sort.SliceIsSorted(ops, func(i, j int) bool {
		return ops[i].Service < ops[j].Service || ops[i].Service == ops[j].Service && ops[i].Operation < ops[j].Operation
	}) {
		t.Error("Operations is not sorted by service, then operation")
	}
	services := map[string]bool{}
	for _, s := range authz.Services() {
		services[s] = true
	}
	seen := map[string]string{}
	for _, o := range ops {
		e := authz.Catalogue[o.OperationID]
		if o.Service == "" {
			t.Errorf("%s has no policy service", o.OperationID)
		}
		if e.Endpoint != "" && "identity:"+o.Service != e.Endpoint {
			t.Errorf("%s: service %q is not its endpoint %q without the prefix", o.OperationID, o.Service, e.Endpoint)
		}
		if o.Operation != authz.Kebab(o.OperationID) || strings.ToLower(strings.ReplaceAll(o.Operation, "-", "")) != strings.ToLower(o.OperationID) {
			t.Errorf("%s: operation name %q is not its kebab-case", o.OperationID, o.Operation)
		}
		key := o.Service + "/" + o.Operation
		if other, dup := seen[key]; dup {
			t.Errorf("%s and %s share the policy name %s", other, o.OperationID, key)
		}
		seen[key] = o.OperationID
		if !services[o.Service] {
			t.Errorf("service %q of %s is not in Services()", o.Service, o.OperationID)
		}
		if got, ok := authz.ByName(o.Service, o.Operation); !ok || got.OperationID != o.OperationID {
			t.Errorf("ByName(%s) = %v, %v; want %s", key, got.OperationID, ok, o.OperationID)
		}
		if got, want := o.CRUD, e.Operation; got != want {
			t.Errorf("%s: CRUD %q, want %q", o.OperationID, got, want)
		}
	}
	if _, ok := authz.ByName("projects", "nope"); ok {
		t.Error("ByName found an operation that does not exist")
	}
	// The services the policy conformance cases were written against are
	// all in the catalogue.
	for _, s := range []string{"acl", "allocations", "groups", "oauth2providers", "organizations", "projects", "quotas", "roles",
		"serviceaccounts", "users", "policies", "apikeys", "auditevents", "operations"} {
		if !services[s] {
			t.Errorf("service %q missing from the catalogue", s)
		}
	}
}

func TestWrites(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{"createGroup": true, "updateProject": true, "deleteUser": true, "rotateServiceAccount": true,
		"assumeRole": true, "resetOrganizationPolicy": true, "getGroup": false, "listProjects": false,
		"evaluateOrganizationPolicy": false, "getGlobalAcl": false} {
		if got := authz.Catalogue[id].Writes(); got != want {
			t.Errorf("%s Writes() = %v, want %v", id, got, want)
		}
	}
}

// TestAPIKeyGrants: a principal bound to a system role (an API key) holds
// its organization permissions, and its project permissions in every
// project, but nothing platform-wide or in another organization.
func TestAPIKeyGrants(t *testing.T) {
	t.Parallel()
	const org = "org-1"
	m := &authz.Membership{OrganizationID: org, Member: true, AllProjects: true, GroupRoles: map[string][]string{"": {role(t, authz.RoleUser)}}}
	g := authz.Compute(nil, m)
	cases := []struct {
		op, org, proj string
		want          bool
		by            string
	}{
		{"getProject", org, "any-project", true, authz.RoleUser},
		{"updateProject", org, "another-project", true, authz.RoleUser},
		{"createAllocation", org, "p", true, authz.RoleUser},
		{"deleteProject", org, "p", false, ""},
		{"getOrganization", org, "", true, authz.RoleUser},
		{"listGroups", org, "", false, ""},
		{"getProject", "org-2", "p", false, ""},
		{"createOrganization", "", "", false, ""},
		{"listProjects", org, "", true, "organization membership"},
	}
	for _, c := range cases {
		e := authz.Catalogue[c.op]
		if got := g.Allows(e, c.org, c.proj); got != c.want {
			t.Errorf("%s in %s/%s: Allows = %v, want %v", c.op, c.org, c.proj, got, c.want)
		}
		if got := g.AllowedBy(e, c.org, c.proj); got != c.by {
			t.Errorf("%s in %s/%s: AllowedBy = %q, want %q", c.op, c.org, c.proj, got, c.by)
		}
	}
	if !g.EveryProject() || !g.OrganizationWide(authz.EndpointProjects, authz.Read) {
		t.Error("an API key with the user role does not read every project")
	}
	if len(g.ProjectIDs()) != 0 {
		t.Errorf("an API key reaches projects through groups: %v", g.ProjectIDs())
	}
	if got := g.RoleIDs(); len(got) != 1 || got[0] != role(t, authz.RoleUser) {
		t.Errorf("RoleIDs = %v", got)
	}
}

func TestAllowedByAndPlatform(t *testing.T) {
	t.Parallel()
	const org, proj = "org-1", "proj-1"
	platform := authz.Compute([]string{role(t, authz.RolePlatformAdministrator)}, &authz.Membership{OrganizationID: org})
	if !platform.PlatformAllows(authz.Catalogue["deleteOrganization"]) || !platform.PlatformAllows(authz.Catalogue["getOrganizationAcl"]) {
		t.Error("the platform administrator's platform role does not allow organization operations")
	}
	if got := platform.AllowedBy(authz.Catalogue["updateQuotas"], org, ""); got != authz.RolePlatformAdministrator {
		t.Errorf("AllowedBy(updateQuotas) for the platform administrator = %q", got)
	}
	if platform.PlatformAllows(authz.Catalogue["listOrganizations"]) {
		t.Error("PlatformAllows claims an operation that needs no permission")
	}
	m := &authz.Membership{OrganizationID: org, Member: true, Groups: []string{"g1", "g2"},
		GroupRoles:    map[string][]string{"g1": {role(t, authz.RoleUser)}, "g2": {role(t, authz.RoleReader), "custom-role"}},
		GroupProjects: map[string][]string{"g1": {proj}}}
	g := authz.Compute(nil, m)
	if g.PlatformAllows(authz.Catalogue["getOrganization"]) {
		t.Error("an organization member has platform rights")
	}
	for _, c := range []struct{ op, proj, want string }{
		{"listGroups", "", authz.RoleReader},
		{"updateProject", proj, authz.RoleUser},
		{"getProject", proj, authz.RoleReader},
		{"updateProject", "other", ""},
		{"getOrganizationAcl", "", "organization membership"},
	} {
		if got := g.AllowedBy(authz.Catalogue[c.op], org, c.proj); got != c.want {
			t.Errorf("AllowedBy(%s, %q) = %q, want %q", c.op, c.proj, got, c.want)
		}
	}
	if got := g.RoleIDs(); len(got) != 3 {
		t.Errorf("RoleIDs = %v, want the user, reader and custom role", got)
	}
	if got := g.GroupIDs(); len(got) != 2 {
		t.Errorf("GroupIDs = %v", got)
	}
}
