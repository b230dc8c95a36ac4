package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/policy/policytest"
)

// The policy conformance suites over HTTP (issue 4): the simulator
// reproduces every case of internal/policy/testdata/conformance.json; the
// enforcement suite combines system roles, custom roles and the guardrail
// and proves that the guard and the simulator decide every case alike; and
// the policy cases that a real request can express are run through the
// guard as well.

func loadConformance(t *testing.T) *policytest.Suite {
	t.Helper()
	s, err := policytest.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// simulatorBody is a what-if evaluation request for a conformance case.
func simulatorBody(t *testing.T, s *policytest.Suite, c policytest.Case) map[string]any {
	t.Helper()
	req, err := s.Request(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	roles := []any{}
	for _, r := range c.Roles {
		roles = append(roles, map[string]any{"name": r.Name, "policy": r.Policy})
	}
	body["roles"] = roles
	if c.Guardrail != nil {
		body["guardrail"] = c.Guardrail
	}
	return body
}

func decisionOf(t *testing.T, r *resp) policy.Decision {
	t.Helper()
	var d policy.Decision
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	return d
}

// TestSimulatorConformance runs every policy conformance case, unchanged,
// through POST /organizations/{id}/policy/evaluate.
func TestSimulatorConformance(t *testing.T) {
	t.Parallel()
	suite := loadConformance(t)
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "reader")
		for _, c := range suite.Cases {
			r := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "evaluate"), acme.token, simulatorBody(t, suite, c))
			if msg := c.Want.Check(decisionOf(t, r)); msg != "" {
				t.Errorf("%s: %s", c.Name, msg)
			}
			if has(r.obj(t), "decidedBy") {
				t.Errorf("%s: a what-if decision claims a real decider: %s", c.Name, r.Body)
			}
		}
	})
}

// enforcementCase is a principal in an organization and one real request.
type enforcementCase struct {
	name string
	// system is the system role of the caller's group ("" for none);
	// inProject attaches that group to the target project.
	system    string
	inProject bool
	// custom are custom role policies held through the same group; with
	// viaKey, the caller is instead an API key bound to the system role or
	// (when there is none) to the first custom role.
	custom    []map[string]any
	viaKey    bool
	perms     []string // permissions of the first custom role
	guardrail map[string]any
	// tags are the target project's; ip the caller's address.
	tags map[string]string
	ip   string
	op   string
	want bool
	by   string // decidedBy
}

var (
	readsOnly   = rules("deny", "projects", "allow", "operation.startsWith('get-') || operation.startsWith('list-')")
	devReads    = rules("deny", "projects", "allow", "operation == 'get-project' && resources.project.tags.env == 'dev'")
	noDeletes   = rules("allow", "projects", "deny", "operation.startsWith('delete-')", "allow", "true")
	officeFence = map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"projects": map[string]any{"type": "rules",
		"rules": []any{map[string]any{"action": "allow", "expression": "sourceIP.inIpRange('10.0.0.0/8')"}}}}}
	typeOf = func(strategy string, svcType map[string]string) map[string]any {
		s := map[string]any{}
		for k, v := range svcType {
			s[k] = map[string]any{"type": v}
		}
		return map[string]any{"defaultServiceStrategy": strategy, "services": s}
	}
)

