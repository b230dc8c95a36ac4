package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA issues X.509 certificates for tests of TLS and of RFC 8705 client
// authentication. Its certificate is also in Pool, ready to be trusted.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	Pool *x509.CertPool
}

// CertOptions shape a certificate; zero fields take defaults: a client
// authentication certificate valid from an hour ago to an hour from now.
type CertOptions struct {
	Subject   pkix.Name
	DNS       []string
	Emails    []string
	IPs       []net.IP
	URIs      []*url.URL
	EKU       []x509.ExtKeyUsage
	NotBefore time.Time
	NotAfter  time.Time
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serialNumber(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (o *CertOptions) defaults() {
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(time.Hour)
	}
}

// NewCA makes a CA named name, self-signed or (parent non-nil) an
// intermediate of parent, valid like o says.
func NewCA(t testing.TB, name string, parent *CA, o CertOptions) *CA {
	t.Helper()
	o.defaults()
	key := newECKey(t)
	tmpl := &x509.Certificate{SerialNumber: serialNumber(t), Subject: pkix.Name{CommonName: name}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: o.NotBefore, NotAfter: o.NotAfter}
	cert := sign(t, tmpl, key, parent)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool}
}

// sign signs tmpl (with key's public key) by parent, or by key itself when
// parent is nil.
func sign(t testing.TB, tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *CA) *x509.Certificate {
	t.Helper()
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Issue makes a leaf certificate signed by ca; a nil ca makes a self-signed
// one.
func (ca *CA) Issue(t testing.TB, o CertOptions) tls.Certificate {
	t.Helper()
	o.defaults()
	if o.EKU == nil {
		o.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	key := newECKey(t)
	tmpl := &x509.Certificate{SerialNumber: serialNumber(t), Subject: o.Subject, DNSNames: o.DNS, EmailAddresses: o.Emails,
		IPAddresses: o.IPs, URIs: o.URIs, ExtKeyUsage: o.EKU, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: o.NotBefore, NotAfter: o.NotAfter}
	leaf := sign(t, tmpl, key, ca)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// SelfSigned is (*CA)(nil).Issue: a certificate that chains to nothing.
func SelfSigned(t testing.TB, o CertOptions) tls.Certificate { return (*CA)(nil).Issue(t, o) }

// TLS is the CA's own certificate and key, as a tls.Certificate.
func (ca *CA) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Key, Leaf: ca.Cert}
}

// WritePEM writes c's certificate and key as PEM files NAME.pem and
// NAME.key in dir and returns their paths.
func WritePEM(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
