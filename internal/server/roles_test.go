package server_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
)

// IAM over HTTP (issue 4): custom roles and what is refused about them.

// roleState renders an organization's roles, guardrail and audit log: what
// a refused IAM write must leave as it was.
func (a *apiEnv) roleState(t testing.TB, org string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{orgPath(org, "roles"), orgPath(org, "policy"), orgPath(org, "apikeys"), orgPath(org, "auditevents")} {
		r := a.call(t, "GET", p, a.AdminToken, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, r.Body)
	}
	return b.String()
}

func TestCustomRoles(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		base := orgPath(acme.org, "roles")

		// The seed's list first, exactly as before: the assignable system
		// roles by name, each built in and not editable.
		sys := a.must(t, http.StatusOK, "GET", base, acme.token, nil).arr(t)
		if got := names(sys); !reflect.DeepEqual(got, []string{"administrator", "reader", "scim-provisioner", "user"}) {
			t.Fatalf("system roles %v", got)
		}
		for _, r := range sys {
			if !reflect.DeepEqual(r["status"], map[string]any{"builtin": true, "editable": false, "version": 0.0}) || has(r, "spec") {
				t.Errorf("system role %s reads %v", str(r, "metadata", "name"), r)
			}
		}

		policy := rules("deny", "projects", "allow", "operation == 'get-project'")
		assume := rules("deny", "roles", "allow", "principal.type == 'serviceAccount'")
		full := map[string]any{"metadata": map[string]any{"name": "dev-reader", "description": "reads dev projects",
			"tags": []any{map[string]any{"name": "team", "value": "core"}}},
			"spec": map[string]any{"policy": policy, "assumeRolePolicy": assume, "maxSessionTTL": 900,
				"permissions": []string{"resetOrganizationPolicy"}, "labels": map[string]any{"team": "core"}, "editable": false}}
		created := a.must(t, http.StatusCreated, "POST", base, acme.token, full).obj(t)
		roleID := id(created)
		wantMeta(t, "created role", created, meta{name: "dev-reader", description: "reads dev projects", org: nil, created: t0,
			createdBy: "serviceaccount:acme-administrator"})
		wantSpec := map[string]any{"policy": policy, "assumeRolePolicy": assume, "maxSessionTTL": 900.0,
			"permissions": []any{"resetOrganizationPolicy"}, "labels": map[string]any{"team": "core"}, "editable": false}
		if !reflect.DeepEqual(normalize(t, created["spec"]), normalize(t, wantSpec)) {
			t.Errorf("spec = %v, want %v", created["spec"], wantSpec)
		}
		if !reflect.DeepEqual(created["status"], map[string]any{"builtin": false, "editable": false, "version": 1.0}) {
			t.Errorf("status = %v", created["status"])
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles", roleID), acme.token, nil).obj(t); !reflect.DeepEqual(got, created) {
			t.Errorf("GET = %v, want the create response %v", got, created)
		}

		// Defaults: allow-all policy, nobody may assume, 3600 s, editable.
		bare := a.must(t, http.StatusCreated, "POST", base, acme.token, map[string]any{"metadata": md("bare"), "spec": map[string]any{}}).obj(t)
		if !reflect.DeepEqual(normalize(t, bare["spec"]), normalize(t, map[string]any{"policy": allowAll(), "maxSessionTTL": 3600,
			"permissions": []any{}, "labels": map[string]any{}, "editable": true})) {
			t.Errorf("defaults = %v", bare["spec"])
		}

		// The list: system roles, then custom roles in creation order,
		// page by page across the two.
		all := a.must(t, http.StatusOK, "GET", base, acme.token, nil).arr(t)
		if got := names(all); !reflect.DeepEqual(got, []string{"administrator", "reader", "scim-provisioner", "user", "dev-reader", "bare"}) {
			t.Errorf("roles %v", got)
		}
		var paged []string
		for token, pages := "", 0; ; pages++ {
			q := "?limit=2"
			if token != "" {
				q += "&pageToken=" + token
			}
			r := a.must(t, http.StatusOK, "GET", base+q, acme.token, nil)
			paged = append(paged, names(r.arr(t))...)
			if token = r.Header.Get("X-Next-Page-Token"); token == "" || pages > 5 {
				break
			}
		}
		if !reflect.DeepEqual(paged, names(all)) {
			t.Errorf("paged roles %v, want %v", paged, names(all))
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(other.org, "roles"), other.token, nil).arr(t); len(got) != 4 {
			t.Errorf("another organization lists %v", names(got))
		}

		// A role that is not editable keeps its policy; the rest may change.
		update := clone(t, full)
		update["metadata"].(map[string]any)["description"] = "still reads dev projects"
		update["spec"].(map[string]any)["maxSessionTTL"] = 1200
		updated := a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "roles", roleID), acme.token, update).obj(t)
		if str(updated, "metadata", "description") != "still reads dev projects" || get(updated, "spec", "maxSessionTTL") != 1200.0 ||
			get(updated, "status", "version") != 2.0 || str(updated, "metadata", "modifiedBy") != "serviceaccount:acme-administrator" {
			t.Errorf("updated role %v", updated)
		}
		newAssume := rules("deny", "roles", "allow", "true")
		if r := a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "roles", roleID, "assumerolepolicy"), acme.token, newAssume).obj(t); get(r, "status", "version") != 3.0 {
			t.Errorf("assume-role policy of a role that is not editable: %v", r)
		}
		before := a.roleState(t, acme.org)
		otherPolicy := rules("allow", "projects", "allow", "true")
		changed := clone(t, update)
		changed["spec"].(map[string]any)["policy"] = otherPolicy
		editable := clone(t, update)
		editable["spec"].(map[string]any)["editable"] = true
		system := a.role(t, "administrator")
		refused := []refusal{
			{"policy of a role that is not editable", "PUT", orgPath(acme.org, "roles", roleID, "policy"), otherPolicy, http.StatusConflict, "conflict"},
			{"policy through PUT role", "PUT", orgPath(acme.org, "roles", roleID), changed, http.StatusConflict, "conflict"},
			{"editable changed", "PUT", orgPath(acme.org, "roles", roleID), editable, http.StatusBadRequest, "invalid_request"},
			{"duplicate name", "POST", base, roleWrite("bare", allowAll(), nil), http.StatusConflict, "conflict"},
			{"rename onto another role", "PUT", orgPath(acme.org, "roles", id(bare)), roleWrite("dev-reader", allowAll(), nil), http.StatusConflict, "conflict"},
			{"a system role's name", "POST", base, roleWrite("administrator", allowAll(), nil), http.StatusConflict, "conflict"},
			{"update a system role", "PUT", orgPath(acme.org, "roles", system), roleWrite("admin2", allowAll(), nil), http.StatusConflict, "conflict"},
			{"policy of a system role", "PUT", orgPath(acme.org, "roles", system, "policy"), allowAll(), http.StatusConflict, "conflict"},
			{"delete a system role", "DELETE", orgPath(acme.org, "roles", system), nil, http.StatusConflict, "conflict"},
			{"unknown permission", "POST", base, map[string]any{"metadata": md("p"), "spec": map[string]any{"permissions": []string{"bypassGovernanceRetention"}}}, http.StatusBadRequest, "invalid_request"},
			{"maxSessionTTL too long", "POST", base, map[string]any{"metadata": md("p"), "spec": map[string]any{"maxSessionTTL": 43201}}, http.StatusBadRequest, "invalid_request"},
			{"maxSessionTTL zero", "POST", base, map[string]any{"metadata": md("p"), "spec": map[string]any{"maxSessionTTL": 0}}, http.StatusBadRequest, "invalid_request"},
			{"unknown role", "GET", orgPath(acme.org, "roles", "no-such-role"), nil, http.StatusNotFound, "not_found"},
			{"another organization's role", "GET", orgPath(other.org, "roles", roleID), nil, http.StatusForbidden, "forbidden"},
			{"the platform role is not an organization's", "GET", orgPath(acme.org, "roles", a.platformRole(t)), nil, http.StatusNotFound, "not_found"},
		}
		a.refuseAll(t, acme.token, "refused role writes", refused, acme.org)
		if after := a.roleState(t, acme.org); after != before {
			diffState(t, before, after, "refused role writes")
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles", system), acme.token, nil).obj(t); !reflect.DeepEqual(got["status"],
			map[string]any{"builtin": true, "editable": false, "version": 0.0}) {
			t.Errorf("GET system role = %v", got)
		}
		// Through another organization's path, acme's role does not exist.
		wantError(t, a.call(t, "GET", orgPath(other.org, "roles", roleID), other.token, nil), http.StatusNotFound, "not_found")

		// Groups grant custom roles of their own organization only.
		g := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), acme.token, groupWrite("devs", []string{roleID, a.role(t, "reader")}, nil, nil)).obj(t)
		if !sameSet(strs(g, "spec", "roleIDs"), []string{roleID, a.role(t, "reader")}) {
			t.Errorf("group roles %v", strs(g, "spec", "roleIDs"))
		}
		wantError(t, a.call(t, "POST", orgPath(other.org, "groups"), other.token, groupWrite("thieves", []string{roleID}, nil, nil)), http.StatusBadRequest, "invalid_request")
		key := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "apikeys"), acme.token, apiKeyWrite("ci", roleID)).obj(t)

		// A referenced role cannot go; the message names what holds it.
		r := a.call(t, "DELETE", orgPath(acme.org, "roles", roleID), acme.token, nil)
		wantError(t, r, http.StatusConflict, "conflict")
		if !strings.Contains(string(r.Body), "devs") || !strings.Contains(string(r.Body), "ci") {
			t.Errorf("conflict does not name the group and the key: %s", r.Body)
		}
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", id(g)), acme.token, groupWrite("devs", nil, nil, nil))
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "apikeys", id(key)), acme.token, nil)
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "roles", roleID), acme.token, nil)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "roles", roleID), acme.token, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "roles", roleID), acme.token, nil), http.StatusNotFound, "not_found")

		// Readers and users read roles, and write none.
		reader := a.addMember(t, acme.org, "readers", "reader")
		user := a.addMember(t, acme.org, "users", "user")
		for _, tok := range []string{reader.token, user.token} {
			a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles", id(bare)), tok, nil)
			wantError(t, a.call(t, "POST", base, tok, roleWrite("mine", allowAll(), nil)), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "DELETE", orgPath(acme.org, "roles", id(bare)), tok, nil), http.StatusForbidden, "forbidden")
		}
	})
}

