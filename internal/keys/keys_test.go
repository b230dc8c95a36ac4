package keys_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const lifetime = time.Hour

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newSealer(t testing.TB) *secret.Sealer {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, _ = rand.Read(key)
	s, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cluster is one database shared by several replicas, with one clock.
type cluster struct {
	st     *store.Store
	sealer *secret.Sealer
	clock  *testenv.Clock
}

func newCluster(t testing.TB, open func(testing.TB) *store.Store) *cluster {
	return &cluster{st: open(t), sealer: newSealer(t), clock: testenv.NewClock(t0)}
}

// platform is the platform Manager as one Gatehouse process would have it:
// default algorithm alg, one key set per algorithm.
func (c *cluster) platform(alg jose.SignatureAlgorithm) *keys.Manager {
	return &keys.Manager{Store: c.st, Sealer: c.sealer, Now: c.clock.Now, Algorithm: string(alg),
		TokenLifetime: lifetime, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewPrivateKey: testenv.SigningKeyMaterial}
}

// replica is the key set of algorithm alg of a fresh platform Manager: what
// one Gatehouse process signs alg's tokens with. The tests of one key set's
// life use it.
func (c *cluster) replica(alg jose.SignatureAlgorithm) *keys.Manager {
	m := c.platform(alg)
	set, err := m.ForAlgorithm(string(alg))
	if err != nil {
		panic(err)
	}
	return set
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func signJWT(t testing.TB, k *keys.SigningKey, subject string) string {
	t.Helper()
	signer, err := jose.NewSigner(k.JOSE(), (&jose.SignerOptions{}).WithType("JWT"))
	must(t, err)
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: "https://id.example.com", Subject: subject, Audience: jwt.Audience{"api"},
		IssuedAt: jwt.NewNumericDate(t0), Expiry: jwt.NewNumericDate(t0.Add(lifetime)),
	}).Serialize()
	must(t, err)
	return raw
}

// verify checks raw the way a relying party does: only the expected
// algorithm, the key named by kid from the JWKS, then the claims.
func verify(raw string, set jose.JSONWebKeySet, alg jose.SignatureAlgorithm) (jwt.Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return jwt.Claims{}, err
	}
	found := set.Key(tok.Headers[0].KeyID)
	if len(found) == 0 {
		return jwt.Claims{}, errors.New("kid " + tok.Headers[0].KeyID + " is not in the JWKS")
	}
	var c jwt.Claims
	err = tok.Claims(found[0], &c)
	return c, err
}

func sorted(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	return out
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func jwks(t testing.TB, m *keys.Manager) jose.JSONWebKeySet {
	t.Helper()
	set, err := m.PublicJWKS(t.Context())
	must(t, err)
	return set
}

func activeKey(t testing.TB, m *keys.Manager) *keys.SigningKey {
	t.Helper()
	k, err := m.SigningKey(t.Context())
	must(t, err)
	return k
}

// states counts the stored keys per state.
func states(t testing.TB, st *store.Store) map[store.SigningKeyState][]string {
	t.Helper()
	rows, err := st.Read().ListSigningKeys(t.Context())
	must(t, err)
	out := map[store.SigningKeyState][]string{}
	for _, r := range rows {
		out[r.State] = append(out[r.State], r.ID)
	}
	return out
}

func wantOneActiveOneNext(t testing.TB, st *store.Store) map[store.SigningKeyState][]string {
	t.Helper()
	s := states(t, st)
	if len(s[store.SigningKeyActive]) != 1 || len(s[store.SigningKeyNext]) != 1 {
		t.Fatalf("want exactly one active and one next key, have %v", s)
	}
	return s
}

// TestSignVerify: a JWT signed with SigningKey verifies against PublicJWKS
// with go-jose's jwt.ParseSigned for every algorithm, and is refused when the
// verifier allows only another algorithm.
func TestSignVerify(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, tc := range []struct {
			alg   jose.SignatureAlgorithm
			other jose.SignatureAlgorithm
		}{
			{keys.ES256, keys.ES512},
			{keys.ES512, keys.ES256},
			{keys.RS256, jose.PS256},
		} {
			t.Run(string(tc.alg), func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, open)
				m := c.replica(tc.alg)
				must(t, m.Ensure(t.Context()))
				k := activeKey(t, m)
				if k.SignatureAlgorithm() != tc.alg {
					t.Fatalf("active key algorithm %s, want %s", k.SignatureAlgorithm(), tc.alg)
				}
				raw := signJWT(t, k, "alice")
				set := jwks(t, m)
				claims, err := verify(raw, set, tc.alg)
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if claims.Subject != "alice" {
					t.Errorf("subject %q", claims.Subject)
				}
				tok, _ := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{tc.alg})
				if h := tok.Headers[0]; h.KeyID != k.ID() || h.Algorithm != string(tc.alg) {
					t.Errorf("header kid %q alg %q, want %q %q", h.KeyID, h.Algorithm, k.ID(), tc.alg)
				}
				if _, err := verify(raw, set, tc.other); err == nil {
					t.Errorf("a verifier allowing only %s accepted a %s token", tc.other, tc.alg)
				}
				// Another replica (fresh Manager, no cache) signs with the same key.
				if k2 := activeKey(t, c.replica(tc.alg)); k2.ID() != k.ID() {
					t.Errorf("second replica signs with %s, first with %s", k2.ID(), k.ID())
				}
			})
		}
	})
}

