package server_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
)

// Permission sets and account assignments over HTTP (issue 6).

// setOf creates a permission set in org and returns its ID.
func (a *apiEnv) setOf(t testing.TB, org, token, name string, roleIDs []string, inline map[string]any) string {
	t.Helper()
	return id(a.must(t, http.StatusCreated, "POST", orgPath(org, "permissionsets"), token, permissionSetWrite(name, roleIDs, inline)).obj(t))
}

// projectOf creates a project without groups in org and returns its ID.
func (a *apiEnv) projectOf(t testing.TB, org, token, name string) string {
	t.Helper()
	return id(a.must(t, http.StatusAccepted, "POST", orgPath(org, "projects"), token, projectWrite(name, nil)).obj(t))
}

// groupOf creates a group without roles or members in org and returns its
// ID.
func (a *apiEnv) groupOf(t testing.TB, org, token, name string) string {
	t.Helper()
	return id(a.must(t, http.StatusCreated, "POST", orgPath(org, "groups"), token, groupWrite(name, nil, nil, nil)).obj(t))
}

// assignOne assigns set to a principal on a project and returns the
// assignment.
func (a *apiEnv) assignOne(t testing.TB, org, token, principalType, principalID, set, project string) map[string]any {
	t.Helper()
	r := a.must(t, http.StatusCreated, "POST", orgPath(org, "accountassignments"), token,
		assign([]map[string]any{ref(principalType, principalID)}, []string{set}, []map[string]any{ref("project", project)}))
	created := items(t, r)
	if len(created) != 1 {
		t.Fatalf("%s: want one assignment", r)
	}
	return created[0]
}

// count reads the count of a page answer.
func count(t testing.TB, r *resp) int {
	t.Helper()
	n, ok := r.obj(t)["count"].(float64)
	if !ok {
		t.Fatalf("%s: no count", r)
	}
	return int(n)
}

// aclSection returns the endpoints of project p in an ACL answer, nil when
// it has no section for p.
func aclSection(acl map[string]any, p string) []any {
	ps, _ := acl["projects"].([]any)
	for _, s := range ps {
		if str(s, "id") == p {
			eps, _ := get(s, "endpoints").([]any)
			if eps == nil {
				eps = []any{}
			}
			return eps
		}
	}
	return nil
}

