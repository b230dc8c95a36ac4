package server_test

import (
	"fmt"
	"math"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestAllocations: create (201), get, update (200 with the allocation),
// delete (202), the organization-wide list, and quota enforcement on create
// and update that leaves nothing changed.
func TestAllocations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		creator := "serviceaccount:acme-administrator"
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("p1", nil)).obj(t))
		p2 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("p2", nil)).obj(t))
		foreignProject := id(a.must(t, http.StatusAccepted, "POST", orgPath(other.org, "projects"), other.token, projectWrite("p1", nil)).obj(t))

		body := allocWrite("web", item{"gpus", 4, 1}, item{"servers", 2, 0})
		body["metadata"].(map[string]any)["projectId"] = p2 // read-only: ignored
		created := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p1, "allocations"), tok, body).obj(t)
		web := id(created)
		wantMeta(t, "created allocation", created, meta{name: "web", org: &acme.org, project: p1, created: t0, createdBy: creator})
		wantSpec := map[string]any{"kind": "cluster", "id": "cluster-web", "allocations": []any{
			map[string]any{"kind": "gpus", "committed": 4.0, "reserved": 1.0},
			map[string]any{"kind": "servers", "committed": 2.0, "reserved": 0.0}}}
		if !reflect.DeepEqual(get(created, "spec"), wantSpec) {
			t.Errorf("spec = %v, want %v", get(created, "spec"), wantSpec)
		}
		webPath := orgPath(acme.org, "projects", p1, "allocations", web)
		if got := a.must(t, http.StatusOK, "GET", webPath, tok, nil).obj(t); !reflect.DeepEqual(got, created) {
			t.Errorf("get = %v, want the create response %v", got, created)
		}
		// The same name in another project is fine; the org-wide list has both.
		db := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p2, "allocations"), tok, allocWrite("web", item{"gpus", 1, 0})).obj(t)
		if list := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "allocations"), tok, nil).arr(t); !reflect.DeepEqual(ids(list), []string{web, id(db)}) ||
			!reflect.DeepEqual(list[0], created) || str(list[1], "metadata", "projectId") != p2 {
			t.Errorf("organization allocations = %v, want [%s %s]", list, web, id(db))
		}
		wantUsage(t, a.must(t, http.StatusOK, "GET", orgPath(acme.org, "quotas"), tok, nil).obj(t), "gpus", usage{8, 5, 1, 6, 2})

		// Update returns the allocation; it is not counted twice against
		// the quota (4+1 → 6+1 with 1 used elsewhere and 8 in all).
		a.Clock.Advance(time.Hour)
		updated := a.must(t, http.StatusOK, "PUT", webPath, tok, allocWrite("web-1", item{"gpus", 6, 1})).obj(t)
		wantMeta(t, "updated allocation", updated, meta{name: "web-1", org: &acme.org, project: p1, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		wantSpec = map[string]any{"kind": "cluster", "id": "cluster-web-1", "allocations": []any{map[string]any{"kind": "gpus", "committed": 6.0, "reserved": 1.0}}}
		if !reflect.DeepEqual(get(updated, "spec"), wantSpec) {
			t.Errorf("spec after update = %v, want %v", get(updated, "spec"), wantSpec)
		}
		if got := a.must(t, http.StatusOK, "GET", webPath, tok, nil).obj(t); !reflect.DeepEqual(got, updated) {
			t.Errorf("get after update = %v, want the update response %v", got, updated)
		}
		q := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "quotas"), tok, nil).obj(t)
		wantUsage(t, q, "gpus", usage{8, 7, 1, 8, 0})
		wantUsage(t, q, "servers", usage{20, 0, 0, 0, 20})

		a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p1, "allocations"), tok, allocWrite("spare"))
		refused := []refusal{
			{"create over quota", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("more", item{"gpus", 1, 0}), http.StatusBadRequest, "invalid_request"},
			{"create over quota by reserved", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("more", item{"servers", 1, 0}, item{"gpus", 0, 1}), http.StatusBadRequest, "invalid_request"},
			{"update over quota", "PUT", webPath, allocWrite("web-1", item{"gpus", 7, 1}), http.StatusBadRequest, "invalid_request"},
			{"update over another kind's quota", "PUT", webPath, allocWrite("web-1", item{"gpus", 1, 0}, item{"clusters", 6, 0}), http.StatusBadRequest, "invalid_request"},
			{"overflowing amounts", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("huge", item{"storage", math.MaxInt64, 1}), http.StatusBadRequest, "invalid_request"},
			{"overflowing amounts on update", "PUT", webPath, allocWrite("web-1", item{"servers", math.MaxInt64, math.MaxInt64}), http.StatusBadRequest, "invalid_request"},
			{"unknown kind", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("more", item{"tpus", 1, 0}), http.StatusBadRequest, "invalid_request"},
			{"kind twice", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("more", item{"servers", 1, 0}, item{"servers", 1, 0}), http.StatusBadRequest, "invalid_request"},
			{"negative committed", "POST", orgPath(acme.org, "projects", p2, "allocations"), allocWrite("more", item{"servers", -1, 0}), http.StatusBadRequest, "invalid_request"},
			{"negative reserved on update", "PUT", webPath, allocWrite("web-1", item{"gpus", 6, -1}), http.StatusBadRequest, "invalid_request"},
			{"duplicate name in the project", "POST", orgPath(acme.org, "projects", p1, "allocations"), allocWrite("web-1"), http.StatusConflict, "conflict"},
			{"rename onto another allocation", "PUT", webPath, allocWrite("spare", item{"gpus", 1, 0}), http.StatusConflict, "conflict"},
			{"unknown project", "POST", orgPath(acme.org, "projects", "no-such-project", "allocations"), allocWrite("more"), http.StatusNotFound, "not_found"},
			{"another organization's project", "POST", orgPath(acme.org, "projects", foreignProject, "allocations"), allocWrite("more"), http.StatusNotFound, "not_found"},
			{"through the wrong project", "PUT", orgPath(acme.org, "projects", p2, "allocations", web), allocWrite("web-1"), http.StatusNotFound, "not_found"},
			{"delete through the wrong project", "DELETE", orgPath(acme.org, "projects", p2, "allocations", web), nil, http.StatusNotFound, "not_found"},
			{"no allocations", "POST", orgPath(acme.org, "projects", p2, "allocations"), map[string]any{"metadata": md("x"), "spec": map[string]any{"kind": "c", "id": "c"}}, http.StatusBadRequest, "invalid_request"},
			{"item without reserved", "POST", orgPath(acme.org, "projects", p2, "allocations"), map[string]any{"metadata": md("x"), "spec": map[string]any{"kind": "c", "id": "c",
				"allocations": []any{map[string]any{"kind": "gpus", "committed": 1}}}}, http.StatusBadRequest, "invalid_request"},
		}
		a.refuseAll(t, tok, "refused allocation writes", refused, acme.org, other.org)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", p2, "allocations", web), tok, nil), http.StatusNotFound, "not_found")

		// Deleting frees the quota.
		wantEmpty(t, a.must(t, http.StatusAccepted, "DELETE", webPath, tok, nil))
		wantError(t, a.call(t, "GET", webPath, tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", webPath, tok, nil), http.StatusNotFound, "not_found")
		wantUsage(t, a.must(t, http.StatusOK, "GET", orgPath(acme.org, "quotas"), tok, nil).obj(t), "gpus", usage{8, 1, 0, 1, 7})
		a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p2, "allocations"), tok, allocWrite("more", item{"gpus", 7, 0}))
		if got := ids(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "allocations"), tok, nil).arr(t)); len(got) != 3 || got[0] != id(db) {
			t.Errorf("organization allocations after delete = %v", got)
		}
	})
}

