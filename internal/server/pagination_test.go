package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// walk pages through a list with limit and returns the IDs in order,
// checking that no page is larger than limit, that no ID repeats, that
// X-Next-Page-Token never appears on a short page, and that it appears
// only when more items remain (the page it points to is never empty).
func walk(t testing.TB, a *apiEnv, path, token string, limit int) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []string
	seen := map[string]bool{}
	next := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: more than 100 pages of %d", path, limit)
		}
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if next != "" {
			p += "&pageToken=" + url.QueryEscape(next)
		}
		r := a.must(t, http.StatusOK, "GET", p, token, nil)
		page := r.arr(t)
		if next != "" && len(page) == 0 {
			t.Errorf("%s: X-Next-Page-Token led to an empty page", p)
		}
		if len(page) > limit {
			t.Errorf("%s: %d items, more than the limit", r, len(page))
		}
		for _, it := range page {
			if seen[id(it)] {
				t.Errorf("%s: %s again (already on an earlier page)", p, id(it))
			}
			seen[id(it)] = true
			out = append(out, id(it))
		}
		tok, more := r.Header["X-Next-Page-Token"]
		if len(page) < limit {
			if more {
				t.Errorf("%s: X-Next-Page-Token on a short page", r)
			}
			return out
		}
		if !more {
			return out
		}
		if tok[0] == "" {
			t.Fatalf("%s: empty X-Next-Page-Token", r)
		}
		next = tok[0]
	}
}

// TestPagination: every list operation pages with limit and
// X-Next-Page-Token, without duplicates or gaps, in the order of the full
// list; a bad limit or pageToken is a 400.
func TestPagination(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		user := a.addMember(t, acme.org, "users", "user")
		tok := acme.token
		var projects []string
		for i := range 5 {
			n := fmt.Sprintf("n%d", i)
			a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite(n, nil, nil, nil))
			a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite(n, n+"@acme.example", "active", nil))
			a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite(n, nil))
			a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "oauth2providers"), tok, providerWrite(n, n, nil))
			a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite(n, n, nil))
			projects = append(projects, id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite(n, []string{user.group})).obj(t)))
			a.newOrg(t, "org-"+n)
		}
		for i := range 5 {
			a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", projects[i%2], "allocations"), tok, allocWrite(fmt.Sprintf("a%d", i), item{"storage", 1, 1}))
		}

		lists := []struct {
			op, path, token string
			n               int // items in the full list
		}{
			{"listOrganizations", "/api/v1/organizations", a.AdminToken, 6},
			{"listOrganizations?email", "/api/v1/organizations?email=n1@acme.example", a.AdminToken, 1},
			{"listSystemOauth2Providers", "/api/v1/oauth2providers", tok, 5},
			{"listGroups", orgPath(acme.org, "groups"), tok, 7},
			{"listUsers", orgPath(acme.org, "users"), tok, 5},
			{"listServiceAccounts", orgPath(acme.org, "serviceaccounts"), tok, 7},
			{"listProjects", orgPath(acme.org, "projects"), tok, 5},
			{"listProjects (user role)", orgPath(acme.org, "projects"), user.token, 5},
			{"listOrganizationOauth2Providers", orgPath(acme.org, "oauth2providers"), tok, 5},
			{"listOrganizationAllocations", orgPath(acme.org, "allocations"), tok, 5},
			{"listRoles", orgPath(acme.org, "roles"), tok, 3},
			{"listOrganizations (tenant)", "/api/v1/organizations", tok, 1},
		}
		for _, l := range lists {
			r := a.must(t, http.StatusOK, "GET", l.path, l.token, nil)
			full := ids(r.arr(t))
			if len(full) != l.n {
				t.Errorf("%s: %d items, want %d", l.op, len(full), l.n)
			}
			if _, ok := r.Header["X-Next-Page-Token"]; ok {
				t.Errorf("%s: X-Next-Page-Token without a limit", l.op)
			}
			for _, limit := range []int{1, 2, 3, 1000} {
				if got := walk(t, a, l.path, l.token, limit); !reflect.DeepEqual(got, full) {
					t.Errorf("%s: walk with limit %d = %v, want %v", l.op, limit, got, full)
				}
			}
			sep := "?"
			if strings.Contains(l.path, "?") {
				sep = "&"
			}
			for _, q := range []string{"pageToken=%25%25garbage%25%25", "pageToken=" + strings.Repeat("A", 513), "pageToken=%20",
				"limit=0", "limit=1001", "limit=-1", "limit=two", "limit=1.5"} {
				wantError(t, a.call(t, "GET", l.path+sep+q, l.token, nil), http.StatusBadRequest, "invalid_request")
			}
		}
	})
}

// TestListWithoutLimit: without limit a list is complete, as in Identity
// API 1.4.0, even past the largest page.
func TestListWithoutLimit(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		org := a.newOrg(t, "big")
		const n = 1001 // one more than the largest page a client may ask for
		err := a.Store.Tx(context.Background(), func(q *store.Q) error {
			for i := range n {
				p := &store.OAuth2Provider{Meta: store.Meta{ID: a.Tenancy.NewID(), OrganizationID: org, Name: fmt.Sprintf("p%04d", i),
					CreatedAt: t0, CreatedBy: adminSubject}, Type: "oidc", Issuer: "https://login.example.com", ClientID: "c"}
				if err := q.CreateOAuth2Provider(context.Background(), p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := a.admin(t, http.StatusOK, "GET", orgPath(org, "oauth2providers"), nil)
		if got := len(r.arr(t)); got != n {
			t.Errorf("list without limit: %d items, want all %d", got, n)
		}
		if _, ok := r.Header["X-Next-Page-Token"]; ok {
			t.Errorf("X-Next-Page-Token without a limit")
		}
		if got := walk(t, a, orgPath(org, "oauth2providers"), a.AdminToken, 1000); len(got) != n {
			t.Errorf("walk with limit 1000: %d items, want %d", len(got), n)
		}
	})
}
