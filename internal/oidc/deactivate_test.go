package oidc_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestDeactivationEndsSessions: suspending a person's last active user
// record (through /api/v1) ends their sessions at once: the refresh token
// and the latest access token stop working, the browser session is gone
// (prompt=none answers login_required) and every relying party with a
// back-channel URI gets a logout token. While another organization still
// has them active, nothing ends; deleting the last record ends them too.
func TestDeactivationEndsSessions(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{})
		acme, other := env.NewTenant("acme", "reader"), env.NewTenant("other", "reader")
		addUser(t, env, acme, email, "active")
		addUser(t, env, other, email, "active")
		user := func(ten *testenv.Tenant) string {
			return "/api/v1/organizations/" + ten.OrgID + "/users/" + userID(t, env, ten, email)
		}
		setState := func(ten *testenv.Tenant, state string) {
			t.Helper()
			env.Must(http.StatusOK, "PUT", user(ten), env.AdminToken, map[string]any{
				"spec": map[string]any{"subject": email, "state": state, "groupIDs": []string{ten.GroupID}}})
		}

		bc := newBackchannelRP(t, false, 0)
		c, sec := newClient(t, env, func(s *client.Spec) { s.BackchannelLogoutURI = bc.uri() })
		r := newRP(t, env, c, sec)
		bc.rp = r
		tok := r.signIn()
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		// Suspended in one organization, active in the other: nothing ends.
		setState(acme, "suspended")
		env.Provider.WaitLogoutNotifications()
		if tokens, _, _ := bc.got(); len(tokens) != 0 {
			t.Fatalf("logout tokens while still active elsewhere: %v", tokens)
		}
		tok, err := r.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh while still active elsewhere: %v", err)
		}

		// The last active record suspended: everything ends at once.
		setState(other, "suspended")
		env.Provider.WaitLogoutNotifications()
		tokens, problems, _ := bc.got()
		for _, p := range problems {
			t.Error(p)
		}
		if len(tokens) != 1 || tokens[0]["sub"] != email {
			t.Fatalf("logout tokens after the suspension: %v", tokens)
		}
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("the refresh token still works after the suspension")
		}
		if _, err := r.userinfo(tok.AccessToken); err == nil {
			t.Error("the access token still works after the suspension")
		}
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("error") != "login_required" {
			t.Errorf("prompt=none after the suspension: %v", result)
		}

		// Active again, signed in again; deleting the last active record
		// (the other organization's is still suspended) ends it all too.
		setState(acme, "active")
		tok = r.signIn()
		env.Must(http.StatusOK, "DELETE", user(acme), env.AdminToken, nil)
		env.Provider.WaitLogoutNotifications()
		if tokens, _, _ := bc.got(); len(tokens) != 2 {
			t.Errorf("logout tokens after the deletion: %d, want 2 in all", len(tokens))
		}
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("the refresh token still works after the deletion")
		}
	})
}