// TestAccountAssignmentStory is the story: a permission set
// assigned to a group on project P lets a member act in P and not in Q, the
// project list, the ACL and the simulator agree, and removing the
// assignment revokes it on the next request.
func TestAccountAssignmentStory(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		p := a.projectOf(t, acme.org, tok, "payments")
		q := a.projectOf(t, acme.org, tok, "quarry")
		devs := a.groupOf(t, acme.org, tok, "devs")
		ci := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("ci", []string{devs})).obj(t)
		member := str(ci, "status", "accessToken")
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", []string{devs})).obj(t))
		developer := a.setOf(t, acme.org, tok, "developer", []string{a.role(t, "user")}, nil)

		inP := []refusal{
			{"read P", "GET", orgPath(acme.org, "projects", p), nil, http.StatusForbidden, "forbidden"},
			{"allocate in P", "POST", orgPath(acme.org, "projects", p, "allocations"), allocWrite("a", item{"gpus", 1, 0}), http.StatusForbidden, "forbidden"},
		}
		a.refuseAll(t, member, "a member of devs before the assignment", inP, acme.org)

		asg := a.assignOne(t, acme.org, tok, "group", devs, developer, p)
		if str(asg, "status", "provisioning", "state") != "succeeded" || str(asg, "status", "principalName") != "devs" ||
			str(asg, "status", "targetName") != "payments" || str(asg, "status", "permissionSetName") != "developer" ||
			str(asg, "status", "roleURN") != fmt.Sprintf("urn:gatehouse:iam::%s:project/%s/permissionset/developer", acme.org, p) {
			t.Errorf("created assignment %v", asg)
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "accountassignments", id(asg)), tok, nil).obj(t); !reflect.DeepEqual(got, asg) {
			t.Errorf("read back %v, created %v", got, asg)
		}

		// The member acts in P as the user role allows...
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", p), member, nil)
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", p), member, projectWrite("payments", nil))
		alloc := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p, "allocations"), member, allocWrite("a", item{"gpus", 1, 0})).obj(t))
		// ...and not in Q, nor beyond the role in P.
		a.refuseAll(t, member, "a member of devs outside P", []refusal{
			{"read Q", "GET", orgPath(acme.org, "projects", q), nil, http.StatusForbidden, "forbidden"},
			{"allocate in Q", "POST", orgPath(acme.org, "projects", q, "allocations"), allocWrite("b", item{"gpus", 1, 0}), http.StatusForbidden, "forbidden"},
			{"delete P", "DELETE", orgPath(acme.org, "projects", p), nil, http.StatusForbidden, "forbidden"},
			{"list groups", "GET", orgPath(acme.org, "groups"), nil, http.StatusForbidden, "forbidden"},
			{"create a project", "POST", orgPath(acme.org, "projects"), projectWrite("new", nil), http.StatusForbidden, "forbidden"},
		}, acme.org)
		if got := ids(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects"), member, nil).arr(t)); !reflect.DeepEqual(got, []string{p}) {
			t.Errorf("the member lists %v, want only P", got)
		}
		acl := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), member, nil).obj(t)
		want := aclEndpoints("identity:allocations", crud, "identity:cloudidentities", []string{"read"},
			"identity:cloudidentitytokens", []string{"create"}, "identity:projects", []string{"read", "update"})
		if got := aclSection(acl, p); !reflect.DeepEqual(got, want) {
			t.Errorf("ACL section of P = %v, want %v", got, want)
		}
		if aclSection(acl, q) != nil {
			t.Errorf("the ACL has a section for Q: %v", acl)
		}

		// The simulator says the same for a user of the group, loaded as the
		// guard loads it, and names the permission set.
		for proj, allowed := range map[string]bool{p: true, q: false} {
			d := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "evaluate"), tok, map[string]any{
				"service": "projects", "operation": "update-project", "project": proj, "principal": map[string]any{"type": "user", "id": jo}}).obj(t)
			if d["allowed"] != allowed || (allowed && (d["decidedBy"] != "permissionSet" || d["policy"] != "permissionset:developer/role:user" || d["permissionSetId"] != developer)) {
				t.Errorf("simulated update-project of %s for jo: %v, want allowed %v by the developer set", proj, d, allowed)
			}
		}

		// Removing the assignment revokes it on the next request.
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "accountassignments", id(asg)), tok, nil)
		a.refuseAll(t, member, "a member of devs after the assignment is gone", append(inP,
			refusal{"read P's allocation", "GET", orgPath(acme.org, "projects", p, "allocations", alloc), nil, http.StatusForbidden, "forbidden"}), acme.org)
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects"), member, nil).arr(t); len(got) != 0 {
			t.Errorf("the member still lists %v", ids(got))
		}
		if aclSection(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), member, nil).obj(t), p) != nil {
			t.Error("the ACL still has a section for P")
		}
		wantError(t, a.call(t, "GET", orgPath(acme.org, "accountassignments", id(asg)), tok, nil), http.StatusNotFound, "not_found")
	})
}

// TestPermissionSetPolicies: a permission set's inline policy and custom
// roles act in its target project only, after the organization-wide roles,
// an explicit deny there wins over an organization-wide allow, and a
// change to the set applies from the next request.
func TestPermissionSetPolicies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		p := a.projectOf(t, acme.org, tok, "p")
		q := a.projectOf(t, acme.org, tok, "q")
		ops := a.addMember(t, acme.org, "ops", "administrator")
		viewer := a.addMember(t, acme.org, "viewer", "reader")
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", viewer.group), tok, groupWrite("viewer", nil, nil, []string{viewer.sa}))

		// An inline policy that reads projects: in P only.
		reads := rules("deny", "projects", "allow", "operation == 'get-project'")
		readers := a.setOf(t, acme.org, tok, "readers", nil, reads)
		a.assignOne(t, acme.org, tok, "serviceAccount", viewer.sa, readers, p)
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", p), viewer.token, nil)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", q), viewer.token, nil), http.StatusForbidden, "forbidden")
		if got := ids(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects"), viewer.token, nil).arr(t)); !reflect.DeepEqual(got, []string{p}) {
			t.Errorf("the viewer lists %v, want only P", got)
		}

		// A custom role of a set, denying deletes, fences an administrator
		// in P and nowhere else; the refusal names the set.
		noDeletes := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok,
			roleWrite("no-deletes", rules("allow", "projects", "deny", "operation.startsWith('delete-')", "allow", "true"), nil)).obj(t))
		safe := a.setOf(t, acme.org, tok, "safe", []string{noDeletes}, nil)
		a.assignOne(t, acme.org, tok, "group", ops.group, safe, p)
		r := a.call(t, "DELETE", orgPath(acme.org, "projects", p), ops.token, nil)
		wantError(t, r, http.StatusForbidden, "forbidden")
		if d := str(r.obj(t), "error_description"); !strings.Contains(d, "permissionset:safe/role:no-deletes") {
			t.Errorf("refusal %q does not name the permission set's role", d)
		}
		a.must(t, http.StatusAccepted, "DELETE", orgPath(acme.org, "projects", q), ops.token, nil)
		// The role is in use: it cannot go, and the 409 names the set.
		r = a.call(t, "DELETE", orgPath(acme.org, "roles", noDeletes), tok, nil)
		wantError(t, r, http.StatusConflict, "conflict")
		if !strings.Contains(str(r.obj(t), "error_description"), "safe") {
			t.Errorf("deleting a role held by a permission set: %s", r)
		}

		// A new version of the set applies at the next request: dropping
		// the role lifts the fence.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "permissionsets", safe), tok, permissionSetWrite("safe", nil, nil))
		a.must(t, http.StatusAccepted, "DELETE", orgPath(acme.org, "projects", p), ops.token, nil)
	})
}

