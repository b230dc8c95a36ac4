package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// lineageOrg is an organization for credential lineage tests: its
// administrator (a service account), ops (a service account with the
// reader role) and "deputy", a custom role that allows everything and
// that anyone may assume.
type lineageOrg struct {
	a            *apiEnv
	admin, ops   *member
	role         string
	assume, keys string
}

func (a *apiEnv) lineageOrg(t testing.TB, name string) *lineageOrg {
	t.Helper()
	admin := a.tenant(t, name, "administrator")
	l := &lineageOrg{a: a, admin: admin, ops: a.addMember(t, admin.org, "ops", "reader")}
	l.role = id(a.must(t, http.StatusCreated, "POST", orgPath(admin.org, "roles"), admin.token,
		roleWrite("deputy", allowAll(), rules("deny", "roles", "allow", "true"))).obj(t))
	l.assume, l.keys = orgPath(admin.org, "roles", l.role, "assume"), orgPath(admin.org, "apikeys")
	return l
}

// session assumes the deputy role with token for ttl seconds.
func (l *lineageOrg) session(t testing.TB, token string, ttl int) (string, time.Time) {
	t.Helper()
	s := l.a.must(t, http.StatusOK, "POST", l.assume, token, map[string]any{"ttl": ttl}).obj(t)
	exp, err := time.Parse(time.RFC3339, str(s, "expiration"))
	if err != nil {
		t.Fatalf("session expiration: %v", err)
	}
	return str(s, "accessToken"), exp
}

// key creates an API key bound to roleID with token and returns its ID,
// token and expiry ("" for none).
func (l *lineageOrg) key(t testing.TB, token, name, roleID string) (keyID, keyToken, expiry string) {
	t.Helper()
	k := l.a.must(t, http.StatusCreated, "POST", l.keys, token, apiKeyWrite(name, roleID)).obj(t)
	e, _ := get(k, "spec", "expiry").(string)
	return id(k), str(k, "status", "accessToken"), e
}

// works checks that token still reads the organization's groups.
func (l *lineageOrg) works(t testing.TB, token, what string) {
	t.Helper()
	if r := l.a.call(t, "GET", orgPath(l.admin.org, "groups"), token, nil); r.Status != http.StatusOK {
		t.Fatalf("%s before its source ended: %s", what, r)
	}
}

