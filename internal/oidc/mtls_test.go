package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
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

// testCA issues TLS client certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return n
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := mustECKey(t)
	tmpl := &x509.Certificate{SerialNumber: newSerial(), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// certOpts shape a client certificate.
type certOpts struct {
	subject  pkix.Name
	dns      []string
	eku      []x509.ExtKeyUsage
	notAfter time.Time
}

// issue makes a client certificate signed by ca (self-signed when ca is nil).
func issue(t testing.TB, ca *testCA, o certOpts) tls.Certificate {
	t.Helper()
	key := mustECKey(t)
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(time.Hour)
	}
	tmpl := &x509.Certificate{SerialNumber: newSerial(), Subject: o.subject, DNSNames: o.dns, ExtKeyUsage: o.eku,
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: o.notAfter}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// certTokenRequest posts a client_credentials request of clientID over a
// connection presenting cert (none when cert is nil).
func certTokenRequest(t *testing.T, env *testenv.Env, clientID string, cert *tls.Certificate, basicSecret string) (int, map[string]any) {
	t.Helper()
	hc := env.Client
	if cert != nil {
		hc = env.ClientWithCertificate(*cert)
	}
	req, _ := http.NewRequest("POST", env.URL+oidc.TokenPath, strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicSecret != "" {
		req.SetBasicAuth(clientID, basicSecret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
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
		env := newEnvWith(t, open, testenv.Options{ClientCAs: ca.pool})
		billingCert := issue(t, ca, certOpts{subject: pkix.Name{CommonName: "billing"}, dns: []string{"billing.svc.example"}})
		ledgerCert := issue(t, ca, certOpts{subject: pkix.Name{CommonName: "ledger", Organization: []string{"Acme"}}})
		robotCert := issue(t, nil, certOpts{subject: pkix.Name{CommonName: "robot"}})
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
			{"the right SAN from another CA", billing.ID, ptr(issue(t, rogue, certOpts{dns: []string{"billing.svc.example"}})), "", http.StatusUnauthorized},
			{"the CA, another SAN", billing.ID, ptr(issue(t, ca, certOpts{dns: []string{"other.svc.example"}})), "", http.StatusUnauthorized},
			{"the CA, another subject", ledger.ID, ptr(issue(t, ca, certOpts{subject: pkix.Name{CommonName: "ledger", Organization: []string{"Evil"}}})), "", http.StatusUnauthorized},
			{"expired", billing.ID, ptr(issue(t, ca, certOpts{dns: []string{"billing.svc.example"}, notAfter: time.Now().Add(-time.Minute)})), "", http.StatusUnauthorized},
			{"not for client authentication", billing.ID, ptr(issue(t, ca, certOpts{dns: []string{"billing.svc.example"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})), "", http.StatusUnauthorized},
			{"a secret alongside the certificate", billing.ID, ptr(billingCert), "ghcs_guess", http.StatusUnauthorized},
			{"another self-signed certificate", robot.ID, ptr(issue(t, nil, certOpts{})), "", http.StatusUnauthorized},
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
	env := newEnvWith(t, testenv.SQLite, testenv.Options{ClientCAs: newTestCA(t, "CA").pool})
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
		env := newEnvWith(t, open, testenv.Options{ClientCAs: ca.pool})
		cert := issue(t, nil, certOpts{subject: pkix.Name{CommonName: "portal"}})
		other := issue(t, nil, certOpts{subject: pkix.Name{CommonName: "thief"}})
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
			resp, err := hc.PostForm(env.URL+oidc.IntrospectionPath, url.Values{"client_id": {portal.ID}, "token": {tok.AccessToken}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m
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
			req, _ := http.NewRequest("POST", env.URL+oidc.TokenPath, strings.NewReader(url.Values{
				"grant_type": {client.GrantTokenExchange}, "subject_token": {fresh.AccessToken},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(exchanger.ID, exchangerSecret)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m
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