// TestPermissionSets: create, read, update, list and delete, and every way
// a write is refused (nothing changes).
func TestPermissionSets(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		otherRole := id(a.must(t, http.StatusCreated, "POST", orgPath(other.org, "roles"), other.token, roleWrite("theirs", allowAll(), nil)).obj(t))
		custom := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok, roleWrite("ours", allowAll(), nil)).obj(t))
		inline := rules("deny", "projects", "allow", "operation == 'get-project'")

		body := permissionSetWrite("ops", []string{custom, a.role(t, "user"), custom}, inline)
		body["spec"].(map[string]any)["sessionDuration"] = 7200
		created := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "permissionsets"), tok, body).obj(t)
		set := id(created)
		wantMeta(t, "permission set", created, meta{name: "ops", org: ptrTo(acme.org), created: t0, createdBy: "serviceaccount:acme-administrator"})
		wantRoles := []string{custom, a.role(t, "user")}
		slices.Sort(wantRoles)
		if !reflect.DeepEqual(strs(created, "spec", "roleIDs"), wantRoles) || get(created, "spec", "sessionDuration") != 7200.0 ||
			!reflect.DeepEqual(get(created, "spec", "inlinePolicy"), inline) || get(created, "status", "assignmentCount") != 0.0 ||
			str(created, "status", "urn") != "urn:gatehouse:iam::"+acme.org+":permissionset/ops" || get(created, "status", "version") != 1.0 {
			t.Errorf("created %v", created)
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "permissionsets", set), tok, nil).obj(t); !reflect.DeepEqual(got, created) {
			t.Errorf("read back %v, created %v", got, created)
		}
		def := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "permissionsets"), tok, permissionSetWrite("empty", nil, nil)).obj(t)
		if get(def, "spec", "sessionDuration") != 3600.0 || has(def, "spec", "inlinePolicy") || len(strs(def, "spec", "roleIDs")) != 0 {
			t.Errorf("defaults %v", def)
		}

		bad := func(name string, mutate func(spec map[string]any)) refusal {
			b := permissionSetWrite("bad", []string{a.role(t, "reader")}, nil)
			mutate(b["spec"].(map[string]any))
			return refusal{name, "POST", orgPath(acme.org, "permissionsets"), b, http.StatusBadRequest, "invalid_request"}
		}
		a.refuseAll(t, tok, "bad permission sets", []refusal{
			bad("the platform administrator role", func(s map[string]any) { s["roleIDs"] = []string{a.role(t, "administrator"), platformAdminRole()} }),
			bad("another organization's role", func(s map[string]any) { s["roleIDs"] = []string{otherRole} }),
			bad("an unknown role", func(s map[string]any) { s["roleIDs"] = []string{"no-such-role"} }),
			bad("a session too short", func(s map[string]any) { s["sessionDuration"] = 3599 }),
			bad("a session too long", func(s map[string]any) { s["sessionDuration"] = 43201 }),
			bad("an inline policy that does not compile", func(s map[string]any) { s["inlinePolicy"] = rules("deny", "projects", "allow", "operation ==") }),
			bad("an inline policy for an unknown service", func(s map[string]any) { s["inlinePolicy"] = rules("deny", "computers", "allow", "true") }),
			bad("roleIDs not a list", func(s map[string]any) { s["roleIDs"] = "administrator" }),
			{"a taken name", "POST", orgPath(acme.org, "permissionsets"), permissionSetWrite("ops", nil, nil), http.StatusConflict, "conflict"},
			{"renamed to a taken name", "PUT", orgPath(acme.org, "permissionsets", set), permissionSetWrite("empty", nil, nil), http.StatusConflict, "conflict"},
			{"update of an unknown set", "PUT", orgPath(acme.org, "permissionsets", "no-such-set"), permissionSetWrite("x", nil, nil), http.StatusNotFound, "not_found"},
			{"another organization's set", "GET", orgPath(other.org, "permissionsets", set), nil, http.StatusForbidden, "forbidden"},
		}, acme.org)
		r := a.call(t, "POST", orgPath(acme.org, "permissionsets"), tok, permissionSetWrite("x", nil, rules("deny", "projects", "allow", "operation ==")))
		if d := str(r.obj(t), "error_description"); !strings.Contains(d, "spec.inlinePolicy") || !strings.Contains(d, "rules[0]") {
			t.Errorf("a bad inline policy's 400 does not say where: %q", d)
		}

		// An assigned set: counted, renamed in its assignments, not deletable.
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
		p := a.projectOf(t, acme.org, tok, "p")
		asg := a.assignOne(t, acme.org, tok, "user", jo, set, p)
		a.Clock.Advance(time.Minute)
		updated := a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "permissionsets", set), tok, permissionSetWrite("operators", []string{custom}, nil)).obj(t)
		if str(updated, "metadata", "name") != "operators" || has(updated, "spec", "inlinePolicy") || get(updated, "status", "version") != 2.0 ||
			get(updated, "status", "assignmentCount") != 1.0 || get(updated, "spec", "sessionDuration") != 3600.0 {
			t.Errorf("updated %v", updated)
		}
		wantMeta(t, "updated permission set", updated, meta{name: "operators", org: ptrTo(acme.org), created: t0, createdBy: "serviceaccount:acme-administrator",
			modified: t0.Add(time.Minute), modifiedBy: "serviceaccount:acme-administrator"})
		got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "accountassignments", id(asg)), tok, nil).obj(t)
		if str(got, "status", "permissionSetName") != "operators" || !strings.HasSuffix(str(got, "status", "roleURN"), "/permissionset/operators") {
			t.Errorf("the assignment after the rename: %v", got)
		}
		r = a.call(t, "DELETE", orgPath(acme.org, "permissionsets", set), tok, nil)
		wantError(t, r, http.StatusConflict, "conflict")
		if d := str(r.obj(t), "error_description"); !strings.Contains(d, "1 account assignment") {
			t.Errorf("refused delete does not say how many assignments: %q", d)
		}
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "accountassignments", id(asg)), tok, nil)
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "permissionsets", set), tok, nil)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "permissionsets", set), tok, nil), http.StatusNotFound, "not_found")
		// With its set gone, the custom role can go too.
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "roles", custom), tok, nil)

		// The list pages by name, both ways.
		for i := range 3 {
			a.setOf(t, acme.org, tok, fmt.Sprintf("set-%d", i), nil, nil)
		}
		page := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "permissionsets")+"?size=2&page=1&sort=name:desc", tok, nil)
		if got := names(items(t, page)); !reflect.DeepEqual(got, []string{"set-0", "empty"}) || count(t, page) != 4 ||
			!reflect.DeepEqual(strs(page.obj(t), "sort"), []string{"name:desc"}) {
			t.Errorf("page 1 by name desc: %v (%s)", got, page)
		}
	})
}

