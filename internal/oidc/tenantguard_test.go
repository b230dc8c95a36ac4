package oidc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestOrganizationProviderNotInternal (review of issue 13): Gatehouse calls
// an identity provider an organization registered (discovery, token,
// userinfo, JWKS) at public addresses only, so an organization's
// administrators cannot make it call into its own network. The upstream of
// this test listens on loopback: with AllowPrivateTenantEndpoints off, a
// login routed to the organization's provider there ends at the upstream
// error page (502) without leaving Gatehouse, while a platform provider at
// the same address still works (operators may mean an internal address);
// with it on (serve --allow-private-tenant-endpoints), the organization's
// provider is reached.
func TestOrganizationProviderNotInternal(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, allow := range []bool{false, true} {
			f := newFederationWith(t, open, testenv.Options{EditOIDC: []func(*oidc.Config){
				func(c *oidc.Config) { c.AllowPrivateTenantEndpoints = allow }}})
			acme := f.down.NewTenant("acme", authz.RoleAdministrator)
			addUser(t, f.down, acme, email, "active")

			// The platform provider, on loopback too: reached either way.
			_, v := f.rp.openLogin()
			v.Set("provider", f.provider)
			resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			if page, body := f.follow(t, resp); !strings.HasPrefix(page.Request.URL.String(), f.up.URL+oidc.LoginPath) {
				t.Fatalf("allow %v: the platform provider was not reached: %d at %s: %s", allow, page.StatusCode, page.Request.URL, body)
			}

			// The organization's own provider for its domain.
			claimDomainWithOwnProvider(t, f, acme.OrgID, "acme.example")
			_, v = f.rp.openLogin()
			v.Set("email", email)
			resp, err = f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			page, body := f.follow(t, resp)
			reached := strings.HasPrefix(page.Request.URL.String(), f.up.URL)
			switch {
			case allow && !reached:
				t.Errorf("allowed: the organization's provider was not reached: %d at %s: %s", page.StatusCode, page.Request.URL, body)
			case !allow && (reached || page.StatusCode != http.StatusBadGateway):
				t.Errorf("guarded: the organization's provider on loopback: %d at %s, want 502 at Gatehouse", page.StatusCode, page.Request.URL)
			}
		}
	})
}
