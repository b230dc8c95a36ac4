package oidc_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestSignupLink: GET /api/v1/signup?token=... activates a pending user
// once and redirects to the UI (or to Gatehouse's own page); an unknown,
// used, expired or orphaned link is a 400 page and changes nothing. The
// activated user can then log in.
func TestSignupLink(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{UIURL: "https://console.example/welcome?from=gatehouse"})
		acme := env.NewTenant("acme", "reader")
		addUser(t, env, acme, email, "pending")
		ctx := t.Context()
		noFollow := &http.Client{Transport: env.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		follow := func(token string) (*http.Response, string) {
			resp, err := noFollow.Get(env.URL + oidc.SignupPath + "?" + url.Values{"token": {token}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		state := func(subject string) string {
			var users []map[string]any
			env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/users", env.AdminToken, nil).JSON(t, &users)
			for _, u := range users {
				if spec := u["spec"].(map[string]any); spec["subject"] == subject {
					return spec["state"].(string)
				}
			}
			return "gone"
		}

		// Pending: no login yet.
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		r.openLogin()
		if resp := r.passwordLogin(email); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a pending user logged in: %d", resp.StatusCode)
		}

		token, exp, err := env.Tenancy.CreateSignup(ctx, acme.OrgID, email, 0)
		if err != nil || !strings.HasPrefix(token, "ghsu_") || !exp.After(env.Clock.Now()) {
			t.Fatalf("signup link: %q %v %v", token, exp, err)
		}
		resp, _ := follow(token)
		want := "https://console.example/welcome?from=gatehouse&organizationID=" + acme.OrgID
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("signup: %d %q, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		if got := state(email); got != "active" {
			t.Fatalf("state after signup %q", got)
		}
		// The activation is in the organization's audit log, as the user's.
		evs, err := env.Store.Read().ListAuditEvents(ctx, store.AuditFilter{OrganizationID: acme.OrgID, ActorID: email}, store.Page{Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].OperationID != "completeSignup" || evs[0].ResourceType != "users" ||
			!strings.Contains(evs[0].Before, `"pending"`) || !strings.Contains(evs[0].After, `"active"`) {
			t.Fatalf("audit events of the signup: %+v, %v", evs, err)
		}
		r.openLogin()
		if resp := r.passwordLogin(email); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the activated user cannot log in: %d", resp.StatusCode)
		}

		// Refusals: a 400 page, nothing changes.
		for _, sub := range []string{"sam@acme.example", "kim@acme.example"} {
			addUser(t, env, acme, sub, "pending")
		}
		expired, _, err := env.Tenancy.CreateSignup(ctx, acme.OrgID, "sam@acme.example", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		replaced, _, _ := env.Tenancy.CreateSignup(ctx, acme.OrgID, "kim@acme.example", 0)
		if _, _, err := env.Tenancy.CreateSignup(ctx, acme.OrgID, "kim@acme.example", 0); err != nil {
			t.Fatal(err)
		}
		stillPending := "sam@acme.example"
		env.Clock.Advance(2 * time.Hour)
		tests := []struct{ name, token string }{
			{"used", token},
			{"expired", expired},
			{"replaced by a newer link", replaced},
			{"unknown", "ghsu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"empty", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := follow(tt.token)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
					!strings.Contains(body, "Sign-up link not valid") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			})
		}
		if got := state(stillPending); got != "pending" {
			t.Fatalf("a refused link changed the user to %q", got)
		}
		// An active user gets no link; a deleted user's link dies with it.
		if _, _, err := env.Tenancy.CreateSignup(ctx, acme.OrgID, email, 0); err == nil {
			t.Fatal("a signup link for an active user")
		}
		kim, _, _ := env.Tenancy.CreateSignup(ctx, acme.OrgID, "kim@acme.example", 0)
		env.Must(http.StatusOK, "DELETE", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, "kim@acme.example"), env.AdminToken, nil)
		if resp, _ := follow(kim); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a deleted user's link: %d", resp.StatusCode)
		}
	})
}

// TestSignupWithoutUI: without a UI, the link lands on Gatehouse's page.
func TestSignupWithoutUI(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	acme := env.NewTenant("acme", "reader")
	addUser(t, env, acme, email, "pending")
	token, _, err := env.Tenancy.CreateSignup(t.Context(), acme.OrgID, email, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := env.Client.Get(env.URL + oidc.SignupPath + "?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != oidc.SignupDonePath || !strings.Contains(string(b), "Account activated") {
		t.Fatalf("%d at %s: %s", resp.StatusCode, resp.Request.URL, b)
	}
}