// platformAdminRole is the ID of the platform-administrator role, which
// organizations cannot grant.
func platformAdminRole() string {
	r, _ := authz.RoleByName(authz.RolePlatformAdministrator)
	return r.ID
}

// TestBulkAssignments: a create makes the cartesian product in order, all
// or nothing; repeats count once; an unknown or foreign reference (400) or
// an assigned triple (409, named) creates nothing and leaves no audit
// event; and only who may create groups may assign.
func TestBulkAssignments(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		g1 := a.groupOf(t, acme.org, tok, "g1")
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
		s1 := a.setOf(t, acme.org, tok, "s1", []string{a.role(t, "reader")}, nil)
		s2 := a.setOf(t, acme.org, tok, "s2", []string{a.role(t, "user")}, nil)
		p1 := a.projectOf(t, acme.org, tok, "p1")
		p2 := a.projectOf(t, acme.org, tok, "p2")
		foreignProject := a.projectOf(t, other.org, other.token, "theirs")
		list := orgPath(acme.org, "accountassignments")

		principals := []map[string]any{ref("group", g1), ref("user", jo), ref("group", g1)}
		r := a.must(t, http.StatusCreated, "POST", list, tok, assign(principals, []string{s1, s2}, []map[string]any{ref("project", p1), ref("project", p2)}))
		made := items(t, r)
		var triples []string
		for _, m := range made {
			triples = append(triples, str(m, "status", "principalName")+"/"+str(m, "status", "permissionSetName")+"/"+str(m, "status", "targetName"))
			if str(m, "metadata", "createdBy") != "serviceaccount:acme-administrator" || !parseTime(get(m, "metadata", "creationTime")).Equal(t0) {
				t.Errorf("metadata %v", m["metadata"])
			}
		}
		want := []string{"g1/s1/p1", "g1/s1/p2", "g1/s2/p1", "g1/s2/p2", "jo/s1/p1", "jo/s1/p2", "jo/s2/p1", "jo/s2/p2"}
		if !reflect.DeepEqual(triples, want) {
			t.Errorf("made %v, want %v", triples, want)
		}
		evs := a.eventsOf(t, r)
		if len(evs) != 1 || evs[0]["id"] != id(made[0]) || len(get(evs[0]["after"], "items").([]any)) != 8 {
			t.Errorf("audit events of the bulk create: %v", evs)
		}
		if n := count(t, a.must(t, http.StatusOK, "GET", list, tok, nil)); n != 8 {
			t.Errorf("count %d after the create, want 8", n)
		}

		fresh := []map[string]any{ref("project", p1)}
		refused := []refusal{
			{"an unknown user among good principals", "POST", list, assign([]map[string]any{ref("group", g1), ref("user", "no-such-user")}, []string{s1}, fresh), http.StatusBadRequest, "invalid_request"},
			{"a group ID given as a user", "POST", list, assign([]map[string]any{ref("user", g1)}, []string{s1}, fresh), http.StatusBadRequest, "invalid_request"},
			{"another organization's administrator", "POST", list, assign([]map[string]any{ref("serviceAccount", other.sa)}, []string{s1}, fresh), http.StatusBadRequest, "invalid_request"},
			{"another organization's project", "POST", list, assign([]map[string]any{ref("group", g1)}, []string{s1}, []map[string]any{ref("project", foreignProject)}), http.StatusBadRequest, "invalid_request"},
			{"an unknown permission set", "POST", list, assign([]map[string]any{ref("group", g1)}, []string{s1, "no-such-set"}, fresh), http.StatusBadRequest, "invalid_request"},
			{"an assigned triple among new ones", "POST", list, assign([]map[string]any{ref("group", g1)}, []string{s1}, []map[string]any{ref("project", p2)}), http.StatusConflict, "conflict"},
			{"more than 1000 assignments", "POST", list, assign(func() []map[string]any {
				var ps []map[string]any
				for i := range 11 {
					ps = append(ps, ref("user", fmt.Sprintf("u%d", i)))
				}
				return ps
			}(), []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, func() []map[string]any {
				var ts []map[string]any
				for i := range 10 {
					ts = append(ts, ref("project", fmt.Sprintf("p%d", i)))
				}
				return ts
			}()), http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, tok, "refused bulk creates", refused, acme.org)
		for _, c := range refused {
			if evs := a.eventsOf(t, a.call(t, c.method, c.path, tok, c.body)); len(evs) != 0 {
				t.Errorf("%s left audit events %v", c.name, evs)
			}
		}
		r = a.call(t, "POST", list, tok, assign([]map[string]any{ref("user", jo)}, []string{s2}, []map[string]any{ref("project", p2)}))
		if d := str(r.obj(t), "error_description"); r.Status != http.StatusConflict || !strings.Contains(d, `"jo"`) || !strings.Contains(d, `"s2"`) || !strings.Contains(d, `"p2"`) {
			t.Errorf("duplicate triple: %s, want a 409 naming jo, s2 and p2", r)
		}
		if n := count(t, a.must(t, http.StatusOK, "GET", list, tok, nil)); n != 8 {
			t.Errorf("count %d after the refusals, want 8", n)
		}

		// Assigning is granting: a custom role that may manage assignments
		// but not create groups is refused; so is a reader.
		assigner := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok,
			roleWrite("assigner", rules("deny", "accountassignments", "allow", "true"), nil)).obj(t))
		g := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("assigners", []string{assigner}, nil, nil)).obj(t))
		sa := str(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("assigner", []string{g})).obj(t), "status", "accessToken")
		reader := a.addMember(t, acme.org, "readers", "reader")
		body := assign([]map[string]any{ref("user", jo)}, []string{s1}, []map[string]any{ref("project", p2)})
		a.must(t, http.StatusOK, "GET", list, sa, nil)
		a.refuseAll(t, sa, "assigning without the right to create groups", []refusal{{"create", "POST", list, body, http.StatusForbidden, "forbidden"}}, acme.org)
		a.refuseAll(t, reader.token, "assigning as a reader", []refusal{{"create", "POST", list, body, http.StatusForbidden, "forbidden"}}, acme.org)
	})
}