func enforcementCases() []enforcementCase {
	dev, prod := map[string]string{"env": "dev"}, map[string]string{"env": "prod"}
	admin, reader, user := authz.RoleAdministrator, authz.RoleReader, authz.RoleUser
	return []enforcementCase{
		// System roles alone.
		{name: "administrator reads a project", system: admin, op: "getProject", want: true, by: "systemRole"},
		{name: "reader cannot update a project", system: reader, op: "updateProject", want: false, by: "none"},
		{name: "user updates its project", system: user, inProject: true, op: "updateProject", want: true, by: "systemRole"},
		{name: "user cannot read another project", system: user, op: "getProject", want: false, by: "none"},
		{name: "member without roles reads nothing", op: "getOrganization", want: false, by: "none"},
		{name: "administrator cannot set quotas", system: admin, op: "updateQuotas", want: false, by: "none"},
		{name: "member lists projects (filtered)", op: "listProjects", want: true, by: "systemRole"},
		{name: "member reads its ACL", op: "getOrganizationAcl", want: true, by: "systemRole"},
		// The guardrail with system roles.
		{name: "guardrail closes a service to an administrator", system: admin, guardrail: typeOf("allow", map[string]string{"projects": "deny"}), op: "getProject", want: false, by: "guardrail"},
		{name: "guardrail leaves other services", system: admin, guardrail: typeOf("allow", map[string]string{"projects": "deny"}), op: "listGroups", want: true, by: "systemRole"},
		{name: "guardrail fence from inside", system: admin, guardrail: officeFence, ip: "10.2.3.4", op: "getProject", want: true, by: "systemRole"},
		{name: "guardrail fence from outside", system: admin, guardrail: officeFence, ip: "192.0.2.9", op: "getProject", want: false, by: "guardrail"},
		{name: "guardrail default deny", system: admin, guardrail: typeOf("deny", map[string]string{"projects": "allow"}), op: "getOrganization", want: false, by: "guardrail"},
		{name: "guardrail denies deletes", system: admin, guardrail: noDeletes, op: "deleteProject", want: false, by: "guardrail"},
		{name: "guardrail allows updates", system: admin, guardrail: noDeletes, op: "updateProject", want: true, by: "systemRole"},
		{name: "guardrail on tags: prod", system: user, inProject: true, tags: prod,
			guardrail: rules("allow", "projects", "deny", "resources.project.tags.env == 'prod'", "allow", "true"), op: "getProject", want: false, by: "guardrail"},
		{name: "guardrail on tags: dev", system: user, inProject: true, tags: dev,
			guardrail: rules("allow", "projects", "deny", "resources.project.tags.env == 'prod'", "allow", "true"), op: "getProject", want: true, by: "systemRole"},
		{name: "guardrail rule on a missing tag is skipped", system: user, inProject: true,
			guardrail: rules("allow", "projects", "deny", "resources.project.tags.env == 'prod'", "allow", "true"), op: "getProject", want: true, by: "systemRole"},
		{name: "guardrail denies the member's ACL", guardrail: typeOf("allow", map[string]string{"acl": "deny"}), op: "getOrganizationAcl", want: false, by: "guardrail"},
		// Custom roles alone.
		{name: "custom role reads", custom: []map[string]any{readsOnly}, op: "getProject", want: true, by: "role"},
		{name: "custom role does not write", custom: []map[string]any{readsOnly}, op: "updateProject", want: false, by: "none"},
		{name: "custom role reads dev", custom: []map[string]any{devReads}, tags: dev, op: "getProject", want: true, by: "role"},
		{name: "custom role does not read prod", custom: []map[string]any{devReads}, tags: prod, op: "getProject", want: false, by: "none"},
		{name: "custom role skips an untagged project", custom: []map[string]any{devReads}, op: "getProject", want: false, by: "none"},
		{name: "custom role on the source address, inside", custom: []map[string]any{rules("deny", "projects", "allow", "sourceIP.inIpRange('10.0.0.0/8')")}, ip: "10.0.0.1", op: "getProject", want: true, by: "role"},
		{name: "custom role on the source address, outside", custom: []map[string]any{rules("deny", "projects", "allow", "sourceIP.inIpRange('10.0.0.0/8')")}, ip: "172.16.0.1", op: "getProject", want: false, by: "none"},
		{name: "custom role on the principal", custom: []map[string]any{rules("deny", "projects", "allow", "principal.type == 'serviceAccount' && principal.groupIDs.size() == 1")}, op: "getProject", want: true, by: "role"},
		{name: "custom role on the organization", custom: []map[string]any{rules("deny", "groups", "allow", "organization == principal.organizationId")}, op: "listGroups", want: true, by: "role"},
		{name: "custom role on the project", custom: []map[string]any{rules("deny", "projects", "allow", "project == resources.project.id")}, op: "getProject", want: true, by: "role"},
		{name: "custom role on the parameters", custom: []map[string]any{rules("deny", "projects", "allow", "parameters.projectID == project && parameters.organizationID == organization")}, op: "getProject", want: true, by: "role"},
		{name: "custom role on the time", custom: []map[string]any{rules("deny", "projects", "allow", "now < timestamp('2000-01-01T00:00:00Z')")}, op: "getProject", want: false, by: "none"},
		{name: "custom role grants beyond the administrator", system: admin, custom: []map[string]any{typeOf("deny", map[string]string{"quotas": "allow"})}, op: "updateQuotas", want: true, by: "role"},
		{name: "custom role grants a reader writes", system: reader, custom: []map[string]any{typeOf("deny", map[string]string{"groups": "allow"})}, op: "createGroup", want: true, by: "role"},
		{name: "custom role grants a user another project", system: user, custom: []map[string]any{readsOnly}, op: "getProject", want: true, by: "role"},
		{name: "custom role reads API keys", custom: []map[string]any{rules("deny", "apikeys", "allow", "operation == 'list-api-keys'")}, op: "listApiKeys", want: true, by: "role"},
		// Custom roles with system roles: explicit denies win, implicit do not.
		{name: "explicit deny beats the administrator", system: admin, custom: []map[string]any{noDeletes}, op: "deleteProject", want: false, by: "role"},
		{name: "type deny beats the administrator", system: admin, custom: []map[string]any{typeOf("allow", map[string]string{"groups": "deny"})}, op: "listGroups", want: false, by: "role"},
		{name: "implicit deny does not veto the administrator", system: admin, custom: []map[string]any{readsOnly}, op: "deleteProject", want: true, by: "systemRole"},
		{name: "explicit deny closes the member's project list", custom: []map[string]any{typeOf("allow", map[string]string{"projects": "deny"})}, op: "listProjects", want: false, by: "role"},
		{name: "two roles: a later deny wins", custom: []map[string]any{allowAll(), noDeletes}, op: "deleteProject", want: false, by: "role"},
		{name: "two roles: no veto between implicit denies", custom: []map[string]any{typeOf("deny", map[string]string{"groups": "allow"}), readsOnly}, op: "getProject", want: true, by: "role"},
		{name: "guardrail beats a custom allow", custom: []map[string]any{allowAll()}, guardrail: typeOf("allow", map[string]string{"projects": "deny"}), op: "getProject", want: false, by: "guardrail"},
		// The break-glass permission and the guardrail reset.
		{name: "reset despite a deny-all guardrail", custom: []map[string]any{typeOf("deny", nil)}, perms: []string{"resetOrganizationPolicy"},
			guardrail: typeOf("deny", nil), op: "resetOrganizationPolicy", want: true, by: "permission"},
		{name: "administrator's reset refused by the guardrail", system: admin, guardrail: typeOf("deny", map[string]string{"projects": "allow"}), op: "resetOrganizationPolicy", want: false, by: "guardrail"},
		{name: "administrator resets", system: admin, op: "resetOrganizationPolicy", want: true, by: "systemRole"},
		// API keys.
		{name: "API key with the user role: every project", system: user, viaKey: true, op: "updateProject", want: true, by: "systemRole"},
		{name: "API key with the user role: no groups", system: user, viaKey: true, op: "listGroups", want: false, by: "none"},
		{name: "API key with a custom role: dev", custom: []map[string]any{devReads}, viaKey: true, tags: dev, op: "getProject", want: true, by: "role"},
		{name: "API key with a custom role: prod", custom: []map[string]any{devReads}, viaKey: true, tags: prod, op: "getProject", want: false, by: "none"},
		{name: "API key under the guardrail", system: admin, viaKey: true, guardrail: typeOf("allow", map[string]string{"groups": "deny"}), op: "listGroups", want: false, by: "guardrail"},
	}
}

