// Package client is the registry of OAuth2 clients: the relying parties (web
// applications, single-page and native apps, backend services) that log users
// in through Gatehouse's OpenID Connect provider or get tokens from its token
// endpoint. A platform client belongs to no organization; an organization's
// client (registered by its administrators over the API, issue 13) signs in
// that organization's members only, and the tokens it gets are confined to
// that organization (internal/oidc). Its client_id is always generated (a
// tenant cannot choose an ID that passes for a platform client's), and it is
// invisible from any other organization: looked up there, it does not exist.
//
// A client is confidential (it runs on a server and can keep a secret; it
// authenticates to the token endpoint with client_secret_basic or
// client_secret_post) or public (a browser or native app that cannot keep a
// secret; token_endpoint_auth_method none, PKCE S256 always required, and no
// client_credentials or token exchange, which would let anyone holding the
// client_id act as the client).
//
// Secrets are generated here (32 random bytes), shown once, by Create and
// RotateSecret, and never stored: only their SHA-256 hash is kept. A secret
// carries 256 bits of entropy, so a slow password hash adds nothing, and a
// stolen database (or backup) then holds nothing that authenticates as a
// client. Rotation replaces the hash in one statement: the old secret stops
// working when it commits, with no grace period.
//
// Redirect URIs are matched exactly, character for character, against the
// registered list (RFC 9700 §4.1.3, OAuth 2.1): no prefix, wildcard,
// normalisation or case folding, and never a fragment. Looser matching has
// been the root of most authorization code and token theft seen in the wild
// (open redirectors on the client's own domain, path traversal, look-alike
// subdomains); exact matching makes the registered list the complete set of
// places a code can be sent to. The one exception is RFC 8252 §7.3: native
// apps listen on an ephemeral port of the loopback interface, so for
// http://127.0.0.1 and http://[::1] redirect URIs any port is accepted at
// request time, everything else still matching exactly. http is accepted only
// for loopback hosts (127.0.0.1, [::1], localhost); "localhost" is matched
// exactly, port included, since RFC 8252 §8.3 discourages it for native apps
// (a name can be resolved elsewhere) and its port flexibility is defined for
// the IP literals only.
//
// Clients can be managed over /api/v1 (platform clients by platform
// administrators, an organization's by its administrators: the *In methods),
// with `gatehouse admin clients ...` (every client) or declared in a JSON
// file applied by `gatehouse serve` at start (see LoadFile). Every change
// made in an audited context (an API write, the CLI) is described to
// internal/audit in its transaction; the secret never is.
package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Type is a client type (RFC 6749 §2.1).
type Type string

// The client types.
const (
	Confidential Type = "confidential"
	Public       Type = "public"
)

// Grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantDeviceCode is the device authorization grant (RFC 8628): a
	// device without a browser (a CLI, a TV) shows a code that a person
	// approves on another device. Public clients may use it: the person's
	// approval, not a secret, is what it rests on.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 8705 §2).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
	// AuthTLSClientAuth: a certificate issued by the client CA Gatehouse
	// trusts (--tls-client-ca-file), whose subject DN or a SAN is the one
	// registered (Spec.TLSClientAuth).
	AuthTLSClientAuth = "tls_client_auth"
	// AuthSelfSignedTLSClientAuth: a certificate whose SHA-256 thumbprint
	// is registered (Spec.TLSCertificates), whoever issued it.
	AuthSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// SecretPrefix starts every generated client secret, so that a leaked one is
// recognisable (by people and by secret scanners).
const SecretPrefix = "ghcs_"

