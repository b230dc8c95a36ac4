package server_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// TestOrganizationLifecycle: create (202, read-only and unknown fields in the
// body ignored), get, list, update (200, no body, modification stamped), the
// domain and provider rules, duplicates, and an organization administrator
// updating its own organization.
func TestOrganizationLifecycle(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		body := orgWrite("acme")
		body["metadata"] = map[string]any{"name": "acme", "description": "Acme Corp", "id": "forged-id",
			"creationTime": "1999-01-01T00:00:00Z", "organizationId": "forged",
			"tags": []map[string]any{{"name": "tier", "value": "gold"}}}
		body["status"] = map[string]any{"anything": true}
		body["extra"] = 42
		created := a.admin(t, http.StatusAccepted, "POST", "/api/v1/organizations", body).obj(t)
		org := id(created)
		if org == "forged-id" {
			t.Fatalf("the client chose the organization ID")
		}
		want := meta{name: "acme", description: "Acme Corp", created: t0, createdBy: adminSubject}
		wantMeta(t, "created organization", created, want)
		if got := get(created, "metadata", "tags"); !reflect.DeepEqual(got, []any{map[string]any{"name": "tier", "value": "gold"}}) {
			t.Errorf("tags = %v", got)
		}
		if got := get(created, "spec"); !reflect.DeepEqual(got, map[string]any{"organizationType": "adhoc"}) {
			t.Errorf("spec = %v, want just organizationType adhoc", got)
		}
		got := a.admin(t, http.StatusOK, "GET", orgPath(org), nil).obj(t)
		if !reflect.DeepEqual(got, created) {
			t.Errorf("get = %v, want the create response %v", got, created)
		}
		list := a.admin(t, http.StatusOK, "GET", "/api/v1/organizations", nil).arr(t)
		if len(list) != 1 || !reflect.DeepEqual(list[0], created) {
			t.Errorf("list = %v, want [%v]", list, created)
		}

		// Update: 200 with no body; everything but the server-owned fields
		// is replaced; the domain is stored lower case.
		a.Clock.Advance(time.Hour)
		upd := map[string]any{"metadata": map[string]any{"name": "acme-corp", "id": "other"},
			"spec": map[string]any{"organizationType": "domain", "domain": "Acme.EXAMPLE.com", "googleCustomerID": "C0123"}}
		wantEmpty(t, a.admin(t, http.StatusOK, "PUT", orgPath(org), upd))
		got = a.admin(t, http.StatusOK, "GET", orgPath(org), nil).obj(t)
		wantMeta(t, "updated organization", got, meta{name: "acme-corp", created: t0, createdBy: adminSubject,
			modified: t0.Add(time.Hour), modifiedBy: adminSubject})
		if id(got) != org {
			t.Errorf("update changed the ID to %s", id(got))
		}
		if w := map[string]any{"organizationType": "domain", "domain": "acme.example.com", "googleCustomerID": "C0123"}; !reflect.DeepEqual(get(got, "spec"), w) {
			t.Errorf("spec after update = %v, want %v", get(got, "spec"), w)
		}

		// Refused creates and updates change nothing.
		other := a.newOrg(t, "other")
		sys := id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite("google", "g", nil)).obj(t))
		domainOrg := func(name, domain string) map[string]any {
			return map[string]any{"metadata": md(name), "spec": map[string]any{"organizationType": "domain", "domain": domain}}
		}
		withProvider := func(name, scope, pid string) map[string]any {
			spec := map[string]any{"organizationType": "adhoc"}
			if scope != "" {
				spec["providerScope"] = scope
			}
			if pid != "" {
				spec["providerID"] = pid
			}
			return map[string]any{"metadata": md(name), "spec": spec}
		}
		refused := []refusal{
			{"duplicate name", "POST", "/api/v1/organizations", orgWrite("acme-corp"), http.StatusConflict, "conflict"},
			{"public mail domain", "POST", "/api/v1/organizations", domainOrg("new", "GMail.com"), http.StatusBadRequest, "invalid_request"},
			{"public suffix", "POST", "/api/v1/organizations", domainOrg("new", "co.uk"), http.StatusBadRequest, "invalid_request"},
			{"domain type without a domain", "POST", "/api/v1/organizations", map[string]any{"metadata": md("new"), "spec": map[string]any{"organizationType": "domain"}}, http.StatusBadRequest, "invalid_request"},
			{"domain not a hostname", "POST", "/api/v1/organizations", domainOrg("new", "not a host"), http.StatusBadRequest, "invalid_request"},
			{"domain an email", "POST", "/api/v1/organizations", domainOrg("new", "jo@example.com"), http.StatusBadRequest, "invalid_request"},
			{"unknown organization type", "POST", "/api/v1/organizations", map[string]any{"metadata": md("new"), "spec": map[string]any{"organizationType": "other"}}, http.StatusBadRequest, "invalid_request"},
			{"provider scope without provider", "POST", "/api/v1/organizations", withProvider("new", "global", ""), http.StatusBadRequest, "invalid_request"},
			{"provider without scope", "POST", "/api/v1/organizations", withProvider("new", "", sys), http.StatusBadRequest, "invalid_request"},
			{"unknown global provider", "POST", "/api/v1/organizations", withProvider("new", "global", "no-such-provider"), http.StatusBadRequest, "invalid_request"},
			{"system provider as organization provider", "POST", "/api/v1/organizations", withProvider("new", "organization", sys), http.StatusBadRequest, "invalid_request"},
			{"unknown provider scope", "POST", "/api/v1/organizations", withProvider("new", "planet", sys), http.StatusBadRequest, "invalid_request"},
			{"rename onto another organization", "PUT", orgPath(other), orgWrite("acme-corp"), http.StatusConflict, "conflict"},
			{"move to a public mail domain", "PUT", orgPath(other), domainOrg("other", "outlook.com"), http.StatusBadRequest, "invalid_request"},
			{"update with a bad domain", "PUT", orgPath(other), domainOrg("other", "-bad-.com"), http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, a.AdminToken, "refused organization writes", refused, org, other)

		// A global provider reference is accepted and read back.
		p := a.admin(t, http.StatusAccepted, "POST", "/api/v1/organizations", withProvider("federated", "global", sys)).obj(t)
		if str(p, "spec", "providerScope") != "global" || str(p, "spec", "providerID") != sys {
			t.Errorf("spec = %v, want providerScope global, providerID %s", get(p, "spec"), sys)
		}
		// An organization-scoped provider must belong to the organization.
		own := id(a.admin(t, http.StatusCreated, "POST", orgPath(other, "oauth2providers"), providerWrite("okta", "o", nil)).obj(t))
		a.admin(t, http.StatusOK, "PUT", orgPath(other), withProvider("other", "organization", own))
		wantError(t, a.call(t, "PUT", orgPath(id(p)), a.AdminToken, withProvider("federated", "organization", own)), http.StatusBadRequest, "invalid_request")

		// An organization administrator updates its own organization.
		adm := a.addMember(t, org, "admins", "administrator")
		a.Clock.Advance(time.Minute)
		a.must(t, http.StatusOK, "PUT", orgPath(org), adm.token, orgWrite("acme-corp"))
		got = a.admin(t, http.StatusOK, "GET", orgPath(org), nil).obj(t)
		wantMeta(t, "organization updated by its administrator", got, meta{name: "acme-corp", created: t0, createdBy: adminSubject,
			modified: t0.Add(time.Hour + time.Minute), modifiedBy: "serviceaccount:admins"})
		if has(got, "spec", "domain") {
			t.Errorf("the domain survived an update that left it out: %v", get(got, "spec"))
		}
	})
}