// TestAllocationsOfUserRole: the user role manages allocations in its own
// projects only, and cannot list the organization's.
func TestAllocationsOfUserRole(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		user := a.addMember(t, acme.org, "users", "user")
		mine := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("mine", []string{user.group})).obj(t))
		theirs := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("theirs", nil)).obj(t))
		foreign := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", theirs, "allocations"), acme.token, allocWrite("x", item{"gpus", 1, 0})).obj(t))

		al := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", mine, "allocations"), user.token, allocWrite("a", item{"gpus", 2, 0})).obj(t)
		p := orgPath(acme.org, "projects", mine, "allocations", id(al))
		if str(al, "metadata", "createdBy") != "serviceaccount:users" {
			t.Errorf("createdBy = %v", get(al, "metadata", "createdBy"))
		}
		a.must(t, http.StatusOK, "GET", p, user.token, nil)
		a.must(t, http.StatusOK, "PUT", p, user.token, allocWrite("a", item{"gpus", 3, 0}))
		before := a.snapshot(t, acme.org)
		wantError(t, a.call(t, "PUT", p, user.token, allocWrite("a", item{"gpus", 8, 0})), http.StatusBadRequest, "invalid_request")
		wantError(t, a.call(t, "POST", orgPath(acme.org, "projects", theirs, "allocations"), user.token, allocWrite("b", item{"gpus", 1, 0})), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "projects", theirs, "allocations", foreign), user.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "projects", theirs, "allocations", foreign), user.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "allocations"), user.token, nil), http.StatusForbidden, "forbidden")
		a.unchanged(t, before, "the user role's refused allocation writes", acme.org)
		wantEmpty(t, a.must(t, http.StatusAccepted, "DELETE", p, user.token, nil))
	})
}

// TestAllocationQuotaRace: concurrent allocations never overcommit a quota:
// of 12 simultaneous requests for 1 of 8 GPUs, exactly 8 succeed.
func TestAllocationQuotaRace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		p := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p", nil)).obj(t))
		statuses := make([]int, 12)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = a.call(t, "POST", orgPath(acme.org, "projects", p, "allocations"), acme.token, allocWrite(fmt.Sprintf("a%d", i), item{"gpus", 1, 0})).Status
			}()
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[http.StatusCreated] != 8 || count[http.StatusBadRequest] != 4 {
			t.Errorf("statuses %v, want 8 × 201 and 4 × 400", count)
		}
		wantUsage(t, a.must(t, http.StatusOK, "GET", orgPath(acme.org, "quotas"), acme.token, nil).obj(t), "gpus", usage{8, 8, 0, 8, 0})
		if n := len(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "allocations"), acme.token, nil).arr(t)); n != 8 {
			t.Errorf("%d allocations, want 8", n)
		}
	})
}