// Client is a registered client as the provider sees it. The secret hash is
// not part of it: only Authenticate looks at it.
type Client struct {
	ID string
	// OrganizationID is the organization that owns the client; "" for a
	// platform client.
	OrganizationID          string
	Name                    string
	Type                    Type
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	Scopes                  []string // the scopes the client may request
	TokenEndpointAuthMethod string
	RequirePKCE             bool // always true for public clients
	// RequireConsent: users are asked to allow the client's scopes (once;
	// the answer is remembered, see internal/oidc). Always true in effect
	// for an organization's client: see RequiresConsent.
	RequireConsent bool
	// TLSClientAuth is what a tls_client_auth client's certificate must
	// carry; TLSCertificates the thumbprints a self_signed_tls_client_auth
	// client may present.
	TLSClientAuth   TLSIdentity
	TLSCertificates []string
	// BackchannelLogoutURI receives a logout token when a user's session
	// with this client ends (OpenID Connect Back-Channel Logout 1.0); ""
	// for none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired: the logout tokens carry the sid of
	// the ended session (the ID tokens always carry it).
	BackchannelLogoutSessionRequired bool
	// SessionPerDevice: a login starts a session (refresh token family)
	// per browser session, so that the person's other devices keep theirs;
	// false keeps the seed's one session per person and client, where the
	// next login ends the previous one (see internal/oidc).
	SessionPerDevice bool
	// RequirePushedAuthorizationRequests: the authorization endpoint
	// refuses every request of this client that was not pushed first to
	// the pushed authorization request endpoint (RFC 9126 §6), so that its
	// parameters come authenticated from the client, never from the URL.
	RequirePushedAuthorizationRequests bool
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (RS256, ES256 or ES512; OpenID Connect Dynamic Client Registration's
	// id_token_signed_response_alg), or "" for the server's default
	// (--signing-algorithm, ES256 unless changed).
	IDTokenSignedResponseAlg string
	AccessTokenLifetime      time.Duration
	RefreshTokenLifetime     time.Duration
	CreatedAt                time.Time
	ModifiedAt               time.Time // zero until the first change
}

// Spec is what a caller chooses about a client. Zero values take defaults:
// type confidential; grant types authorization_code and refresh_token; scopes
// openid, profile and email; authentication client_secret_basic for a
// confidential client and none for a public one; the lifetimes below.
type Spec struct {
	// ID is the client_id. Create generates one when it is empty; a chosen
	// one is 1-128 characters of A-Z a-z 0-9 . _ ~ - starting with a letter
	// or digit. Update ignores it.
	ID                      string
	Name                    string
	Type                    Type
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	Scopes                  []string
	TokenEndpointAuthMethod string
	RequirePKCE             bool
	RequireConsent          bool
	// TLSClientAuth is required with tls_client_auth and not allowed
	// otherwise; TLSCertificates (SHA-256 thumbprints, base64url, see
	// Thumbprint) likewise with self_signed_tls_client_auth.
	TLSClientAuth   TLSIdentity
	TLSCertificates []string
	// BackchannelLogoutURI is an absolute https URL (http only on a
	// loopback host) without fragment, or "" for none; a client that sets
	// BackchannelLogoutSessionRequired needs one.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// SessionPerDevice: one session per browser session instead of one
	// per person (Client.SessionPerDevice).
	SessionPerDevice bool
	// RequirePushedAuthorizationRequests: refuse authorization requests
	// that were not pushed (Client.RequirePushedAuthorizationRequests).
	RequirePushedAuthorizationRequests bool
	// IDTokenSignedResponseAlg: RS256, ES256 or ES512 (IDTokenAlgorithms),
	// or "" for the server's default algorithm. Many relying parties
	// accept RS256 only (the one OpenID Connect Core §15.1 makes
	// mandatory). Access tokens are signed with the default algorithm
	// whatever it is: they are Gatehouse's own to verify.
	IDTokenSignedResponseAlg string
	AccessTokenLifetime      time.Duration
	RefreshTokenLifetime     time.Duration
}

// Lifetime defaults and bounds.
const (
	DefaultAccessTokenLifetime  = time.Hour
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	MinTokenLifetime            = time.Minute
	MaxAccessTokenLifetime      = 24 * time.Hour
	MaxRefreshTokenLifetime     = 365 * 24 * time.Hour
)

// ErrInvalidClient is Authenticate's one answer for an unknown client, a
// wrong, missing or superfluous secret: the token endpoint turns it into
// invalid_client without saying which.
var ErrInvalidClient = errors.New("invalid client credentials")

// Registry manages clients in the store.
type Registry struct {
	Store *store.Store
	// Now, NewID and Rand are injected so tests are deterministic.
	Now   func() time.Time
	NewID func() string
	Rand  io.Reader
	// ObjectLimits bounds the clients one organization may register
	// (objectlimit.OAuth2Clients); platform clients are not limited.
	ObjectLimits objectlimit.Limits
}

// AuditResource is the resource type of client changes in the audit log
// (the operations' policy service).
const AuditResource = "oauth2clients"

// anyOwner is the owner argument of the operator's methods (Create, Get,
// Update, Delete, RotateSecret): they reach every client.
const anyOwner = "\x00any"

func (r *Registry) now() time.Time { return r.Now().UTC().Truncate(time.Millisecond) }

// Create registers a platform client, with the chosen spec.ID or a generated
// one. For a confidential client it returns the secret, which exists nowhere
// else: only its hash is stored. A client that authenticates with a TLS
// certificate gets no secret.
func (r *Registry) Create(ctx context.Context, spec Spec) (*Client, string, error) {
	return r.create(ctx, "", spec)
}

// CreateIn registers a client of organization orgID ("" for a platform
// client, as Create). An organization's client cannot choose its ID (a 400):
// it is generated, so that a tenant cannot register an ID that a relying
// party, a clients file or an operator would take for a platform client's.
// The organization's object limit applies.
func (r *Registry) CreateIn(ctx context.Context, orgID string, spec Spec) (*Client, string, error) {
	if orgID != "" && spec.ID != "" {
		return nil, "", apierror.BadRequest("an organization's client cannot choose its client_id: it is generated")
	}
	return r.create(ctx, orgID, spec)
}

func (r *Registry) create(ctx context.Context, orgID string, spec Spec) (*Client, string, error) {
	row, err := normalize(spec)
	if err != nil {
		return nil, "", err
	}
	row.ID, row.OrganizationID = spec.ID, orgID
	if row.ID == "" {
		row.ID = r.NewID()
	} else if err := validateID(row.ID); err != nil {
		return nil, "", err
	}
	var plain string
	if row.Type == string(Confidential) && !UsesCertificate(fromRow(row)) {
		if plain, err = secret.NewToken(r.Rand, SecretPrefix); err != nil {
			return nil, "", err
		}
		row.SecretHash = secret.Hash(plain)
	}
	row.CreatedAt = r.now()
	err = r.Store.Tx(ctx, func(q *store.Q) error {
		if err := r.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.OAuth2Clients, 1); err != nil {
			return err
		}
		if err := q.CreateOAuth2Client(ctx, row); err != nil {
			return err
		}
		audit.Describe(ctx, AuditResource, row.ID, nil, fromRow(row))
		return nil
	})
	if err != nil {
		return nil, "", storeError(err, row.ID)
	}
	return fromRow(row), plain, nil
}

