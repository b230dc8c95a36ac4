package server_test

import (
	"net/http"
	"reflect"
	"testing"
)

// acl builds the JSON of an endpoints list: name, operations, name, ...
func aclEndpoints(pairs ...any) []any {
	out := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		ops := []any{}
		for _, o := range pairs[i+1].([]string) {
			ops = append(ops, o)
		}
		out = append(out, map[string]any{"name": pairs[i], "operations": ops})
	}
	return out
}

var (
	crud   = []string{"create", "read", "update", "delete"}
	readOp = []string{"read"}
)

// TestACL: the global ACL of the platform administrator, and organization
// ACLs of an administrator, a reader, a user-role member with project
// entries, and a member without roles.
func TestACL(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		user := a.addMember(t, acme.org, "users", "user")
		nobody := a.addMember(t, acme.org, "nobody", "user")
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", nobody.group), acme.token, groupWrite("nobody", nil, nil, []string{nobody.sa}))
		other := a.tenant(t, "other", "administrator")
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p1", []string{user.group, acme.group})).obj(t))
		a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p2", nil))
		p3 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p3", []string{user.group})).obj(t))

		platform := aclEndpoints("identity:accountassignments", crud, "identity:allocations", crud, "identity:apikeys", crud, "identity:auditevents", readOp,
			"identity:cloudconnections", crud, "identity:cloudidentities", crud, "identity:credentials", crud,
			"identity:groups", crud, "identity:oauth2clients", crud, "identity:oauth2providers", crud,
			"identity:organizations", crud, "identity:permissionsets", crud, "identity:policies", []string{"read", "update"}, "identity:projects", crud,
			"identity:quotas", crud, "identity:roles", crud, "identity:serviceaccounts", crud, "identity:sessions", []string{"read", "delete"},
			"identity:signingkeys", []string{"read", "update"}, "identity:users", crud)
		if got := a.admin(t, http.StatusOK, "GET", "/api/v1/acl", nil).obj(t); !reflect.DeepEqual(got, map[string]any{"global": platform}) {
			t.Errorf("platform administrator's global ACL = %v, want %v", got, platform)
		}
		if got := a.admin(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), nil).obj(t); !reflect.DeepEqual(got, map[string]any{"global": platform,
			"organization": map[string]any{"id": acme.org, "endpoints": platform}}) {
			t.Errorf("platform administrator's ACL of acme = %v", got)
		}

		admin := aclEndpoints("identity:accountassignments", crud, "identity:allocations", crud, "identity:apikeys", crud, "identity:auditevents", readOp,
			"identity:cloudconnections", crud, "identity:cloudidentities", crud, "identity:cloudidentitytokens", []string{"create"},
			"identity:credentials", crud, "identity:groups", crud, "identity:oauth2clients", crud, "identity:oauth2providers", crud,
			"identity:organizations", []string{"read", "update"}, "identity:permissionsets", crud, "identity:policies", []string{"read", "update"}, "identity:projects", crud,
			"identity:quotas", readOp, "identity:roles", crud, "identity:scim", crud, "identity:serviceaccounts", crud, "identity:sessions", []string{"read", "delete"},
			"identity:users", crud)
		wantACL := map[string]any{"organization": map[string]any{"id": acme.org, "endpoints": admin},
			"projects": []any{map[string]any{"id": p1, "endpoints": admin}}}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), acme.token, nil).obj(t); !reflect.DeepEqual(got, wantACL) {
			t.Errorf("administrator's ACL = %v, want %v", got, wantACL)
		}

		readerEPs := aclEndpoints("identity:accountassignments", readOp, "identity:allocations", readOp, "identity:apikeys", readOp, "identity:cloudidentities", readOp,
			"identity:groups", readOp, "identity:oauth2clients", readOp, "identity:oauth2providers", readOp, "identity:organizations", readOp, "identity:permissionsets", readOp, "identity:policies", readOp,
			"identity:projects", readOp, "identity:quotas", readOp, "identity:roles", readOp, "identity:serviceaccounts", readOp, "identity:users", readOp)
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), reader.token, nil).obj(t); !reflect.DeepEqual(got,
			map[string]any{"organization": map[string]any{"id": acme.org, "endpoints": readerEPs}}) {
			t.Errorf("reader's ACL = %v", got)
		}

		userOrg := aclEndpoints("identity:accountassignments", readOp, "identity:organizations", readOp, "identity:permissionsets", readOp,
			"identity:quotas", readOp, "identity:roles", readOp)
		userProject := aclEndpoints("identity:accountassignments", readOp, "identity:allocations", crud, "identity:cloudidentities", readOp,
			"identity:cloudidentitytokens", []string{"create"}, "identity:organizations", readOp,
			"identity:permissionsets", readOp, "identity:projects", []string{"read", "update"}, "identity:quotas", readOp, "identity:roles", readOp)
		wantACL = map[string]any{"organization": map[string]any{"id": acme.org, "endpoints": userOrg},
			"projects": []any{map[string]any{"id": p1, "endpoints": userProject}, map[string]any{"id": p3, "endpoints": userProject}}}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), user.token, nil).obj(t); !reflect.DeepEqual(got, wantACL) {
			t.Errorf("user's ACL = %v, want %v", got, wantACL)
		}

		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), nobody.token, nil).obj(t); !reflect.DeepEqual(got,
			map[string]any{"organization": map[string]any{"id": acme.org, "endpoints": []any{}}}) {
			t.Errorf("ACL of a member without roles = %v, want an organization with no endpoints", got)
		}

		// Organization members hold nothing platform-wide.
		for _, tok := range []string{acme.token, reader.token, user.token, nobody.token} {
			got := a.must(t, http.StatusOK, "GET", "/api/v1/acl", tok, nil).obj(t)
			if g, ok := got["global"].([]any); ok && len(g) > 0 {
				t.Errorf("a tenant's global ACL grants %v", g)
			}
		}

		// Another organization's ACL is not for the asking (403, see
		// undeclared); an unknown organization is a 404.
		wantError(t, a.call(t, "GET", orgPath(other.org, "acl"), acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", orgPath("no-such-org", "acl"), a.AdminToken, nil), http.StatusNotFound, "not_found")
	})
}
