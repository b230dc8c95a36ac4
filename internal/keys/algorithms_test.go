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

// TestPlatformAlgorithmSets: the platform publishes a key set of each
// algorithm (OpenID Connect Core §15.1 makes RS256 mandatory), each signing
// with its own active key, verifiable only with its own algorithm, and each
// rotated on its own: by hand one at a time, and by the schedule on its own
// age.
func TestPlatformAlgorithmSets(t *testing.T) {
	const period = 24 * time.Hour
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.platform(keys.ES256)
		must(t, m.Ensure(t.Context()))

		set := jwks(t, m)
		perAlg := map[string]int{}
		for _, k := range set.Keys {
			perAlg[k.Algorithm]++
		}
		if len(set.Keys) != 6 || perAlg["ES256"] != 2 || perAlg["ES512"] != 2 || perAlg["RS256"] != 2 {
			t.Fatalf("JWKS algorithms %v (%d keys), want an active and a next key of ES256, ES512 and RS256", perAlg, len(set.Keys))
		}
		if set.Keys[0].Algorithm != "ES256" {
			t.Errorf("the JWKS starts with a %s key, want the default algorithm's active key", set.Keys[0].Algorithm)
		}
		if k := activeKey(t, m); k.SignatureAlgorithm() != keys.ES256 {
			t.Errorf("SigningKey is %s, want the default ES256", k.SignatureAlgorithm())
		}
		active := map[jose.SignatureAlgorithm]string{}
		for _, alg := range keys.Algorithms {
			k, err := m.SigningKeyFor(t.Context(), string(alg))
			must(t, err)
			if k.SignatureAlgorithm() != alg {
				t.Fatalf("SigningKeyFor(%s) is a %s key", alg, k.SignatureAlgorithm())
			}
			active[alg] = k.ID()
			raw := signJWT(t, k, "carol")
			if _, err := verify(raw, set, alg); err != nil {
				t.Errorf("a %s token does not verify against the JWKS: %v", alg, err)
			}
			for _, other := range keys.Algorithms {
				if other != alg {
					if _, err := verify(raw, set, other); err == nil {
						t.Errorf("a verifier allowing only %s accepted a %s token", other, alg)
					}
				}
			}
		}
		if _, err := m.SigningKeyFor(t.Context(), "HS256"); err == nil {
			t.Error("SigningKeyFor(HS256) gave a key")
		}
		if _, err := m.RotateActive(t.Context(), active[keys.ES256]); err == nil {
			t.Error("RotateActive on the platform Manager, which has several key sets, did not fail")
		}

		// By hand: one algorithm, the others untouched.
		c.clock.Advance(period / 2)
		rot, err := m.RotateAlgorithms(t.Context(), "RS256")
		must(t, err)
		if len(rot) != 1 || rot[0].Algorithm != "RS256" || rot[0].Retired != active[keys.RS256] {
			t.Fatalf("RotateAlgorithms(RS256) = %+v, want the RS256 set rotated, retiring %s", rot, active[keys.RS256])
		}
		fresh := c.platform(keys.ES256) // another replica, nothing cached
		for _, alg := range keys.Algorithms {
			k, err := fresh.SigningKeyFor(t.Context(), string(alg))
			must(t, err)
			if changed := k.ID() != active[alg]; changed != (alg == keys.RS256) {
				t.Errorf("after rotating RS256: the %s active key changed=%v", alg, changed)
			}
		}

		// The schedule: each set on its own age, so at one period the ES
		// sets rotate and the RS256 set (half a period old) does not.
		c.clock.Advance(period / 2)
		rotated, err := fresh.RotateIfDue(t.Context(), period)
		must(t, err)
		if !rotated {
			t.Fatal("RotateIfDue rotated nothing after a period")
		}
		retired := states(t, c.st)[store.SigningKeyRetired]
		for _, alg := range keys.Algorithms {
			if !slices.Contains(retired, active[alg]) {
				t.Errorf("the first %s active key %s is not retired: %v", alg, active[alg], retired)
			}
		}
		if len(retired) != 3 {
			t.Errorf("retired keys %v, want one per algorithm (RS256 not rotated twice)", retired)
		}
		if rotated, err := fresh.RotateIfDue(t.Context(), period); err != nil || rotated {
			t.Errorf("a second check at once: rotated=%v, %v; want nothing due", rotated, err)
		}
		s := states(t, c.st)
		if len(s[store.SigningKeyActive]) != 3 || len(s[store.SigningKeyNext]) != 3 {
			t.Errorf("after the rotations: %v; want an active and a next key per algorithm", s)
		}

		// A compromise: the platform drops every algorithm's retired keys.
		n, err := fresh.DropRetired(t.Context())
		must(t, err)
		if n != 3 {
			t.Errorf("DropRetired dropped %d keys, want the 3 retired ones", n)
		}
		for _, k := range jwks(t, fresh).Keys {
			if slices.Contains(retired, k.KeyID) {
				t.Errorf("retired key %s still published after DropRetired", k.KeyID)
			}
		}
	})
}