// TestEffectiveAssignments: what a user or service account can reach is
// its own assignments and its groups', paged and filtered like the list;
// another principal's and another organization's are not in it.
func TestEffectiveAssignments(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		g1 := a.groupOf(t, acme.org, tok, "g1")
		g2 := a.groupOf(t, acme.org, tok, "g2")
		g3 := a.groupOf(t, acme.org, tok, "g3")
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", []string{g1, g2})).obj(t))
		al := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("al", "al@acme.example", "active", []string{g3})).obj(t))
		robot := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("robot", []string{g2})).obj(t))
		set := a.setOf(t, acme.org, tok, "dev", []string{a.role(t, "user")}, nil)
		ro := a.setOf(t, acme.org, tok, "ro", []string{a.role(t, "reader")}, nil)
		p := a.projectOf(t, acme.org, tok, "p")
		q := a.projectOf(t, acme.org, tok, "q")

		direct := a.assignOne(t, acme.org, tok, "user", jo, set, p)
		viaG1 := a.assignOne(t, acme.org, tok, "group", g1, ro, q)
		viaG2 := a.assignOne(t, acme.org, tok, "group", g2, set, q)
		a.assignOne(t, acme.org, tok, "group", g3, set, p)
		a.assignOne(t, acme.org, tok, "user", al, ro, p)
		robots := a.assignOne(t, acme.org, tok, "serviceAccount", robot, ro, p)

		mine := orgPath(acme.org, "users", jo, "accountassignments")
		r := a.must(t, http.StatusOK, "GET", mine, tok, nil)
		if got := ids(items(t, r)); !reflect.DeepEqual(got, []string{id(direct), id(viaG1), id(viaG2)}) || count(t, r) != 3 {
			t.Errorf("jo reaches %v (count %d), want its own and its groups' three", got, count(t, r))
		}
		if got := ids(items(t, a.must(t, http.StatusOK, "GET", mine+"?targetID="+q+"&sort=principalName:desc", tok, nil))); !reflect.DeepEqual(got, []string{id(viaG2), id(viaG1)}) {
			t.Errorf("jo's assignments on q by principal name desc: %v", got)
		}
		if got := ids(items(t, a.must(t, http.StatusOK, "GET", mine+"?principalType=group&roleName=user", tok, nil))); !reflect.DeepEqual(got, []string{id(viaG2)}) {
			t.Errorf("jo's group assignments holding the user role: %v", got)
		}
		r = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", robot, "accountassignments"), tok, nil)
		if got := ids(items(t, r)); !reflect.DeepEqual(got, []string{id(viaG2), id(robots)}) {
			t.Errorf("robot reaches %v", got)
		}
		// Leaving a group leaves its assignments.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "users", jo), tok, userWrite("jo", "jo@acme.example", "active", []string{g2}))
		if got := ids(items(t, a.must(t, http.StatusOK, "GET", mine, tok, nil))); !reflect.DeepEqual(got, []string{id(direct), id(viaG2)}) {
			t.Errorf("after leaving g1, jo reaches %v", got)
		}
		for _, path := range []string{orgPath(acme.org, "users", "no-such-user", "accountassignments"), orgPath(acme.org, "users", other.sa, "accountassignments"),
			orgPath(acme.org, "serviceaccounts", other.sa, "accountassignments"), orgPath(acme.org, "serviceaccounts", jo, "accountassignments")} {
			wantError(t, a.call(t, "GET", path, tok, nil), http.StatusNotFound, "not_found")
		}
		wantError(t, a.call(t, "GET", mine, other.token, nil), http.StatusForbidden, "forbidden")
	})
}