// TestRotationLifecycle: the next key is published before it signs; after
// Rotate the old kid stays in JWKS (and its tokens verify) until the clock
// passes TokenLifetime + CacheTTL, then it is gone, and the next rotation
// deletes its row.
func TestRotationLifecycle(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		s := wantOneActiveOneNext(t, c.st)
		a, b := s[store.SigningKeyActive][0], s[store.SigningKeyNext][0]
		if got := kids(jwks(t, m)); !slices.Equal(got, []string{a, b}) {
			t.Fatalf("JWKS after Ensure %v, want [active %s, next %s]", got, a, b)
		}
		if activeKey(t, m).ID() != a {
			t.Fatal("SigningKey is not the active key")
		}
		oldToken := signJWT(t, activeKey(t, m), "old")

		c.clock.Advance(10 * time.Minute)
		rotatedAt := c.clock.Now()
		must(t, m.Rotate(t.Context()))
		s = wantOneActiveOneNext(t, c.st)
		if s[store.SigningKeyActive][0] != b || !slices.Equal(s[store.SigningKeyRetired], []string{a}) {
			t.Fatalf("after Rotate: %v; want %s active and %s retired", s, b, a)
		}
		cNext := s[store.SigningKeyNext][0]
		if got := kids(jwks(t, m)); !slices.Equal(got, []string{b, cNext, a}) {
			t.Fatalf("JWKS after Rotate %v, want [%s %s %s]", got, b, cNext, a)
		}
		if activeKey(t, m).ID() != b {
			t.Fatal("the rotating replica does not sign with the new key at once")
		}

		expiry := rotatedAt.Add(lifetime + keys.DefaultCacheTTL)
		for _, tc := range []struct {
			at        time.Time
			published bool
		}{
			{rotatedAt.Add(time.Minute), true},
			{rotatedAt.Add(lifetime), true}, // a replica may have signed up to CacheTTL later
			{expiry.Add(-time.Millisecond), true},
			{expiry, false},
			{expiry.Add(time.Hour), false},
		} {
			c.clock.Set(tc.at)
			set := jwks(t, m)
			if got := slices.Contains(kids(set), a); got != tc.published {
				t.Errorf("at rotation+%v: old key published=%v, want %v", tc.at.Sub(rotatedAt), got, tc.published)
			}
			if _, err := verify(oldToken, set, keys.ES256); (err == nil) != tc.published {
				t.Errorf("at rotation+%v: old token verifies=%v, want %v (%v)", tc.at.Sub(rotatedAt), err == nil, tc.published, err)
			}
			if !slices.Contains(kids(set), b) || !slices.Contains(kids(set), cNext) {
				t.Errorf("at rotation+%v: JWKS %v lost the active or next key", tc.at.Sub(rotatedAt), kids(set))
			}
		}
		// The expired row stays until the next write, which deletes it.
		if !slices.Contains(states(t, c.st)[store.SigningKeyRetired], a) {
			t.Fatal("expired key deleted before the next rotation")
		}
		must(t, m.Rotate(t.Context()))
		if s := states(t, c.st); slices.Contains(s[store.SigningKeyRetired], a) || len(s[store.SigningKeyRetired]) != 1 {
			t.Errorf("after the second rotation: %v; want only %s retired", s, b)
		}
	})
}