// TestListKeys: List shows every published key of every scope with its
// algorithm, state and dates, and no private material; an expired retired
// key is not listed.
func TestListKeys(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.platform(keys.ES256)
		must(t, m.Ensure(t.Context()))
		const org = "org-a"
		must(t, m.Organization(org).Ensure(t.Context()))
		rot, err := m.RotateAlgorithms(t.Context(), "ES512")
		must(t, err)
		list, err := m.List(t.Context())
		must(t, err)
		if len(list) != 9 {
			t.Fatalf("List: %d keys, want 6 + 1 retired platform keys and 2 of the organization: %+v", len(list), list)
		}
		var sawRetired, sawOrg bool
		for _, k := range list {
			switch {
			case k.ID == rot[0].Retired:
				sawRetired = true
				if k.State != store.SigningKeyRetired || k.RetiredAt.IsZero() || !k.ExpiresAt.Equal(k.RetiredAt.Add(lifetime+keys.DefaultCacheTTL)) {
					t.Errorf("retired key %+v: want state retired, retired and expiry dates", k)
				}
			case k.Scope == org:
				sawOrg = true
			case k.State == store.SigningKeyActive && k.ActivatedAt.IsZero():
				t.Errorf("active key %+v without an activation date", k)
			}
			if k.CreatedAt.IsZero() || k.Algorithm == "" || k.ID == "" {
				t.Errorf("key %+v: want kid, algorithm and creation date", k)
			}
		}
		if !sawRetired || !sawOrg {
			t.Errorf("List: retired key listed=%v, organization key listed=%v", sawRetired, sawOrg)
		}
		c.clock.Advance(lifetime + keys.DefaultCacheTTL)
		list, err = m.List(t.Context())
		must(t, err)
		for _, k := range list {
			if k.ID == rot[0].Retired {
				t.Errorf("the expired retired key %s is still listed", k.ID)
			}
		}
	})
}

// TestUpgradeToAlgorithmSets: a database from before migration 00022 that
// was switching algorithm (an ES256 active key and an RS256 next key in the
// one platform set) becomes three sets at the first Ensure: the ES256 key
// stays active, the RS256 key (already published) becomes the RS256 set's
// active key, and what is missing is created.
func TestUpgradeToAlgorithmSets(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		es, rs := c.replica(keys.ES256), c.replica(keys.RS256)
		must(t, es.Ensure(t.Context()))
		must(t, rs.Ensure(t.Context()))
		for _, q := range []string{
			"DELETE FROM signing_keys WHERE algorithm = 'ES256' AND state = 'next'",
			"DELETE FROM signing_keys WHERE algorithm = 'RS256' AND state = 'active'",
		} {
			_, err := c.st.DB().ExecContext(t.Context(), q)
			must(t, err)
		}
		esActive := activeKey(t, c.replica(keys.ES256)).ID()
		rsNext, err := c.st.Read().SigningKeyInState(t.Context(), store.PlatformScope, "RS256", store.SigningKeyNext)
		must(t, err)

		m := c.platform(keys.ES256)
		must(t, m.Ensure(t.Context()))
		s := states(t, c.st)
		if len(s[store.SigningKeyActive]) != 3 || len(s[store.SigningKeyNext]) != 3 {
			t.Fatalf("after the upgrade: %v, want an active and a next key per algorithm", s)
		}
		if k := activeKey(t, m); k.ID() != esActive {
			t.Errorf("the ES256 active key changed: %s, was %s", k.ID(), esActive)
		}
		k, err := m.SigningKeyFor(t.Context(), "RS256")
		must(t, err)
		if k.ID() != rsNext.ID {
			t.Errorf("the RS256 active key is %s, want the published next key %s", k.ID(), rsNext.ID)
		}
	})
}
