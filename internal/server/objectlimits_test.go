package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// Per-organization object limits (issue 12, finding 7).

// eachBackendWith is eachBackend with options for testenv.
func eachBackendWith(t *testing.T, opts []testenv.Option, f func(t *testing.T, a *apiEnv)) {
	t.Helper()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, &apiEnv{Env: testenv.NewEnv(t, b.Open(t), opts...)})
		})
	}
}

// listItems are the resources of a list answer: an array, or a page's
// items.
func listItems(t testing.TB, r *resp) []map[string]any {
	t.Helper()
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if json.Unmarshal(r.Body, &page) == nil && page.Items != nil {
		return page.Items
	}
	return r.arr(t)
}

// listNames are the names in a list answer.
func listNames(t testing.TB, r *resp) []string { return names(listItems(t, r)) }

// wantLimitExceeded checks a refusal at the limit: 409 in the API error
// shape, naming the kind's limit and the flag.
func wantLimitExceeded(t testing.TB, r *resp, kind string, limit int) {
	t.Helper()
	wantError(t, r, http.StatusConflict, "conflict")
	d := str(r.obj(t), "error_description")
	for _, want := range []string{"limit_exceeded", fmt.Sprintf("%s=%d", kind, limit), "--" + objectlimit.Flag} {
		if !strings.Contains(d, want) {
			t.Errorf("%s: error_description %q does not say %q", r, d, want)
		}
	}
}