// TestNextKeyPublishedBeforeItSigns: whatever the number of rotations, the key
// that signs after a rotation was in the JWKS before it, as the next key.
func TestNextKeyPublishedBeforeItSigns(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		seen := map[string]bool{}
		for i := range 5 {
			before := jwks(t, m)
			next := states(t, c.st)[store.SigningKeyNext][0]
			c.clock.Advance(time.Minute)
			must(t, m.Rotate(t.Context()))
			k := activeKey(t, m)
			if k.ID() != next {
				t.Fatalf("rotation %d: signing with %s, want the previous next key %s", i, k.ID(), next)
			}
			if !slices.Contains(kids(before), k.ID()) {
				t.Fatalf("rotation %d: %s signs but was not in the JWKS before (%v)", i, k.ID(), kids(before))
			}
			if seen[k.ID()] {
				t.Fatalf("rotation %d: key %s active twice", i, k.ID())
			}
			seen[k.ID()] = true
			if _, err := verify(signJWT(t, k, "x"), before, keys.ES256); err != nil {
				t.Fatalf("rotation %d: a verifier holding the pre-rotation JWKS rejects the new key: %v", i, err)
			}
		}
	})
}

// TestConcurrentReplicas: replicas starting together create exactly one
// active and one next key; replicas rotating together never make two active
// keys; replicas whose schedule fires together rotate once.
func TestConcurrentReplicas(t *testing.T) {
	const replicas = 6
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		ms := make([]*keys.Manager, replicas)
		for i := range ms {
			ms[i] = c.replica(keys.ES256)
		}
		all := func(f func(m *keys.Manager) error) []error {
			errs := make([]error, replicas)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, m := range ms {
				wg.Go(func() {
					<-start
					errs[i] = f(m)
				})
			}
			close(start)
			wg.Wait()
			return errs
		}

		for i, err := range all(func(m *keys.Manager) error { return m.Ensure(t.Context()) }) {
			if err != nil {
				t.Fatalf("replica %d Ensure: %v", i, err)
			}
		}
		s := wantOneActiveOneNext(t, c.st)
		if len(s[store.SigningKeyRetired]) != 0 {
			t.Fatalf("Ensure retired keys: %v", s)
		}
		for i, m := range ms {
			if got := activeKey(t, m).ID(); got != s[store.SigningKeyActive][0] {
				t.Fatalf("replica %d signs with %s, want %s", i, got, s[store.SigningKeyActive][0])
			}
		}

		// Explicit rotations (admin rotate-keys from several places): they
		// take turns, each is a whole rotation.
		c.clock.Advance(time.Minute)
		for i, err := range all(func(m *keys.Manager) error { return m.Rotate(t.Context()) }) {
			if err != nil {
				t.Fatalf("replica %d Rotate: %v", i, err)
			}
		}
		s = wantOneActiveOneNext(t, c.st)
		if len(s[store.SigningKeyRetired]) != replicas {
			t.Fatalf("%d concurrent rotations left %d retired keys, want %d: %v", replicas, len(s[store.SigningKeyRetired]), replicas, s)
		}

		// Rotations of the key each saw active (admin rotate-keys): one
		// rotates, and it retires exactly that key.
		seen := s[store.SigningKeyActive][0]
		before := len(s[store.SigningKeyRetired])
		var rotatedSeen atomic.Int32
		for i, err := range all(func(m *keys.Manager) error {
			ok, err := m.RotateActive(t.Context(), seen)
			if ok {
				rotatedSeen.Add(1)
			}
			return err
		}) {
			if err != nil {
				t.Fatalf("replica %d RotateActive: %v", i, err)
			}
		}
		s = wantOneActiveOneNext(t, c.st)
		if rotatedSeen.Load() != 1 || len(s[store.SigningKeyRetired]) != before+1 || !slices.Contains(s[store.SigningKeyRetired], seen) {
			t.Fatalf("%d concurrent rotations of %s: %d rotated, retired %v; want 1 rotation retiring it", replicas, seen, rotatedSeen.Load(), s[store.SigningKeyRetired])
		}

		// Scheduled rotations: all due at once, exactly one rotates.
		const period = 24 * time.Hour
		c.clock.Advance(period)
		var rotated sync.Map
		for i, err := range all(func(m *keys.Manager) error {
			ok, err := m.RotateIfDue(t.Context(), period)
			if ok {
				rotated.Store(m, true)
			}
			return err
		}) {
			if err != nil {
				t.Fatalf("replica %d RotateIfDue: %v", i, err)
			}
		}
		n := 0
		rotated.Range(func(_, _ any) bool { n++; return true })
		prev := s[store.SigningKeyActive][0]
		s = wantOneActiveOneNext(t, c.st)
		// The earlier retired keys expired during the period and were deleted.
		if n != 1 || !slices.Equal(s[store.SigningKeyRetired], []string{prev}) {
			t.Fatalf("%d replicas with a due rotation: %d rotated, retired %v; want 1 rotation retiring %s", replicas, n, s[store.SigningKeyRetired], prev)
		}
	})
}