// call is how a case's operation is sent: method, path (under the
// organization, with {P} for the project), body, and the status of success.
type caseCall struct {
	method, path string
	body         func(c enforcementCase) any
	ok           int
}

var enforcementCalls = map[string]caseCall{
	"getProject": {"GET", "projects/{P}", nil, http.StatusOK},
	"updateProject": {"PUT", "projects/{P}", func(c enforcementCase) any {
		b := projectWrite("target", nil)
		b["metadata"].(map[string]any)["tags"] = tagList(c.tags)
		return b
	}, http.StatusOK},
	"deleteProject":           {"DELETE", "projects/{P}", nil, http.StatusAccepted},
	"listProjects":            {"GET", "projects", nil, http.StatusOK},
	"listGroups":              {"GET", "groups", nil, http.StatusOK},
	"createGroup":             {"POST", "groups", func(enforcementCase) any { return groupWrite("made", nil, nil, nil) }, http.StatusCreated},
	"getOrganization":         {"GET", "", nil, http.StatusOK},
	"getOrganizationAcl":      {"GET", "acl", nil, http.StatusOK},
	"updateQuotas":            {"PUT", "quotas", func(enforcementCase) any { return quotasWrite("gpus", 50) }, http.StatusOK},
	"listApiKeys":             {"GET", "apikeys", nil, http.StatusOK},
	"resetOrganizationPolicy": {"POST", "policy/reset", nil, http.StatusOK},
}

func tagList(tags map[string]string) []any {
	out := []any{}
	for k, v := range tags {
		out = append(out, map[string]any{"name": k, "value": v})
	}
	return out
}

