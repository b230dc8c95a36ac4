package server_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
)

// TestGroups: create (201), get, list, update (200, no body), delete (200),
// membership seen from both sides, the reference and role rules, and
// duplicate names per organization.
func TestGroups(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		base := orgPath(acme.org, "groups")
		creator := "serviceaccount:acme-administrator"
		userRole, readerRole := a.role(t, "user"), a.role(t, "reader")

		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
		bot := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("bot", nil)).obj(t))
		foreignUser := id(a.must(t, http.StatusCreated, "POST", orgPath(other.org, "users"), other.token, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))

		body := groupWrite("devs", []string{userRole}, []string{jo}, []string{bot})
		body["metadata"].(map[string]any)["description"] = "Developers"
		body["metadata"].(map[string]any)["organizationId"] = other.org // read-only field: ignored
		body["status"] = map[string]any{"x": 1}
		created := a.must(t, http.StatusCreated, "POST", base, tok, body).obj(t)
		devs := id(created)
		wantMeta(t, "created group", created, meta{name: "devs", description: "Developers", org: &acme.org, created: t0, createdBy: creator})
		wantSet(t, "roleIDs", strs(created, "spec", "roleIDs"), []string{userRole})
		wantSet(t, "userIDs", strs(created, "spec", "userIDs"), []string{jo})
		wantSet(t, "serviceAccountIDs", strs(created, "spec", "serviceAccountIDs"), []string{bot})

		got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", devs), tok, nil).obj(t)
		if !reflect.DeepEqual(got, created) {
			t.Errorf("get = %v, want the create response %v", got, created)
		}
		list := a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t)
		if !reflect.DeepEqual(ids(list), []string{acme.group, devs}) || !reflect.DeepEqual(list[1], created) {
			t.Errorf("list = %v, want [%s %s] in creation order", list, acme.group, devs)
		}
		// Both sides of the membership.
		wantSet(t, "jo's groupIDs", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t), "spec", "groupIDs"), []string{devs})
		wantSet(t, "bot's groupIDs", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", bot), tok, nil).obj(t), "spec", "groupIDs"), []string{devs})

		// Update replaces name, roles and members.
		a.Clock.Advance(time.Hour)
		wantEmpty(t, a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", devs), tok,
			groupWrite("developers", []string{readerRole, userRole}, nil, []string{bot})))
		got = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", devs), tok, nil).obj(t)
		wantMeta(t, "updated group", got, meta{name: "developers", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		wantSet(t, "roleIDs after update", strs(got, "spec", "roleIDs"), []string{readerRole, userRole})
		if u := strs(got, "spec", "userIDs"); u == nil || len(u) != 0 {
			t.Errorf("userIDs after update = %v, want []", get(got, "spec", "userIDs"))
		}
		wantSet(t, "jo's groupIDs after update", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t), "spec", "groupIDs"), nil)

		// The same name in another organization is fine.
		a.must(t, http.StatusCreated, "POST", orgPath(other.org, "groups"), other.token, groupWrite("developers", nil, nil, nil))

		// Refused writes change nothing.
		platformAdmin := platformRoleID(t)
		refused := []refusal{
			{"duplicate name", "POST", base, groupWrite("developers", nil, nil, nil), http.StatusConflict, "conflict"},
			{"rename onto another group", "PUT", orgPath(acme.org, "groups", devs), groupWrite("acme-administrator", nil, nil, nil), http.StatusConflict, "conflict"},
			{"platform-administrator role", "POST", base, groupWrite("root", []string{platformAdmin}, nil, nil), http.StatusBadRequest, "invalid_request"},
			{"platform-administrator role on update", "PUT", orgPath(acme.org, "groups", devs), groupWrite("developers", []string{platformAdmin}, nil, nil), http.StatusBadRequest, "invalid_request"},
			{"unknown role", "POST", base, groupWrite("g", []string{"no-such-role"}, nil, nil), http.StatusBadRequest, "invalid_request"},
			{"user of another organization", "POST", base, groupWrite("g", nil, []string{foreignUser}, nil), http.StatusBadRequest, "invalid_request"},
			{"service account of another organization", "POST", base, groupWrite("g", nil, nil, []string{other.sa}), http.StatusBadRequest, "invalid_request"},
			{"unknown user on update", "PUT", orgPath(acme.org, "groups", devs), groupWrite("developers", nil, []string{"no-such-user"}, nil), http.StatusBadRequest, "invalid_request"},
			{"unknown service account", "POST", base, groupWrite("g", nil, nil, []string{"no-such-sa"}), http.StatusBadRequest, "invalid_request"},
			{"platform service account", "POST", base, groupWrite("g", nil, nil, []string{platformSA(t, a)}), http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, tok, "refused group writes", refused, acme.org, other.org)

		// A project that grants the group access loses it with the group;
		// members lose the membership.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", devs), tok, groupWrite("developers", nil, []string{jo}, []string{bot}))
		project := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("web", []string{devs, acme.group})).obj(t))
		wantEmpty(t, a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "groups", devs), tok, nil))
		wantError(t, a.call(t, "GET", orgPath(acme.org, "groups", devs), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "groups", devs), tok, nil), http.StatusNotFound, "not_found")
		if got := ids(a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t)); !reflect.DeepEqual(got, []string{acme.group}) {
			t.Errorf("groups after delete = %v, want [%s]", got, acme.group)
		}
		wantSet(t, "jo's groupIDs after the group's delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t), "spec", "groupIDs"), nil)
		wantSet(t, "bot's groupIDs after the group's delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", bot), tok, nil).obj(t), "spec", "groupIDs"), nil)
		wantSet(t, "project groupIDs after the group's delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", project), tok, nil).obj(t), "spec", "groupIDs"), []string{acme.group})
	})
}

