package keys_test

import (
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// BenchmarkSign: sign a small JWT (an access-token-sized claim set) with the
// cached active key, per algorithm, the way the token endpoint will: fetch the
// key from the Manager (a cache hit), build a jose.Signer, sign, serialize.
// The database is SQLite; it is not read during the loop (CacheTTL).
func BenchmarkSign(b *testing.B) {
	for _, alg := range keys.Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			c := newCluster(b, testenv.SQLite)
			m := c.replica(alg)
			m.NewPrivateKey = nil // production key material: RSA 3072, not the tests' pooled RSA 2048
			if err := m.Ensure(b.Context()); err != nil {
				b.Fatal(err)
			}
			claims := struct {
				jwt.Claims
				Scope    string   `json:"scope"`
				ClientID string   `json:"client_id"`
				Orgs     []string `json:"org_ids"`
			}{
				Claims: jwt.Claims{
					Issuer: "https://id.example.com", Subject: "0194f7a2-5c1e-7d3a-9b1f-2a6c8e4d0f11",
					Audience: jwt.Audience{"https://api.example.com"}, ID: "0194f7a2-5c1e-7d3a-9b1f-2a6c8e4d0f12",
					IssuedAt: jwt.NewNumericDate(t0), Expiry: jwt.NewNumericDate(t0.Add(time.Hour)),
				},
				Scope: "openid email profile", ClientID: "console",
				Orgs: []string{"0194f7a2-5c1e-7d3a-9b1f-2a6c8e4d0f13"},
			}
			opts := (&jose.SignerOptions{}).WithType("at+jwt")
			var raw string
			for b.Loop() {
				k, err := m.SigningKey(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				signer, err := jose.NewSigner(k.JOSE(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if raw, err = jwt.Signed(signer).Claims(claims).Serialize(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(raw)), "token-bytes")
		})
	}
}

// BenchmarkSigningKey: the cache hit alone, from all cores at once.
func BenchmarkSigningKey(b *testing.B) {
	c := newCluster(b, testenv.SQLite)
	m := c.replica(keys.ES256)
	if err := m.Ensure(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.SigningKey(b.Context()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRotate: one rotation per algorithm on SQLite: generate the fresh
// next key (RSA 3072 dominates RS256), then the transaction. The clock moves
// past the retired keys' expiry each time, so the table stays at three rows.
func BenchmarkRotate(b *testing.B) {
	for _, alg := range keys.Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			c := newCluster(b, testenv.SQLite)
			m := c.replica(alg)
			m.NewPrivateKey = nil // production key material: RSA 3072, not the tests' pooled RSA 2048
			if err := m.Ensure(b.Context()); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c.clock.Advance(2 * lifetime)
				if err := m.Rotate(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
