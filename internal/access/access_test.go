package access_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

const org, proj, otherProj = "org-1", "proj-1", "proj-2"

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func env(t testing.TB) *policy.Env {
	t.Helper()
	e, err := access.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func roleID(t testing.TB, name string) string {
	t.Helper()
	r, ok := authz.RoleByName(name)
	if !ok {
		t.Fatalf("no role %s", name)
	}
	return r.ID
}

// doc builds a policy: default strategy, then service → rules as action,
// expression pairs ("allow"/"deny" alone for a type).
func doc(strategy string, services map[string][]string) policy.Policy {
	p := policy.Policy{DefaultServiceStrategy: strategy, Services: map[string]policy.ServicePolicy{}}
	for s, rs := range services {
		if len(rs) == 1 {
			p.Services[s] = policy.ServicePolicy{Type: rs[0]}
			continue
		}
		sp := policy.ServicePolicy{Type: policy.Rules}
		for i := 0; i+1 < len(rs); i += 2 {
			sp.Rules = append(sp.Rules, policy.Rule{Action: rs[i], Expression: rs[i+1]})
		}
		p.Services[s] = sp
	}
	return p
}

func compile(t testing.TB, e *policy.Env, p policy.Policy) *policy.Compiled {
	t.Helper()
	c, err := policy.Compile(p, e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// principal shapes
type who struct {
	kind      authn.Kind
	platform  bool     // holds the platform-administrator role
	member    bool     // member of org
	system    []string // system role names through one group
	projects  []string // projects of that group
	roleID    string   // API key / session role
	custom    []policy.Policy
	perms     [][]string // permissions of the custom roles
	guardrail *policy.Policy
	assigned  []assignedSet // permission sets assigned to the principal
}

// assignedSet is a permission set assigned on one project.
type assignedSet struct {
	name, project string
	system        []string // system role names
	custom        []policy.Policy
	inline        *policy.Policy
}

func (w who) caller(t testing.TB, e *policy.Env) *access.Caller {
	t.Helper()
	p := &authn.Principal{Kind: w.kind, ID: "p-1", OrganizationID: org, Subject: "serviceaccount:p", RoleID: w.roleID}
	if w.kind == "" {
		p.Kind = authn.KindServiceAccount
	}
	var platform []string
	if w.platform {
		platform = []string{roleID(t, authz.RolePlatformAdministrator)}
		p.OrganizationID = ""
	}
	m := &authz.Membership{OrganizationID: org, Member: w.member, Groups: []string{"grp-1"}}
	if w.member {
		var ids []string
		for _, n := range w.system {
			ids = append(ids, roleID(t, n))
		}
		if p.BoundToRole() {
			ids, m.AllProjects = []string{w.roleID}, true
		}
		m.GroupRoles = map[string][]string{"grp-1": ids}
		m.GroupProjects = map[string][]string{"grp-1": w.projects}
	}
	var projectPolicies []access.ProjectPolicy
	for _, a := range w.assigned {
		set := store.AssignedSet{TargetType: store.TargetProject, TargetID: a.project, PermissionSetID: "set-" + a.name, Name: a.name,
			Version: 1, HasInlinePolicy: a.inline != nil}
		for _, n := range a.system {
			set.RoleIDs = append(set.RoleIDs, roleID(t, n))
		}
		for i, d := range a.custom {
			id := a.name + "-custom-" + string(rune('a'+i))
			set.RoleIDs = append(set.RoleIDs, id)
			projectPolicies = append(projectPolicies, access.ProjectPolicy{Project: a.project, Name: authz.PermissionSetGrant(a.name, id),
				RoleID: id, PermissionSetID: set.PermissionSetID, Policy: compile(t, e, d)})
		}
		if a.inline != nil {
			projectPolicies = append(projectPolicies, access.ProjectPolicy{Project: a.project, Name: authz.PermissionSetInline(a.name),
				PermissionSetID: set.PermissionSetID, Policy: compile(t, e, *a.inline)})
		}
		m.Assigned = append(m.Assigned, set)
	}
	g := authz.Compute(platform, m)
	var roles []access.Role
	for i, d := range w.custom {
		r := access.Role{ID: "custom-" + string(rune('a'+i)), Name: "custom-" + string(rune('a'+i)), Version: 1, Policy: compile(t, e, d)}
		if i < len(w.perms) {
			r.Permissions = w.perms[i]
		}
		roles = append(roles, r)
	}
	var guard *policy.Compiled
	if w.guardrail != nil {
		guard = compile(t, e, *w.guardrail)
	}
	return access.NewCaller(p, g, org, roles, guard, projectPolicies...)
}

var (
	denyDeletes = doc("allow", map[string][]string{"projects": {"deny", "operation.startsWith('delete-')", "allow", "true"}})
	onlyReads   = doc("deny", map[string][]string{"projects": {"allow", "operation.startsWith('get-') || operation.startsWith('list-')"}})
	devOnly     = doc("deny", map[string][]string{"projects": {"allow", "operation == 'get-project' && resources.project.tags.env == 'dev'"}})
	groupsAdmin = doc("deny", map[string][]string{"groups": {"allow"}})
	denyGroups  = doc("allow", map[string][]string{"groups": {"deny"}})
	officeOnly  = doc("deny", map[string][]string{"projects": {"allow", "sourceIP.inIpRange('10.0.0.0/8')"}, "groups": {"allow"}})
	noProjects  = doc("allow", map[string][]string{"projects": {"deny"}})
	allowAll    = policy.AllowAll()
)

// TestDecide is the decision table: system roles, custom roles, the
// guardrail, platform administrators, API keys and role sessions, and the
// break-glass permission, and what decided.
func TestDecide(t *testing.T) {
	t.Parallel()
	e := env(t)
	engine := access.NewEngine(nil, e, 0)
	admin := who{member: true, system: []string{authz.RoleAdministrator}}
	user := who{member: true, system: []string{authz.RoleUser}, projects: []string{proj}}
	reader := who{member: true, system: []string{authz.RoleReader}}
	devTags := map[string]any{"project": map[string]any{"id": proj, "tags": map[string]any{"env": "dev"}}}
	prodTags := map[string]any{"project": map[string]any{"id": proj, "tags": map[string]any{"env": "prod"}}}
	with := func(w who, f func(*who)) who { f(&w); return w }

	cases := []struct {
		name      string
		who       who
		op        string
		org, proj string
		ip        string
		resources map[string]any
		want      bool
		by        string
		policy    string
	}{
		{"any authenticated caller lists organizations", who{}, "listOrganizations", "", "", "", nil, true, access.ByAuthenticated, ""},
		{"platform administrator creates organizations", who{platform: true}, "createOrganization", "", "", "", nil, true, access.ByPlatform, authz.RolePlatformAdministrator},
		{"platform administrator ignores the guardrail", who{platform: true, guardrail: &noProjects}, "deleteProject", org, proj, "", nil, true, access.ByPlatform, authz.RolePlatformAdministrator},
		{"member cannot create organizations", admin, "createOrganization", "", "", "", nil, false, access.ByNone, ""},
		{"non-member refused", who{}, "getOrganization", org, "", "", nil, false, access.ByNone, ""},
		{"other organization refused", admin, "getOrganization", "org-2", "", "", nil, false, access.ByNone, ""},
		{"system role alone", admin, "createGroup", org, "", "", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"system role does not allow", reader, "createGroup", org, "", "", nil, false, access.ByNone, ""},
		{"user in its project", user, "updateProject", org, proj, "", nil, true, access.BySystemRole, authz.RoleUser},
		{"user outside its project", user, "updateProject", org, otherProj, "", nil, false, access.ByNone, ""},
		{"guardrail type deny beats system role", with(admin, func(w *who) { w.guardrail = &noProjects }), "getProject", org, proj, "", nil, false, access.ByGuardrail, policy.GuardrailPolicy},
		{"guardrail allows other services", with(admin, func(w *who) { w.guardrail = &noProjects }), "listGroups", org, "", "", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"guardrail no-match denies", with(admin, func(w *who) { w.guardrail = &officeOnly }), "getProject", org, proj, "192.0.2.1", nil, false, access.ByGuardrail, policy.GuardrailPolicy},
		{"guardrail rule allows from the office", with(admin, func(w *who) { w.guardrail = &officeOnly }), "getProject", org, proj, "10.1.2.3", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"guardrail default deny", with(admin, func(w *who) { w.guardrail = &officeOnly }), "getQuotas", org, "", "10.1.2.3", nil, false, access.ByGuardrail, policy.GuardrailPolicy},
		{"custom explicit deny beats system role", with(admin, func(w *who) { w.custom = []policy.Policy{denyDeletes} }), "deleteProject", org, proj, "", nil, false, access.ByRole, "custom-a"},
		{"custom type deny beats system role", with(admin, func(w *who) { w.custom = []policy.Policy{denyGroups} }), "listGroups", org, "", "", nil, false, access.ByRole, "custom-a"},
		{"custom implicit deny does not veto system role", with(admin, func(w *who) { w.custom = []policy.Policy{onlyReads} }), "deleteProject", org, proj, "", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"custom allow beyond system role", with(user, func(w *who) { w.custom = []policy.Policy{groupsAdmin} }), "createGroup", org, "", "", nil, true, access.ByRole, "custom-a"},
		{"custom role alone allows", who{member: true, custom: []policy.Policy{onlyReads}}, "getProject", org, otherProj, "", nil, true, access.ByRole, "custom-a"},
		{"custom role alone does not allow", who{member: true, custom: []policy.Policy{onlyReads}}, "updateProject", org, proj, "", nil, false, access.ByNone, "custom-a"},
		{"custom role reads dev projects", who{member: true, custom: []policy.Policy{devOnly}}, "getProject", org, proj, "", devTags, true, access.ByRole, "custom-a"},
		{"custom role does not read prod projects", who{member: true, custom: []policy.Policy{devOnly}}, "getProject", org, proj, "", prodTags, false, access.ByNone, "custom-a"},
		{"custom role without resources skips its rule", who{member: true, custom: []policy.Policy{devOnly}}, "getProject", org, proj, "", nil, false, access.ByNone, "custom-a"},
		{"explicit deny of a later role wins over an allow", who{member: true, custom: []policy.Policy{allowAll, denyDeletes}}, "deleteProject", org, proj, "", nil, false, access.ByRole, "custom-b"},
		{"guardrail denies before custom roles", who{member: true, custom: []policy.Policy{allowAll}, guardrail: &noProjects}, "getProject", org, proj, "", nil, false, access.ByGuardrail, policy.GuardrailPolicy},
		{"members may ask for their ACL", who{member: true}, "getOrganizationAcl", org, "", "", nil, true, access.BySystemRole, "organization membership"},
		{"members may assume (the role decides)", who{member: true}, "assumeRole", org, "", "", nil, true, access.BySystemRole, "organization membership"},
		{"member's ACL under an explicit deny", who{member: true, custom: []policy.Policy{doc("allow", map[string][]string{"acl": {"deny"}})}}, "getOrganizationAcl", org, "", "", nil, false, access.ByRole, "custom-a"},
		{"members list projects (filtered)", who{member: true}, "listProjects", org, "", "", nil, true, access.BySystemRole, "organization membership"},
		{"break-glass reset despite the guardrail", who{member: true, custom: []policy.Policy{allowAll}, perms: [][]string{{access.PermissionResetOrganizationPolicy}},
			guardrail: &policy.Policy{DefaultServiceStrategy: "deny", Services: map[string]policy.ServicePolicy{}}}, "resetOrganizationPolicy", org, "", "", nil, true, access.ByPermission, "custom-a"},
		{"reset through organizations:update", admin, "resetOrganizationPolicy", org, "", "", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"reset refused to a reader", reader, "resetOrganizationPolicy", org, "", "", nil, false, access.ByNone, ""},
		{"the permission opens nothing else", who{member: true, custom: []policy.Policy{doc("deny", nil)}, perms: [][]string{{access.PermissionResetOrganizationPolicy}}},
			"updateOrganizationPolicy", org, "", "", nil, false, access.ByNone, "custom-a"},
		{"API key with a system role: any project", who{kind: authn.KindAPIKey, member: true, roleID: roleID(t, authz.RoleUser)}, "updateProject", org, otherProj, "", nil, true, access.BySystemRole, authz.RoleUser},
		{"API key with a system role: nothing else", who{kind: authn.KindAPIKey, member: true, roleID: roleID(t, authz.RoleUser)}, "createGroup", org, "", "", nil, false, access.ByNone, ""},
		{"API key with a custom role", who{kind: authn.KindAPIKey, member: true, roleID: "custom-a", custom: []policy.Policy{onlyReads}}, "listProjects", org, "", "", nil, true, access.BySystemRole, "organization membership"},
		{"role session: exactly its role", who{kind: authn.KindAssumedRole, member: true, roleID: "custom-a", custom: []policy.Policy{groupsAdmin}}, "deleteGroup", org, "", "", nil, true, access.ByRole, "custom-a"},
		{"role session: nothing beyond its role", who{kind: authn.KindAssumedRole, member: true, roleID: "custom-a", custom: []policy.Policy{groupsAdmin}}, "getProject", org, proj, "", nil, false, access.ByNone, "custom-a"},

		// Account assignments (issue 6): in their project, and only there.
		{"permission set's user role in its project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleUser}}}},
			"updateProject", org, proj, "", nil, true, access.ByPermissionSet, "permissionset:ops/role:user"},
		{"permission set's user role in another project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleUser}}}},
			"updateProject", org, otherProj, "", nil, false, access.ByNone, ""},
		{"permission set's administrator role administers its project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleAdministrator}}}},
			"deleteProject", org, proj, "", nil, true, access.ByPermissionSet, "permissionset:ops/role:administrator"},
		{"permission set's administrator role: nothing organization-wide", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleAdministrator}}}},
			"createGroup", org, "", "", nil, false, access.ByNone, ""},
		{"permission set's administrator role: no project creation", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleAdministrator}}}},
			"createProject", org, "", "", nil, false, access.ByNone, ""},
		{"permission set's reader role reads", who{member: true, assigned: []assignedSet{{name: "audit", project: proj, system: []string{authz.RoleReader}}}},
			"getAllocation", org, proj, "", nil, true, access.ByPermissionSet, "permissionset:audit/role:reader"},
		{"permission set's reader role does not write", who{member: true, assigned: []assignedSet{{name: "audit", project: proj, system: []string{authz.RoleReader}}}},
			"updateAllocation", org, proj, "", nil, false, access.ByNone, ""},
		{"group roles decide before permission sets", with(user, func(w *who) {
			w.assigned = []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleUser}}}
		}),
			"updateProject", org, proj, "", nil, true, access.BySystemRole, authz.RoleUser},
		{"inline policy in its project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, inline: &onlyReads}}},
			"getProject", org, proj, "", nil, true, access.ByPermissionSet, "permissionset:ops/inline"},
		{"inline policy not in another project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, inline: &onlyReads}}},
			"getProject", org, otherProj, "", nil, false, access.ByNone, ""},
		{"inline policy not outside projects", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, inline: &groupsAdmin}}},
			"listGroups", org, "", "", nil, false, access.ByNone, ""},
		{"permission set's custom role in its project", who{member: true, assigned: []assignedSet{{name: "ops", project: proj, custom: []policy.Policy{allowAll}}}},
			"deleteAllocation", org, proj, "", nil, true, access.ByPermissionSet, "permissionset:ops/role:ops-custom-a"},
		{"permission set's explicit deny beats an organization role", with(admin, func(w *who) {
			w.assigned = []assignedSet{{name: "safe", project: proj, custom: []policy.Policy{denyDeletes}}}
		}), "deleteProject", org, proj, "", nil, false, access.ByPermissionSet, "permissionset:safe/role:safe-custom-a"},
		{"permission set's explicit deny stays in its project", with(admin, func(w *who) {
			w.assigned = []assignedSet{{name: "safe", project: proj, custom: []policy.Policy{denyDeletes}}}
		}), "deleteProject", org, otherProj, "", nil, true, access.BySystemRole, authz.RoleAdministrator},
		{"permission set's explicit deny beats an organization-wide custom allow", who{member: true, custom: []policy.Policy{allowAll},
			assigned: []assignedSet{{name: "safe", project: proj, inline: &denyDeletes}}}, "deleteProject", org, proj, "", nil, false, access.ByPermissionSet, "permissionset:safe/inline"},
		{"the guardrail applies to permission sets", who{member: true, guardrail: &noProjects, assigned: []assignedSet{{name: "ops", project: proj, system: []string{authz.RoleAdministrator}}}},
			"getProject", org, proj, "", nil, false, access.ByGuardrail, policy.GuardrailPolicy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			caller := c.who.caller(t, e)
			d := engine.Decide(context.Background(), caller, access.Request{Entry: authz.Catalogue[c.op], Organization: c.org,
				Project: c.proj, Now: t0, SourceIP: c.ip, Resources: c.resources})
			if d.Allowed != c.want || d.By != c.by || d.Policy != c.policy {
				t.Errorf("Decide(%s) = {allowed:%v by:%s policy:%q} (%s), want {allowed:%v by:%s policy:%q}",
					c.op, d.Allowed, d.By, d.Policy, d.Reason, c.want, c.by, c.policy)
			}
			if d.Reason == "" {
				t.Error("a decision without a reason")
			}
			if d.By == access.ByRole && d.RoleID == "" {
				t.Error("a role decided but its ID is not reported")
			}
			if (d.By == access.ByPermissionSet) != (d.PermissionSetID != "") {
				t.Errorf("decided by %s with permission set %q", d.By, d.PermissionSetID)
			}
		})
	}
}

