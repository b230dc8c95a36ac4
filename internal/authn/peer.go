package authn

import (
	"context"
	"crypto/x509"
)

type peerKey struct{}

// WithPeerCertificates stores the TLS client certificate chain of the
// request (leaf first) in ctx, for the authenticators of certificate-bound
// tokens (RFC 8705 §3) and for client authentication by certificate.
func WithPeerCertificates(ctx context.Context, chain []*x509.Certificate) context.Context {
	return context.WithValue(ctx, peerKey{}, chain)
}

// PeerCertificates returns the request's TLS client certificate chain, leaf
// first (nil when the connection presented none).
func PeerCertificates(ctx context.Context) []*x509.Certificate {
	chain, _ := ctx.Value(peerKey{}).([]*x509.Certificate)
	return chain
}