// TestCache: SigningKey does not read the database within CacheTTL, so a
// replica that did not rotate keeps signing with the old key until its cache
// expires, then converges.
func TestCache(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		a, b := c.replica(keys.ES256), c.replica(keys.ES256)
		must(t, a.Ensure(t.Context()))
		old := activeKey(t, a).ID()
		oldSet := kids(jwks(t, a))
		must(t, b.Rotate(t.Context()))
		fresh := activeKey(t, b).ID()
		if fresh == old {
			t.Fatal("Rotate did not change the active key")
		}
		c.clock.Advance(keys.DefaultCacheTTL - time.Millisecond)
		if got := activeKey(t, a).ID(); got != old {
			t.Errorf("within the TTL replica A signs with %s, want its cached %s", got, old)
		}
		if got := kids(jwks(t, a)); !slices.Equal(got, oldSet) {
			t.Errorf("within the TTL replica A publishes %v, want its cached %v", got, oldSet)
		}
		c.clock.Advance(time.Millisecond)
		if got := activeKey(t, a).ID(); got != fresh {
			t.Errorf("after the TTL replica A signs with %s, want %s", got, fresh)
		}
		if got := len(jwks(t, a).Keys); got != 3 {
			t.Errorf("after the TTL replica A publishes %d keys, want 3", got)
		}
	})

	t.Run("no database on the hot path", func(t *testing.T) {
		t.Parallel()
		c := newCluster(t, testenv.SQLite)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		k := activeKey(t, m)
		_ = jwks(t, m)
		must(t, c.st.Close())
		for range 100 {
			if got := activeKey(t, m); got != k {
				t.Fatal("cached key changed")
			}
		}
		if len(jwks(t, m).Keys) != 2 {
			t.Fatal("cached JWKS changed")
		}
		c.clock.Advance(keys.DefaultCacheTTL)
		if _, err := m.SigningKey(t.Context()); err == nil {
			t.Error("after the TTL, SigningKey did not go to the (closed) database")
		}
		if _, err := m.PublicJWKS(t.Context()); err == nil {
			t.Error("after the TTL, PublicJWKS did not go to the (closed) database")
		}
	})
}