// Get reads any client (the provider's and the operator's lookup).
func (r *Registry) Get(ctx context.Context, id string) (*Client, error) {
	return r.GetIn(ctx, anyOwner, id)
}

// GetIn reads a client of organization orgID ("" for a platform client). A
// client of another owner is not found, exactly like a missing one.
func (r *Registry) GetIn(ctx context.Context, orgID, id string) (*Client, error) {
	row, err := r.row(ctx, id)
	if err == nil && !owns(orgID, row) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, storeError(err, id)
	}
	return fromRow(row), nil
}

// owns reports whether owner (an organization ID, "" for the platform, or
// anyOwner) may reach row.
func owns(owner string, row *store.OAuth2Client) bool {
	return owner == anyOwner || row.OrganizationID == owner
}

// List returns one page of every client, platform and organizations', in
// client_id order (see store.Page): the operator's list.
func (r *Registry) List(ctx context.Context, page store.Page) ([]*Client, error) {
	return r.list(r.Store.Read().ListOAuth2Clients(ctx, page))
}

// ListIn returns one page of the clients of organization orgID, or with
// orgID "" of the platform clients only, in client_id order.
func (r *Registry) ListIn(ctx context.Context, orgID string, page store.Page) ([]*Client, error) {
	return r.list(r.Store.Read().ListOAuth2ClientsOf(ctx, orgID, page))
}

func (r *Registry) list(rows []*store.OAuth2Client, err error) ([]*Client, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*Client, len(rows))
	for i, row := range rows {
		out[i] = fromRow(row)
	}
	return out, nil
}

// Update replaces a client's settings with spec (defaults applied as on
// Create). The type cannot change: it decides how the client authenticates,
// so a confidential client becoming public (or the reverse) is a new client.
// The secret and the owner are kept.
func (r *Registry) Update(ctx context.Context, id string, spec Spec) (*Client, error) {
	return r.UpdateIn(ctx, anyOwner, id, spec)
}

