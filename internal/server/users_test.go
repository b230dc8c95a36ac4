package server_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestUsers: create (201), get, list, update (200 with the user), delete
// (200); subject, state and groupIDs; the membership seen from the group;
// names derived from the subject; duplicates and references.
func TestUsers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		creator := "serviceaccount:acme-administrator"
		base := orgPath(acme.org, "users")
		g1 := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("g1", nil, nil, nil)).obj(t))
		g2 := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("g2", nil, nil, nil)).obj(t))

		body := userWrite("jo", "jo@acme.example", "active", []string{g1})
		body["metadata"].(map[string]any)["description"] = "Jo"
		body["status"] = map[string]any{"lastActive": "2020-01-01T00:00:00Z"} // read-only: ignored
		created := a.must(t, http.StatusCreated, "POST", base, tok, body).obj(t)
		jo := id(created)
		wantMeta(t, "created user", created, meta{name: "jo", description: "Jo", org: &acme.org, created: t0, createdBy: creator})
		if w := map[string]any{"subject": "jo@acme.example", "state": "active", "groupIDs": []any{g1}}; !reflect.DeepEqual(get(created, "spec"), w) {
			t.Errorf("spec = %v, want %v", get(created, "spec"), w)
		}
		if st, ok := get(created, "status").(map[string]any); !ok || len(st) != 0 {
			t.Errorf("status = %v, want {} (never active)", get(created, "status"))
		}
		got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t)
		if !reflect.DeepEqual(got, created) {
			t.Errorf("get = %v, want the create response %v", got, created)
		}
		wantSet(t, "g1 userIDs", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", g1), tok, nil).obj(t), "spec", "userIDs"), []string{jo})

		// Without metadata the name derives from the subject.
		derived := a.must(t, http.StatusCreated, "POST", base, tok, userWrite("", "Sam.Lee+ops@acme.example", "pending", nil)).obj(t)
		sam := id(derived)
		if n := str(derived, "metadata", "name"); n != "Sam.Lee-ops-acme.example" {
			t.Errorf("derived name %q, want Sam.Lee-ops-acme.example", n)
		}
		if str(derived, "spec", "state") != "pending" || strs(derived, "spec", "groupIDs") == nil {
			t.Errorf("spec = %v, want state pending and groupIDs []", get(derived, "spec"))
		}
		long := a.must(t, http.StatusCreated, "POST", base, tok, userWrite("", strings.Repeat("x", 70)+"@acme.example", "suspended", nil)).obj(t)
		if n := str(long, "metadata", "name"); n != strings.Repeat("x", 63) {
			t.Errorf("derived name of a long subject = %q, want 63 x", n)
		}
		list := a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t)
		if got := ids(list); !reflect.DeepEqual(got, []string{jo, sam, id(long)}) {
			t.Errorf("list = %v, want [%s %s %s]", got, jo, sam, id(long))
		}

		// Update returns the user; groups move on both sides.
		a.Clock.Advance(time.Hour)
		upd := userWrite("joanne", "joanne@acme.example", "suspended", []string{g2})
		upd["metadata"].(map[string]any)["id"] = "forged"
		updated := a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "users", jo), tok, upd).obj(t)
		wantMeta(t, "updated user", updated, meta{name: "joanne", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		if id(updated) != jo {
			t.Errorf("update changed the ID to %s", id(updated))
		}
		if w := map[string]any{"subject": "joanne@acme.example", "state": "suspended", "groupIDs": []any{g2}}; !reflect.DeepEqual(get(updated, "spec"), w) {
			t.Errorf("spec after update = %v, want %v", get(updated, "spec"), w)
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t); !reflect.DeepEqual(got, updated) {
			t.Errorf("get after update = %v, want the update response %v", got, updated)
		}
		wantSet(t, "g1 userIDs after the user's update", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", g1), tok, nil).obj(t), "spec", "userIDs"), nil)
		wantSet(t, "g2 userIDs after the user's update", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", g2), tok, nil).obj(t), "spec", "userIDs"), []string{jo})
		// ... and from the group's side.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", g1), tok, groupWrite("g1", nil, []string{jo, sam}, nil))
		wantSet(t, "joanne's groupIDs after g1's update", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", jo), tok, nil).obj(t), "spec", "groupIDs"), []string{g1, g2})
		wantSet(t, "sam's groupIDs after g1's update", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users", sam), tok, nil).obj(t), "spec", "groupIDs"), []string{g1})
		for _, u := range a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t) {
			if id(u) == sam {
				wantSet(t, "sam's groupIDs in the list", strs(u, "spec", "groupIDs"), []string{g1})
			}
		}

		// The same subject and name in another organization are fine.
		a.must(t, http.StatusCreated, "POST", orgPath(other.org, "users"), other.token, userWrite("joanne", "joanne@acme.example", "active", nil))

		foreignGroup := other.group
		refused := []refusal{
			{"duplicate subject", "POST", base, userWrite("someone", "joanne@acme.example", "active", nil), http.StatusConflict, "conflict"},
			{"duplicate name", "POST", base, userWrite("joanne", "new@acme.example", "active", nil), http.StatusConflict, "conflict"},
			{"derived name taken", "POST", base, userWrite("", "Sam.Lee-ops@acme.example", "active", nil), http.StatusConflict, "conflict"},
			{"update onto another subject", "PUT", orgPath(acme.org, "users", sam), userWrite("sam", "joanne@acme.example", "active", nil), http.StatusConflict, "conflict"},
			{"update onto another name", "PUT", orgPath(acme.org, "users", sam), userWrite("joanne", "sam@acme.example", "active", nil), http.StatusConflict, "conflict"},
			{"group of another organization", "POST", base, userWrite("new", "new@acme.example", "active", []string{foreignGroup}), http.StatusBadRequest, "invalid_request"},
			{"unknown group on update", "PUT", orgPath(acme.org, "users", sam), userWrite("sam", "sam@acme.example", "active", []string{"no-such-group"}), http.StatusBadRequest, "invalid_request"},
			{"unknown state", "POST", base, userWrite("new", "new@acme.example", "retired", nil), http.StatusBadRequest, "invalid_request"},
			{"no state", "POST", base, map[string]any{"spec": map[string]any{"subject": "new@acme.example", "groupIDs": []string{}}}, http.StatusBadRequest, "invalid_request"},
			{"no groupIDs", "POST", base, map[string]any{"spec": map[string]any{"subject": "new@acme.example", "state": "active"}}, http.StatusBadRequest, "invalid_request"},
			{"no subject", "POST", base, map[string]any{"spec": map[string]any{"state": "active", "groupIDs": []string{}}}, http.StatusBadRequest, "invalid_request"},
			{"no spec", "POST", base, map[string]any{"metadata": md("new")}, http.StatusBadRequest, "invalid_request"},
			{"no name can be derived", "POST", base, userWrite("", "@@@", "active", nil), http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, tok, "refused user writes", refused, acme.org, other.org)

		// Delete removes the user from its groups.
		wantEmpty(t, a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "users", jo), tok, nil))
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users", jo), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "users", jo), tok, nil), http.StatusNotFound, "not_found")
		wantSet(t, "g1 userIDs after the user's delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", g1), tok, nil).obj(t), "spec", "userIDs"), []string{sam})
		wantSet(t, "g2 userIDs after the user's delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", g2), tok, nil).obj(t), "spec", "userIDs"), nil)
		// The subject and name are free again.
		a.must(t, http.StatusCreated, "POST", base, tok, userWrite("joanne", "joanne@acme.example", "active", nil))
	})
}
