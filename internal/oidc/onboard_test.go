package oidc_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const newcomer = "founder@startup.example"

// orgNames lists the names of every organization (as the administrator).
func orgNames(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	var orgs []map[string]any
	env.Must(http.StatusOK, "GET", "/api/v1/organizations", env.AdminToken, nil).JSON(t, &orgs)
	var names []string
	for _, o := range orgs {
		names = append(names, o["metadata"].(map[string]any)["name"].(string))
	}
	return names
}

// TestOnboarding: a local user who belongs to no organization gets the
// onboarding form after the login. Mistakes show it again and create
// nothing; a valid form creates the organization, the group with the
// chosen roles and the user in it, at once, and the login goes on to the
// client. The new user's token works in that organization only.
func TestOnboarding(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{Onboarding: oidc.OnboardingLocal})
		other := env.NewTenant("acme", "administrator")
		if err := env.Password.SetPassword(t.Context(), newcomer, password); err != nil {
			t.Fatal(err)
		}
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		f, _ := r.openLogin()
		resp := r.passwordLogin(newcomer)
		if !strings.Contains(resp.Header.Get("Location"), oidc.OnboardPath) {
			t.Fatalf("no onboarding: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		page, body := r.get(resp.Header.Get("Location"))
		if page.StatusCode != http.StatusOK || !strings.Contains(body, `id="role-administrator" name="roles" value="administrator" checked`) ||
			strings.Contains(body, authz.RolePlatformAdministrator) {
			t.Fatalf("onboarding page: %d %s", page.StatusCode, body)
		}
		if m := formAction.FindStringSubmatch(page.Header.Get("Content-Security-Policy")); m == nil || m[1] != "'self' http://127.0.0.1:9999" {
			t.Errorf("onboarding page CSP %q", page.Header.Get("Content-Security-Policy"))
		}
		hidden := form(t, body)
		submit := func(fields map[string][]string) (*http.Response, string) {
			v := url.Values{"state": {hidden.Get("state")}, "csrf_token": {hidden.Get("csrf_token")}}
			for k, vs := range fields {
				v[k] = vs
			}
			return r.post(oidc.OnboardPath, v)
		}
		before := orgNames(t, env)
		refusals := []struct {
			name       string
			fields     map[string][]string
			wantStatus int
			wantText   string
			// refusedUpFront: not text at all, refused before the form's
			// handler runs (internal/server's oidcInput) with a static
			// page rather than the form and an alert; browsers never send
			// such a field, only a forged request does.
			refusedUpFront bool
		}{
			{"organization name not a label", map[string][]string{"organization_name": {"-startup"}, "group_name": {"admins"}}, http.StatusBadRequest, "organization name is not valid", false},
			{"group name missing", map[string][]string{"organization_name": {"startup"}}, http.StatusBadRequest, "group name is not valid", false},
			{"description too long", map[string][]string{"organization_name": {"startup"}, "group_name": {"admins"},
				"organization_description": {strings.Repeat("x", 1025)}}, http.StatusBadRequest, "at most 1024", false},
			// PostgreSQL refused these with a 500; SQLite stored them.
			{"description with NUL", map[string][]string{"organization_name": {"startup"}, "group_name": {"admins"},
				"organization_description": {"a\x00b"}}, http.StatusBadRequest, "contains a NUL character", true},
			{"description not UTF-8", map[string][]string{"organization_name": {"startup"}, "group_name": {"admins"},
				"group_description": {"a\xffb"}}, http.StatusBadRequest, "is not valid UTF-8", true},
			{"platform role", map[string][]string{"organization_name": {"startup"}, "group_name": {"admins"},
				"roles": {authz.RolePlatformAdministrator}}, http.StatusBadRequest, "Choose roles", false},
			{"unknown role", map[string][]string{"organization_name": {"startup"}, "group_name": {"admins"}, "roles": {"owner"}}, http.StatusBadRequest, "Choose roles", false},
			{"organization name taken", map[string][]string{"organization_name": {"acme"}, "group_name": {"admins"}}, http.StatusConflict, "already exists", false},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := submit(tt.fields)
				if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantText) || (!tt.refusedUpFront && !strings.Contains(body, `role="alert"`)) {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				if names := orgNames(t, env); !slices.Equal(names, before) {
					t.Fatalf("organizations %v after a refused form, want %v", names, before)
				}
			})
		}
		resp, _ = submit(map[string][]string{"organization_name": {"startup"}, "organization_description": {"Our company"},
			"group_name": {"founders"}, "roles": {authz.RoleUser, authz.RoleReader}})
		loc := r.toRP(resp)
		if loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != f.state {
			t.Fatalf("no code after onboarding: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The same form again creates nothing more.
		if resp, _ := submit(map[string][]string{"organization_name": {"startup2"}, "group_name": {"x"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("the onboarding form posted twice: %d", resp.StatusCode)
		}
		tok, err := r.conf.Exchange(r.ctx, loc.Query().Get("code"), oauth2.VerifierOption(f.verifier))
		if err != nil {
			t.Fatal(err)
		}

		// The organization, its group and the user, seen with the new user's token.
		var orgs []map[string]any
		env.Must(http.StatusOK, "GET", "/api/v1/organizations", tok.AccessToken, nil).JSON(t, &orgs)
		if len(orgs) != 1 || orgs[0]["metadata"].(map[string]any)["name"] != "startup" ||
			orgs[0]["metadata"].(map[string]any)["description"] != "Our company" {
			t.Fatalf("the new user's organizations: %v", orgs)
		}
		orgID := orgs[0]["metadata"].(map[string]any)["id"].(string)
		if ids := claimsOf(t, tok.AccessToken)["org_ids"]; fmt.Sprint(ids) != fmt.Sprint([]any{orgID}) {
			t.Errorf("org_ids %v, want [%s]", ids, orgID)
		}
		var groups, users []map[string]any
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+orgID+"/groups", tok.AccessToken, nil).JSON(t, &groups)
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+orgID+"/users", tok.AccessToken, nil).JSON(t, &users)
		userRole, _ := authz.RoleByName(authz.RoleUser)
		readerRole, _ := authz.RoleByName(authz.RoleReader)
		if len(groups) != 1 || groups[0]["metadata"].(map[string]any)["name"] != "founders" {
			t.Fatalf("groups %v", groups)
		}
		roles := []string{}
		for _, id := range groups[0]["spec"].(map[string]any)["roleIDs"].([]any) {
			roles = append(roles, id.(string))
		}
		slices.Sort(roles)
		want := []string{userRole.ID, readerRole.ID}
		slices.Sort(want)
		if !slices.Equal(roles, want) {
			t.Fatalf("group roles %v, want user and reader %v", roles, want)
		}
		spec := users[0]["spec"].(map[string]any)
		if len(users) != 1 || spec["subject"] != newcomer || spec["state"] != "active" ||
			fmt.Sprint(spec["groupIDs"]) != fmt.Sprint([]any{groups[0]["metadata"].(map[string]any)["id"]}) {
			t.Fatalf("users %v", users)
		}
		// Reader and user cannot create groups; and another organization is out of reach.
		env.Must(http.StatusForbidden, "POST", "/api/v1/organizations/"+orgID+"/groups", tok.AccessToken, map[string]any{
			"metadata": map[string]any{"name": "more"}, "spec": map[string]any{"roleIDs": []string{}, "userIDs": []string{}, "serviceAccountIDs": []string{}}})
		env.Must(http.StatusForbidden, "GET", "/api/v1/organizations/"+other.OrgID+"/groups", tok.AccessToken, nil)

		// A later login goes straight through.
		r.openLogin()
		if resp := r.passwordLogin(newcomer); !strings.Contains(resp.Header.Get("Location"), oidc.CallbackPath) {
			t.Fatalf("onboarding again: %q", resp.Header.Get("Location"))
		}
	})
}

