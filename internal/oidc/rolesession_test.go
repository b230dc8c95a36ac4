package oidc_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRoleSessionOfUserEndsWithSource (issue 12, finding 2, the user
// source): a role session a person assumed with their access token ends,
// on its next use, when they are suspended in or removed from the
// organization, or when that access token is revoked, directly or with its
// refresh token family. The person stays
// active in another organization, so their own token keeps working there:
// what ends the session is its lineage, not the token's death. On the old
// code the session kept working until its TTL.
func TestRoleSessionOfUserEndsWithSource(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme, other := env.NewTenant("acme", "administrator"), env.NewTenant("other", "reader")
		addUser(t, env, other, email, "active")
		orgs := "/api/v1/organizations/"
		role := env.Must(http.StatusCreated, "POST", orgs+acme.OrgID+"/roles", env.AdminToken, map[string]any{
			"metadata": map[string]any{"name": "deputy"},
			"spec": map[string]any{
				"policy": map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{}},
				"assumeRolePolicy": map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{"roles": map[string]any{
					"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "principal.type == 'user'"}}}}},
				"maxSessionTTL": 900,
			}}).Map(t)
		roleID := role["metadata"].(map[string]any)["id"].(string)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		setState := func(state string) {
			t.Helper()
			env.Must(http.StatusOK, "PUT", orgs+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken, map[string]any{
				"spec": map[string]any{"subject": email, "state": state, "groupIDs": []string{acme.GroupID}}})
		}

		cases := []struct {
			name string
			end  func(t *testing.T, accessToken, refreshToken string)
			// tokenLives: the person's own access token still works (in
			// the other organization) after end.
			tokenLives bool
		}{
			{"suspended in the organization", func(t *testing.T, _, _ string) { setState("suspended") }, true},
			{"removed from the organization", func(t *testing.T, _, _ string) {
				env.Must(http.StatusOK, "DELETE", orgs+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken, nil)
			}, true},
			{"access token revoked", func(t *testing.T, accessToken, _ string) {
				if resp, body := post(t, env, oidc.RevocationPath, "192.0.2.7", url.Values{"token": {accessToken}}, c.ID, sec); resp.StatusCode != http.StatusOK {
					t.Fatalf("revocation: %d %s", resp.StatusCode, body)
				}
			}, false},
			// Reusing a rotated-away refresh token ends the whole family:
			// the access token the session was assumed with is not revoked
			// by its jti, only through its family, and the session must
			// end with it all the same.
			{"refresh token reused", func(t *testing.T, _, refreshToken string) {
				if _, err := r.refresh(refreshToken); err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if _, err := r.refresh(refreshToken); err == nil {
					t.Fatal("a reused refresh token was accepted")
				}
			}, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				addUser(t, env, acme, email, "active")
				tok := r.signIn()
				var sess map[string]any
				if r := env.Do("POST", orgs+acme.OrgID+"/roles/"+roleID+"/assume", tok.AccessToken, map[string]any{"ttl": 600}); r.Status != http.StatusOK {
					t.Fatalf("assume: %d %s", r.Status, r.Body)
				} else {
					r.JSON(t, &sess)
				}
				session := sess["accessToken"].(string)
				want := func(status int, path, token, what string) {
					t.Helper()
					if r := env.Do("GET", path, token, nil); r.Status != status {
						t.Errorf("%s: GET %s → %d %s, want %d", what, path, r.Status, r.Body, status)
					}
				}
				want(http.StatusOK, orgs+acme.OrgID+"/groups", session, "the session")
				tc.end(t, tok.AccessToken, tok.RefreshToken)
				want(http.StatusUnauthorized, orgs+acme.OrgID+"/groups", session, "the session after its source ended")
				want(http.StatusUnauthorized, "/api/v1/acl", session, "the session after its source ended")
				if tc.tokenLives {
					want(http.StatusOK, orgs+other.OrgID, tok.AccessToken, "the person's own token elsewhere")
				}
				// Back to a clean slate for the next case: no record in acme.
				if r := env.Do("GET", orgs+acme.OrgID+"/users", env.AdminToken, nil); r.Status == http.StatusOK {
					for _, u := range listOf(t, r) {
						if u["spec"].(map[string]any)["subject"] == email {
							env.Must(http.StatusOK, "DELETE", orgs+acme.OrgID+"/users/"+u["metadata"].(map[string]any)["id"].(string), env.AdminToken, nil)
						}
					}
				}
			})
		}
	})
}

// listOf decodes a list response.
func listOf(t *testing.T, r *testenv.Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	r.JSON(t, &out)
	return out
}
