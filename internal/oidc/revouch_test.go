package oidc_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRemovedProviderEndsItsLogins replays the attacker review's finding 2:
// an organization's own identity provider vouched for a login, then the
// organization stopped trusting it. Before the fix the login's refresh
// token went on refreshing (and acting in the organization) and its browser
// session went on signing in silently. Now deleting the provider, or
// changing the organization's provider or domain, ends its sessions in the
// same transaction (the access token dies with its family), and refresh and
// single sign-on re-check the provider and domain, which catches a change
// made behind the service's back (the store cases, standing for a write
// that raced with the login).
func TestRemovedProviderEndsItsLogins(t *testing.T) {
	actor := &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}
	tests := []struct {
		name string
		// ended: the change ends the sessions itself (the access token is
		// refused at once); otherwise refresh and SSO refuse by re-checking.
		ended  bool
		change func(t *testing.T, f *federation, org *store.Organization, providerID string)
	}{
		{"provider deleted after repointing the organization", true, func(t *testing.T, f *federation, o *store.Organization, id string) {
			ctx := context.Background()
			o.Type, o.Domain, o.ProviderScope, o.ProviderID = tenancy.OrganizationAdhoc, "", "", ""
			if err := f.down.Tenancy.UpdateOrganization(ctx, actor, o.ID, o); err != nil {
				t.Fatal(err)
			}
			if err := f.down.Tenancy.DeleteProvider(ctx, o.ID, id); err != nil {
				t.Fatal(err)
			}
		}},
		{"organization's domain changed", true, func(t *testing.T, f *federation, o *store.Organization, _ string) {
			o.Domain = "other.example"
			if err := f.down.Tenancy.UpdateOrganization(context.Background(), actor, o.ID, o); err != nil {
				t.Fatal(err)
			}
		}},
		{"organization's provider switched to a platform provider", true, func(t *testing.T, f *federation, o *store.Organization, _ string) {
			o.ProviderScope, o.ProviderID = tenancy.ProviderScopeGlobal, f.provider
			if err := f.down.Tenancy.UpdateOrganization(context.Background(), actor, o.ID, o); err != nil {
				t.Fatal(err)
			}
		}},
		{"provider row gone behind the service", false, func(t *testing.T, f *federation, o *store.Organization, id string) {
			ctx := context.Background()
			if err := f.down.Store.Tx(ctx, func(q *store.Q) error { return q.DeleteOAuth2Provider(ctx, o.ID, id) }); err != nil {
				t.Fatal(err)
			}
		}},
		{"domain unverified behind the service", false, func(t *testing.T, f *federation, o *store.Organization, _ string) {
			ctx := context.Background()
			o.DomainVerifiedAt = time.Time{}
			if err := f.down.Store.Tx(ctx, func(q *store.Q) error { return q.UpdateOrganization(ctx, o) }); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
				f := newFederation(t, open)
				down := f.down
				ten := down.NewTenant("acme", authz.RoleAdministrator)
				addUser(t, down, ten, email, "active")
				id := claimDomainWithOwnProvider(t, f, ten.OrgID, "acme.example")
				access, refresh := vouchedLogin(t, f)
				users := "/api/v1/organizations/" + ten.OrgID + "/users"
				if r := down.Do("GET", users, access, nil); r.Status != http.StatusOK {
					t.Fatalf("the vouched login before the change: %d", r.Status)
				}
				if _, _, result, _ := f.rp.authorize(param("prompt", "none")); result.Get("code") == "" {
					t.Fatalf("single sign-on before the change: %v", result)
				}
				org, err := down.Store.Read().GetOrganization(context.Background(), ten.OrgID)
				if err != nil {
					t.Fatal(err)
				}
				tt.change(t, f, org, id)

				if tok, err := f.rp.refresh(refresh); err == nil {
					r := down.Do("GET", users, tok.AccessToken, nil)
					t.Errorf("the login the provider vouched for still refreshes (its new token reads the org: %d)", r.Status)
				}
				if _, _, result, _ := f.rp.authorize(param("prompt", "none")); result.Get("error") != "login_required" {
					t.Errorf("single sign-on after the change: %v, want login_required", result)
				}
				if r := down.Do("GET", users, access, nil); tt.ended && r.Status != http.StatusUnauthorized {
					t.Errorf("the access token after its session ended: %d, want 401", r.Status)
				}
			})
		})
	}
}

// TestLoginWithoutProviderFailsClosed replays the attacker review's finding
// 3: a refresh family, browser session or authenticated auth request whose
// row does not say which provider vouched (idp_id ”: written before
// migration 00018, or by a replica of the previous release during a rolling
// upgrade) was treated as unconfined, so its tokens carried no gh_idp and
// held every organization of the email. Now refresh, single sign-on and
// code redemption refuse it, and the user signs in again.
func TestLoginWithoutProviderFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, env *testenv.Env, r *rp, clientID string)
	}{
		{"refresh", func(t *testing.T, env *testenv.Env, r *rp, clientID string) {
			ctx := t.Context()
			rt := oidc.RefreshTokenPrefix + "legacy-refresh-token-of-an-old-replica"
			now := env.OIDCClock.Now()
			err := env.Store.Tx(ctx, func(q *store.Q) error {
				return q.ReplaceSession(ctx, &store.OIDCSession{ID: "legacyfamily", Subject: email, ClientID: clientID,
					Scopes: "openid email offline_access", AMR: "fed", AuthTime: now, RefreshHash: secret.Hash(rt),
					RefreshExpiresAt: now.Add(30 * 24 * time.Hour), AccessJTI: "legacyjti", AccessExpiresAt: now.Add(time.Hour),
					CreatedAt: now}, now)
			})
			if err != nil {
				t.Fatal(err)
			}
			if tok, err := r.refresh(rt); err == nil {
				t.Errorf("a refresh family with no recorded provider refreshed: %v", claimsOf(t, tok.AccessToken))
			}
		}},
		{"single sign-on", func(t *testing.T, env *testenv.Env, r *rp, _ string) {
			r.signIn()
			blankIdP(t, env, "oidc_browser_sessions")
			if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("error") != "login_required" {
				t.Errorf("a browser session with no recorded provider was reused: %v", result)
			}
		}},
		{"code redemption", func(t *testing.T, env *testenv.Env, r *rp, _ string) {
			fl, code := r.login()
			blankIdP(t, env, "oidc_auth_requests")
			if tok, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(fl.verifier)); err == nil {
				t.Errorf("a code of a request authenticated with no recorded provider was redeemed: %v", claimsOf(t, tok.AccessToken))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
				env := newEnv(t, open)
				r, c, _ := webRP(t, env)
				tt.run(t, env, r, c.ID)
			})
		})
	}
}

// blankIdP makes every row of table say nothing of who vouched, as the
// previous release wrote them.
func blankIdP(t *testing.T, env *testenv.Env, table string) {
	t.Helper()
	if _, err := env.Store.DB().ExecContext(t.Context(), "UPDATE "+table+" SET idp_org = '', idp_id = '', idp_issuer = '', idp_subject = ''"); err != nil {
		t.Fatal(err)
	}
}
