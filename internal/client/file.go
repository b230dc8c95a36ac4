package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// MinEnvSecretLength is the shortest secret accepted from an environment
// variable: secrets are stored as a fast hash, which is only safe for
// high-entropy values (`openssl rand -base64 32` gives 44 characters).
const MinEnvSecretLength = 32

// fileClient is one entry of the clients file.
type fileClient struct {
	ID                      string          `json:"id"`
	Name                    string          `json:"name"`
	Type                    Type            `json:"type"`
	SecretHash              string          `json:"secretHash"`
	SecretEnv               string          `json:"secretEnv"`
	Secret                  json.RawMessage `json:"secret"`       // refused
	ClientSecret            json.RawMessage `json:"clientSecret"` // refused
	RedirectURIs            []string        `json:"redirectURIs"`
	PostLogoutRedirectURIs  []string        `json:"postLogoutRedirectURIs"`
	GrantTypes              []string        `json:"grantTypes"`
	Scopes                  []string        `json:"scopes"`
	TokenEndpointAuthMethod string          `json:"tokenEndpointAuthMethod"`
	RequirePKCE             bool            `json:"requirePKCE"`
	RequireConsent          bool            `json:"requireConsent"`
	// RFC 8705: one of the five for tls_client_auth, the thumbprints for
	// self_signed_tls_client_auth.
	TLSClientAuthSubjectDN string   `json:"tlsClientAuthSubjectDN"`
	TLSClientAuthSANDNS    string   `json:"tlsClientAuthSANDNS"`
	TLSClientAuthSANURI    string   `json:"tlsClientAuthSANURI"`
	TLSClientAuthSANIP     string   `json:"tlsClientAuthSANIP"`
	TLSClientAuthSANEmail  string   `json:"tlsClientAuthSANEmail"`
	TLSClientCertificates  []string `json:"tlsClientCertificates"`
	// OpenID Connect Back-Channel Logout 1.0.
	BackchannelLogoutURI             string `json:"backchannelLogoutURI"`
	BackchannelLogoutSessionRequired bool   `json:"backchannelLogoutSessionRequired"`
	// SessionPerDevice: one session per browser session (Spec).
	SessionPerDevice bool `json:"sessionPerDevice"`
	// RequirePushedAuthorizationRequests: authorization requests must be
	// pushed first (Spec).
	RequirePushedAuthorizationRequests bool   `json:"requirePushedAuthorizationRequests"`
	IDTokenSignedResponseAlg           string `json:"idTokenSignedResponseAlg"`
	AccessTokenLifetime                string `json:"accessTokenLifetime"`
	RefreshTokenLifetime               string `json:"refreshTokenLifetime"`
}

// Declared is a client as a clients file declares it: its settings (with
// Spec.ID set) and, for a confidential client, the SHA-256 hex of its secret.
type Declared struct {
	Spec       Spec
	SecretHash string
}