// TestCredentialLineage (issue 12, findings 2 and 3): a derived credential
// (a role session, an API key minted by a session, a key or a service
// account) ends, on its next use, when anything it derives from ends: its
// source service account is deleted or its token rotated, its source key
// is deleted, or the role's assume-role policy changes to deny. On the old
// code every derived credential kept working (200).
func TestCredentialLineage(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		denyAll := rules("deny", "roles", "deny", "true")
		cases := []struct {
			name string
			// derive makes the credential under test; end ends its source.
			derive func(t *testing.T, l *lineageOrg) string
			end    func(t *testing.T, l *lineageOrg)
		}{{
			name:   "session; source service account deleted",
			derive: func(t *testing.T, l *lineageOrg) string { s, _ := l.session(t, l.ops.token, 900); return s },
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "serviceaccounts", l.ops.sa), l.admin.token, nil)
			},
		}, {
			name:   "session; source service account token rotated",
			derive: func(t *testing.T, l *lineageOrg) string { s, _ := l.session(t, l.ops.token, 900); return s },
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "POST", orgPath(l.admin.org, "serviceaccounts", l.ops.sa, "rotate"), l.admin.token, nil)
			},
		}, {
			name: "session; source API key deleted",
			derive: func(t *testing.T, l *lineageOrg) string {
				_, k, _ := l.key(t, l.admin.token, "assumer", a.role(t, "reader"))
				s, _ := l.session(t, k, 900)
				return s
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "apikeys", keyIDByName(t, a, l, "assumer")), l.admin.token, nil)
			},
		}, {
			name:   "session; assume-role policy changed to deny",
			derive: func(t *testing.T, l *lineageOrg) string { s, _ := l.session(t, l.ops.token, 900); return s },
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "PUT", orgPath(l.admin.org, "roles", l.role, "assumerolepolicy"), l.admin.token, denyAll)
			},
		}, {
			name: "key minted by a session; the session's source service account deleted",
			derive: func(t *testing.T, l *lineageOrg) string {
				s, _ := l.session(t, l.ops.token, 900)
				_, k, _ := l.key(t, s, "minted", l.role)
				return k
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "serviceaccounts", l.ops.sa), l.admin.token, nil)
			},
		}, {
			name: "key minted by a session; assume-role policy changed to deny",
			derive: func(t *testing.T, l *lineageOrg) string {
				s, _ := l.session(t, l.ops.token, 900)
				_, k, _ := l.key(t, s, "minted", l.role)
				return k
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "PUT", orgPath(l.admin.org, "roles", l.role, "assumerolepolicy"), l.admin.token, denyAll)
			},
		}, {
			name: "key minted by a key; parent key deleted",
			derive: func(t *testing.T, l *lineageOrg) string {
				_, parent, _ := l.key(t, l.admin.token, "parent", a.role(t, "administrator"))
				_, child, _ := l.key(t, parent, "child", a.role(t, "administrator"))
				return child
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "apikeys", keyIDByName(t, a, l, "parent")), l.admin.token, nil)
			},
		}, {
			name: "key minted by a key minted by a session; the session's source key deleted",
			derive: func(t *testing.T, l *lineageOrg) string {
				_, k, _ := l.key(t, l.admin.token, "assumer", a.role(t, "reader"))
				s, _ := l.session(t, k, 900)
				_, child, _ := l.key(t, s, "child", l.role)
				_, grandchild, _ := l.key(t, child, "grandchild", l.role)
				return grandchild
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "apikeys", keyIDByName(t, a, l, "assumer")), l.admin.token, nil)
			},
		}, {
			name: "key minted by a service account; its token rotated",
			derive: func(t *testing.T, l *lineageOrg) string {
				_, k, _ := l.key(t, l.admin.token, "ci", a.role(t, "reader"))
				return k
			},
			end: func(t *testing.T, l *lineageOrg) {
				a.admin(t, http.StatusOK, "POST", orgPath(l.admin.org, "serviceaccounts", l.admin.sa, "rotate"), nil)
			},
		}}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := a.lineageOrg(t, fmt.Sprintf("lineage-%d", i))
				derived := c.derive(t, l)
				l.works(t, derived, "the derived credential")
				c.end(t, l)
				for _, p := range []string{orgPath(l.admin.org, "groups"), "/api/v1/acl"} {
					wantError(t, a.call(t, "GET", p, derived, nil), http.StatusUnauthorized, "access_denied")
				}
			})
		}

		// What the assume-role decision does not read leaves sessions
		// alone: a new description, the role's own policy.
		t.Run("role changes that do not touch trust", func(t *testing.T) {
			l := a.lineageOrg(t, "lineage-unrelated")
			s, _ := l.session(t, l.ops.token, 900)
			body := roleWrite("deputy", allowAll(), rules("deny", "roles", "allow", "true"))
			body["metadata"].(map[string]any)["description"] = "edited"
			a.must(t, http.StatusOK, "PUT", orgPath(l.admin.org, "roles", l.role), l.admin.token, body)
			a.must(t, http.StatusOK, "PUT", orgPath(l.admin.org, "roles", l.role, "policy"), l.admin.token,
				rules("allow", "projects", "deny", "true"))
			l.works(t, s, "the session after unrelated role edits")
		})
	})
}