// TestAssignmentListFilters: every filter of the list, alone and together,
// and the sorts.
func TestAssignmentListFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		custom := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok, roleWrite("custom", allowAll(), nil)).obj(t))
		g := a.groupOf(t, acme.org, tok, "zeta")
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("alpha", "jo@acme.example", "active", nil)).obj(t))
		ps1 := a.setOf(t, acme.org, tok, "beta", []string{a.role(t, "reader")}, nil)
		ps2 := a.setOf(t, acme.org, tok, "gamma", []string{custom}, nil)
		p := a.projectOf(t, acme.org, tok, "pp")
		q := a.projectOf(t, acme.org, tok, "qq")
		r := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "accountassignments"), tok,
			assign([]map[string]any{ref("user", jo), ref("group", g)}, []string{ps1, ps2}, []map[string]any{ref("project", p), ref("project", q)}))
		all := ids(items(t, r)) // jo/beta/pp, jo/beta/qq, jo/gamma/pp, jo/gamma/qq, zeta/beta/pp, ...
		pick := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, all[i])
			}
			return out
		}
		urn := fmt.Sprintf("urn:gatehouse:iam::%s:project/%s/permissionset/gamma", acme.org, q)
		for query, want := range map[string][]string{
			"":                                   all,
			"targetType=project":                 all,
			"targetID=" + p:                      pick(0, 2, 4, 6),
			"targetName=qq":                      pick(1, 3, 5, 7),
			"permissionSetID=" + ps1:             pick(0, 1, 4, 5),
			"permissionSetName=gamma":            pick(2, 3, 6, 7),
			"principalType=group":                pick(4, 5, 6, 7),
			"principalID=" + jo:                  pick(0, 1, 2, 3),
			"principalName=zeta&targetID=" + q:   pick(5, 7),
			"roleName=custom":                    pick(2, 3, 6, 7),
			"roleName=reader&principalType=user": pick(0, 1),
			"roleName=administrator":             nil,
			"roleName=nobody":                    nil,
			"roleURN=" + urn:                     pick(3, 7),
			"roleURN=" + urn + "&targetID=" + p:  nil,
			"roleURN=urn:gatehouse:iam::elsewhere:project/x/permissionset/gamma": nil,
			"principalName=nobody": nil,
			"sort=principalName:desc&sort=permissionSetName&sort=targetName:desc": pick(5, 4, 7, 6, 1, 0, 3, 2),
			"sort=target_name,principal_name:desc&size=3&page=1":                  pick(0, 7, 5), // 6 4 2 | 0 7 5 | 3 1
		} {
			r := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "accountassignments")+"?"+query, tok, nil)
			got := ids(items(t, r))
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("?%s: %v, want %v", query, got, want)
			}
		}
		for _, query := range []string{"roleURN=arn:aws:iam::1:role/x", "roleURN=urn:gatehouse:iam::" + acme.org + ":project/" + q,
			"principalType=robot", "targetType=planet", "sort=color", "sort=createdAt:sideways", "sort=id&sort=id", "size=0", "size=101", "page=-1", "page=x"} {
			wantError(t, a.call(t, "GET", orgPath(acme.org, "accountassignments")+"?"+query, tok, nil), http.StatusBadRequest, "invalid_request")
		}
	})
}