// TestACLIsAProjectionOfDecide: for callers with custom roles and a
// guardrail, an (endpoint, operation) pair is in the organization section
// of the ACL exactly when Decide allows some catalogue operation of that
// pair in the organization, and in a project's section exactly when Decide
// allows it there; projects outside the caller's groups appear when some
// project operation is allowed there.
func TestACLIsAProjectionOfDecide(t *testing.T) {
	t.Parallel()
	e := env(t)
	engine := access.NewEngine(nil, e, 0)
	onlyP1 := doc("deny", map[string][]string{"projects": {"allow", "project == 'proj-1' && operation == 'get-project'"}, "allocations": {"allow", "project == 'proj-2'"}})
	shapes := map[string]who{
		"user with a guardrail":        {member: true, system: []string{authz.RoleUser}, projects: []string{proj}, guardrail: &denyDeletes},
		"administrator with a deny":    {member: true, system: []string{authz.RoleAdministrator}, projects: []string{proj}, custom: []policy.Policy{denyGroups}},
		"custom roles only":            {member: true, custom: []policy.Policy{onlyP1, groupsAdmin}},
		"reader and custom reads":      {member: true, system: []string{authz.RoleReader}, custom: []policy.Policy{onlyReads}, guardrail: &noProjects},
		"API key with the user role":   {kind: authn.KindAPIKey, member: true, roleID: roleID(t, authz.RoleUser)},
		"API key with a custom role":   {kind: authn.KindAPIKey, member: true, roleID: "custom-a", custom: []policy.Policy{onlyP1}},
		"member without roles":         {member: true, guardrail: &allowAll},
		"session of a dev-only reader": {kind: authn.KindAssumedRole, member: true, roleID: "custom-a", custom: []policy.Policy{devOnly}},
		"user role through a permission set": {member: true, guardrail: &denyDeletes,
			assigned: []assignedSet{{name: "ops", project: otherProj, system: []string{authz.RoleUser}}}},
		"administrator with a denying permission set": {member: true, system: []string{authz.RoleAdministrator},
			assigned: []assignedSet{{name: "safe", project: proj, custom: []policy.Policy{denyDeletes}}}},
		"inline policy of a permission set only": {member: true,
			assigned: []assignedSet{{name: "ops", project: "proj-3", inline: &onlyReads}, {name: "adm", project: proj, system: []string{authz.RoleAdministrator}, inline: &denyGroups}}},
	}
	all := []string{proj, otherProj, "proj-3"}
	for name, w := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := w.caller(t, e)
			acl, err := engine.ACL(context.Background(), c, t0, "", func() ([]string, error) { return all, nil })
			if err != nil {
				t.Fatal(err)
			}
			listed := func(eps []authz.EndpointACL, ep string, op authz.Operation) bool {
				for _, x := range eps {
					if x.Name == ep && slices.Contains(x.Operations, op) {
						return true
					}
				}
				return false
			}
			decide := func(ent authz.Entry, p string) bool {
				return engine.Decide(context.Background(), c, access.Request{Entry: ent, Organization: org, Project: p, Now: t0}).Allowed
			}
			sections := map[string][]authz.EndpointACL{"": acl.Organization.Endpoints}
			for _, p := range acl.Projects {
				sections[p.ID] = p.Endpoints
			}
			for _, p := range append([]string{""}, all...) {
				eps, present := sections[p]
				type pair struct {
					ep string
					op authz.Operation
				}
				want := map[pair]bool{}
				anyProjectOp := false
				for _, ent := range authz.Catalogue {
					if ent.Endpoint == "" || (ent.Scope != authz.ScopeGlobal && ent.Scope != authz.ScopeOrganization && ent.Scope != authz.ScopeProject) {
						continue
					}
					at := ""
					if ent.Scope == authz.ScopeProject {
						at = p
					}
					if decide(ent, at) {
						want[pair{ent.Endpoint, ent.Operation}] = true
						if p != "" && ent.Scope == authz.ScopeProject {
							anyProjectOp = true
						}
					}
				}
				if p != "" && !present {
					if anyProjectOp && !slices.Contains(c.Grants.ProjectIDs(), p) {
						t.Errorf("project %s: a project operation is allowed there but the ACL has no section for it", p)
					}
					continue
				}
				for ent := range want {
					if !listed(eps, ent.ep, ent.op) {
						t.Errorf("section %q: Decide allows %s %s, the ACL does not list it", p, ent.ep, ent.op)
					}
				}
				for _, x := range eps {
					for _, op := range x.Operations {
						if !want[pair{x.Name, op}] {
							t.Errorf("section %q: the ACL lists %s %s, Decide allows no operation of it", p, x.Name, op)
						}
					}
				}
			}
		})
	}
}