// UpdateIn is Update for a client of organization orgID ("" for a platform
// client); a client of another owner is not found.
func (r *Registry) UpdateIn(ctx context.Context, orgID, id string, spec Spec) (*Client, error) {
	var out *store.OAuth2Client
	err := r.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetOAuth2Client(ctx, id)
		if err != nil {
			return err
		}
		if !owns(orgID, old) {
			return store.ErrNotFound
		}
		if spec.Type == "" {
			spec.Type = Type(old.Type)
		}
		if string(spec.Type) != old.Type {
			return apierror.BadRequest("the type of client %q cannot change from %s to %s; delete it and create a new client", id, old.Type, spec.Type)
		}
		row, err := normalize(spec)
		if err != nil {
			return err
		}
		row.ID, row.OrganizationID, row.SecretHash, row.CreatedAt = old.ID, old.OrganizationID, old.SecretHash, old.CreatedAt
		row.ModifiedAt = r.now()
		if err := q.UpdateOAuth2Client(ctx, row); err != nil {
			return err
		}
		audit.Describe(ctx, AuditResource, id, fromRow(old), fromRow(row))
		out = row
		return nil
	})
	if err != nil {
		return nil, storeError(err, id)
	}
	return fromRow(out), nil
}

// Delete removes any client. Its secret stops working at once, and its
// sessions end (with every token issued in them).
func (r *Registry) Delete(ctx context.Context, id string) error {
	return r.DeleteIn(ctx, anyOwner, id)
}

// DeleteIn is Delete for a client of organization orgID ("" for a platform
// client); a client of another owner is not found.
func (r *Registry) DeleteIn(ctx context.Context, orgID, id string) error {
	return storeError(r.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetOAuth2Client(ctx, id)
		if err != nil {
			return err
		}
		if !owns(orgID, old) {
			return store.ErrNotFound
		}
		if err := q.DeleteOAuth2Client(ctx, id); err != nil {
			return err
		}
		audit.Describe(ctx, AuditResource, id, fromRow(old), nil)
		return nil
	}), id)
}

// RotateSecret gives a confidential client a new secret and returns it; the
// old one is invalid as soon as this returns.
func (r *Registry) RotateSecret(ctx context.Context, id string) (string, error) {
	_, plain, err := r.RotateSecretIn(ctx, anyOwner, id)
	return plain, err
}

// RotateSecretIn is RotateSecret for a client of organization orgID ("" for
// a platform client); it also returns the client. A client of another owner
// is not found.
func (r *Registry) RotateSecretIn(ctx context.Context, orgID, id string) (*Client, string, error) {
	plain, err := secret.NewToken(r.Rand, SecretPrefix)
	if err != nil {
		return nil, "", err
	}
	var out *Client
	err = r.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetOAuth2Client(ctx, id)
		if err != nil {
			return err
		}
		if !owns(orgID, old) {
			return store.ErrNotFound
		}
		if old.Type != string(Confidential) {
			return apierror.BadRequest("client %q is public: public clients have no secret", id)
		}
		if UsesCertificate(fromRow(old)) {
			return apierror.BadRequest("client %q authenticates with a TLS certificate (%s), not a secret", id, old.TokenEndpointAuthMethod)
		}
		now := r.now()
		if err := q.SetOAuth2ClientSecret(ctx, id, secret.Hash(plain), now); err != nil {
			return err
		}
		out = fromRow(old)
		out.ModifiedAt = now
		// The snapshots cannot show a secret (Client has none): the event
		// says that this client's secret changed, and when.
		audit.Describe(ctx, AuditResource, id, fromRow(old), out)
		return nil
	})
	if err != nil {
		return nil, "", storeError(err, id)
	}
	return out, plain, nil
}

// dummyHash is compared against when the client does not exist, so that an
// unknown client_id costs the same as a wrong secret.
var dummyHash = secret.Hash("gatehouse: no such client")