// TestOnboardingModes: who gets the onboarding form. Off: nobody; local:
// local password users; nobody whose email domain belongs to an
// organization (its administrators add them). The upstream cases are in
// TestUpstreamOnboarding.
func TestOnboardingModes(t *testing.T) {
	tests := []struct {
		mode    oidc.Onboarding
		subject string
		want    bool
	}{
		{oidc.OnboardingOff, newcomer, false},
		{oidc.OnboardingLocal, newcomer, true},
		{oidc.OnboardingAll, newcomer, true},
		{oidc.OnboardingAll, "sam@acme.example", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.mode, tt.subject), func(t *testing.T) {
			env := newEnvWith(t, testenv.SQLite, testenv.Options{Onboarding: tt.mode})
			acme := env.Must(http.StatusAccepted, "POST", "/api/v1/organizations", env.AdminToken, map[string]any{
				"metadata": map[string]any{"name": "acme"}, "spec": map[string]any{"organizationType": "domain", "domain": "acme.example"}}).Map(t)
			env.VerifyDomain(acme["metadata"].(map[string]any)["id"].(string))
			if err := env.Password.SetPassword(t.Context(), tt.subject, password); err != nil {
				t.Fatal(err)
			}
			c, sec := newClient(t, env, nil)
			r := newRP(t, env, c, sec)
			r.openLogin()
			resp := r.passwordLogin(tt.subject)
			if got := strings.Contains(resp.Header.Get("Location"), oidc.OnboardPath); got != tt.want {
				t.Fatalf("onboarding %v, want %v (%q)", got, tt.want, resp.Header.Get("Location"))
			}
		})
	}
}