// LoadFile reads and checks a clients file, resolving secretEnv through
// getenv. Every rule Create enforces is checked here, so that a bad file is
// reported before anything is written.
//
// The clients file declares clients that `gatehouse serve --clients-file`
// creates or updates at every start. It is JSON:
//
//	{
//	  "clients": [
//	    {
//	      "id": "grafana",                      // required: the client_id
//	      "name": "Grafana",                    // required
//	      "type": "confidential",               // or "public"; default confidential
//	      "secretEnv": "GRAFANA_CLIENT_SECRET", // confidential: an environment variable holding the secret,
//	      "secretHash": "…64 hex digits…",     //   or the secret's SHA-256 in hex (exactly one of the two)
//	      "redirectURIs": ["https://grafana.example.com/login/generic_oauth"],
//	      "postLogoutRedirectURIs": ["https://grafana.example.com/login"],
//	      "grantTypes": ["authorization_code", "refresh_token"],
//	      "scopes": ["openid", "profile", "email"],
//	      "tokenEndpointAuthMethod": "client_secret_basic",
//	      "requirePKCE": false,
//	      "requireConsent": false,              // ask users to allow the scopes
//	      "backchannelLogoutURI": "https://grafana.example.com/backchannel-logout", // logout tokens go here
//	      "backchannelLogoutSessionRequired": true, // logout tokens carry sid
//	      "sessionPerDevice": false,            // true: one session per browser, not per person
//	      "requirePushedAuthorizationRequests": false, // true: refuse authorization requests not pushed first (RFC 9126)
//	      "idTokenSignedResponseAlg": "RS256",  // RS256, ES256 or ES512; default: the server's (--signing-algorithm)
//	      "accessTokenLifetime": "1h",          // Go durations
//	      "refreshTokenLifetime": "720h"
//	    }
//	  ]
//	}
//
// A client authenticating with a TLS certificate (RFC 8705) gives
// "tokenEndpointAuthMethod": "tls_client_auth" and exactly one of
// tlsClientAuthSubjectDN, tlsClientAuthSANDNS, tlsClientAuthSANURI,
// tlsClientAuthSANIP, tlsClientAuthSANEmail; or
// "self_signed_tls_client_auth" and tlsClientCertificates, the SHA-256
// thumbprints (base64url) of its certificates. Neither has a secret.
//
// (The comments above are for this documentation only: the file is plain
// JSON.) Omitted fields take Spec's defaults. A plain-text secret in the file
// is refused: the file lives in repositories and config maps, so it holds a
// hash (`printf %s "$SECRET" | sha256sum | cut -d' ' -f1`) or the name of an environment
// variable, whose value must be at least MinEnvSecretLength characters.
// Unknown fields are errors, so a typo is not silently ignored.
func LoadFile(path string, getenv func(string) string) ([]Declared, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clients file: %w", err)
	}
	decls, err := parseFile(b, getenv)
	if err != nil {
		return nil, fmt.Errorf("clients file %s: %w", path, err)
	}
	return decls, nil
}