// platformRole is the platform-administrator role's ID (not listed by any
// organization).
func (a *apiEnv) platformRole(t testing.TB) string {
	t.Helper()
	r, ok := authz.RoleByName(authz.RolePlatformAdministrator)
	if !ok {
		t.Fatal("no platform-administrator role")
	}
	return r.ID
}

// normalize round-trips a value through JSON, so that numbers compare as
// float64 and maps as map[string]any.
func normalize(t testing.TB, v any) any {
	t.Helper()
	m := clone(t, map[string]any{"v": v})
	return m["v"]
}

// badPolicies are policies every IAM policy write refuses with 400, with a
// piece of the message that says why.
func badPolicies() []struct {
	name, want string
	policy     map[string]any
} {
	longExpr := "operation == '" + strings.Repeat("a", 5000) + "'"
	tooMany := []string{}
	for range 101 {
		tooMany = append(tooMany, "allow", "true")
	}
	// About 1 MB (below the 1 MiB body limit): refused for its size.
	huge := map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{}}
	var hugeRules []any
	for range 240 {
		hugeRules = append(hugeRules, map[string]any{"action": "allow", "expression": "operation == '" + strings.Repeat("x", 4000) + "'"})
	}
	huge["services"].(map[string]any)["projects"] = map[string]any{"type": "rules", "rules": hugeRules}
	// Just over 64 KiB.
	big := map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{"projects": map[string]any{"type": "rules",
		"rules": hugeRules[:17]}}}
	return []struct {
		name, want string
		policy     map[string]any
	}{
		{"syntax error", `rules[1].expression: 1:14`, rules("deny", "projects", "allow", "true", "allow", "operation == ")},
		{"not a boolean", "it must be bool", rules("deny", "projects", "allow", "operation")},
		{"unknown variable", "undeclared reference to 'region'", rules("deny", "projects", "allow", "region == 'ch-gva-2'")},
		{"unknown service", `unknown service "compute"`, map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"compute": map[string]any{"type": "allow"}}}},
		{"cost blow-up", "MaxCost", rules("deny", "projects", "allow", "parameters.all(a, parameters.all(b, parameters.all(c, a + b + c != '')))")},
		{"too many rules", "MaxRulesPerService", rules("deny", "projects", tooMany...)},
		{"expression too long", "MaxExpressionBytes", rules("deny", "projects", "allow", longExpr)},
		{"policy over 64 KiB", "MaxPolicyBytes", big},
		{"1 MB policy", "MaxPolicyBytes", huge},
		{"rules on type allow", "rules are only allowed", map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"groups": map[string]any{"type": "allow",
			"rules": []any{map[string]any{"action": "deny", "expression": "true"}}}}}},
		{"empty expression", "expression is empty", rules("deny", "projects", "allow", " ")},
		{"unknown action", "action", rules("deny", "projects", "permit", "true")},
		{"unknown field", "expresion", map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"groups": map[string]any{"type": "rules",
			"rules": []any{map[string]any{"action": "deny", "expresion": "true"}}}}}},
	}
}

