package server_test

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tokenTTL is the default service account token lifetime.
const tokenTTL = 365 * 24 * time.Hour

// TestServiceAccounts: create (201, token once), get/list/update (200,
// never the token), rotate (200, new token, old one dead at once), delete
// (200, token dead), expiry, memberships and duplicates.
func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		tok := acme.token
		creator := "serviceaccount:acme-administrator"
		base := orgPath(acme.org, "serviceaccounts")
		readers := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("readers", []string{a.role(t, "reader")}, nil, nil)).obj(t))
		empty := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("empty", nil, nil, nil)).obj(t))

		body := saWrite("ci", []string{readers})
		body["status"] = map[string]any{"accessToken": "ghsa_chosen-by-client", "expiry": "2100-01-01T00:00:00Z"}
		created := a.must(t, http.StatusCreated, "POST", base, tok, body).obj(t)
		ci, token := id(created), str(created, "status", "accessToken")
		wantMeta(t, "created service account", created, meta{name: "ci", org: &acme.org, created: t0, createdBy: creator})
		if !strings.HasPrefix(token, "ghsa_") || len(token) < 30 || token == "ghsa_chosen-by-client" {
			t.Fatalf("access token %q: want a fresh ghsa_ token", token)
		}
		if exp := parseTime(get(created, "status", "expiry")); !exp.Equal(t0.Add(tokenTTL)) {
			t.Errorf("expiry %v, want %v", get(created, "status", "expiry"), t0.Add(tokenTTL))
		}
		wantSet(t, "groupIDs", strs(created, "spec", "groupIDs"), []string{readers})
		wantSet(t, "readers' serviceAccountIDs", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", readers), tok, nil).obj(t), "spec", "serviceAccountIDs"), []string{ci})

		// The token works, with the reader role of its group.
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users"), token, nil)
		wantError(t, a.call(t, "POST", orgPath(acme.org, "users"), token, userWrite("x", "x@acme.example", "active", nil)), http.StatusForbidden, "forbidden")

		// Reads never carry the token.
		noToken := func(what string, r *resp, v map[string]any) {
			t.Helper()
			if has(v, "status", "accessToken") || bytes.Contains(r.Body, []byte(token)) || bytes.Contains(r.Body, []byte("ghsa_")) {
				t.Errorf("%s returns an access token: %s", what, r.Body)
			}
		}
		r := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", ci), tok, nil)
		got := r.obj(t)
		noToken("get", r, got)
		want := map[string]any{"metadata": created["metadata"], "spec": created["spec"], "status": map[string]any{"expiry": get(created, "status", "expiry")}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("get = %v, want %v", got, want)
		}
		r = a.must(t, http.StatusOK, "GET", base, tok, nil)
		list := r.arr(t)
		noToken("list", r, nil)
		if !reflect.DeepEqual(ids(list), []string{acme.sa, ci}) || !reflect.DeepEqual(list[1], want) {
			t.Errorf("list = %v, want [%s %s] with %v", list, acme.sa, ci, want)
		}

		// Update returns the account without token; the token keeps working
		// and keeps its expiry.
		a.Clock.Advance(time.Hour)
		upd := saWrite("ci-bot", []string{readers, empty})
		upd["status"] = map[string]any{"accessToken": "ghsa_forged"}
		r = a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "serviceaccounts", ci), tok, upd)
		updated := r.obj(t)
		noToken("update", r, updated)
		wantMeta(t, "updated service account", updated, meta{name: "ci-bot", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		wantSet(t, "groupIDs after update", strs(updated, "spec", "groupIDs"), []string{readers, empty})
		if exp := parseTime(get(updated, "status", "expiry")); !exp.Equal(t0.Add(tokenTTL)) {
			t.Errorf("expiry after update %v, want unchanged %v", get(updated, "status", "expiry"), t0.Add(tokenTTL))
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", ci), tok, nil).obj(t); !reflect.DeepEqual(got, updated) {
			t.Errorf("get after update = %v, want the update response %v", got, updated)
		}
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users"), token, nil)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users"), "ghsa_forged", nil), http.StatusUnauthorized, "access_denied")
		wantSet(t, "empty's serviceAccountIDs", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", empty), tok, nil).obj(t), "spec", "serviceAccountIDs"), []string{ci})

		// Rotate: a new token, the old one refused at once.
		a.Clock.Advance(time.Hour)
		rotated := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "serviceaccounts", ci, "rotate"), tok, nil).obj(t)
		newToken := str(rotated, "status", "accessToken")
		if !strings.HasPrefix(newToken, "ghsa_") || newToken == token {
			t.Fatalf("rotated token %q: want a new ghsa_ token", newToken)
		}
		wantMeta(t, "rotated service account", rotated, meta{name: "ci-bot", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(2 * time.Hour), modifiedBy: creator})
		wantSet(t, "groupIDs after rotate", strs(rotated, "spec", "groupIDs"), []string{readers, empty})
		expiry := t0.Add(2*time.Hour + tokenTTL)
		if exp := parseTime(get(rotated, "status", "expiry")); !exp.Equal(expiry) {
			t.Errorf("expiry after rotate %v, want %v", get(rotated, "status", "expiry"), expiry)
		}
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users"), token, nil), http.StatusUnauthorized, "access_denied")
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users"), newToken, nil)
		r = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "serviceaccounts", ci), tok, nil)
		if bytes.Contains(r.Body, []byte(newToken)) || has(r.obj(t), "status", "accessToken") {
			t.Errorf("get after rotate returns the token: %s", r.Body)
		}
		// A service account may rotate its own token.
		self := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "serviceaccounts", acme.sa, "rotate"), tok, nil).obj(t)
		wantError(t, a.call(t, "GET", orgPath(acme.org), tok, nil), http.StatusUnauthorized, "access_denied")
		tok = str(self, "status", "accessToken")
		a.must(t, http.StatusOK, "GET", orgPath(acme.org), tok, nil)

		// The same name in another organization is fine.
		a.must(t, http.StatusCreated, "POST", orgPath(other.org, "serviceaccounts"), other.token, saWrite("ci-bot", nil))

		refused := []refusal{
			{"duplicate name", "POST", base, saWrite("ci-bot", nil), http.StatusConflict, "conflict"},
			{"rename onto another account", "PUT", orgPath(acme.org, "serviceaccounts", ci), saWrite("acme-administrator", nil), http.StatusConflict, "conflict"},
			{"group of another organization", "POST", base, saWrite("new", []string{other.group}), http.StatusBadRequest, "invalid_request"},
			{"unknown group on update", "PUT", orgPath(acme.org, "serviceaccounts", ci), saWrite("ci-bot", []string{"no-such-group"}), http.StatusBadRequest, "invalid_request"},
			{"no metadata", "POST", base, map[string]any{"spec": map[string]any{}}, http.StatusBadRequest, "invalid_request"},
			{"no spec", "POST", base, map[string]any{"metadata": md("new")}, http.StatusBadRequest, "invalid_request"},
			{"rotate an unknown account", "POST", orgPath(acme.org, "serviceaccounts", "no-such-sa", "rotate"), nil, http.StatusNotFound, "not_found"},
			{"rotate another organization's account", "POST", orgPath(acme.org, "serviceaccounts", other.sa, "rotate"), nil, http.StatusNotFound, "not_found"},
		}
		a.refuseAll(t, tok, "refused service account writes", refused, acme.org, other.org)
		a.must(t, http.StatusOK, "GET", orgPath(other.org), other.token, nil)

		// Delete: the token dies with the account, memberships go.
		wantEmpty(t, a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "serviceaccounts", ci), tok, nil))
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users"), newToken, nil), http.StatusUnauthorized, "access_denied")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "serviceaccounts", ci), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "serviceaccounts", ci), tok, nil), http.StatusNotFound, "not_found")
		wantSet(t, "readers' serviceAccountIDs after delete", strs(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups", readers), tok, nil).obj(t), "spec", "serviceAccountIDs"), nil)

		// Expiry: the token works until status.expiry, not at or after it.
		late := a.must(t, http.StatusCreated, "POST", base, tok, saWrite("late", []string{readers})).obj(t)
		lateToken, lateExpiry := str(late, "status", "accessToken"), parseTime(get(late, "status", "expiry"))
		a.Clock.Set(lateExpiry.Add(-time.Second))
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "users"), lateToken, nil)
		a.Clock.Set(lateExpiry)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users"), lateToken, nil), http.StatusUnauthorized, "access_denied")
		a.Clock.Advance(time.Hour)
		wantError(t, a.call(t, "GET", "/api/v1/acl", lateToken, nil), http.StatusUnauthorized, "access_denied")
	})
}
