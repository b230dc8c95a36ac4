package server_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

// TestProjects: create (202), get, list, update (200, no body), delete
// (202, allocations with it), references and duplicates.
func TestProjects(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		creator := "serviceaccount:acme-administrator"
		base := orgPath(acme.org, "projects")
		devs := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("devs", nil, nil, nil)).obj(t))

		body := projectWrite("web", []string{devs})
		body["metadata"].(map[string]any)["description"] = "The web site"
		body["metadata"].(map[string]any)["provisioningStatus"] = "error" // read-only: ignored
		created := a.must(t, http.StatusAccepted, "POST", base, tok, body).obj(t)
		web := id(created)
		wantMeta(t, "created project", created, meta{name: "web", description: "The web site", org: &acme.org, created: t0, createdBy: creator})
		wantSet(t, "groupIDs", strs(created, "spec", "groupIDs"), []string{devs})
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", web), tok, nil).obj(t); !reflect.DeepEqual(got, created) {
			t.Errorf("get = %v, want the create response %v", got, created)
		}
		// The seed requires spec.groupIDs: a body without it changes
		// nothing and is a 400 (issue 17); an empty list is a project no
		// group reaches.
		for _, method := range []string{"POST", "PUT"} {
			path := base
			if method == "PUT" {
				path = orgPath(acme.org, "projects", web)
			}
			wantError(t, a.call(t, method, path, tok, map[string]any{"metadata": md("bare"), "spec": map[string]any{}}), http.StatusBadRequest, "invalid_request")
		}
		bare := a.must(t, http.StatusAccepted, "POST", base, tok, projectWrite("bare", nil)).obj(t)
		if g := strs(bare, "spec", "groupIDs"); g == nil || len(g) != 0 {
			t.Errorf("a project created with groupIDs [] reads back %v, want []", get(bare, "spec"))
		}
		if got := a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t); !reflect.DeepEqual(ids(got), []string{web, id(bare)}) || !reflect.DeepEqual(got[0], created) {
			t.Errorf("list = %v, want [%s %s] in creation order", got, web, id(bare))
		}

		a.Clock.Advance(time.Hour)
		wantEmpty(t, a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", web), tok, projectWrite("website", []string{acme.group, devs})))
		got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", web), tok, nil).obj(t)
		wantMeta(t, "updated project", got, meta{name: "website", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		wantSet(t, "groupIDs after update", strs(got, "spec", "groupIDs"), []string{acme.group, devs})

		a.must(t, http.StatusAccepted, "POST", orgPath(other.org, "projects"), other.token, projectWrite("website", nil))
		refused := []refusal{
			{"duplicate name", "POST", base, projectWrite("website", nil), http.StatusConflict, "conflict"},
			{"rename onto another project", "PUT", orgPath(acme.org, "projects", id(bare)), projectWrite("website", nil), http.StatusConflict, "conflict"},
			{"group of another organization", "POST", base, projectWrite("new", []string{other.group}), http.StatusBadRequest, "invalid_request"},
			{"unknown group on update", "PUT", orgPath(acme.org, "projects", web), projectWrite("website", []string{"no-such-group"}), http.StatusBadRequest, "invalid_request"},
			{"no spec", "POST", base, map[string]any{"metadata": md("new")}, http.StatusBadRequest, "invalid_request"},
			{"groupIDs not an array", "POST", base, map[string]any{"metadata": md("new"), "spec": map[string]any{"groupIDs": devs}}, http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, tok, "refused project writes", refused, acme.org, other.org)

		// Delete takes the project's allocations with it.
		alloc := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", web, "allocations"), tok, allocWrite("a", item{"gpus", 4, 0})).obj(t))
		wantEmpty(t, a.must(t, http.StatusAccepted, "DELETE", orgPath(acme.org, "projects", web), tok, nil))
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", web), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", web, "allocations", alloc), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "projects", web), tok, nil), http.StatusNotFound, "not_found")
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "allocations"), tok, nil).arr(t); len(got) != 0 {
			t.Errorf("allocations after the project's delete = %v, want []", ids(got))
		}
		if q := quotaOf(t, a.must(t, http.StatusOK, "GET", orgPath(acme.org, "quotas"), tok, nil).obj(t), "gpus"); q["used"] != 0.0 {
			t.Errorf("gpus used after the project's delete = %v, want 0", q["used"])
		}
	})
}

// TestProjectsOfUserRole: a member whose group has the user role lists,
// reads and updates only the projects its groups are in, and cannot create
// or delete projects.
func TestProjectsOfUserRole(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		user := a.addMember(t, acme.org, "users", "user")
		tok := acme.token
		base := orgPath(acme.org, "projects")
		others := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("others", []string{a.role(t, "user")}, nil, nil)).obj(t))
		mine1 := id(a.must(t, http.StatusAccepted, "POST", base, tok, projectWrite("mine-1", []string{user.group})).obj(t))
		theirs := id(a.must(t, http.StatusAccepted, "POST", base, tok, projectWrite("theirs", []string{others})).obj(t))
		none := id(a.must(t, http.StatusAccepted, "POST", base, tok, projectWrite("none", nil)).obj(t))
		mine2 := id(a.must(t, http.StatusAccepted, "POST", base, tok, projectWrite("mine-2", []string{others, user.group})).obj(t))

		if got := ids(a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t)); !reflect.DeepEqual(got, []string{mine1, theirs, none, mine2}) {
			t.Errorf("administrator lists %v, want all four", got)
		}
		if got := ids(a.must(t, http.StatusOK, "GET", base, user.token, nil).arr(t)); !reflect.DeepEqual(got, []string{mine1, mine2}) {
			t.Errorf("user lists %v, want only [%s %s]", got, mine1, mine2)
		}
		walked := walk(t, a, base, user.token, 1)
		if !reflect.DeepEqual(walked, []string{mine1, mine2}) {
			t.Errorf("user's paged walk = %v, want [%s %s]", walked, mine1, mine2)
		}
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", mine1), user.token, nil)
		before := a.snapshot(t, acme.org)
		for _, p := range []string{theirs, none} {
			wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", p), user.token, nil), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "PUT", orgPath(acme.org, "projects", p), user.token, projectWrite("x", []string{user.group})), http.StatusForbidden, "forbidden")
		}
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "projects", mine1), user.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "POST", base, user.token, projectWrite("new", []string{user.group})), http.StatusForbidden, "forbidden")
		a.unchanged(t, before, "the user role's refused project writes", acme.org)

		a.Clock.Advance(time.Minute)
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", mine1), user.token, projectWrite("mine-one", []string{user.group}))
		got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", mine1), user.token, nil).obj(t)
		if str(got, "metadata", "name") != "mine-one" || str(got, "metadata", "modifiedBy") != "serviceaccount:users" {
			t.Errorf("project after the user's update = %v", got)
		}
		// Leaving the project's groups takes it out of the user's view.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", mine2), tok, projectWrite("mine-2", []string{others}))
		if got := ids(a.must(t, http.StatusOK, "GET", base, user.token, nil).arr(t)); !reflect.DeepEqual(got, []string{mine1}) {
			t.Errorf("user lists %v after leaving mine-2, want [%s]", got, mine1)
		}
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", mine2), user.token, nil), http.StatusForbidden, "forbidden")
	})
}
