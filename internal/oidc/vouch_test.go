package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// claimDomainWithOwnProvider makes the upstream Gatehouse of f the
// organization orgID's own identity provider (providerScope organization)
// for domain, as an administrator of that organization can: the setup of
// issue 12's finding 1. It returns the provider's ID.
func claimDomainWithOwnProvider(t *testing.T, f *federation, orgID, domain string) string {
	t.Helper()
	ctx := context.Background()
	actor := &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}
	sec := f.upSecret
	own, err := f.down.Tenancy.CreateProvider(ctx, actor, orgID, &tenancy.ProviderInput{Provider: store.OAuth2Provider{
		Meta: store.Meta{Name: "own-idp"}, Type: "oidc", Issuer: f.up.URL, ClientID: f.upClient}, ClientSecret: &sec})
	if err != nil {
		t.Fatal(err)
	}
	org, err := f.down.Store.Read().GetOrganization(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	org.Type, org.Domain = tenancy.OrganizationDomain, domain
	org.ProviderScope, org.ProviderID = tenancy.ProviderScopeOrganization, own.ID
	if err := f.down.Tenancy.UpdateOrganization(ctx, actor, orgID, org); err != nil {
		t.Fatal(err)
	}
	// Only a verified domain routes logins (the platform administrator
	// vouches for it here): this test is about what the provider may do
	// once routed, not about the claim.
	f.down.VerifyDomain(orgID)
	return own.ID
}

// vouchedLogin logs the test user in at f.down by email: routed to the
// organization's own provider (the upstream), where the password is typed.
// It returns the tokens.
func vouchedLogin(t *testing.T, f *federation) (accessToken, refreshToken string) {
	t.Helper()
	fl, v := f.rp.openLogin()
	v.Set("email", email)
	resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = f.rp.browser.Get(continueTo(t, resp)); err != nil {
		t.Fatal(err)
	}
	final, body := f.upstreamLogin(t, resp)
	loc, _ := url.Parse(final.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code through the organization's provider: %d %q %s", final.StatusCode, final.Header.Get("Location"), body)
	}
	tok := f.rp.exchange(fl, loc.Query().Get("code"))
	return tok.AccessToken, tok.RefreshToken
}

// fedRP is a relying party of a new client at f.down whose logins go
// upstream.
func fedRP(t *testing.T, f *federation) *rp {
	t.Helper()
	c, sec := newClient(t, f.down, nil)
	r := newRP(t, f.down, c, sec)
	r.wantAMR = "fed"
	return r
}