// TestPrivateKeysSealed: the stored private key is an opaque sealed value (no
// PEM, no DER, no JWK private parameters, in any column), a wrong
// key-encryption key is reported as such, and a sealed key moved to another
// row does not open.
func TestPrivateKeysSealed(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, alg := range keys.Algorithms {
			t.Run(string(alg), func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, open)
				m := c.replica(alg)
				must(t, m.Ensure(t.Context()))
				k := activeKey(t, m)

				der, err := x509.MarshalPKCS8PrivateKey(k.Signer())
				must(t, err)
				privJSON, err := json.Marshal(k.PrivateJWK())
				must(t, err)
				var priv map[string]any
				must(t, json.Unmarshal(privJSON, &priv))
				secrets := []string{"PRIVATE KEY", base64.StdEncoding.EncodeToString(der)[:40], priv["d"].(string)}
				if alg == keys.RS256 {
					secrets = append(secrets, priv["p"].(string), priv["q"].(string))
				}
				rows, err := c.st.Read().ListSigningKeys(t.Context())
				must(t, err)
				for _, r := range rows {
					if !strings.HasPrefix(r.SealedPrivateKey, "v1:") {
						t.Errorf("key %s: stored private key %.20q… is not a sealed value", r.ID, r.SealedPrivateKey)
					}
					var pub map[string]any
					must(t, json.Unmarshal([]byte(r.PublicJWK), &pub))
					for _, p := range []string{"d", "p", "q", "dp", "dq", "qi"} {
						if _, ok := pub[p]; ok {
							t.Errorf("key %s: public JWK column has private parameter %q", r.ID, p)
						}
					}
					if r.ID != k.ID() {
						continue
					}
					for _, col := range []string{r.SealedPrivateKey, r.PublicJWK, r.ID} {
						for _, s := range secrets {
							if strings.Contains(col, s) {
								t.Errorf("key %s: a stored column contains private material %.12q…", r.ID, s)
							}
						}
					}
				}

				// Another key-encryption key: a clear error, no key.
				other := c.replica(alg)
				other.Sealer = newSealer(t)
				_, err = other.SigningKey(t.Context())
				if !errors.Is(err, secret.ErrWrongKey) || !strings.Contains(err.Error(), "--encryption-key") {
					t.Errorf("wrong key-encryption key: %v; want secret.ErrWrongKey naming --encryption-key", err)
				}

				// The next key's sealed value copied onto the active row:
				// the AAD binds it to its own kid.
				next, err := c.st.Read().SigningKeyInState(t.Context(), store.PlatformScope, string(alg), store.SigningKeyNext)
				must(t, err)
				_, err = c.st.DB().ExecContext(t.Context(), "UPDATE signing_keys SET private_key = $1 WHERE id = $2", next.SealedPrivateKey, k.ID())
				must(t, err)
				if _, err := c.replica(alg).SigningKey(t.Context()); err == nil || errors.Is(err, secret.ErrWrongKey) {
					t.Errorf("a sealed key moved to another row: %v; want an authentication failure", err)
				}
			})
		}
	})
}

// TestWrongKeyWritesNothing: a replica or admin command with another
// key-encryption key fails before writing, instead of adding keys that the
// other replicas cannot open.
func TestWrongKeyWritesNothing(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, tc := range []struct {
			name string
			prep func(t *testing.T, st *store.Store) // breaks the state first, or not
			run  func(ctx context.Context, m *keys.Manager) error
		}{
			{"Ensure", nil, func(ctx context.Context, m *keys.Manager) error { return m.Ensure(ctx) }},
			{"Ensure with the next key missing", func(t *testing.T, st *store.Store) {
				_, err := st.DB().ExecContext(t.Context(), "DELETE FROM signing_keys WHERE state = 'next'")
				must(t, err)
			}, func(ctx context.Context, m *keys.Manager) error { return m.Ensure(ctx) }},
			{"Rotate", nil, func(ctx context.Context, m *keys.Manager) error { return m.Rotate(ctx) }},
			{"RotateIfDue", nil, func(ctx context.Context, m *keys.Manager) error {
				_, err := m.RotateIfDue(ctx, time.Nanosecond)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, open)
				must(t, c.replica(keys.ES256).Ensure(t.Context()))
				if tc.prep != nil {
					tc.prep(t, c.st)
				}
				before, err := c.st.Read().ListSigningKeys(t.Context())
				must(t, err)
				c.clock.Advance(time.Hour)
				wrong := c.replica(keys.ES256)
				wrong.Sealer = newSealer(t)
				if err := tc.run(t.Context(), wrong); !errors.Is(err, secret.ErrWrongKey) {
					t.Fatalf("with another key-encryption key: %v, want secret.ErrWrongKey", err)
				}
				after, err := c.st.Read().ListSigningKeys(t.Context())
				must(t, err)
				if !slices.EqualFunc(before, after, func(a, b *store.SigningKey) bool { return *a == *b }) {
					t.Errorf("a refused call changed the keys")
				}
			})
		}
	})
}