// TestObjectLimits: with a limit of 3 per kind, an organization gets three
// of each and the fourth is refused with 409 naming the limit and the flag,
// writing nothing; another organization is not affected; a bulk assignment
// that would pass the limit creates none of its assignments.
func TestObjectLimits(t *testing.T) {
	t.Parallel()
	const limit = 3
	l := objectlimit.Limits{}
	for _, k := range objectlimit.Kinds() {
		l[k] = limit
	}
	eachBackendWith(t, []testenv.Option{testenv.WithObjectLimits(l)}, func(t *testing.T, a *apiEnv) {
		userRole := a.role(t, "user")
		kinds := []struct {
			kind, path string
			body       func(i int) any
			status     int
		}{
			{objectlimit.APIKeys, "apikeys", func(i int) any { return apiKeyWrite(fmt.Sprintf("x-%d", i), userRole) }, http.StatusCreated},
			{objectlimit.ServiceAccounts, "serviceaccounts", func(i int) any { return saWrite(fmt.Sprintf("x-%d", i), nil) }, http.StatusCreated},
			{objectlimit.Users, "users", func(i int) any {
				return userWrite(fmt.Sprintf("x-%d", i), fmt.Sprintf("x%d@acme.example", i), "active", nil)
			}, http.StatusCreated},
			{objectlimit.Groups, "groups", func(i int) any { return groupWrite(fmt.Sprintf("x-%d", i), nil, nil, nil) }, http.StatusCreated},
			{objectlimit.Projects, "projects", func(i int) any { return projectWrite(fmt.Sprintf("x-%d", i), nil) }, http.StatusAccepted},
			{objectlimit.Roles, "roles", func(i int) any { return roleWrite(fmt.Sprintf("x-%d", i), allowAll(), nil) }, http.StatusCreated},
			{objectlimit.OAuth2Providers, "oauth2providers", func(i int) any { return providerWrite(fmt.Sprintf("x-%d", i), "client", nil) }, http.StatusCreated},
			{objectlimit.PermissionSets, "permissionsets", func(i int) any { return permissionSetWrite(fmt.Sprintf("x-%d", i), nil, nil) }, http.StatusCreated},
			{objectlimit.OAuth2Clients, "oauth2clients", func(i int) any { return clientWrite(fmt.Sprintf("x-%d", i)) }, http.StatusCreated},
		}
		for _, k := range kinds {
			org := a.newOrg(t, "org-"+k.kind)
			path := orgPath(org, k.path)
			for i := 1; i <= limit; i++ {
				a.admin(t, k.status, "POST", path, k.body(i))
			}
			before := a.snapshot(t, org)
			wantLimitExceeded(t, a.call(t, "POST", path, a.AdminToken, k.body(limit+1)), k.kind, limit)
			a.unchanged(t, before, "a create past the limit of "+k.kind, org)
			got := listNames(t, a.admin(t, http.StatusOK, "GET", path, nil))
			if slices.Contains(got, fmt.Sprintf("x-%d", limit+1)) {
				t.Errorf("%s: the refused create is in the list %v", k.kind, got)
			}
			// Deleting one makes room again.
			for _, it := range listItems(t, a.admin(t, http.StatusOK, "GET", path, nil)) {
				if str(it, "metadata", "name") == "x-1" {
					if r := a.call(t, "DELETE", orgPath(org, k.path, id(it)), a.AdminToken, nil); r.Status != http.StatusOK && r.Status != http.StatusAccepted {
						t.Fatalf("delete: %s", r)
					}
				}
			}
			a.admin(t, k.status, "POST", path, k.body(limit+1))
		}
		// Another organization has its own count.
		other := a.newOrg(t, "other")
		a.admin(t, http.StatusCreated, "POST", orgPath(other, "apikeys"), apiKeyWrite("k", userRole))

		// Account assignments: a bulk create that would pass the limit
		// creates none of them.
		org := a.newOrg(t, "assignments")
		u1 := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("u1", "u1@acme.example", "active", nil)).obj(t))
		u2 := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("u2", "u2@acme.example", "active", nil)).obj(t))
		p := id(a.admin(t, http.StatusAccepted, "POST", orgPath(org, "projects"), projectWrite("p", nil)).obj(t))
		s1 := a.setOf(t, org, a.AdminToken, "s1", nil, nil)
		s2 := a.setOf(t, org, a.AdminToken, "s2", nil, nil)
		list := orgPath(org, "accountassignments")
		a.admin(t, http.StatusCreated, "POST", list, assign([]map[string]any{ref("user", u1)}, []string{s1, s2}, []map[string]any{ref("project", p)}))
		wantLimitExceeded(t, a.call(t, "POST", list, a.AdminToken, assign([]map[string]any{ref("user", u2)}, []string{s1, s2}, []map[string]any{ref("project", p)})),
			objectlimit.AccountAssignments, limit)
		if n := count(t, a.admin(t, http.StatusOK, "GET", list, nil)); n != 2 {
			t.Errorf("%d assignments after the refused bulk create, want 2", n)
		}
		a.admin(t, http.StatusCreated, "POST", list, assign([]map[string]any{ref("user", u2)}, []string{s1}, []map[string]any{ref("project", p)}))
		wantLimitExceeded(t, a.call(t, "POST", list, a.AdminToken, assign([]map[string]any{ref("user", u2)}, []string{s2}, []map[string]any{ref("project", p)})),
			objectlimit.AccountAssignments, limit)
	})
}

// TestObjectLimitsConcurrent: twenty concurrent API key creates against a
// limit of five give exactly five keys; the others are refused at the limit.
// The count and the insert share a transaction serialized on the
// organization, so no two creates both see room for one more.
func TestObjectLimitsConcurrent(t *testing.T) {
	t.Parallel()
	const limit, tries = 5, 20
	eachBackendWith(t, []testenv.Option{testenv.WithObjectLimits(objectlimit.Limits{objectlimit.APIKeys: limit})}, func(t *testing.T, a *apiEnv) {
		userRole := a.role(t, "user")
		org := a.newOrg(t, "acme")
		path := orgPath(org, "apikeys")
		statuses := make([]*resp, tries)
		var wg sync.WaitGroup
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = a.call(t, "POST", path, a.AdminToken, apiKeyWrite(fmt.Sprintf("k-%d", i), userRole))
			}()
		}
		wg.Wait()
		created := 0
		for _, r := range statuses {
			switch r.Status {
			case http.StatusCreated:
				created++
			default:
				wantLimitExceeded(t, r, objectlimit.APIKeys, limit)
			}
		}
		if n := len(listNames(t, a.admin(t, http.StatusOK, "GET", path, nil))); created != limit || n != limit {
			t.Errorf("%d creates succeeded and %d keys exist, want %d of each", created, n, limit)
		}
	})
}