// keyIDByName finds the ID of the API key named name in l's organization.
func keyIDByName(t *testing.T, a *apiEnv, l *lineageOrg, name string) string {
	t.Helper()
	for _, k := range a.must(t, http.StatusOK, "GET", l.keys, l.admin.token, nil).arr(t) {
		if str(k, "metadata", "name") == name {
			return id(k)
		}
	}
	t.Fatalf("no API key %q", name)
	return ""
}

// TestDerivedKeyLimits (issue 12, finding 3): an API key minted by a
// machine credential never outlives it (a later expiry is 400, none
// defaults to the parent's end, and it stops at that end), and the keys a
// role's sessions minted go with the role instead of blocking its
// deletion; a key an administrator bound still blocks it (409). A session
// may not outlive the key that assumed it either (400). On the old
// code a 60-second session minted a key that never expired and kept the
// role from being deleted.
func TestDerivedKeyLimits(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		l := a.lineageOrg(t, "limits")
		s, sessionEnd := l.session(t, l.ops.token, 60)

		// Not longer than the session: refused, and nothing is created.
		later := sessionEnd.Add(time.Second).UTC().Format(time.RFC3339)
		r := a.call(t, "POST", l.keys, s, map[string]any{"metadata": md("forever"), "spec": map[string]any{"roleID": l.role, "expiry": later}})
		wantError(t, r, http.StatusBadRequest, "invalid_request")
		if n := len(a.must(t, http.StatusOK, "GET", l.keys, l.admin.token, nil).arr(t)); n != 0 {
			t.Errorf("%d API keys after a refused creation", n)
		}
		// No expiry: the session's end.
		mintedID, minted, expiry := l.key(t, s, "minted", l.role)
		if expiry != sessionEnd.UTC().Format(time.RFC3339) {
			t.Errorf("expiry of a key minted by a session ending at %s: %q", sessionEnd.UTC().Format(time.RFC3339), expiry)
		}
		// A key minted by that key: no longer than its parent either.
		_, grandchild, gExpiry := l.key(t, minted, "grandchild", l.role)
		if gExpiry != expiry {
			t.Errorf("expiry of a key minted by a key ending at %s: %q", expiry, gExpiry)
		}
		wantError(t, a.call(t, "POST", l.keys, minted, map[string]any{"metadata": md("longer"), "spec": map[string]any{"roleID": l.role, "expiry": later}}),
			http.StatusBadRequest, "invalid_request")
		// May not do more: its parent's role only (the existing check).
		wantError(t, a.call(t, "POST", l.keys, s, apiKeyWrite("wider", a.role(t, "administrator"))), http.StatusForbidden, "forbidden")
		l.works(t, minted, "the minted key")
		l.works(t, grandchild, "the key minted by the minted key")

		// A key an administrator bound to the role still blocks deleting it.
		boundID, _, _ := l.key(t, l.admin.token, "bound", l.role)
		wantError(t, a.call(t, "DELETE", orgPath(l.admin.org, "roles", l.role), l.admin.token, nil), http.StatusConflict, "conflict")
		a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "apikeys", boundID), l.admin.token, nil)
		// The session's offspring do not: they go with the role.
		a.must(t, http.StatusOK, "DELETE", orgPath(l.admin.org, "roles", l.role), l.admin.token, nil)
		wantError(t, a.call(t, "GET", orgPath(l.admin.org, "apikeys", mintedID), l.admin.token, nil), http.StatusNotFound, "not_found")
		var left []string
		for _, k := range a.must(t, http.StatusOK, "GET", l.keys, l.admin.token, nil).arr(t) {
			left = append(left, str(k, "metadata", "name"))
		}
		if slices.Contains(left, "minted") || slices.Contains(left, "grandchild") {
			t.Errorf("keys minted by the role's sessions survive its deletion: %v", left)
		}
		for _, tok := range []string{minted, grandchild} {
			wantError(t, a.call(t, "GET", orgPath(l.admin.org, "groups"), tok, nil), http.StatusUnauthorized, "access_denied")
		}

		// A key minted by a session stops at the session's end (by the
		// API's clock, which the key's expiry is checked with).
		l2 := a.lineageOrg(t, "limits-expiry")
		s2, end2 := l2.session(t, l2.ops.token, 60)
		_, k2, _ := l2.key(t, s2, "minted", l2.role)
		l2.works(t, k2, "the minted key")

		// A session may not outlive the credential that assumed it: a key
		// with ten minutes left gets sessions of at most ten minutes.
		soon := a.Clock.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
		short := str(a.must(t, http.StatusCreated, "POST", l2.keys, l2.admin.token, map[string]any{"metadata": md("short"),
			"spec": map[string]any{"roleID": a.role(t, "reader"), "expiry": soon}}).obj(t), "status", "accessToken")
		wantError(t, a.call(t, "POST", l2.assume, short, map[string]any{"ttl": 900}), http.StatusBadRequest, "invalid_request")
		l2.session(t, short, 540)

		a.Clock.Advance(end2.Sub(a.Clock.Now()) + time.Second)
		wantError(t, a.call(t, "GET", orgPath(l2.admin.org, "groups"), k2, nil), http.StatusUnauthorized, "access_denied")
	})
}

