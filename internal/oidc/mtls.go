package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
)

// RFC 8705 mutual-TLS client authentication and certificate-bound access
// tokens. Gatehouse terminates TLS itself (serve --tls-cert-file) and, with
// --tls-client-ca-file, asks every client for a certificate without
// requiring one; internal/server puts the presented chain in the request
// context (authn.PeerCertificates). A client registered with
// tls_client_auth or self_signed_tls_client_auth authenticates at the token,
// revocation and introspection endpoints with that certificate and no
// secret (client.AuthenticateCertificate), and every access token issued to
// it carries cnf.x5t#S256, the certificate's thumbprint: /api/v1, userinfo
// and token exchange accept such a token only over a connection presenting
// the same certificate, so a stolen token is useless without the client's
// private key. Introspection returns the cnf claim, for the resource server
// to compare with the certificate of whoever presented the token to it
// (RFC 8705 §3.2).

// errCertificateBinding: a certificate-bound token presented without its
// certificate.
var errCertificateBinding = fmt.Errorf("%w: the access token is bound to a client certificate this connection did not present", authn.ErrInvalid)

// mtlsEnabled reports whether client certificates are requested (and so
// whether the RFC 8705 methods are offered).
func (p *Provider) mtlsEnabled() bool { return p.cfg.ClientCAs != nil }

// authenticateCertificate checks the connection's certificate for client c.
func (p *Provider) authenticateCertificate(ctx context.Context, c *client.Client) error {
	if !p.mtlsEnabled() {
		return fmt.Errorf("%w: client certificates are not requested (no --tls-client-ca-file)", client.ErrCertificate)
	}
	return client.AuthenticateCertificate(c, authn.PeerCertificates(ctx), p.cfg.ClientCAs, p.cfg.Now())
}

// binding is the cnf of an access token issued now to client c: the
// certificate it authenticated with, when it authenticates with one.
func binding(ctx context.Context, c *client.Client) (*Confirmation, error) {
	if !client.UsesCertificate(c) {
		return nil, nil
	}
	chain := authn.PeerCertificates(ctx)
	if len(chain) == 0 {
		return nil, oidc.ErrInvalidClient().WithDescription("the client authenticates with a TLS certificate, and presented none")
	}
	return &Confirmation{X5tS256: client.Thumbprint(chain[0])}, nil
}

// checkBinding refuses a certificate-bound token presented over a connection
// without the same certificate.
func checkBinding(ctx context.Context, c *AccessClaims) error {
	if c.Confirmation == nil {
		return nil
	}
	chain := authn.PeerCertificates(ctx)
	if len(chain) == 0 || subtle.ConstantTimeCompare([]byte(client.Thumbprint(chain[0])), []byte(c.Confirmation.X5tS256)) != 1 {
		return errCertificateBinding
	}
	return nil
}

// clientAuthError is the token endpoint's answer to failed client
// authentication: invalid_client with 401 (RFC 6749 §5.2).
func clientAuthError() error {
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
}

// authenticateClient authenticates the caller of the introspection
// endpoint: a confidential client with its secret or its certificate.
func (p *Provider) authenticateClient(ctx context.Context, id, sec string) (*client.Client, error) {
	if id == "" {
		return nil, client.ErrInvalidClient
	}
	c, err := p.cfg.Clients.Get(ctx, id)
	if err == nil && client.UsesCertificate(c) {
		if sec != "" {
			return nil, client.ErrInvalidClient
		}
		if err := p.authenticateCertificate(ctx, c); err != nil {
			p.log.Info("client certificate refused", "client_id", id, "error", err)
			return nil, client.ErrInvalidClient
		}
		return c, nil
	}
	return p.cfg.Clients.Authenticate(ctx, id, sec)
}

// introspectByCertificate serves the introspection endpoint for clients that
// authenticate with a certificate, whom zitadel's handler turns away for
// sending no secret: it hands them to Introspect as zitadel would.
// Everything else goes to next.
func (s *server) introspectByCertificate(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			op.WriteError(w, r, oidc.ErrInvalidRequest().WithDescription("the form could not be read"), nil)
			return
		}
		_, _, basic := r.BasicAuth()
		id := r.PostForm.Get("client_id")
		if basic || id == "" || r.PostForm.Get("client_secret") != "" || len(authn.PeerCertificates(r.Context())) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		resp, err := s.Introspect(r.Context(), &op.Request[op.IntrospectionRequest]{
			Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, PostForm: r.PostForm,
			Data: &op.IntrospectionRequest{ClientCredentials: &op.ClientCredentials{ClientID: id},
				IntrospectionRequest: &oidc.IntrospectionRequest{Token: r.PostForm.Get("token")}},
		})
		if err != nil {
			op.WriteError(w, r, err, nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(resp.Data)
	}
}