// TestBadPolicies: every way to write a policy (a role's policy and
// assume-role policy at creation, their sub-resources, the guardrail, the
// simulator's what-if roles) refuses bad policies with a 400 that says what
// is wrong and where, and stores nothing. Bodies over 1 MiB are 413.
func TestBadPolicies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		role := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, roleWrite("r", allowAll(), allowAll())).obj(t))
		before := a.roleState(t, acme.org)
		writes := []struct {
			name, method, path string
			body               func(p map[string]any) map[string]any
		}{
			{"create role", "POST", orgPath(acme.org, "roles"), func(p map[string]any) map[string]any { return roleWrite("new", p, nil) }},
			{"create role, assume-role policy", "POST", orgPath(acme.org, "roles"), func(p map[string]any) map[string]any { return roleWrite("new", allowAll(), p) }},
			{"update role", "PUT", orgPath(acme.org, "roles", role), func(p map[string]any) map[string]any { return roleWrite("r", p, nil) }},
			{"role policy", "PUT", orgPath(acme.org, "roles", role, "policy"), func(p map[string]any) map[string]any { return p }},
			{"assume-role policy", "PUT", orgPath(acme.org, "roles", role, "assumerolepolicy"), func(p map[string]any) map[string]any { return p }},
			{"guardrail", "PUT", orgPath(acme.org, "policy"), func(p map[string]any) map[string]any { return p }},
			{"simulator role", "POST", orgPath(acme.org, "policy", "evaluate"), func(p map[string]any) map[string]any {
				return map[string]any{"service": "projects", "operation": "get-project", "roles": []any{map[string]any{"name": "x", "policy": p}}}
			}},
			{"simulator guardrail", "POST", orgPath(acme.org, "policy", "evaluate"), func(p map[string]any) map[string]any {
				return map[string]any{"service": "projects", "operation": "get-project", "guardrail": p, "roles": []any{}}
			}},
		}
		for _, w := range writes {
			for _, bad := range badPolicies() {
				r := a.call(t, w.method, w.path, acme.token, w.body(bad.policy))
				if r.Status != http.StatusBadRequest {
					t.Errorf("%s with %s: %s, want 400", w.name, bad.name, excerptResp(r))
					continue
				}
				wantError(t, r, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(str(r.obj(t), "error_description"), bad.want) {
					t.Errorf("%s with %s: message %s does not say %q", w.name, bad.name, excerptResp(r), bad.want)
				}
			}
			// Over 1 MiB: refused before it is read.
			huge := w.body(allowAll())
			huge["padding"] = strings.Repeat("x", 1<<20)
			wantError(t, a.call(t, w.method, w.path, acme.token, huge), http.StatusRequestEntityTooLarge, "invalid_request")
		}
		if after := a.roleState(t, acme.org); after != before {
			diffState(t, before, after, "bad policies")
		}
	})
}