// TestSystemOnlyACLUnchanged: a caller with only system roles gets exactly
// its grants' ACL (the fast path), and the projection agrees with it.
func TestSystemOnlyACLUnchanged(t *testing.T) {
	t.Parallel()
	e := env(t)
	engine := access.NewEngine(nil, e, 0)
	c := who{member: true, system: []string{authz.RoleUser}, projects: []string{proj}}.caller(t, e)
	acl, err := engine.ACL(context.Background(), c, t0, "", func() ([]string, error) {
		t.Error("a system-only ACL listed every project")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := c.Grants.ACL()
	if len(acl.Projects) != 1 || acl.Projects[0].ID != proj || len(acl.Organization.Endpoints) != len(want.Organization.Endpoints) {
		t.Errorf("ACL = %+v, want %+v", acl, want)
	}
}

func TestPolicyPrincipal(t *testing.T) {
	t.Parallel()
	e := env(t)
	for _, c := range []struct {
		kind authn.Kind
		typ  string
	}{{authn.KindServiceAccount, "serviceAccount"}, {authn.KindUser, "user"}, {authn.KindAPIKey, "apiKey"}, {authn.KindAssumedRole, "assumedRole"}} {
		w := who{kind: c.kind, member: true, roleID: "custom-a", custom: []policy.Policy{allowAll}}
		p := w.caller(t, e).PolicyPrincipal()
		if p.Type != c.typ || p.ID != "p-1" || p.OrganizationID != org {
			t.Errorf("%s: principal %+v", c.kind, p)
		}
		if c.kind == authn.KindUser && p.Email != "serviceaccount:p" {
			t.Errorf("a user's email is its subject: %+v", p)
		}
		if p.GroupIDs == nil {
			t.Errorf("%s: groupIDs nil, want a list", c.kind)
		}
	}
}
