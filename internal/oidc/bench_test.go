package oidc_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// latencies records per-operation durations and reports p50/p99.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-µs")
}

// timed runs op b.N times over loopback HTTP and reports the latencies.
func timed(b *testing.B, op func() int) {
	b.Helper()
	l := make(latencies, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if status := op(); status != http.StatusOK {
			b.Fatalf("status %d", status)
		}
		l = append(l, time.Since(start))
	}
	b.StopTimer()
	l.report(b)
}

// send sends req with env's client and reads the answer to the end, so
// that the connection is reused (the benchmarks measure requests, not
// connection set-up).
func send(b *testing.B, env *testenv.Env, req *http.Request) int {
	return drain(b, env.Client, req)
}

func drain(b *testing.B, hc *http.Client, req *http.Request) int {
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func formRequest(path string, v url.Values, id, sec string) *http.Request {
	req, _ := http.NewRequest("POST", path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, sec)
	}
	return req
}

// BenchmarkOIDC measures, per database engine, over loopback HTTP against the
// full server (guard, metrics, logging): client_credentials tokens (each
// signed), userinfo and introspection of a user's access token, and refresh
// token rotations (each a conditional UPDATE plus a signed token).
func BenchmarkOIDC(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			env := newEnv(b, be.Open)
			svc, svcSec := newClient(b, env, func(s *client.Spec) {
				s.Name = "svc"
				s.GrantTypes = []string{client.GrantClientCredentials}
				s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
			})
			web, webSec := newClient(b, env, nil)
			r := newRP(b, env, web, webSec)
			f, code := r.login()
			tok := r.exchange(f, code)

			b.Run("client_credentials", func(b *testing.B) {
				v := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
				timed(b, func() int { return send(b, env, formRequest(env.URL+oidc.TokenPath, v, svc.ID, svcSec)) })
			})
			b.Run("userinfo", func(b *testing.B) {
				timed(b, func() int {
					req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					return send(b, env, req)
				})
			})
			b.Run("introspect", func(b *testing.B) {
				v := url.Values{"token": {tok.AccessToken}}
				timed(b, func() int { return send(b, env, formRequest(env.URL+oidc.IntrospectionPath, v, web.ID, webSec)) })
			})
			// Single sign-on: the browser's session turns an authorization
			// request into a code without a page (create the request,
			// authenticate it from the session, save the code: three write
			// transactions).
			b.Run("sso_authorize", func(b *testing.B) {
				timed(b, func() int {
					resp, err := r.browser.Get(r.conf.AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none"),
						oauth2.S256ChallengeOption("bench-verifier-bench-verifier-bench-verifier")))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if !strings.Contains(resp.Header.Get("Location"), "code=") {
						b.Fatalf("no code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
					}
					return http.StatusOK
				})
			})
			// current survives reruns (-count): a rotated token must not be
			// presented again, or reuse detection revokes the session.
			current := tok.RefreshToken
			b.Run("refresh", func(b *testing.B) {
				l := make(latencies, 0, b.N)
				for b.Loop() {
					start := time.Now()
					next, err := r.refresh(current)
					if err != nil {
						b.Fatal(err)
					}
					l = append(l, time.Since(start))
					current = next.RefreshToken
				}
				l.report(b)
			})
		})
	}
}

// BenchmarkOIDCMTLS measures RFC 8705 over HTTPS (connections kept alive,
// so the handshake is not in the numbers): client_credentials authenticated
// by a self-signed client certificate (thumbprint lookup, certificate-bound
// token), and userinfo with a certificate-bound user token (the binding
// check on top of the usual verification).
func BenchmarkOIDCMTLS(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			env := newEnvWith(b, be.Open, testenv.Options{ClientCAs: newTestCA(b, "CA").Pool})
			cert := testenv.SelfSigned(b, testenv.CertOptions{})
			svc := certClient(b, env, "svc", client.AuthSelfSignedTLSClientAuth, client.TLSIdentity{}, []string{client.Thumbprint(cert.Leaf)},
				client.GrantClientCredentials)
			web := certClient(b, env, "web", client.AuthSelfSignedTLSClientAuth, client.TLSIdentity{}, []string{client.Thumbprint(cert.Leaf)},
				client.GrantAuthorizationCode, client.GrantRefreshToken)
			withCert := env.ClientWithCertificate(cert)
			r := newRP(b, env, web, "")
			r.ctx = gooidc.ClientContext(context.Background(), withCert)
			f, code := r.login()
			tok := r.exchange(f, code)
			do := func(req *http.Request) int { return drain(b, withCert, req) }
			b.Run("client_credentials", func(b *testing.B) {
				v := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.ID}, "scope": {"read"}}
				timed(b, func() int { return do(formRequest(env.URL+oidc.TokenPath, v, "", "")) })
			})
			b.Run("userinfo_bound", func(b *testing.B) {
				timed(b, func() int {
					req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					return do(req)
				})
			})
		})
	}
}