// TestOrganizationDeleteCascades: deleting an organization (202) removes
// everything in it, its service account tokens stop working, and nothing of
// another organization is touched.
func TestOrganizationDeleteCascades(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		victim := a.tenant(t, "victim", "administrator")
		bystander := a.tenant(t, "bystander", "administrator")
		populate := func(m *member) (project, user, alloc string) {
			tok := m.token
			user = id(a.must(t, http.StatusCreated, "POST", orgPath(m.org, "users"), tok, userWrite("pat", "pat@example.com", "active", []string{m.group})).obj(t))
			project = id(a.must(t, http.StatusAccepted, "POST", orgPath(m.org, "projects"), tok, projectWrite("web", []string{m.group})).obj(t))
			alloc = id(a.must(t, http.StatusCreated, "POST", orgPath(m.org, "projects", project, "allocations"), tok, allocWrite("a", item{"gpus", 2, 1})).obj(t))
			a.must(t, http.StatusCreated, "POST", orgPath(m.org, "oauth2providers"), tok, providerWrite("idp", "c", ptrTo("s")))
			a.admin(t, http.StatusOK, "PUT", orgPath(m.org, "quotas"), quotasWrite("gpus", 16))
			return project, user, alloc
		}
		project, user, alloc := populate(victim)
		populate(bystander)
		before := a.orgState(t, bystander.org)
		a.must(t, http.StatusOK, "GET", orgPath(victim.org), victim.token, nil)

		wantEmpty(t, a.admin(t, http.StatusAccepted, "DELETE", orgPath(victim.org), nil))

		wantError(t, a.call(t, "GET", orgPath(victim.org), a.AdminToken, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "GET", orgPath(victim.org), victim.token, nil), http.StatusUnauthorized, "access_denied")
		wantError(t, a.call(t, "GET", "/api/v1/organizations", victim.token, nil), http.StatusUnauthorized, "access_denied")
		for _, p := range []string{"groups", "users", "serviceaccounts", "projects", "oauth2providers", "allocations", "quotas", "roles", "acl"} {
			wantError(t, a.call(t, "GET", orgPath(victim.org, p), a.AdminToken, nil), http.StatusNotFound, "not_found")
		}
		wantError(t, a.call(t, "GET", orgPath(victim.org, "projects", project, "allocations", alloc), a.AdminToken, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(victim.org), a.AdminToken, nil), http.StatusNotFound, "not_found")
		for _, o := range a.admin(t, http.StatusOK, "GET", "/api/v1/organizations", nil).arr(t) {
			if id(o) == victim.org {
				t.Errorf("the deleted organization is still listed")
			}
		}
		if orgs := a.admin(t, http.StatusOK, "GET", "/api/v1/organizations?email=pat@example.com", nil).arr(t); len(orgs) != 1 || id(orgs[0]) != bystander.org {
			t.Errorf("?email= after the delete lists %v, want only the bystander", ids(orgs))
		}

		// No row of the organization is left behind in any table.
		db := a.Store.DB()
		for _, table := range []string{"organizations", "groups", "users", "service_accounts", "group_members", "projects",
			"oauth2_providers", "quotas", "allocations", "allocation_items"} {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE organization_id = $1", victim.org).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			if n != 0 {
				t.Errorf("%d rows of the deleted organization left in %s", n, table)
			}
		}
		for _, q := range []struct{ query, arg string }{
			{"SELECT COUNT(*) FROM group_roles WHERE group_id = $1", victim.group},
			{"SELECT COUNT(*) FROM project_groups WHERE project_id = $1", project},
			{"SELECT COUNT(*) FROM group_members WHERE member_id = $1", user},
			{"SELECT COUNT(*) FROM group_members WHERE member_id = $1", victim.sa},
		} {
			var n int
			if err := db.QueryRow(q.query, q.arg).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q.query, err)
			}
			if n != 0 {
				t.Errorf("%s (%s) = %d, want 0", q.query, q.arg, n)
			}
		}
		if _, err := a.Store.Read().GetServiceAccount(context.Background(), victim.org, victim.sa); err == nil {
			t.Errorf("the organization's service account survived")
		}
		diffState(t, before, a.orgState(t, bystander.org), "deleting another organization")
		a.must(t, http.StatusOK, "GET", orgPath(bystander.org), bystander.token, nil)
	})
}

