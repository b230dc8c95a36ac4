package client_test

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// billing is a client certificate issued by ca (self-signed when nil) with
// every kind of SAN, valid for an hour around t0; edit changes it.
func billing(t *testing.T, ca *testenv.CA, edit func(*testenv.CertOptions)) *x509.Certificate {
	t.Helper()
	o := testenv.CertOptions{Subject: pkix.Name{CommonName: "billing", Organization: []string{"Acme"}},
		DNS: []string{"billing.svc.example"}, Emails: []string{"billing@acme.example"}, IPs: []net.IP{net.ParseIP("10.0.0.7")},
		URIs: []*url.URL{{Scheme: "spiffe", Host: "acme", Path: "/billing"}}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	if edit != nil {
		edit(&o)
	}
	return ca.Issue(t, o).Leaf
}

// TestAuthenticateCertificate: RFC 8705 §2 by certificate: the PKI method
// checks the chain to the client CAs (intermediates from the handshake),
// client authentication usage, validity at the injected time and the
// registered identity; the self-signed method the thumbprint only.
func TestAuthenticateCertificate(t *testing.T) {
	t.Parallel()
	validity := testenv.CertOptions{NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(48 * time.Hour)}
	root := testenv.NewCA(t, "Acme Root", nil, validity)
	inter := testenv.NewCA(t, "Acme Clients", root, validity)
	rogue := testenv.NewCA(t, "Rogue", nil, validity)
	roots := root.Pool
	leaf := billing(t, inter, nil)
	self := billing(t, nil, nil)
	pki := func(field, value string) *client.Client {
		return &client.Client{TokenEndpointAuthMethod: client.AuthTLSClientAuth, TLSClientAuth: client.TLSIdentity{Field: field, Value: value}}
	}
	byThumbprint := &client.Client{TokenEndpointAuthMethod: client.AuthSelfSignedTLSClientAuth, TLSCertificates: []string{client.Thumbprint(self)}}
	secretClient := &client.Client{TokenEndpointAuthMethod: client.AuthClientSecretBasic}
	tests := []struct {
		name  string
		c     *client.Client
		chain []*x509.Certificate
		roots *x509.CertPool
		now   time.Time
		ok    bool
	}{
		{"subject DN", pki(client.TLSSubjectDN, "CN=billing,O=Acme"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, true},
		{"SAN DNS, any case", pki(client.TLSSANDNS, "Billing.SVC.example"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, true},
		{"SAN URI", pki(client.TLSSANURI, "spiffe://acme/billing"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, true},
		{"SAN IP", pki(client.TLSSANIP, "10.0.0.7"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, true},
		{"SAN email", pki(client.TLSSANEmail, "BILLING@acme.example"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, true},
		{"subject DN in another order", pki(client.TLSSubjectDN, "O=Acme,CN=billing"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, false},
		{"another SAN DNS", pki(client.TLSSANDNS, "ledger.svc.example"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, false},
		{"SAN URI prefix", pki(client.TLSSANURI, "spiffe://acme/bill"), []*x509.Certificate{leaf, inter.Cert}, roots, t0, false},
		{"intermediate missing", pki(client.TLSSANDNS, "billing.svc.example"), []*x509.Certificate{leaf}, roots, t0, false},
		{"no client CAs", pki(client.TLSSANDNS, "billing.svc.example"), []*x509.Certificate{leaf, inter.Cert}, nil, t0, false},
		{"another CA", pki(client.TLSSANDNS, "billing.svc.example"), []*x509.Certificate{billing(t, rogue, nil)}, roots, t0, false},
		{"expired at the injected time", pki(client.TLSSANDNS, "billing.svc.example"), []*x509.Certificate{leaf, inter.Cert}, roots, t0.Add(2 * time.Hour), false},
		{"server certificate", pki(client.TLSSANDNS, "billing.svc.example"), []*x509.Certificate{billing(t, inter, func(o *testenv.CertOptions) {
			o.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}), inter.Cert}, roots, t0, false},
		{"no certificate", pki(client.TLSSANDNS, "billing.svc.example"), nil, roots, t0, false},
		{"self-signed, registered", byThumbprint, []*x509.Certificate{self}, nil, t0.Add(100 * time.Hour), true},
		{"self-signed, another one", byThumbprint, []*x509.Certificate{billing(t, nil, nil)}, nil, t0, false},
		{"self-signed method, CA certificate", byThumbprint, []*x509.Certificate{leaf, inter.Cert}, roots, t0, false},
		{"a secret client", secretClient, []*x509.Certificate{leaf, inter.Cert}, roots, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := client.AuthenticateCertificate(tt.c, tt.chain, tt.roots, tt.now)
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, client.ErrCertificate) {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
	sum := sha256.Sum256(self.Raw)
	if client.Thumbprint(self) != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatal("Thumbprint is not the base64url SHA-256 of the DER")
	}
}

// TestCertificateClientsHaveNoSecret: a certificate client gets no secret,
// cannot rotate one, and never authenticates with one.
func TestCertificateClientsHaveNoSecret(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	spec := web()
	selfSigned(thumb(7))(&spec)
	c, sec, err := r.Create(t.Context(), spec)
	if err != nil || sec != "" {
		t.Fatalf("create: secret %q, %v", sec, err)
	}
	if _, err := r.RotateSecret(t.Context(), c.ID); err == nil {
		t.Fatal("a certificate client rotated a secret")
	}
	if _, err := r.Authenticate(t.Context(), c.ID, ""); !errors.Is(err, client.ErrInvalidClient) {
		t.Fatalf("authenticate without a secret: %v", err)
	}
	got, _ := r.Get(t.Context(), c.ID)
	if !client.UsesCertificate(got) || got.TLSCertificates[0] != thumb(7) {
		t.Fatalf("read back %+v", got)
	}
}