// setUp creates a case's organization: the target project, the custom
// roles, the caller (a service account in a group, or an API key) and the
// guardrail. It returns the organization, the project, the caller's token
// and its simulator principal.
func (a *apiEnv) setUp(t *testing.T, n int, c enforcementCase) (org, project, token string, principal map[string]any) {
	t.Helper()
	org = a.newOrg(t, fmt.Sprintf("case-%03d", n))
	var roleIDs, projectGroups []string
	for i, p := range c.custom {
		body := roleWrite(fmt.Sprintf("role-%d", i), p, nil)
		if i == 0 && len(c.perms) > 0 {
			body["spec"].(map[string]any)["permissions"] = c.perms
		}
		roleIDs = append(roleIDs, id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "roles"), body).obj(t)))
	}
	if c.viaKey {
		bound := ""
		if c.system != "" {
			bound = a.role(t, c.system)
		} else {
			bound = roleIDs[0]
		}
		key := a.admin(t, http.StatusCreated, "POST", orgPath(org, "apikeys"), apiKeyWrite("caller", bound)).obj(t)
		token, principal = str(key, "status", "accessToken"), map[string]any{"type": "apiKey", "id": id(key)}
	} else {
		groupRoles := append([]string{}, roleIDs...)
		if c.system != "" {
			groupRoles = append(groupRoles, a.role(t, c.system))
		}
		m := a.addMemberWithRoles(t, org, "caller", groupRoles...)
		token, principal = m.token, map[string]any{"type": "serviceAccount", "id": m.sa}
		if c.inProject {
			projectGroups = []string{m.group}
		}
	}
	p := projectWrite("target", projectGroups)
	p["metadata"].(map[string]any)["tags"] = tagList(c.tags)
	project = id(a.admin(t, http.StatusAccepted, "POST", orgPath(org, "projects"), p).obj(t))
	if c.guardrail != nil {
		a.admin(t, http.StatusOK, "PUT", orgPath(org, "policy"), c.guardrail)
	}
	return org, project, token, principal
}

// TestEnforcementConformance: for every case, the real guard's answer and
// the simulator's decision for the same real principal agree, and both are
// the case's.
func TestEnforcementConformance(t *testing.T) {
	t.Parallel()
	cases := enforcementCases()
	if len(cases) < 40 {
		t.Fatalf("%d enforcement cases, want at least 40", len(cases))
	}
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		for n, c := range cases {
			call, ok := enforcementCalls[c.op]
			if !ok {
				t.Fatalf("%s: no call for %s", c.name, c.op)
			}
			org, project, token, principal := a.setUp(t, n, c)
			path := orgPath(org)
			if call.path != "" {
				path += "/" + strings.ReplaceAll(call.path, "{P}", project)
			}
			var body any
			if call.body != nil {
				body = call.body(c)
			}
			if c.op == "updateProject" {
				// Keep the project's groups: changing them needs the right
				// to grant, which is not what these cases are about.
				body.(map[string]any)["spec"] = a.admin(t, http.StatusOK, "GET", orgPath(org, "projects", project), nil).obj(t)["spec"]
			}
			var hdrs []header
			if c.ip != "" {
				hdrs = append(hdrs, header{"X-Forwarded-For", c.ip})
			}
			// The simulator first: the real call may change what it is
			// about (an update, a delete).
			sim := map[string]any{"service": authz.Catalogue[c.op].Service(), "operation": authz.Catalogue[c.op].Name(), "principal": principal}
			if strings.Contains(call.path, "{P}") {
				sim["project"] = project
			}
			if c.ip != "" {
				sim["sourceIP"] = c.ip
			}
			d := a.must(t, http.StatusOK, "POST", orgPath(org, "policy", "evaluate"), a.AdminToken, sim).obj(t)
			r := a.call(t, call.method, path, token, body, hdrs...)
			enforced := r.Status == call.ok
			if !enforced && r.Status != http.StatusForbidden {
				t.Errorf("%s: %s, want %d or 403", c.name, r, call.ok)
				continue
			}
			if d["allowed"] != enforced {
				t.Errorf("%s: the guard answered %d, the simulator %v (%s)", c.name, r.Status, d["allowed"], d["reason"])
			}
			if enforced != c.want || d["decidedBy"] != c.by {
				t.Errorf("%s: allowed %v decided by %v (%s), want %v by %s", c.name, enforced, d["decidedBy"], d["reason"], c.want, c.by)
			}
		}
	})
}

