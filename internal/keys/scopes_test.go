package keys_test

import (
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// scopeStates counts the stored keys of one scope per state.
func scopeStates(t testing.TB, st *store.Store, scope string) map[store.SigningKeyState]int {
	t.Helper()
	rows, err := st.Read().ListSigningKeys(t.Context())
	must(t, err)
	out := map[store.SigningKeyState]int{}
	for _, r := range rows {
		if r.Scope == scope {
			out[r.State]++
		}
	}
	return out
}

// TestOrganizationKeySets: every organization has a key set of its own,
// created on first use, published only at its own JWKS, sealed so that it
// cannot be moved to another scope, and rotated by the platform Manager's
// schedule on its own age.
func TestOrganizationKeySets(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		platform := c.platform(keys.ES256)
		must(t, platform.Ensure(t.Context()))
		orgA, orgB := platform.Organization("org-a"), platform.Organization("org-b")
		if platform.Organization("org-a") != orgA {
			t.Fatal("Organization returned a new Manager for the same organization: caches would not be shared")
		}
		if orgA.Scope() != "org-a" || platform.Scope() != store.PlatformScope {
			t.Fatalf("scopes %q and %q", orgA.Scope(), platform.Scope())
		}

		// Nothing exists for an organization until it is used; reading its
		// JWKS creates the set (so verifiers learn keys before they sign).
		if n := scopeStates(t, c.st, "org-a"); len(n) != 0 {
			t.Fatalf("organization keys exist before first use: %v", n)
		}
		setA := jwks(t, orgA)
		if got := scopeStates(t, c.st, "org-a"); got[store.SigningKeyActive] != 1 || got[store.SigningKeyNext] != 1 {
			t.Fatalf("after the first JWKS read org-a has %v, want one active and one next key", got)
		}
		// Signing creates B's set.
		keyB := activeKey(t, orgB)
		keyA := activeKey(t, orgA)
		setB, setP := jwks(t, orgB), jwks(t, platform)
		for name, pair := range map[string][2]jose.JSONWebKeySet{"A/B": {setA, setB}, "A/platform": {setA, setP}, "B/platform": {setB, setP}} {
			for _, kid := range kids(pair[0]) {
				if slices.Contains(kids(pair[1]), kid) {
					t.Errorf("%s: key %s is published in both sets", name, kid)
				}
			}
		}
		if !slices.Contains(kids(setA), keyA.ID()) || slices.Contains(kids(setA), keyB.ID()) {
			t.Errorf("org-a's JWKS %v must hold its active key %s and not org-b's %s", kids(setA), keyA.ID(), keyB.ID())
		}
		// A token signed with B's key does not verify against A's JWKS.
		rawB := signJWT(t, keyB, "org-b-workload")
		if _, err := verify(rawB, setA, keys.ES256); err == nil {
			t.Error("a token signed by org-b's key verified against org-a's JWKS")
		}
		if _, err := verify(rawB, setB, keys.ES256); err != nil {
			t.Errorf("org-b's token does not verify against its own JWKS: %v", err)
		}

		// A sealed private key moved from A's set to another scope (same
		// row, same kid) does not open: the additional data binds the scope.
		if _, err := c.st.DB().ExecContext(t.Context(), "UPDATE signing_keys SET scope = 'org-c' WHERE id = $1", keyA.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.platform(keys.ES256).Organization("org-c").SigningKey(t.Context()); err == nil {
			t.Error("a private key sealed for org-a opened as org-c's")
		}
		if _, err := c.st.DB().ExecContext(t.Context(), "UPDATE signing_keys SET scope = 'org-a' WHERE id = $1", keyA.ID()); err != nil {
			t.Fatal(err)
		}

		// The schedule rotates each set on its own age.
		c.clock.Advance(time.Hour)
		orgD := platform.Organization("org-d")
		keyD := activeKey(t, orgD) // org-d's keys are an hour younger
		platform.RotateAllDue(t.Context(), time.Hour)
		for _, tc := range []struct {
			m       *keys.Manager
			old     *keys.SigningKey
			rotated bool
		}{{orgA, keyA, true}, {orgB, keyB, true}, {orgD, keyD, false}} {
			c.clock.Advance(keys.DefaultCacheTTL) // past the active-key cache
			now := activeKey(t, tc.m)
			if rotated := now.ID() != tc.old.ID(); rotated != tc.rotated {
				t.Errorf("%s: rotated = %v, want %v", tc.m.Scope(), rotated, tc.rotated)
			}
			c.clock.Advance(-keys.DefaultCacheTTL)
		}
		if got := scopeStates(t, c.st, "org-a"); got[store.SigningKeyRetired] != 1 {
			t.Errorf("after the rotation org-a has %v, want one retired key", got)
		}

		// An organization's set is a workload issuer's: ES256 or RS256 only.
		bad := c.platform(keys.ES256)
		bad.OrganizationAlgorithm = string(keys.ES512)
		if _, err := bad.Organization("org-e").SigningKey(t.Context()); err == nil {
			t.Error("an ES512 organization key set was created; AWS and GCP need ES256 or RS256")
		}
		rsa := c.platform(keys.ES256)
		rsa.OrganizationAlgorithm = string(keys.RS256)
		if k := activeKey(t, rsa.Organization("org-f")); k.SignatureAlgorithm() != keys.RS256 {
			t.Errorf("org-f signs with %s, want RS256", k.SignatureAlgorithm())
		}
		if err := keys.CheckOrganizationAlgorithm("ES512"); err == nil {
			t.Error("CheckOrganizationAlgorithm accepted ES512")
		}
	})
}
