package oidc_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestSCIMLeaver: leavers are removed the moment HR removes them (issue
// 18). A person provisioned by the organization's directory through SCIM,
// given rights through a group the directory pushed, signs in; the moment
// the directory deactivates them (Okta's PATCH active false), their access
// token fails at userinfo and /api/v1 and their refresh token is dead.
// Reactivated, they sign in again; the moment the directory deletes them,
// the same.
func TestSCIMLeaver(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{})
		acme := env.NewTenant("acme", "reader")
		env.OwnDomain(acme.OrgID, "acme.example")
		role, _ := authz.RoleByName(authz.RoleSCIMProvisioner)
		key := env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+acme.OrgID+"/apikeys", env.AdminToken, map[string]any{
			"metadata": map[string]any{"name": "directory"}, "spec": map[string]any{"roleID": role.ID}}).Map(t)["status"].(map[string]any)["accessToken"].(string)
		scim := "/scim/v2/organizations/" + acme.OrgID

		// Provisioned: the person, and the directory's group, to which an
		// administrator gives the reader role.
		uid := env.Must(http.StatusCreated, "POST", scim+"/Users", key, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": email}).Map(t)["id"].(string)
		gid := env.Must(http.StatusCreated, "POST", scim+"/Groups", key, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Staff",
			"members": []map[string]any{{"value": uid}}}).Map(t)["id"].(string)
		reader, _ := authz.RoleByName(authz.RoleReader)
		env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/groups/"+gid, env.AdminToken, map[string]any{
			"metadata": map[string]any{"name": "Staff"},
			"spec":     map[string]any{"roleIDs": []string{reader.ID}, "userIDs": []string{uid}, "serviceAccountIDs": []string{}}})

		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		orgURL := "/api/v1/organizations/" + acme.OrgID
		works := func(access string) {
			t.Helper()
			env.Must(http.StatusOK, "GET", orgURL, access, nil)
			if _, err := r.userinfo(access); err != nil {
				t.Fatalf("userinfo before the directory removed them: %v", err)
			}
		}
		ended := func(what, access, refresh string) {
			t.Helper()
			env.Provider.WaitLogoutNotifications()
			if got := env.Do("GET", orgURL, access, nil); got.Status != http.StatusUnauthorized {
				t.Errorf("%s: /api/v1 answers %d, want 401", what, got.Status)
			}
			if _, err := r.userinfo(access); err == nil {
				t.Errorf("%s: userinfo still answers the access token", what)
			}
			if _, err := r.refresh(refresh); err == nil {
				t.Errorf("%s: the refresh token still works", what)
			}
		}

		tok := r.signIn()
		works(tok.AccessToken)
		env.Must(http.StatusOK, "PATCH", scim+"/Users/"+uid, key, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}}})
		ended("deactivated", tok.AccessToken, tok.RefreshToken)

		// Back (the directory may: the rights come from its own group),
		// then deleted.
		env.Must(http.StatusOK, "PATCH", scim+"/Users/"+uid, key, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "path": "active", "value": true}}})
		tok = r.signIn()
		works(tok.AccessToken)
		env.Must(http.StatusNoContent, "DELETE", scim+"/Users/"+uid, key, nil)
		ended("deleted", tok.AccessToken, tok.RefreshToken)
	})
}
