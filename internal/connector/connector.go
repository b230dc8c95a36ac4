// Package connector logs people in through an identity provider that is not
// Gatehouse, and tells the login flow who they are.
//
// # Model
//
// A connector turns a successful upstream login into an Identity: the
// connector that vouched for it, the subject the upstream uses for that person
// (stable, unlike the email), and the profile claims. What Gatehouse does with
// an Identity (which organization, which user record, onboarding) is the
// login flow's business, not the connector's.
//
// There are two shapes:
//
//   - RedirectConnector: the browser is sent to the upstream (AuthCodeURL)
//     and comes back to Gatehouse's /oidc/callback with a code, which
//     Exchange trades for tokens and an Identity. Built by New from a stored
//     OAuth2 provider (store.OAuth2Provider) by its Type:
//     "oidc" (any OpenID Connect issuer, by discovery), "google",
//     "microsoft" (Entra ID, tenant-aware) and "github" (OAuth2 + REST API,
//     GitHub is not OpenID Connect).
//   - Password: the built-in local connector. Email and password are checked
//     against an argon2id hash in Gatehouse's own database, with a lockout
//     after repeated failures, so that Gatehouse works with no upstream at all.
//
// # Security properties of a redirect login
//
// Every login uses a fresh PKCE (S256) verifier, which AuthCodeURL returns
// and the caller keeps (server side, bound to the browser's state) until
// Exchange; OpenID Connect logins also send the caller's nonce upstream. The
// caller generates state and nonce and checks state itself. Exchange then
// verifies the upstream ID token with go-oidc: the signature against the
// upstream's JWKS, with only the asymmetric algorithms its discovery document
// lists (never "none", never HMAC), the issuer, the audience (our client ID),
// the expiry, the nonce, and at_hash and azp when present. Microsoft's
// multi-tenant endpoints have no fixed issuer: there the issuer must be the
// one of the tenant named by the token's own tid claim. A refusal by or of
// the upstream wraps ErrUpstream, ErrInvalidIDToken or ErrEmailNotVerified;
// other errors are the caller's (an empty state, code or verifier).
//
// Identity.Email is only trustworthy when EmailVerified is true: routing a
// login to an organization by email domain, or linking it to an existing
// user, must require it.
package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// Identity is who an upstream (or the local password store) says the person
// logging in is.
type Identity struct {
	// ConnectorID names the connector: the OAuth2 provider's ID, or
	// LocalConnectorID.
	ConnectorID string
	// Subject is the upstream's identifier for the person: the ID token's
	// sub (stable per upstream and client), GitHub's numeric user ID, or the
	// local user's email. (ConnectorID, Subject) identifies a person.
	Subject string
	// Issuer is the upstream that vouched for the person: the verified ID
	// token's iss, or GitHub's web URL; "" for the local password store.
	Issuer string
	// Email and EmailVerified: trust Email only if EmailVerified.
	Email         string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
	Picture       string
	// Organization owns the local account that vouched ("" for the
	// platform, and for upstream identities): such a login is that
	// organization's only (migration 00021).
	Organization string
	// Locale is the upstream's locale claim (an RFC 5646 language tag).
	Locale string
}

// RedirectConnector is an upstream login by browser redirect (OAuth2
// authorization code flow with PKCE; OpenID Connect where the upstream
// speaks it).
type RedirectConnector interface {
	// AuthCodeURL returns the upstream authorization URL for one login,
	// carrying state and nonce, and the PKCE verifier made for it. The caller
	// stores verifier and nonce with state and passes them to Exchange.
	// state must not be empty; nor must nonce, except for GitHub (which has
	// no ID token, and ignores it).
	AuthCodeURL(state, nonce string) (url string, verifier string, err error)
	// Exchange trades the code from the callback for tokens, with the
	// verifier AuthCodeURL returned, verifies what the upstream returned (see
	// the package documentation) and returns the person's Identity.
	Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error)
}

// Errors that Exchange (and New) failures wrap, for the login flow to choose
// what to tell the user.
var (
	// ErrUpstream: the upstream could not be reached or refused (discovery,
	// token endpoint, GitHub API); also a code or verifier it rejected.
	ErrUpstream = errors.New("upstream identity provider error")
	// ErrInvalidIDToken: the upstream's ID token failed verification
	// (signature, issuer, audience, expiry, nonce, tenant).
	ErrInvalidIDToken = errors.New("invalid ID token")
	// ErrEmailNotVerified: the connector requires a verified email (Google,
	// GitHub) and the upstream did not vouch for one.
	ErrEmailNotVerified = errors.New("no verified email address")
)

// Provider types, as in store.OAuth2Provider.Type.
const (
	TypeOIDC      = "oidc"
	TypeGoogle    = "google"
	TypeMicrosoft = "microsoft"
	TypeGitHub    = "github"
)

// Option adjusts New: endpoints and HTTP client for tests and private
// deployments.
type Option func(*options)

type options struct {
	client       *http.Client
	googleIssuer string
	msAuthority  string
	ghWeb, ghAPI string
	scopes       []string
	now          func() time.Time
	insecureHTTP bool
}

// WithHTTPClient makes every request to the upstream (discovery, JWKS, token,
// userinfo, GitHub API) with c. The default client has a 15-second timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithGoogleIssuer replaces https://accounts.google.com (stand-in upstreams
// in tests).
func WithGoogleIssuer(issuer string) Option { return func(o *options) { o.googleIssuer = issuer } }

