package client_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestDeviceGrantAndPAR (issue 16): requirePushedAuthorizationRequests is
// stored by create and update, kept by SpecOf, declared by the clients file
// (changing it updates the client) and off by default; a public client may
// have the device grant, with refresh tokens and no redirect URI.
func TestDeviceGrantAndPAR(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		r, _ := newRegistry(open(t))
		ctx := t.Context()
		c, _, err := r.Create(ctx, client.Spec{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
		if err != nil || c.RequirePushedAuthorizationRequests {
			t.Fatalf("default: %+v, %v", c, err)
		}
		spec := client.SpecOf(c)
		spec.RequirePushedAuthorizationRequests = true
		if c, err = r.Update(ctx, c.ID, spec); err != nil || !c.RequirePushedAuthorizationRequests {
			t.Fatalf("update: %+v, %v", c, err)
		}
		if got, err := r.Get(ctx, c.ID); err != nil || !got.RequirePushedAuthorizationRequests || !client.SpecOf(got).RequirePushedAuthorizationRequests {
			t.Fatalf("read back: %+v, %v", got, err)
		}
		file := func(v string) string {
			return `{"clients": [{"id": "web", "name": "Web", "redirectURIs": ["https://app.example/cb"], "secretEnv": "WEB_SECRET",
			  "requirePushedAuthorizationRequests": ` + v + `}]}`
		}
		for _, v := range []string{"true", "false", "true"} {
			if _, err := r.ApplyFile(ctx, writeFile(t, file(v)), env(map[string]string{"WEB_SECRET": "ghcs_0123456789abcdef0123456789abcdef"})); err != nil {
				t.Fatal(err)
			}
			if got, err := r.Get(ctx, "web"); err != nil || got.RequirePushedAuthorizationRequests != (v == "true") {
				t.Fatalf("after applying requirePushedAuthorizationRequests %s: %+v, %v", v, got, err)
			}
		}

		cli, _, err := r.Create(ctx, client.Spec{Name: "CLI", Type: client.Public,
			GrantTypes: []string{client.GrantDeviceCode, client.GrantRefreshToken}})
		if err != nil || !client.AllowsGrant(cli, client.GrantDeviceCode) || !slices.Contains(cli.GrantTypes, client.GrantRefreshToken) {
			t.Fatalf("public device client: %+v, %v", cli, err)
		}
	})
}