// TestRoles: listRoles returns the assignable system roles (never
// platform-administrator), to every member role.
func TestRoles(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		user := a.addMember(t, acme.org, "users", "user")
		want := a.admin(t, http.StatusOK, "GET", orgPath(acme.org, "roles"), nil).arr(t)
		if got := names(want); !reflect.DeepEqual(got, []string{"administrator", "reader", "scim-provisioner", "user"}) {
			t.Fatalf("roles = %v, want [administrator reader scim-provisioner user]", got)
		}
		seen := map[string]bool{}
		for _, r := range want {
			rid := id(r)
			if seen[rid] || len(rid) != 36 {
				t.Errorf("role ID %q is duplicated or not a UUID", rid)
			}
			seen[rid] = true
			if str(r, "metadata", "description") == "" {
				t.Errorf("role %s has no description", str(r, "metadata", "name"))
			}
			if has(r, "metadata", "organizationId") || has(r, "spec") {
				t.Errorf("role %v carries fields of an organization resource", r)
			}
		}
		// The administrator role ID is stable across installations.
		if id(want[0]) != "66f4be77-3d62-54ac-bcfd-5a5f55a38808" {
			t.Errorf("administrator role ID = %s", id(want[0]))
		}
		for _, tok := range []string{acme.token, reader.token, user.token} {
			if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles"), tok, nil).arr(t); !reflect.DeepEqual(got, want) {
				t.Errorf("a member sees roles %v, want %v", got, want)
			}
		}
	})
}

// platformRoleID is the platform-administrator role's ID, which listRoles
// never shows.
func platformRoleID(t testing.TB) string {
	t.Helper()
	r, ok := authz.RoleByName(authz.RolePlatformAdministrator)
	if !ok {
		t.Fatal("no platform-administrator role")
	}
	return r.ID
}

// platformSA is the bootstrap platform administrator's service account ID.
func platformSA(t testing.TB, a *apiEnv) string {
	t.Helper()
	var sid string
	if err := a.Store.DB().QueryRow("SELECT id FROM service_accounts WHERE organization_id = ''").Scan(&sid); err != nil {
		t.Fatalf("find the platform service account: %v", err)
	}
	return sid
}

// TestWriteResponsesMatchReads: ID lists written out of order and with
// repeats are stored as sets; the create and update responses show what a
// later read returns, not the request's echo.
func TestWriteResponsesMatchReads(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		var users, groups []string
		for _, n := range []string{"a", "b", "c"} {
			users = append(users, id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite(n, n+"@acme.example", "active", nil)).obj(t)))
			groups = append(groups, id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite(n, nil, nil, nil)).obj(t)))
		}
		shuffled := func(s []string) []string { return []string{s[2], s[0], s[2], s[1], s[0]} }
		roles := []string{a.role(t, "user"), a.role(t, "reader"), a.role(t, "user")}
		check := func(what string, written map[string]any, path string) {
			t.Helper()
			read := a.must(t, http.StatusOK, "GET", path, tok, nil).obj(t)
			if !reflect.DeepEqual(written, read) {
				t.Errorf("%s response %v differs from the read %v", what, written["spec"], read["spec"])
			}
		}
		g := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("g", roles, shuffled(users), []string{acme.sa, acme.sa})).obj(t)
		check("group create", g, orgPath(acme.org, "groups", id(g)))
		u := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("u", "u@acme.example", "active", shuffled(groups))).obj(t)
		check("user create", u, orgPath(acme.org, "users", id(u)))
		u = a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "users", id(u)), tok, userWrite("u", "u@acme.example", "active", []string{groups[1], groups[0], groups[1]})).obj(t)
		check("user update", u, orgPath(acme.org, "users", id(u)))
		sa := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("s", shuffled(groups))).obj(t)
		delete(sa["status"].(map[string]any), "accessToken")
		check("service account create", sa, orgPath(acme.org, "serviceaccounts", id(sa)))
		sa = a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "serviceaccounts", id(sa)), tok, saWrite("s", []string{groups[2], groups[2]})).obj(t)
		check("service account update", sa, orgPath(acme.org, "serviceaccounts", id(sa)))
		p := a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("p", shuffled(groups))).obj(t)
		check("project create", p, orgPath(acme.org, "projects", id(p)))
	})
}
