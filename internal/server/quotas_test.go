package server_test

import (
	"math"
	"net/http"
	"reflect"
	"testing"
)

// quotaOf picks one kind out of a quotasRead body.
func quotaOf(t testing.TB, quotas map[string]any, kind string) map[string]any {
	t.Helper()
	qs, _ := get(quotas, "quotas").([]any)
	for _, q := range qs {
		if m, ok := q.(map[string]any); ok && m["kind"] == kind {
			return m
		}
	}
	t.Fatalf("no quota of kind %q in %v", kind, quotas)
	return nil
}

// usage is the numbers of one quota.
type usage struct{ quantity, committed, reserved, used, free float64 }

func wantUsage(t testing.TB, quotas map[string]any, kind string, w usage) {
	t.Helper()
	q := quotaOf(t, quotas, kind)
	got := usage{q["quantity"].(float64), q["committed"].(float64), q["reserved"].(float64), q["used"].(float64), q["free"].(float64)}
	if got != w {
		t.Errorf("quota %s = %+v, want %+v", kind, got, w)
	}
}

// TestQuotas: every kind with its default and computed use; updates by the
// platform administrator only, never below what is allocated.
func TestQuotas(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		user := a.addMember(t, acme.org, "users", "user")
		tok := acme.token
		path := orgPath(acme.org, "quotas")

		defaults := a.must(t, http.StatusOK, "GET", path, tok, nil).obj(t)
		want := []any{}
		for _, k := range []struct {
			kind, display string
			n             float64
		}{{"clusters", "Kubernetes Clusters", 5}, {"servers", "Servers", 20}, {"gpus", "GPUs", 8}, {"storage", "Storage (GiB)", 1024}} {
			q := quotaOf(t, defaults, k.kind)
			if q["description"] == "" {
				t.Errorf("quota %s has no description", k.kind)
			}
			want = append(want, map[string]any{"kind": k.kind, "displayName": k.display, "description": q["description"],
				"default": k.n, "quantity": k.n, "committed": 0.0, "reserved": 0.0, "used": 0.0, "free": k.n})
		}
		if !reflect.DeepEqual(defaults, map[string]any{"quotas": want}) {
			t.Errorf("quotas = %v, want %v", defaults, want)
		}
		for _, tk := range []string{reader.token, user.token, a.AdminToken} {
			if got := a.must(t, http.StatusOK, "GET", path, tk, nil).obj(t); !reflect.DeepEqual(got, defaults) {
				t.Errorf("another reader sees %v", got)
			}
		}

		// Use is summed over the organization's projects.
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("p1", nil)).obj(t))
		p2 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("p2", nil)).obj(t))
		a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p1, "allocations"), tok, allocWrite("a", item{"gpus", 2, 1}, item{"storage", 100, 0}))
		a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "projects", p2, "allocations"), tok, allocWrite("b", item{"gpus", 1, 2}))
		q := a.must(t, http.StatusOK, "GET", path, tok, nil).obj(t)
		wantUsage(t, q, "gpus", usage{8, 3, 3, 6, 2})
		wantUsage(t, q, "storage", usage{1024, 100, 0, 100, 924})
		wantUsage(t, q, "clusters", usage{5, 0, 0, 0, 5})

		// The platform administrator sets quotas; the response is the new
		// quotasRead, unnamed kinds keep their value.
		body := quotasWrite("gpus", 6, "clusters", 0)
		body["quotas"].([]map[string]any)[0]["used"] = 99 // read-only: ignored
		body["note"] = "unknown fields are ignored"
		set := a.admin(t, http.StatusOK, "PUT", path, body).obj(t)
		wantUsage(t, set, "gpus", usage{6, 3, 3, 6, 0})
		wantUsage(t, set, "clusters", usage{0, 0, 0, 0, 0})
		wantUsage(t, set, "storage", usage{1024, 100, 0, 100, 924})
		if d := quotaOf(t, set, "gpus")["default"]; d != 8.0 {
			t.Errorf("gpus default = %v after a set, want 8", d)
		}
		if got := a.must(t, http.StatusOK, "GET", path, tok, nil).obj(t); !reflect.DeepEqual(got, set) {
			t.Errorf("get after set = %v, want the set response %v", got, set)
		}
		// An empty set changes nothing.
		if got := a.admin(t, http.StatusOK, "PUT", path, quotasWrite()).obj(t); !reflect.DeepEqual(got, set) {
			t.Errorf("empty set = %v, want %v", got, set)
		}
		// Another organization's quotas are its own.
		other := a.newOrg(t, "other")
		wantUsage(t, a.admin(t, http.StatusOK, "GET", orgPath(other, "quotas"), nil).obj(t), "gpus", usage{8, 0, 0, 0, 8})

		refused := []struct {
			name   string
			token  string
			body   any
			status int
			code   string
		}{
			{"below what is allocated", a.AdminToken, quotasWrite("gpus", 5), http.StatusBadRequest, "invalid_request"},
			{"below, with a valid kind first", a.AdminToken, quotasWrite("servers", 1, "storage", 99), http.StatusBadRequest, "invalid_request"},
			{"unknown kind", a.AdminToken, quotasWrite("gpus", 100, "tpus", 4), http.StatusBadRequest, "invalid_request"},
			{"duplicate kind", a.AdminToken, quotasWrite("gpus", 100, "gpus", 200), http.StatusBadRequest, "invalid_request"},
			{"negative", a.AdminToken, quotasWrite("servers", -1), http.StatusBadRequest, "invalid_request"},
			{"quantity not an integer", a.AdminToken, quotasWrite("servers", 1.5), http.StatusBadRequest, "invalid_request"},
			{"quantity a string", a.AdminToken, quotasWrite("servers", "10"), http.StatusBadRequest, "invalid_request"},
			{"no quantity", a.AdminToken, map[string]any{"quotas": []any{map[string]any{"kind": "gpus"}}}, http.StatusBadRequest, "invalid_request"},
			{"no quotas", a.AdminToken, map[string]any{}, http.StatusBadRequest, "invalid_request"},
			{"administrator", tok, quotasWrite("gpus", 100), http.StatusForbidden, "forbidden"},
			{"reader", reader.token, quotasWrite("gpus", 100), http.StatusForbidden, "forbidden"},
			{"user", user.token, quotasWrite("gpus", 100), http.StatusForbidden, "forbidden"},
		}
		before := a.snapshot(t, acme.org)
		for _, c := range refused {
			r := a.call(t, "PUT", path, c.token, c.body)
			if r.Status != c.status {
				t.Errorf("%s: %s, want %d", c.name, r, c.status)
				continue
			}
			wantError(t, r, c.status, c.code)
		}
		a.unchanged(t, before, "refused quota updates", acme.org)

		// Large quantities round-trip.
		big := a.admin(t, http.StatusOK, "PUT", path, quotasWrite("storage", math.MaxInt32)).obj(t)
		wantUsage(t, big, "storage", usage{math.MaxInt32, 100, 0, 100, math.MaxInt32 - 100})
	})
}