// TestJWKSHasNoPrivateMaterial: every published key is public, with kid, alg,
// use=sig and none of the private parameters.
func TestJWKSHasNoPrivateMaterial(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.platform(keys.ES256)
		m.NewPrivateKey = nil // real key material, RSA 3072 included
		must(t, m.Ensure(t.Context()))
		// An active and a next key of each algorithm, and a retired RS256 key.
		rot, err := m.RotateAlgorithms(t.Context(), "RS256")
		must(t, err)
		if len(rot) != 1 || rot[0].Algorithm != "RS256" || rot[0].Retired == "" {
			t.Fatalf("RotateAlgorithms(RS256): %+v", rot)
		}
		set := jwks(t, m)
		body, err := json.Marshal(set)
		must(t, err)
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		must(t, json.Unmarshal(body, &doc))
		if len(doc.Keys) != 7 {
			t.Fatalf("JWKS has %d keys, want 7: %s", len(doc.Keys), body)
		}
		algs := map[string]bool{}
		for _, k := range doc.Keys {
			for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
				if _, ok := k[p]; ok {
					t.Errorf("key %v publishes private parameter %q", k["kid"], p)
				}
			}
			if k["use"] != "sig" || k["kid"] == "" || k["kid"] == nil || k["alg"] == nil || k["kty"] == nil {
				t.Errorf("key %v: want kid, alg, kty and use=sig", k)
			}
			algs[k["alg"].(string)] = true
		}
		for _, jwk := range set.Keys {
			if !jwk.IsPublic() {
				t.Errorf("key %s is not public", jwk.KeyID)
			}
			if pub, ok := jwk.Key.(*rsa.PublicKey); ok && pub.N.BitLen() != keys.RSABits {
				t.Errorf("RSA key %s has %d bits, want %d", jwk.KeyID, pub.N.BitLen(), keys.RSABits)
			}
		}
		if !algs["ES256"] || !algs["ES512"] || !algs["RS256"] {
			t.Errorf("JWKS algorithms %v, want ES256, ES512 and RS256", algs)
		}
	})
}

// TestDefaultAlgorithmSwitch: every algorithm's key set is published from
// the start, so a new default algorithm (Algorithm, --signing-algorithm)
// signs at once with its set's active key, which verifiers have long known,
// and changes nothing in the JWKS.
func TestDefaultAlgorithmSwitch(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.platform(keys.ES256)
		must(t, m.Ensure(t.Context()))
		before := kids(jwks(t, m))
		if k := activeKey(t, m); k.SignatureAlgorithm() != keys.ES256 {
			t.Fatalf("default key %s, want ES256", k.SignatureAlgorithm())
		}
		m.Algorithm = string(keys.ES512)
		must(t, m.Ensure(t.Context())) // a restart with the new setting writes nothing
		k := activeKey(t, m)
		es512, err := m.SigningKeyFor(t.Context(), "ES512")
		must(t, err)
		if k.SignatureAlgorithm() != keys.ES512 || k.ID() != es512.ID() {
			t.Fatalf("after the switch the default key is %s %s, want the ES512 set's active key %s", k.SignatureAlgorithm(), k.ID(), es512.ID())
		}
		if !slices.Contains(before, k.ID()) {
			t.Errorf("the new default key %s was not published before: %v", k.ID(), before)
		}
		if got := kids(jwks(t, m)); !slices.Equal(sorted(got), sorted(before)) {
			t.Errorf("the switch changed the JWKS: %v, was %v", got, before)
		}
		if got := jwks(t, m).Keys[0]; got.KeyID != k.ID() {
			t.Errorf("the JWKS starts with %s %s, want the default algorithm's active key %s", got.Algorithm, got.KeyID, k.ID())
		}
		if _, err := verify(signJWT(t, k, "x"), jwks(t, m), keys.ES512); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotateIfDueAndRun: RotateIfDue rotates only when the active key has
// been active for the period, and Run does it on its own schedule.
func TestRotateIfDueAndRun(t *testing.T) {
	const period = 24 * time.Hour
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		for _, tc := range []struct {
			advance time.Duration
			period  time.Duration
			want    bool
		}{
			{0, period, false},
			{period - time.Millisecond, period, false},
			{time.Millisecond, 0, false}, // schedule disabled
			{0, period, true},
			{0, period, false}, // the new key is brand new
			{period / 2, period, false},
		} {
			c.clock.Advance(tc.advance)
			got, err := m.RotateIfDue(t.Context(), tc.period)
			must(t, err)
			if got != tc.want {
				t.Fatalf("at +%v with period %v: rotated=%v, want %v", c.clock.Now().Sub(t0), tc.period, got, tc.want)
			}
		}

		m.CheckInterval = time.Millisecond
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx, period) }()
		before := activeKey(t, m).ID()
		time.Sleep(20 * time.Millisecond)
		if got := len(states(t, c.st)[store.SigningKeyRetired]); got != 1 {
			t.Fatalf("Run rotated a key that is not due: %d retired", got)
		}
		c.clock.Advance(period)
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Contains(states(t, c.st)[store.SigningKeyRetired], before) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // more ticks: still one rotation
		// The key retired earlier expired during the period and was deleted.
		s := wantOneActiveOneNext(t, c.st)
		if !slices.Equal(s[store.SigningKeyRetired], []string{before}) {
			t.Fatalf("Run: %v; want %s retired by one rotation", s, before)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return when its context ended")
		}
	})
}