func parseFile(b []byte, getenv func(string) string) ([]Declared, error) {
	var f struct {
		Clients []fileClient `json:"clients"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not valid: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not valid: data after the JSON object")
	}
	out := make([]Declared, 0, len(f.Clients))
	var ids []string
	for i, fc := range f.Clients {
		d, err := fc.declared(getenv)
		if err != nil {
			name := fc.ID
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("client %s: %w", name, describe(err))
		}
		if slices.Contains(ids, fc.ID) {
			return nil, fmt.Errorf("client %s is declared twice", fc.ID)
		}
		ids = append(ids, fc.ID)
		out = append(out, d)
	}
	return out, nil
}

func (fc *fileClient) declared(getenv func(string) string) (Declared, error) {
	if fc.Secret != nil || fc.ClientSecret != nil {
		return Declared{}, errors.New("a plain-text secret does not belong in the clients file: give secretHash (its SHA-256 in hex) or secretEnv (an environment variable holding it)")
	}
	if fc.ID == "" {
		return Declared{}, errors.New(`"id" is required in the clients file, so that every start updates the same client`)
	}
	spec := Spec{
		ID: fc.ID, Name: fc.Name, Type: fc.Type,
		RedirectURIs: fc.RedirectURIs, PostLogoutRedirectURIs: fc.PostLogoutRedirectURIs,
		GrantTypes: fc.GrantTypes, Scopes: fc.Scopes,
		TokenEndpointAuthMethod: fc.TokenEndpointAuthMethod, RequirePKCE: fc.RequirePKCE,
		RequireConsent: fc.RequireConsent, TLSCertificates: fc.TLSClientCertificates,
		BackchannelLogoutURI: fc.BackchannelLogoutURI, BackchannelLogoutSessionRequired: fc.BackchannelLogoutSessionRequired,
		SessionPerDevice:                   fc.SessionPerDevice,
		RequirePushedAuthorizationRequests: fc.RequirePushedAuthorizationRequests,
		IDTokenSignedResponseAlg:           fc.IDTokenSignedResponseAlg,
	}
	for field, value := range map[string]string{TLSSubjectDN: fc.TLSClientAuthSubjectDN, TLSSANDNS: fc.TLSClientAuthSANDNS,
		TLSSANURI: fc.TLSClientAuthSANURI, TLSSANIP: fc.TLSClientAuthSANIP, TLSSANEmail: fc.TLSClientAuthSANEmail} {
		if value == "" {
			continue
		}
		if !spec.TLSClientAuth.IsZero() {
			return Declared{}, errors.New("give exactly one of tlsClientAuthSubjectDN, tlsClientAuthSANDNS, tlsClientAuthSANURI, tlsClientAuthSANIP and tlsClientAuthSANEmail")
		}
		spec.TLSClientAuth = TLSIdentity{Field: field, Value: value}
	}
	var err error
	if spec.AccessTokenLifetime, err = parseLifetime("accessTokenLifetime", fc.AccessTokenLifetime); err != nil {
		return Declared{}, err
	}
	if spec.RefreshTokenLifetime, err = parseLifetime("refreshTokenLifetime", fc.RefreshTokenLifetime); err != nil {
		return Declared{}, err
	}
	d := Declared{Spec: spec}
	switch {
	case fc.SecretHash != "" && fc.SecretEnv != "":
		return Declared{}, errors.New("give secretHash or secretEnv, not both")
	case fc.SecretHash != "":
		d.SecretHash = strings.ToLower(fc.SecretHash)
	case fc.SecretEnv != "":
		v := getenv(fc.SecretEnv)
		if v == "" {
			return Declared{}, fmt.Errorf("secretEnv: environment variable %s is not set", fc.SecretEnv)
		}
		if len(v) < MinEnvSecretLength {
			return Declared{}, fmt.Errorf("secretEnv: the secret in %s is shorter than %d characters; generate one with: openssl rand -base64 32",
				fc.SecretEnv, MinEnvSecretLength)
		}
		d.SecretHash = secret.Hash(v)
	}
	if _, err := d.row(); err != nil {
		return Declared{}, err
	}
	return d, nil
}

func parseLifetime(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// row validates d and returns the row it stands for (without times).
func (d *Declared) row() (*store.OAuth2Client, error) {
	if d.Spec.ID == "" {
		return nil, apierror.BadRequest("a declared client needs an id")
	}
	if err := validateID(d.Spec.ID); err != nil {
		return nil, err
	}
	row, err := normalize(d.Spec)
	if err != nil {
		return nil, err
	}
	row.ID = d.Spec.ID
	switch {
	case row.Type == string(Public) && d.SecretHash != "":
		return nil, apierror.BadRequest("a public client has no secret: remove secretHash/secretEnv")
	case UsesCertificate(fromRow(row)) && d.SecretHash != "":
		return nil, apierror.BadRequest("a client authenticating with a TLS certificate has no secret: remove secretHash/secretEnv")
	case UsesCertificate(fromRow(row)):
	case row.Type == string(Confidential) && d.SecretHash == "":
		return nil, apierror.BadRequest("a confidential client needs a secret: give secretHash or secretEnv")
	case row.Type == string(Confidential) && !isSHA256Hex(d.SecretHash):
		return nil, apierror.BadRequest("secretHash: want the SHA-256 of the secret as 64 hexadecimal digits")
	}
	row.SecretHash = strings.ToLower(d.SecretHash)
	return row, nil
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// describe turns an API error into its description for messages outside the
// API (files, CLI).
func describe(err error) error {
	if e, ok := apierror.As(err); ok {
		return errors.New(e.Description)
	}
	return err
}

// Applied reports what Apply did, by client_id.
type Applied struct {
	Created, Updated, Unchanged []string
}

// Apply creates or updates the declared clients, in one transaction: all of
// them or, on any error, none. A client that already matches its declaration
// is not written at all, so applying the same file again changes nothing
// (not even modified_at). A declared client overrides whatever was set with
// the CLI; the type of an existing client cannot change. Clients that are not
// declared are left alone: Apply never deletes (see the README).
//
// Replicas starting together may apply the same file at once: creation is an
// insert-if-absent, and the loser of that race compares with (and, if it
// differs, updates) the winner's row.
func (r *Registry) Apply(ctx context.Context, decls []Declared) (*Applied, error) {
	rows := make([]*store.OAuth2Client, len(decls))
	for i := range decls {
		row, err := decls[i].row()
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", decls[i].Spec.ID, describe(err))
		}
		rows[i] = row
	}
	var res *Applied
	err := r.Store.Tx(ctx, func(q *store.Q) error {
		res = &Applied{}
		now := r.now()
		for _, want := range rows {
			have, err := q.GetOAuth2Client(ctx, want.ID)
			if errors.Is(err, store.ErrNotFound) {
				want.CreatedAt = now
				var created bool
				if created, err = q.CreateOAuth2ClientIfAbsent(ctx, want); err != nil {
					return err
				}
				if created {
					res.Created = append(res.Created, want.ID)
					continue
				}
				// Another replica created it since the read: compare with its row.
				have, err = q.GetOAuth2Client(ctx, want.ID)
			}
			if err != nil {
				return err
			}
			if have.Type != want.Type {
				return fmt.Errorf("client %s is %s in the clients file but %s in the database, and a client's type cannot change: "+
					"delete it (gatehouse admin clients delete %s) and start again to re-create it", want.ID, want.Type, have.Type, want.ID)
			}
			settings, secretChanged := !sameSettings(have, want), have.SecretHash != want.SecretHash
			if !settings && !secretChanged {
				res.Unchanged = append(res.Unchanged, want.ID)
				continue
			}
			want.CreatedAt, want.ModifiedAt = have.CreatedAt, now
			if settings {
				if err := q.UpdateOAuth2Client(ctx, want); err != nil {
					return err
				}
			}
			if secretChanged {
				if err := q.SetOAuth2ClientSecret(ctx, want.ID, want.SecretHash, now); err != nil {
					return err
				}
			}
			res.Updated = append(res.Updated, want.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ApplyFile is LoadFile followed by Apply.
func (r *Registry) ApplyFile(ctx context.Context, path string, getenv func(string) string) (*Applied, error) {
	decls, err := LoadFile(path, getenv)
	if err != nil {
		return nil, err
	}
	res, err := r.Apply(ctx, decls)
	if err != nil {
		return nil, fmt.Errorf("clients file %s: %w", path, err)
	}
	return res, nil
}

// sameSettings compares everything UpdateOAuth2Client writes.
func sameSettings(a, b *store.OAuth2Client) bool {
	return a.Name == b.Name &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) &&
		slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.Scopes, b.Scopes) &&
		a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod &&
		a.RequirePKCE == b.RequirePKCE &&
		a.RequireConsent == b.RequireConsent &&
		a.TLSClientAuthField == b.TLSClientAuthField &&
		a.TLSClientAuthValue == b.TLSClientAuthValue &&
		slices.Equal(a.TLSCertificates, b.TLSCertificates) &&
		a.BackchannelLogoutURI == b.BackchannelLogoutURI &&
		a.BackchannelLogoutSessionRequired == b.BackchannelLogoutSessionRequired &&
		a.SessionPerDevice == b.SessionPerDevice &&
		a.RequirePAR == b.RequirePAR &&
		a.IDTokenSignedResponseAlg == b.IDTokenSignedResponseAlg &&
		a.AccessTokenLifetime == b.AccessTokenLifetime &&
		a.RefreshTokenLifetime == b.RefreshTokenLifetime
}