// WithMicrosoftAuthority replaces https://login.microsoftonline.com, the
// host in front of /{tenant}/v2.0 (stand-in upstreams in tests).
func WithMicrosoftAuthority(base string) Option { return func(o *options) { o.msAuthority = base } }

// WithGitHubEndpoints replaces https://github.com (authorize and token) and
// https://api.github.com (REST API).
func WithGitHubEndpoints(web, api string) Option {
	return func(o *options) { o.ghWeb, o.ghAPI = web, api }
}

// WithScopes replaces the requested scopes (default: openid email profile;
// GitHub: read:user user:email).
func WithScopes(scopes ...string) Option { return func(o *options) { o.scopes = scopes } }

// WithClock sets the clock ID token expiry is checked against.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithInsecureHTTP allows plain-HTTP upstream URLs on hosts other than
// loopback, for development setups only. Without it every upstream URL must
// be https, except on localhost, 127.0.0.0/8 and ::1.
func WithInsecureHTTP() Option { return func(o *options) { o.insecureHTTP = true } }

// New builds the connector for provider p, by p.Type. clientSecret is p's
// opened secret (tenancy.Service.ProviderSecret; empty for a public client),
// callbackURL Gatehouse's absolute /oidc/callback URL, registered with the
// upstream as the redirect URI. OpenID Connect types fetch the upstream's
// discovery document now, so New fails if the upstream is unreachable or
// misconfigured; the returned connector is safe for concurrent use and meant
// to be kept.
func New(ctx context.Context, p *store.OAuth2Provider, clientSecret, callbackURL string, opts ...Option) (RedirectConnector, error) {
	if p == nil {
		return nil, errors.New("connector: no provider")
	}
	o := options{client: &http.Client{Timeout: 15 * time.Second}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		return nil, errors.New("connector: nil HTTP client")
	}
	// Every call to the upstream is a client span when tracing is on (a
	// copy: the caller's client is not changed).
	traced := *o.client
	traced.Transport = telemetry.Transport(o.client.Transport)
	o.client = &traced
	if p.ID == "" {
		return nil, errors.New("connector: provider has no ID")
	}
	if p.ClientID == "" {
		return nil, fmt.Errorf("connector %s: provider has no client ID", p.ID)
	}
	cb, err := url.Parse(callbackURL)
	if err != nil || (cb.Scheme != "https" && cb.Scheme != "http") || cb.Host == "" || cb.Fragment != "" {
		return nil, fmt.Errorf("connector %s: callback URL %q must be an absolute http(s) URL", p.ID, callbackURL)
	}
	b := base{id: p.ID, kind: p.Type, clientID: p.ClientID, clientSecret: clientSecret, callback: callbackURL, o: o}
	switch p.Type {
	case TypeOIDC:
		return newOIDC(ctx, b, p.Issuer)
	case TypeGoogle:
		return newGoogle(ctx, b, p.Issuer)
	case TypeMicrosoft:
		return newMicrosoft(ctx, b, p.Issuer)
	case TypeGitHub:
		return newGitHub(b, p.Issuer)
	default:
		return nil, fmt.Errorf("connector %s: unknown provider type %q (want oidc, google, microsoft or github)", p.ID, p.Type)
	}
}

// base is what every redirect connector is built from.
type base struct {
	id, kind               string
	clientID, clientSecret string
	callback               string
	o                      options
}

// name is how errors refer to the connector.
func (b *base) name() string { return "connector " + b.id + " (" + b.kind + ")" }

// checkURL accepts an absolute https URL, or http on a loopback host (or
// anywhere with WithInsecureHTTP).
func (b *base) checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s: %s %q is not an absolute http(s) URL", b.name(), what, raw)
	}
	if u.Scheme == "http" && !b.o.insecureHTTP && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s: %s %q must use https", b.name(), what, raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// upstreamErr wraps a failure to talk to the upstream. A token endpoint's
// refusal also says the HTTP status, which x/oauth2 leaves out when the body
// has an OAuth2 error code.
func (b *base) upstreamErr(step string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		step += " (HTTP " + re.Response.Status + ")"
	}
	return fmt.Errorf("%s: %s: %w: %w", b.name(), step, ErrUpstream, err)
}

// tokenErr wraps an ID token verification failure.
func (b *base) tokenErr(err error) error {
	return fmt.Errorf("%s: %w: %w", b.name(), ErrInvalidIDToken, err)
}

func (b *base) checkAuthCodeArgs(state, nonce string, needNonce bool) error {
	if state == "" {
		return fmt.Errorf("%s: empty state", b.name())
	}
	if needNonce && nonce == "" {
		return fmt.Errorf("%s: empty nonce", b.name())
	}
	return nil
}

func (b *base) checkExchangeArgs(code, verifier, nonce string, needNonce bool) error {
	switch {
	case code == "":
		return fmt.Errorf("%s: empty code", b.name())
	case verifier == "":
		return fmt.Errorf("%s: empty PKCE verifier", b.name())
	case needNonce && nonce == "":
		return fmt.Errorf("%s: empty nonce", b.name())
	}
	return nil
}

// withClient makes ctx carry the connector's HTTP client, for x/oauth2 and
// go-oidc alike (they share the context key).
func (b *base) withClient(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, b.o.client)
}