// Authenticate checks a client's credentials as presented at the token
// endpoint (however they were carried: the caller checks that the method
// matches TokenEndpointAuthMethod). A confidential client must present its
// secret; a public client must present none. The secret's SHA-256 hash is
// compared with the stored one in constant time. Any mismatch is
// ErrInvalidClient; other errors are infrastructure failures.
func (r *Registry) Authenticate(ctx context.Context, clientID, presented string) (*Client, error) {
	row, err := r.row(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		subtle.ConstantTimeCompare([]byte(secret.Hash(presented)), []byte(dummyHash))
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, err
	}
	switch Type(row.Type) {
	case Public:
		if presented != "" {
			return nil, ErrInvalidClient
		}
		return fromRow(row), nil
	case Confidential:
		got := secret.Hash(presented)
		ok := subtle.ConstantTimeCompare([]byte(got), []byte(row.SecretHash)) == 1
		if presented == "" || row.SecretHash == "" || !ok {
			return nil, ErrInvalidClient
		}
		return fromRow(row), nil
	}
	return nil, ErrInvalidClient
}

// AllowsGrant reports whether c may use grant type grant at the token
// endpoint. Public clients never get client_credentials or token exchange,
// whatever is stored.
func AllowsGrant(c *Client, grant string) bool {
	if c.Type != Confidential && (grant == GrantClientCredentials || grant == GrantTokenExchange) {
		return false
	}
	for _, g := range c.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}

// AllowsScope reports whether c may request scope.
func AllowsScope(c *Client, scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// RequiresPKCE reports whether authorization requests of c must carry a PKCE
// code challenge (S256): always for public clients, on request
// (Spec.RequirePKCE) for confidential ones, which may still send one.
func RequiresPKCE(c *Client) bool { return c.Type != Confidential || c.RequirePKCE }

// RequiresConsent reports whether users are asked to allow c's scopes before
// c gets a code: always for an organization's client, on request
// (Spec.RequireConsent) for the platform's. An organization's administrators
// choose its client's redirect URIs; without consent, prompt=none at their
// client would identify any member's signed-in browser without a click, so
// the stored flag (which the API ignores for them) never skips it.
func RequiresConsent(c *Client) bool { return c.OrganizationID != "" || c.RequireConsent }

func fromRow(row *store.OAuth2Client) *Client {
	return &Client{
		ID: row.ID, OrganizationID: row.OrganizationID, Name: row.Name, Type: Type(row.Type),
		RedirectURIs: row.RedirectURIs, PostLogoutRedirectURIs: row.PostLogoutRedirectURIs,
		GrantTypes: row.GrantTypes, Scopes: row.Scopes,
		TokenEndpointAuthMethod: row.TokenEndpointAuthMethod, RequirePKCE: row.RequirePKCE,
		RequireConsent:  row.RequireConsent,
		TLSClientAuth:   TLSIdentity{Field: row.TLSClientAuthField, Value: row.TLSClientAuthValue},
		TLSCertificates: row.TLSCertificates, BackchannelLogoutURI: row.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: row.BackchannelLogoutSessionRequired, AccessTokenLifetime: row.AccessTokenLifetime,
		SessionPerDevice: row.SessionPerDevice, RequirePushedAuthorizationRequests: row.RequirePAR,
		RefreshTokenLifetime: row.RefreshTokenLifetime, CreatedAt: row.CreatedAt, ModifiedAt: row.ModifiedAt,
		IDTokenSignedResponseAlg: row.IDTokenSignedResponseAlg,
	}
}

// SpecOf is the Spec that would re-create c (without its ID): the starting
// point of a partial update.
func SpecOf(c *Client) Spec {
	return Spec{
		Name: c.Name, Type: c.Type, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RequirePKCE: c.RequirePKCE, RequireConsent: c.RequireConsent, TLSClientAuth: c.TLSClientAuth,
		TLSCertificates: c.TLSCertificates, BackchannelLogoutURI: c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired, AccessTokenLifetime: c.AccessTokenLifetime,
		RefreshTokenLifetime: c.RefreshTokenLifetime, SessionPerDevice: c.SessionPerDevice,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
	}
}

// storeError maps store errors onto API errors; others pass through.
func storeError(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return apierror.NotFoundError("client %q not found", id)
	case errors.Is(err, store.ErrConflict):
		return apierror.ConflictError("a client with id %q already exists", id)
	}
	if _, ok := apierror.As(err); ok {
		return err
	}
	return fmt.Errorf("client %q: %w", id, err)
}
