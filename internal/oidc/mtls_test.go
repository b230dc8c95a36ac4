package oidc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// newTestCA is a CA for client certificates.
func newTestCA(t testing.TB, name string) *testenv.CA {
	t.Helper()
	return testenv.NewCA(t, name, nil, testenv.CertOptions{})
}

// certTokenRequest posts a client_credentials request of clientID over a
// connection presenting cert (none when cert is nil).
func certTokenRequest(t *testing.T, env *testenv.Env, clientID string, cert *tls.Certificate, basicSecret string) (int, map[string]any) {
	t.Helper()
	hc := env.Client
	if cert != nil {
		hc = env.ClientWithCertificate(*cert)
	}
	basicID := ""
	if basicSecret != "" {
		basicID = clientID
	}
	return postForm(t, hc, env.URL+oidc.TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"scope": {"read"}}, basicID, basicSecret)
}

func certClient(t testing.TB, env *testenv.Env, name, method string, id client.TLSIdentity, thumbprints []string, grants ...string) *client.Client {
	t.Helper()
	c, sec := newClient(t, env, func(s *client.Spec) {
		s.Name, s.TokenEndpointAuthMethod, s.TLSClientAuth, s.TLSCertificates = name, method, id, thumbprints
		s.GrantTypes = grants
		s.Scopes = []string{"openid", "email", "offline_access", "read"}
		if len(grants) == 1 && grants[0] == client.GrantClientCredentials {
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		}
	})
	if sec != "" {
		t.Fatalf("a certificate client got a secret")
	}
	return c
}

// TestMTLSClientAuthentication: RFC 8705 client authentication at the token
// endpoint, with certificates made here: tls_client_auth by SAN and by
// subject DN against the configured CA, self_signed_tls_client_auth by
// thumbprint; every wrong certificate, and a secret alongside, is a 401. The
// token is bound to the certificate (cnf.x5t#S256).
func TestMTLSClientAuthentication(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ca, rogue := newTestCA(t, "Acme Clients"), newTestCA(t, "Rogue")
		env := newEnvWith(t, open, testenv.Options{ClientCAs: ca.Pool})
		billingCert := ca.Issue(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "billing"}, DNS: []string{"billing.svc.example"}})
		ledgerCert := ca.Issue(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "ledger", Organization: []string{"Acme"}}})
		robotCert := testenv.SelfSigned(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "robot"}})
		billing := certClient(t, env, "billing", client.AuthTLSClientAuth, client.TLSIdentity{Field: client.TLSSANDNS, Value: "billing.svc.example"}, nil, client.GrantClientCredentials)
		ledger := certClient(t, env, "ledger", client.AuthTLSClientAuth, client.TLSIdentity{Field: client.TLSSubjectDN, Value: "CN=ledger,O=Acme"}, nil, client.GrantClientCredentials)
		robot := certClient(t, env, "robot", client.AuthSelfSignedTLSClientAuth, client.TLSIdentity{}, []string{client.Thumbprint(robotCert.Leaf)}, client.GrantClientCredentials)
		_, secretClientSecret := newClient(t, env, func(s *client.Spec) {
			s.Name, s.GrantTypes, s.Scopes = "secret", []string{client.GrantClientCredentials}, []string{"read"}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		})

		ptr := func(c tls.Certificate) *tls.Certificate { return &c }
		tests := []struct {
			name   string
			client string
			cert   *tls.Certificate
			secret string
			want   int
		}{
			{"SAN DNS from the CA", billing.ID, ptr(billingCert), "", http.StatusOK},
			{"subject DN from the CA", ledger.ID, ptr(ledgerCert), "", http.StatusOK},
			{"registered self-signed", robot.ID, ptr(robotCert), "", http.StatusOK},
			{"no certificate", billing.ID, nil, "", http.StatusUnauthorized},
			{"the right SAN from another CA", billing.ID, ptr(rogue.Issue(t, testenv.CertOptions{DNS: []string{"billing.svc.example"}})), "", http.StatusUnauthorized},
			{"the CA, another SAN", billing.ID, ptr(ca.Issue(t, testenv.CertOptions{DNS: []string{"other.svc.example"}})), "", http.StatusUnauthorized},
			{"the CA, another subject", ledger.ID, ptr(ca.Issue(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "ledger", Organization: []string{"Evil"}}})), "", http.StatusUnauthorized},
			{"expired", billing.ID, ptr(ca.Issue(t, testenv.CertOptions{DNS: []string{"billing.svc.example"}, NotAfter: time.Now().Add(-time.Minute)})), "", http.StatusUnauthorized},
			{"not for client authentication", billing.ID, ptr(ca.Issue(t, testenv.CertOptions{DNS: []string{"billing.svc.example"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})), "", http.StatusUnauthorized},
			{"a secret alongside the certificate", billing.ID, ptr(billingCert), "ghcs_guess", http.StatusUnauthorized},
			{"another self-signed certificate", robot.ID, ptr(testenv.SelfSigned(t, testenv.CertOptions{})), "", http.StatusUnauthorized},
			{"a CA certificate for a self-signed client", robot.ID, ptr(billingCert), "", http.StatusUnauthorized},
			{"a secret client presenting a certificate and its secret", "", ptr(billingCert), secretClientSecret, http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id := tt.client
				if id == "" {
					// The secret client: the certificate is ignored, the secret counts.
					cs, _ := env.Clients.List(t.Context(), store.Page{Limit: store.NoLimit})
					for _, c := range cs {
						if c.Name == "secret" {
							id = c.ID
						}
					}
				}
				status, body := certTokenRequest(t, env, id, tt.cert, tt.secret)
				if status != tt.want {
					t.Fatalf("status %d, want %d: %v", status, tt.want, body)
				}
				if status != http.StatusOK {
					if body["error"] != "invalid_client" || body["access_token"] != nil {
						t.Fatalf("refusal %v", body)
					}
					return
				}
				cnf, _ := claimsOf(t, body["access_token"].(string))["cnf"].(map[string]any)
				switch {
				case tt.secret != "" && cnf != nil:
					t.Fatalf("a secret client's token is bound: %v", cnf)
				case tt.secret == "" && (cnf == nil || cnf["x5t#S256"] != client.Thumbprint(tt.cert.Leaf)):
					t.Fatalf("cnf %v, want the certificate's thumbprint", cnf)
				}
			})
		}
	})
}