// TestDerivedCredentialsMintNoServiceAccounts (attacker review of main,
// finding 5): a credential with a lineage (a role session, an API key a
// session, a key or a service account minted) may not create a service
// account or rotate one's token, with groups or without: the token would
// live a year and could not end with the credential it came from. The
// review's attack: a 60-second session of a role that may create groups
// created a service account in the administrators' group and rotated the
// administrators' account; both tokens kept administering the organization
// after the session's source and role were deleted. Each is a 403 naming
// why, and changes nothing; the service account itself still may.
func TestDerivedCredentialsMintNoServiceAccounts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		l := a.lineageOrg(t, "mint")
		org := l.admin.org
		bare := id(a.must(t, http.StatusCreated, "POST", orgPath(org, "serviceaccounts"), l.admin.token, saWrite("bare", nil)).obj(t))
		session, _ := l.session(t, l.ops.token, 60)
		_, sessionKey, _ := l.key(t, session, "session-key", l.role)
		_, adminKey, _ := l.key(t, l.admin.token, "admin-key", a.role(t, "administrator"))
		callers := []struct{ name, token string }{
			{"role session", session},
			{"API key minted by a role session", sessionKey},
			{"API key minted by a service account", adminKey},
		}
		writes := []struct {
			name, method, path string
			body               any
		}{
			{"create a service account in the administrators' group", "POST", orgPath(org, "serviceaccounts"), saWrite("backdoor", []string{l.admin.group})},
			{"create a service account without groups", "POST", orgPath(org, "serviceaccounts"), saWrite("plain", nil)},
			{"rotate the administrators' service account", "POST", orgPath(org, "serviceaccounts", l.admin.sa, "rotate"), nil},
			{"rotate a service account without groups", "POST", orgPath(org, "serviceaccounts", bare, "rotate"), nil},
		}
		before := a.snapshot(t, org)
		for _, c := range callers {
			for _, w := range writes {
				r := a.call(t, w.method, w.path, c.token, w.body)
				wantError(t, r, http.StatusForbidden, "forbidden")
				if d := str(r.obj(t), "error_description"); !strings.Contains(d, "could not end with") {
					t.Errorf("%s: %s: %q does not say why", c.name, w.name, d)
				}
			}
		}
		a.unchanged(t, before, "service account writes by derived credentials", org)
		// The administrators' token was not replaced.
		l.works(t, l.admin.token, "the administrators' service account")

		// A service account caller is as before.
		a.must(t, http.StatusCreated, "POST", orgPath(org, "serviceaccounts"), l.admin.token, saWrite("plain", nil))
		a.must(t, http.StatusOK, "POST", orgPath(org, "serviceaccounts", bare, "rotate"), l.admin.token, nil)
	})
}