// TestEnsureRepairs: Ensure creates what is missing and keeps what exists; a
// missing active key is replaced by the (already published) next key.
func TestEnsureRepairs(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, tc := range []struct {
			name        string
			delete      []store.SigningKeyState
			keepActive  bool // the active key is unchanged
			nextBecomes bool // the old next key is now active
		}{
			{"nothing missing", nil, true, false},
			{"next missing", []store.SigningKeyState{store.SigningKeyNext}, true, false},
			{"active missing", []store.SigningKeyState{store.SigningKeyActive}, false, true},
			{"both missing", []store.SigningKeyState{store.SigningKeyActive, store.SigningKeyNext}, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, open)
				m := c.replica(keys.ES256)
				must(t, m.Ensure(t.Context()))
				before := states(t, c.st)
				for _, s := range tc.delete {
					_, err := c.st.DB().ExecContext(t.Context(), "DELETE FROM signing_keys WHERE state = $1", string(s))
					must(t, err)
				}
				must(t, m.Ensure(t.Context()))
				after := wantOneActiveOneNext(t, c.st)
				if got := after[store.SigningKeyActive][0] == before[store.SigningKeyActive][0]; got != tc.keepActive {
					t.Errorf("active key kept=%v, want %v", got, tc.keepActive)
				}
				if got := after[store.SigningKeyActive][0] == before[store.SigningKeyNext][0]; got != tc.nextBecomes {
					t.Errorf("old next key active=%v, want %v", got, tc.nextBecomes)
				}
			})
		}
	})
}

// TestDropRetired: after a compromise, rotating twice and dropping the
// retired keys leaves only keys generated afterwards.
func TestDropRetired(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		exposed := kids(jwks(t, m))
		must(t, m.Rotate(t.Context()))
		must(t, m.Rotate(t.Context()))
		n, err := m.DropRetired(t.Context())
		must(t, err)
		if n != 2 {
			t.Errorf("dropped %d keys, want 2", n)
		}
		set := kids(jwks(t, m))
		for _, k := range exposed {
			if slices.Contains(set, k) {
				t.Errorf("exposed key %s still published: %v", k, set)
			}
		}
		if len(set) != 2 {
			t.Errorf("JWKS %v, want the new active and next keys", set)
		}
	})
}

// TestConfiguration: a bad configuration is refused before anything is
// written.
func TestConfiguration(t *testing.T) {
	t.Parallel()
	c := newCluster(t, testenv.SQLite)
	for _, tc := range []struct {
		name   string
		change func(m *keys.Manager)
		want   string
	}{
		{"unknown algorithm", func(m *keys.Manager) { m.Algorithm = "HS256" }, `unsupported signing algorithm "HS256"`},
		{"no token lifetime", func(m *keys.Manager) { m.TokenLifetime = 0 }, "maximum token lifetime"},
		{"no key-encryption key", func(m *keys.Manager) { m.Sealer = nil }, "no key-encryption key"},
		{"no store", func(m *keys.Manager) { m.Store = nil }, "no store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := c.replica(keys.ES256)
			tc.change(m)
			for name, err := range map[string]error{
				"Ensure": m.Ensure(t.Context()),
				"Rotate": m.Rotate(t.Context()),
			} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
				}
			}
		})
	}
	if s := states(t, c.st); len(s) != 0 {
		t.Errorf("refused configurations wrote keys: %v", s)
	}
	for _, a := range []string{"ES256", "ES512", "RS256"} {
		if err := keys.CheckAlgorithm(a); err != nil {
			t.Errorf("CheckAlgorithm(%s): %v", a, err)
		}
	}
	if _, err := c.replica(keys.ES256).SigningKey(t.Context()); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Errorf("SigningKey before Ensure: %v, want ErrNoActiveKey", err)
	}
}