// expressible reports whether a policy conformance case can be sent as a
// real request: an operation on the base request's project, by the base
// principal (a service account in one group), without parameters or
// resources, from a real IP address. The guard then decides it with only
// the case's policies (the caller holds no system role), so its answer must
// be the case's.
func expressible(s *policytest.Suite, c policytest.Case) (policy.Request, string, bool) {
	req, err := s.Request(c)
	if err != nil {
		return req, "", false
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(c.Request, &raw)
	for _, f := range []string{"principal", "organization", "project", "parameters", "resources"} {
		if _, set := raw[f]; set {
			return req, "", false
		}
	}
	ent, ok := authz.ByName(req.Service, req.Operation)
	if !ok || ent.Scope != authz.ScopeProject {
		return req, "", false
	}
	if _, ok := enforcementCalls[ent.OperationID]; !ok {
		return req, "", false
	}
	if _, err := netip.ParseAddr(req.SourceIP); err != nil {
		return req, "", false
	}
	return req, ent.OperationID, true
}

// TestConformanceThroughEnforcement runs the policy conformance cases that a
// real request can express through the real guard, and the simulator for
// the same real principal, which must reproduce the case's decision
// exactly. The cases' literal IDs (org-1, prj-1, sa-1, grp-dev) are
// replaced by the real ones; the server clock is set to the case's time.
func TestConformanceThroughEnforcement(t *testing.T) {
	t.Parallel()
	suite := loadConformance(t)
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		ran := 0
		for n, c := range suite.Cases {
			req, op, ok := expressible(suite, c)
			if !ok {
				continue
			}
			ran++
			org := a.newOrg(t, fmt.Sprintf("conf-%03d", n))
			sa := a.admin(t, http.StatusCreated, "POST", orgPath(org, "serviceaccounts"), saWrite("sa", nil)).obj(t)
			// The group comes first so that its ID can be written into the
			// roles; the roles are added to it after.
			group := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "groups"), groupWrite("grp-dev", nil, nil, []string{id(sa)})).obj(t))
			project := id(a.admin(t, http.StatusAccepted, "POST", orgPath(org, "projects"), projectWrite("prj", nil)).obj(t))
			real := strings.NewReplacer("'org-1'", "'"+org+"'", "'prj-1'", "'"+project+"'", "'sa-1'", "'"+id(sa)+"'", "'grp-dev'", "'"+group+"'")
			rewrite := func(p policy.Policy) map[string]any {
				b, _ := json.Marshal(p)
				var m map[string]any
				_ = json.Unmarshal([]byte(real.Replace(string(b))), &m)
				return m
			}
			var roleIDs []string
			for _, r := range c.Roles {
				roleIDs = append(roleIDs, id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "roles"), roleWrite(r.Name, rewrite(r.Policy), nil)).obj(t)))
			}
			a.admin(t, http.StatusOK, "PUT", orgPath(org, "groups", group), groupWrite("grp-dev", roleIDs, nil, []string{id(sa)}))
			if c.Guardrail != nil {
				a.admin(t, http.StatusOK, "PUT", orgPath(org, "policy"), rewrite(*c.Guardrail))
			}
			call := enforcementCalls[op]
			var body any
			if call.body != nil {
				body = call.body(enforcementCase{})
			}
			d := decisionOf(t, a.must(t, http.StatusOK, "POST", orgPath(org, "policy", "evaluate"), a.AdminToken, map[string]any{
				"service": req.Service, "operation": req.Operation, "project": project, "sourceIP": req.SourceIP,
				"now": req.Now.Format(time.RFC3339), "principal": map[string]any{"type": "serviceAccount", "id": id(sa)}}))
			a.Clock.Set(req.Now)
			r := a.call(t, call.method, orgPath(org)+"/"+strings.ReplaceAll(call.path, "{P}", project), str(sa, "status", "accessToken"), body,
				header{"X-Forwarded-For", req.SourceIP})
			a.Clock.Set(t0)
			if enforced := r.Status == call.ok; enforced != c.Want.Allowed {
				t.Errorf("%s: the guard answered %s, want allowed %v", c.Name, excerptResp(r), c.Want.Allowed)
			}
			if msg := c.Want.Check(d); msg != "" {
				t.Errorf("%s: simulator for the real principal: %s", c.Name, msg)
			}
		}
		if ran < 40 {
			t.Errorf("only %d policy conformance cases could be expressed as real requests", ran)
		}
		t.Logf("%d of %d policy conformance cases ran through enforcement", ran, len(suite.Cases))
	})
}