// TestVouchedByOrganizationProvider: issue 12, finding 1. A user vouched for
// by an organization's own identity provider (A's) is a member of A only:
// in B, where a user with the same email is an administrator, its token is
// refused like an outsider's (listing and creating API keys: 403), it holds
// none of the email's platform role bindings, and listOrganizations and
// org_ids show A alone. The refreshed token, the token of a single sign-on
// continuation (prompt=none) and a token exchanged from it stay confined;
// the ACL shows the binding. The same email logged in with a local password
// or through a platform provider keeps today's rights in B. On the code
// before the fix the vouched token administered B.
func TestVouchedByOrganizationProvider(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		down, ctx := f.down, t.Context()
		victim := down.NewTenant("victim", authz.RoleAdministrator)
		addUser(t, down, victim, email, "active")
		attacker := down.NewTenant("attacker", authz.RoleAdministrator)
		addUser(t, down, attacker, email, "active")
		platformAdmin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := down.Store.Tx(ctx, func(q *store.Q) error {
			return q.BindPlatformRole(ctx, store.MemberUser, email, platformAdmin.ID)
		}); err != nil {
			t.Fatal(err)
		}
		if err := down.Password.SetPassword(ctx, email, password); err != nil {
			t.Fatal(err)
		}

		// Before A claims the domain: the email's local password, and the
		// platform provider (the same upstream, registered platform-wide).
		c, sec := newClient(t, down, nil)
		local := newRP(t, down, c, sec).signIn().AccessToken
		// Each login has a client of its own: a new login of a user at a
		// client ends the previous session there, and its access token.
		fp := *f
		fp.rp = fedRP(t, f)
		flP, v := fp.rp.openLogin()
		v.Set("provider", f.provider)
		resp, err := fp.rp.browser.PostForm(down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		final, body := fp.upstreamLogin(t, resp)
		loc, _ := url.Parse(final.Header.Get("Location"))
		if loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("no code through the platform provider: %d %s", final.StatusCode, body)
		}
		platform := fp.rp.exchange(flP, loc.Query().Get("code")).AccessToken

		// A makes the upstream its own provider for the email's domain.
		ownID := claimDomainWithOwnProvider(t, f, attacker.OrgID, "acme.example")
		vouched, refresh := vouchedLogin(t, f)
		refreshed, err := f.rp.refresh(refresh)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		// Single sign-on: the browser session of that login, prompt=none,
		// at another client.
		rs := fedRP(t, f)
		rs.browser.Jar = f.rp.browser.Jar
		flNone, _, result, _ := rs.authorize(param("prompt", "none"))
		if result.Get("code") == "" {
			t.Fatalf("prompt=none after the vouched login: %v", result)
		}
		sso := rs.exchange(flNone, result.Get("code")).AccessToken
		ex, exSec := newClient(t, down, func(s *client.Spec) {
			s.Name = "exchanger"
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
			s.Scopes = []string{"openid", "email", "offline_access"}
		})
		status, exBody := postToken(t, down, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {vouched}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, ex.ID, exSec)
		if status != http.StatusOK {
			t.Fatalf("exchange the vouched token: %d %v", status, exBody)
		}
		exchanged := exBody["access_token"].(string)

		adminRole, _ := authz.RoleByName(authz.RoleAdministrator)
		b, a := "/api/v1/organizations/"+victim.OrgID, "/api/v1/organizations/"+attacker.OrgID
		tokens := []struct {
			name     string
			token    string
			confined bool
			provider string // who vouched, when not confined
		}{
			{"local password", local, false, "local"},
			{"platform provider", platform, false, f.provider},
			{"org provider", vouched, true, ""},
			{"org provider, single sign-on", sso, true, ""},
			{"org provider, refreshed", refreshed.AccessToken, true, ""},
			{"org provider, exchanged", exchanged, true, ""},
		}
		for _, tt := range tokens {
			t.Run(tt.name, func(t *testing.T) {
				must := func(want int, method, path string, body any) *testenv.Response {
					t.Helper()
					r := down.Do(method, path, tt.token, body)
					if r.Status != want {
						t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
					}
					return r
				}
				inB := http.StatusOK
				created := http.StatusCreated
				platformRead := http.StatusOK
				if tt.confined {
					inB, created, platformRead = http.StatusForbidden, http.StatusForbidden, http.StatusForbidden
				}
				must(inB, "GET", b+"/apikeys", nil)
				must(inB, "GET", b+"/users", nil)
				must(created, "POST", b+"/apikeys", map[string]any{
					"metadata": map[string]any{"name": "takeover-" + strings.NewReplacer(" ", "-", ",", "").Replace(tt.name)}, "spec": map[string]any{"roleID": adminRole.ID}})
				must(http.StatusOK, "GET", a+"/apikeys", nil)
				must(platformRead, "GET", "/api/v1/organizations?email="+url.QueryEscape(email), nil)

				var orgs []map[string]any
				must(http.StatusOK, "GET", "/api/v1/organizations", nil).JSON(t, &orgs)
				var listed []string
				for _, o := range orgs {
					listed = append(listed, o["metadata"].(map[string]any)["id"].(string))
				}
				orgIDs, _ := claimsOf(t, tt.token)["org_ids"].([]any)
				idp, _ := claimsOf(t, tt.token)["gh_idp"].(map[string]any)
				acl := must(http.StatusOK, "GET", a+"/acl", nil).Map(t)
				aclIdP, _ := acl["identityProvider"].(map[string]any)
				if tt.confined {
					if !slices.Equal(listed, []string{attacker.OrgID}) || len(orgIDs) != 1 || orgIDs[0] != attacker.OrgID {
						t.Errorf("listOrganizations %v, org_ids %v: want %s alone", listed, orgIDs, attacker.OrgID)
					}
					if idp["org"] != attacker.OrgID || idp["id"] != ownID || idp["iss"] != f.up.URL || idp["sub"] != email {
						t.Errorf("gh_idp %v: want org %s, id %s, iss %s, sub %s", idp, attacker.OrgID, ownID, f.up.URL, email)
					}
					if aclIdP["organizationID"] != attacker.OrgID || aclIdP["providerID"] != ownID {
						t.Errorf("ACL identityProvider %v: want organization %s, provider %s", aclIdP, attacker.OrgID, ownID)
					}
					return
				}
				if !slices.Contains(listed, victim.OrgID) || !slices.Contains(listed, attacker.OrgID) || len(orgIDs) != 2 {
					t.Errorf("listOrganizations %v, org_ids %v: want both organizations", listed, orgIDs)
				}
				if idp["id"] != tt.provider || idp["org"] != nil || aclIdP["providerID"] != tt.provider || aclIdP["organizationID"] != nil {
					t.Errorf("gh_idp %v, ACL identityProvider %v: want provider %s, no organization", idp, aclIdP, tt.provider)
				}
			})
		}
	})
}