func excerptResp(r *resp) string {
	s := r.String()
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// TestRoleUpdateKeepsOmittedFields (issue 17, the iam-roles seed): an
// update whose spec leaves out maxSessionTTL, labels or permissions keeps
// their values (they were reset to 3600, {} and [], and assume-role
// policies read the labels); an empty list or map clears them; the seed's
// spelling max-session-ttl (and assume-role-policy) is a 400 that changes
// nothing, never a field silently ignored.
func TestRoleUpdateKeepsOmittedFields(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		full := map[string]any{"metadata": md("deployer"), "spec": map[string]any{"maxSessionTTL": 1800,
			"labels": map[string]any{"team": "core"}, "permissions": []any{"resetOrganizationPolicy"}}}
		roleID := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, full).obj(t))
		path := orgPath(acme.org, "roles", roleID)
		spec := func() map[string]any {
			return a.must(t, http.StatusOK, "GET", path, acme.token, nil).obj(t)["spec"].(map[string]any)
		}
		want := func(what string, ttl float64, labels map[string]any, perms []any) {
			t.Helper()
			s := spec()
			if s["maxSessionTTL"] != ttl || !reflect.DeepEqual(s["labels"], labels) || !reflect.DeepEqual(s["permissions"], perms) {
				t.Errorf("%s: spec %v, want maxSessionTTL %v, labels %v, permissions %v", what, s, ttl, labels, perms)
			}
		}
		core, reset := map[string]any{"team": "core"}, []any{"resetOrganizationPolicy"}
		for _, leaveOut := range []string{"maxSessionTTL", "labels", "permissions"} {
			body := clone(t, full)
			delete(body["spec"].(map[string]any), leaveOut)
			a.must(t, http.StatusOK, "PUT", path, acme.token, body)
			want("without "+leaveOut, 1800, core, reset)
		}
		a.must(t, http.StatusOK, "PUT", path, acme.token, map[string]any{"metadata": md("deployer"), "spec": map[string]any{}})
		want("an empty spec", 1800, core, reset)
		a.must(t, http.StatusOK, "PUT", path, acme.token, map[string]any{"metadata": md("deployer"),
			"spec": map[string]any{"labels": map[string]any{}, "permissions": []any{}, "maxSessionTTL": 600}})
		want("cleared", 600, map[string]any{}, []any{})

		before := a.roleState(t, acme.org)
		for _, seed := range []string{"max-session-ttl", "assume-role-policy"} {
			for _, method := range []string{"POST", "PUT"} {
				p := path
				if method == "POST" {
					p = orgPath(acme.org, "roles")
				}
				value := any(900)
				if seed == "assume-role-policy" {
					value = map[string]any{}
				}
				r := a.call(t, method, p, acme.token, map[string]any{"metadata": md("seedish"), "spec": map[string]any{seed: value}})
				wantError(t, r, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(string(r.Body), "spec."+seed) {
					t.Errorf("%s %s: %s does not name spec.%s", method, seed, r.Body, seed)
				}
			}
		}
		if after := a.roleState(t, acme.org); after != before {
			t.Errorf("the seed's spellings changed the roles:\n%s\nwas\n%s", after, before)
		}
	})
}