// TestAssignmentCascades: deleting a user, group, service account or
// project removes its assignments in the same transaction (the audit event
// says how many), and renaming one renames it in its assignments.
func TestAssignmentCascades(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		g := a.groupOf(t, acme.org, tok, "g")
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
		robot := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("robot", nil)).obj(t))
		set := a.setOf(t, acme.org, tok, "s", []string{a.role(t, "reader")}, nil)
		p := a.projectOf(t, acme.org, tok, "p")
		q := a.projectOf(t, acme.org, tok, "q")
		list := orgPath(acme.org, "accountassignments")
		a.must(t, http.StatusCreated, "POST", list, tok, assign([]map[string]any{ref("group", g), ref("user", jo), ref("serviceAccount", robot)},
			[]string{set}, []map[string]any{ref("project", p), ref("project", q)}))

		// Renames reach the assignments.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", g), tok, groupWrite("admins", nil, nil, nil))
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "users", jo), tok, userWrite("joanna", "jo@acme.example", "active", nil))
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "serviceaccounts", robot), tok, saWrite("bot", nil))
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", q), tok, projectWrite("quarry", nil))
		var seen []string
		for _, it := range items(t, a.must(t, http.StatusOK, "GET", list+"?sort=principalName&sort=targetName", tok, nil)) {
			seen = append(seen, str(it, "status", "principalName")+"/"+str(it, "status", "targetName"))
		}
		if want := []string{"admins/p", "admins/quarry", "bot/p", "bot/quarry", "joanna/p", "joanna/quarry"}; !reflect.DeepEqual(seen, want) {
			t.Errorf("after the renames: %v, want %v", seen, want)
		}

		for _, c := range []struct {
			what, path, resourceType string
			left                     int
		}{
			{"the user", orgPath(acme.org, "users", jo), "users", 4},
			{"the project", orgPath(acme.org, "projects", q), "projects", 2},
			{"the group", orgPath(acme.org, "groups", g), "groups", 1},
			{"the service account", orgPath(acme.org, "serviceaccounts", robot), "serviceaccounts", 0},
		} {
			before := count(t, a.must(t, http.StatusOK, "GET", list, tok, nil))
			r := a.call(t, "DELETE", c.path, tok, nil)
			if r.Status/100 != 2 {
				t.Fatalf("delete %s: %s", c.what, r)
			}
			if n := count(t, a.must(t, http.StatusOK, "GET", list, tok, nil)); n != c.left {
				t.Errorf("after deleting %s: %d assignments, want %d", c.what, n, c.left)
			}
			evs := a.eventsOf(t, r)
			if len(evs) != 1 || get(evs[0]["before"], "accountAssignmentsRemoved") != float64(before-c.left) || evs[0]["type"] != c.resourceType {
				t.Errorf("audit event of deleting %s: %v, want accountAssignmentsRemoved %d", c.what, evs, before-c.left)
			}
		}
		// A principal without assignments is audited as before.
		lone := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("lone", "lone@acme.example", "active", nil)).obj(t))
		evs := a.eventsOf(t, a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "users", lone), tok, nil))
		if len(evs) != 1 || has(evs[0]["before"], "accountAssignmentsRemoved") || str(evs[0]["before"], "name") != "lone" {
			t.Errorf("audit event of deleting a user without assignments: %v", evs)
		}
		// The set, no longer assigned, can go; the organization takes the
		// rest along.
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "permissionsets", set), tok, nil)
		s2 := a.setOf(t, acme.org, tok, "s2", nil, nil)
		a.assignOne(t, acme.org, tok, "group", acme.group, s2, p)
		a.admin(t, http.StatusAccepted, "DELETE", orgPath(acme.org), nil)
		for _, table := range []string{"account_assignments", "permission_sets", "account_assignment_counts"} {
			var n int
			if err := a.Store.DB().QueryRow("SELECT COUNT(*) FROM "+table+" WHERE organization_id = $1", acme.org).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows of the deleted organization in %s", n, table)
			}
		}
	})
}