// TestListOrganizations: the platform administrator sees every
// organization, a tenant's service account only its own; ?email= (platform
// readers only) lists the organizations where a user with that subject
// exists.
func TestListOrganizations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		orgA := a.tenant(t, "org-a", "administrator")
		readerA := a.addMember(t, orgA.org, "readers", "reader")
		userA := a.addMember(t, orgA.org, "users", "user")
		orgB := a.tenant(t, "org-b", "reader")
		orgC := a.newOrg(t, "org-c")

		all := a.admin(t, http.StatusOK, "GET", "/api/v1/organizations", nil).arr(t)
		if got, want := ids(all), []string{orgA.org, orgB.org, orgC}; !reflect.DeepEqual(got, want) {
			t.Errorf("platform administrator lists %v, want %v in creation order", got, want)
		}
		for name, c := range map[string]struct{ token, org string }{
			"administrator of A": {orgA.token, orgA.org}, "reader of A": {readerA.token, orgA.org},
			"user of A": {userA.token, orgA.org}, "reader of B": {orgB.token, orgB.org},
		} {
			got := a.must(t, http.StatusOK, "GET", "/api/v1/organizations", c.token, nil).arr(t)
			if len(got) != 1 || id(got[0]) != c.org || str(got[0], "metadata", "name") == "" {
				t.Errorf("%s lists %v, want only %s", name, ids(got), c.org)
			}
		}

		// Users with subject pat@example.com exist in A and C.
		a.must(t, http.StatusCreated, "POST", orgPath(orgA.org, "users"), orgA.token, userWrite("pat", "pat@example.com", "active", nil))
		a.admin(t, http.StatusCreated, "POST", orgPath(orgC, "users"), userWrite("", "pat@example.com", "pending", nil))
		a.admin(t, http.StatusCreated, "POST", orgPath(orgC, "users"), userWrite("", "sam@example.com", "active", nil))
		if got := ids(a.admin(t, http.StatusOK, "GET", "/api/v1/organizations?email=pat@example.com", nil).arr(t)); !reflect.DeepEqual(got, []string{orgA.org, orgC}) {
			t.Errorf("?email=pat@example.com lists %v, want [%s %s]", got, orgA.org, orgC)
		}
		if got := ids(a.admin(t, http.StatusOK, "GET", "/api/v1/organizations?email=sam@example.com", nil).arr(t)); !reflect.DeepEqual(got, []string{orgC}) {
			t.Errorf("?email=sam@example.com lists %v, want [%s]", got, orgC)
		}
		if got := a.admin(t, http.StatusOK, "GET", "/api/v1/organizations?email=nobody@example.com", nil).arr(t); len(got) != 0 {
			t.Errorf("?email=nobody@example.com lists %v, want []", ids(got))
		}
		for _, tok := range []string{orgA.token, readerA.token, userA.token, orgB.token} {
			wantError(t, a.call(t, "GET", "/api/v1/organizations?email=pat@example.com", tok, nil), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "GET", "/api/v1/organizations?email=sam@example.com", tok, nil), http.StatusForbidden, "forbidden")
		}
	})
}