// TestMTLSDiscovery: with client CAs, discovery offers the RFC 8705 methods
// and certificate-bound tokens.
func TestMTLSDiscovery(t *testing.T) {
	env := newEnvWith(t, testenv.SQLite, testenv.Options{ClientCAs: newTestCA(t, "CA").Pool})
	var d map[string]any
	env.Must(http.StatusOK, "GET", "/.well-known/openid-configuration", "", nil).JSON(t, &d)
	for _, k := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		got := strings.Join(asStrings(d[k]), " ")
		if !strings.Contains(got, "tls_client_auth") || !strings.Contains(got, "self_signed_tls_client_auth") {
			t.Errorf("%s = %s", k, got)
		}
	}
	if d["tls_client_certificate_bound_access_tokens"] != true || !strings.HasPrefix(d["issuer"].(string), "https://") {
		t.Errorf("discovery %v", d)
	}
}

func asStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestCertificateBoundTokens: a user's tokens issued to a client that
// authenticates with its certificate are bound to it: /api/v1, userinfo
// and token exchange refuse them over a connection without that
// certificate; introspection tells the binding; refresh needs the
// certificate and binds the new token again.
func TestCertificateBoundTokens(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ca := newTestCA(t, "Acme Clients")
		env := newEnvWith(t, open, testenv.Options{ClientCAs: ca.Pool})
		cert := testenv.SelfSigned(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "portal"}})
		other := testenv.SelfSigned(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "thief"}})
		portal := certClient(t, env, "portal", client.AuthSelfSignedTLSClientAuth, client.TLSIdentity{}, []string{client.Thumbprint(cert.Leaf)},
			client.GrantAuthorizationCode, client.GrantRefreshToken)
		exchanger, exchangerSecret := newClient(t, env, func(s *client.Spec) {
			s.Name = "exchanger"
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		})
		r := newRP(t, env, portal, "")
		withCert := env.ClientWithCertificate(cert)
		r.ctx = gooidc.ClientContext(context.Background(), withCert)
		f, code := r.login()
		tok := r.exchange(f, code)
		cnf, _ := claimsOf(t, tok.AccessToken)["cnf"].(map[string]any)
		if cnf == nil || cnf["x5t#S256"] != client.Thumbprint(cert.Leaf) {
			t.Fatalf("access token cnf %v", cnf)
		}
		get := func(hc *http.Client, path, token string) int {
			req, _ := http.NewRequest("GET", env.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		thief := env.ClientWithCertificate(other)
		for _, path := range []string{"/api/v1/acl", oidc.UserinfoPath} {
			if got := get(withCert, path, tok.AccessToken); got != http.StatusOK {
				t.Errorf("%s with the certificate: %d", path, got)
			}
			if got := get(env.Client, path, tok.AccessToken); got != http.StatusUnauthorized {
				t.Errorf("%s without a certificate: %d", path, got)
			}
			if got := get(thief, path, tok.AccessToken); got != http.StatusUnauthorized {
				t.Errorf("%s with another certificate: %d", path, got)
			}
		}

		// Introspection by the portal itself, authenticated by its certificate.
		introspect := func(hc *http.Client) (int, map[string]any) {
			return postForm(t, hc, env.URL+oidc.IntrospectionPath, url.Values{"client_id": {portal.ID}, "token": {tok.AccessToken}}, "", "")
		}
		if status, m := introspect(withCert); status != http.StatusOK || m["active"] != true ||
			m["cnf"].(map[string]any)["x5t#S256"] != client.Thumbprint(cert.Leaf) {
			t.Fatalf("introspection: %d %v", status, m)
		}
		if status, m := introspect(thief); status != http.StatusUnauthorized || m["active"] != nil {
			t.Fatalf("introspection with another certificate: %d %v", status, m)
		}

		// Refresh: only with the certificate, and the new token is bound again.
		plain := newRP(t, env, portal, "")
		if _, err := plain.refresh(tok.RefreshToken); err == nil {
			t.Fatal("refresh without the certificate worked")
		}
		fresh, err := r.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if cnf, _ := claimsOf(t, fresh.AccessToken)["cnf"].(map[string]any); cnf["x5t#S256"] != client.Thumbprint(cert.Leaf) {
			t.Fatalf("refreshed token cnf %v", cnf)
		}

		// Token exchange: the bound token is exchanged only by a holder of its certificate.
		exchange := func(hc *http.Client) (int, map[string]any) {
			return postForm(t, hc, env.URL+oidc.TokenPath, url.Values{"grant_type": {client.GrantTokenExchange},
				"subject_token": {fresh.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}},
				exchanger.ID, exchangerSecret)
		}
		if status, m := exchange(env.Client); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("exchange without the certificate: %d %v", status, m)
		}
		status, m := exchange(withCert)
		if status != http.StatusOK {
			t.Fatalf("exchange with the certificate: %d %v", status, m)
		}
		if cnf, _ := claimsOf(t, m["access_token"].(string))["cnf"].(map[string]any); cnf["x5t#S256"] != client.Thumbprint(cert.Leaf) {
			t.Fatalf("the exchanged token lost the binding: %v", cnf)
		}
	})
}