// TestAssignmentSeedFilters (issue 17, the account-assignments seed): the
// seed's snake_case filter names work beside the camelCase ones (both at
// once if they agree), instance_id is the organization, target_account_email
// and targetEmail filter by a cloud account's email and status.targetEmail
// carries it; an unknown query parameter is a 400 (?target_account_id=x
// used to answer the whole list).
func TestAssignmentSeedFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		newCloudStand(t, a.Env) // discovers standAccount (root@example.com) through the second organization
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		base := orgPath(acme.org, "accountassignments")
		second := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "credentials"), tok, credentialWrite("second", 2)).obj(t))
		a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "cloudconnections"), tok, connectionWrite("walkers", second))
		g := a.groupOf(t, acme.org, tok, "zeta")
		set := a.setOf(t, acme.org, tok, "beta", []string{a.role(t, "reader")}, nil)
		p := a.projectOf(t, acme.org, tok, "pp")
		created := items(t, a.must(t, http.StatusCreated, "POST", base, tok,
			assign([]map[string]any{ref("group", g)}, []string{set}, []map[string]any{ref("project", p), ref("cloudAccount", standAccount)})))
		if len(created) != 2 {
			t.Fatalf("created %v", created)
		}
		onProject, onAccount := id(created[0]), id(created[1])
		if got := str(created[1], "status", "targetEmail"); got != "root@example.com" {
			t.Errorf("created: status.targetEmail %q, want the account's email", got)
		}
		if has(created[0]["status"].(map[string]any), "targetEmail") {
			t.Errorf("a project has no email: %v", created[0]["status"])
		}
		if got := str(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "accountassignments", onAccount), tok, nil).obj(t), "status", "targetEmail"); got != "root@example.com" {
			t.Errorf("get: status.targetEmail %q", got)
		}
		urn := fmt.Sprintf("urn:gatehouse:iam::%s:project/%s/permissionset/beta", acme.org, p)
		both := []string{onProject, onAccount}
		for query, want := range map[string][]string{
			"target_account_id=" + standAccount:                     {onAccount},
			"target_account_id=nonexistent":                         nil,
			"target_account_name=pp":                                {onProject},
			"target_account_email=root@example.com":                 {onAccount},
			"targetEmail=root@example.com":                          {onAccount},
			"target_account_email=nobody@example.com":               nil,
			"permission_set_id=" + set:                              both,
			"principal_name=zeta":                                   both,
			"principal_name=nobody":                                 nil,
			"role_srn=" + urn:                                       {onProject},
			"instance_id=" + acme.org:                               both,
			"instance_id=ssoins-12345":                              nil,
			"targetID=" + p + "&target_account_id=" + p:             {onProject},
			"instance_id=" + acme.org + "&target_account_id=" + p:   {onProject},
			"principal_name=zeta&size=1&page=1&sort=created_at:asc": {onAccount},
		} {
			r := a.must(t, http.StatusOK, "GET", base+"?"+query, tok, nil)
			got := ids(items(t, r))
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("?%s: %v, want %v", query, got, want)
			}
		}
		// The same on the lists of what a principal reaches.
		if got := ids(items(t, a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", acme.sa, "accountassignments")+"?target_account_id="+standAccount, tok, nil))); len(got) != 0 {
			t.Errorf("the service account is not in zeta: %v", got)
		}
		for _, query := range []string{"target_account_id=nonexistent&bogus=1", "targetid=" + p, "target_id=" + p, "limit=5",
			"targetID=" + p + "&target_account_id=" + standAccount, "principalName=zeta&principal_name=other"} {
			for _, path := range []string{base, orgPath(acme.org, "serviceaccounts", acme.sa, "accountassignments")} {
				wantError(t, a.call(t, "GET", path+"?"+query, tok, nil), http.StatusBadRequest, "invalid_request")
			}
		}
	})
}
