package client

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The certificate fields a tls_client_auth client may be registered by
// (RFC 8705 §2.1.2: exactly one of tls_client_auth_subject_dn, _san_dns,
// _san_uri, _san_ip, _san_email).
const (
	TLSSubjectDN = "subject_dn"
	TLSSANDNS    = "san_dns"
	TLSSANURI    = "san_uri"
	TLSSANIP     = "san_ip"
	TLSSANEmail  = "san_email"
)

var tlsFields = []string{TLSSubjectDN, TLSSANDNS, TLSSANURI, TLSSANIP, TLSSANEmail}

// MaxTLSCertificates bounds the thumbprints of a self-signed client (several
// allow a certificate rollover without downtime).
const MaxTLSCertificates = 10

// TLSIdentity is the expected certificate of a tls_client_auth client: Field
// (one of TLSSubjectDN, TLSSANDNS, TLSSANURI, TLSSANIP, TLSSANEmail) must
// carry Value. A subject DN is compared with the RFC 4514 string of the
// certificate's subject as Go writes it, most specific attribute first
// ("CN=billing,O=Acme,C=CH", what `openssl x509 -noout -subject -nameopt
// RFC2253` prints); DNS names and emails case-insensitively; URIs exactly;
// IP addresses as addresses.
type TLSIdentity struct {
	Field string
	Value string
}

// IsZero reports whether no identity is registered.
func (t TLSIdentity) IsZero() bool { return t.Field == "" && t.Value == "" }

// UsesCertificate reports whether c authenticates with a TLS client
// certificate (RFC 8705).
func UsesCertificate(c *Client) bool {
	return c.TokenEndpointAuthMethod == AuthTLSClientAuth || c.TokenEndpointAuthMethod == AuthSelfSignedTLSClientAuth
}

// Thumbprint is the base64url SHA-256 of a certificate's DER encoding: the
// x5t#S256 of RFC 8705 §3.1, and what self-signed clients are registered by.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validateTLS checks the certificate registration of row against its auth
// method: the identity goes with tls_client_auth only, the thumbprints with
// self_signed_tls_client_auth only.
func validateTLS(row *store.OAuth2Client) error {
	bad := apierror.BadRequest
	id := TLSIdentity{Field: row.TLSClientAuthField, Value: row.TLSClientAuthValue}
	switch row.TokenEndpointAuthMethod {
	case AuthTLSClientAuth:
		if id.IsZero() {
			return bad("a %s client needs the subject DN or a SAN its certificate must carry", AuthTLSClientAuth)
		}
		if err := id.validate(); err != nil {
			return err
		}
	case AuthSelfSignedTLSClientAuth:
		if len(row.TLSCertificates) == 0 {
			return bad("a %s client needs the SHA-256 thumbprint of at least one certificate", AuthSelfSignedTLSClientAuth)
		}
	}
	if !id.IsZero() && row.TokenEndpointAuthMethod != AuthTLSClientAuth {
		return bad("a certificate subject or SAN is registered for %s clients only", AuthTLSClientAuth)
	}
	if len(row.TLSCertificates) > 0 && row.TokenEndpointAuthMethod != AuthSelfSignedTLSClientAuth {
		return bad("certificate thumbprints are registered for %s clients only", AuthSelfSignedTLSClientAuth)
	}
	if len(row.TLSCertificates) > MaxTLSCertificates {
		return bad("at most %d certificate thumbprints", MaxTLSCertificates)
	}
	for i, t := range row.TLSCertificates {
		if b, err := base64.RawURLEncoding.DecodeString(t); err != nil || len(b) != sha256.Size {
			return bad("certificate thumbprint %q: want the base64url (unpadded) SHA-256 of the certificate's DER encoding", t)
		}
		if slices.Contains(row.TLSCertificates[:i], t) {
			return bad("certificate thumbprint %q is listed twice", t)
		}
	}
	return nil
}

func (t TLSIdentity) validate() error {
	bad := func(why string) error {
		return apierror.BadRequest("certificate %s %q: %s", strings.ReplaceAll(t.Field, "_", " "), t.Value, why)
	}
	if !slices.Contains(tlsFields, t.Field) {
		return apierror.BadRequest("certificate field %q: want one of %s", t.Field, strings.Join(tlsFields, ", "))
	}
	if t.Value == "" || len(t.Value) > MaxURILength || strings.IndexFunc(t.Value, unicode.IsControl) >= 0 {
		return bad(fmt.Sprintf("1-%d characters, no control characters", MaxURILength))
	}
	switch t.Field {
	case TLSSANIP:
		if net.ParseIP(t.Value) == nil {
			return bad("not an IP address")
		}
	case TLSSANURI:
		if u, err := url.Parse(t.Value); err != nil || !u.IsAbs() {
			return bad("not an absolute URI")
		}
	case TLSSANEmail:
		if !strings.Contains(t.Value, "@") {
			return bad("not an email address")
		}
	}
	return nil
}

// matches reports whether cert carries the registered identity.
func (t TLSIdentity) matches(cert *x509.Certificate) bool {
	switch t.Field {
	case TLSSubjectDN:
		return cert.Subject.String() == t.Value
	case TLSSANDNS:
		return slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, t.Value) })
	case TLSSANURI:
		return slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == t.Value })
	case TLSSANIP:
		want := net.ParseIP(t.Value)
		return slices.ContainsFunc(cert.IPAddresses, want.Equal)
	case TLSSANEmail:
		return slices.ContainsFunc(cert.EmailAddresses, func(e string) bool { return strings.EqualFold(e, t.Value) })
	}
	return false
}

// ErrCertificate is AuthenticateCertificate's answer for a client whose
// certificate is missing, untrusted or not the registered one.
var ErrCertificate = errors.New("client certificate not accepted")

// AuthenticateCertificate checks that chain (the leaf first, as the TLS
// handshake presented it) authenticates c (RFC 8705 §2). tls_client_auth:
// the leaf must chain to roots (the client CAs; nil means none are trusted)
// for client authentication at now, and carry the registered identity.
// self_signed_tls_client_auth: the leaf's thumbprint must be registered; who
// issued it and its validity period do not matter, the registration is the
// trust. Any failure is ErrCertificate (wrapped with the reason).
func AuthenticateCertificate(c *Client, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no client certificate was presented", ErrCertificate)
	}
	leaf := chain[0]
	switch c.TokenEndpointAuthMethod {
	case AuthSelfSignedTLSClientAuth:
		if !slices.Contains(c.TLSCertificates, Thumbprint(leaf)) {
			return fmt.Errorf("%w: the certificate's thumbprint is not registered", ErrCertificate)
		}
		return nil
	case AuthTLSClientAuth:
		if roots == nil {
			return fmt.Errorf("%w: no client CA is configured", ErrCertificate)
		}
		inter := x509.NewCertPool()
		for _, cert := range chain[1:] {
			inter.AddCert(cert)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCertificate, err)
		}
		if !c.TLSClientAuth.matches(leaf) {
			return fmt.Errorf("%w: the certificate does not carry the registered %s", ErrCertificate, c.TLSClientAuth.Field)
		}
		return nil
	}
	return fmt.Errorf("%w: the client does not authenticate with a certificate", ErrCertificate)
}
