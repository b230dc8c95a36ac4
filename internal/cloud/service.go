package cloud

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/netguard"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Defaults of the optional Service fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
	DefaultAWSRegion      = "us-east-1"
)

// AWSPlatform is the built-in access node's own AWS identity and endpoints,
// used by cloud connections: it signs sts:AssumeRole for the assumeRole and
// awsAssumeRole credential types (the role's trust policy names this
// identity's account and requires the organization's external ID), and
// Organizations calls go to OrganizationsEndpoint.
type AWSPlatform struct {
	// AccessKeyID and SecretAccessKey are the identity; empty means the
	// node has none, and only stored access keys and federated credentials
	// can be validated.
	AccessKeyID     string
	SecretAccessKey string
	// Region of STS calls (DefaultAWSRegion if empty). Organizations is a
	// global service signed for us-east-1 whatever this says.
	Region string
	// STSEndpoint and OrganizationsEndpoint override the AWS endpoints
	// (https, or http on a loopback address); empty means AWS's own.
	STSEndpoint           string
	OrganizationsEndpoint string
	// AmbientCredentials offers the ambientRole credential type
	// (--cloud-aws-ambient-credentials): the node's ambient identity, from
	// Ambient. Off by default: in a multi-tenant deployment any tenant could
	// otherwise drive this Gatehouse's own AWS identity (a confused deputy),
	// so it is for self-hosted, single-tenant deployments.
	AmbientCredentials bool
	// Ambient says where the ambient identity comes from
	// (AmbientSourcesFromEnv in production; set directly in tests). Read
	// at every use.
	Ambient AmbientSources
}

// Service is cloud credential federation: cloud identities and the tokens
// and credentials they issue, the credential store and cloud connections.
// Set the fields before first use; a Service is safe for concurrent use. It
// knows nothing of HTTP requests: it is given the authenticated principal.
type Service struct {
	Store  *store.Store
	Sealer *secret.Sealer
	// Keys is the platform signing key Manager; each organization's
	// workload issuer signs with Keys.Organization(orgID).
	Keys *keys.Manager
	// Issuer is Gatehouse's public base URL (--issuer); organization orgID's
	// workload issuer is Issuer + "/oidc/organizations/" + orgID.
	Issuer string
	// Now, NewID and Rand are injected so tests are deterministic. Rand makes
	// token IDs and external IDs (crypto/rand if nil).
	Now   func() time.Time
	NewID func() string
	Rand  io.Reader
	// Jitter and Sleep drive retry policies (math/rand/v2 and real sleeping
	// if nil); tests inject both to count attempts and delays.
	Jitter Jitter
	Sleep  Sleeper
	// RequestTimeout bounds one whole cloud operation, retries included;
	// AttemptTimeout bounds connecting, the TLS handshake and waiting for
	// the response headers of each attempt (read once, at the first cloud
	// call, when the shared transport is built).
	RequestTimeout time.Duration
	AttemptTimeout time.Duration
	// RootCAs verifies cloud endpoints (the system pool if nil; read once,
	// at the first cloud call).
	RootCAs *x509.CertPool
	// AccessNodeDisabled turns the built-in access node off
	// (--cloud-access-node-enabled=false): cloud connection validation then
	// fails with ACCESS_NODE_COMMUNICATION_FAILED. Credential exchanges of
	// cloud identities do not go through access nodes.
	AccessNodeDisabled bool
	// AWS is the built-in access node's AWS identity and endpoints.
	AWS AWSPlatform
	// Logger receives warnings (slog.Default if nil). Nothing secret is
	// ever logged.
	Logger *slog.Logger

	// AllowPrivateTenantEndpoints lets the STS endpoints an organization
	// names in its cloud identities reach loopback and private addresses
	// (serve --allow-private-tenant-endpoints: development and tests).
	// Off, those calls go to public addresses only (package netguard).
	AllowPrivateTenantEndpoints bool

	clientOnce sync.Once
	client     *http.Client
	tenantOnce sync.Once
	tenant     *http.Client
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

func (s *Service) jitter() Jitter {
	if s.Jitter != nil {
		return s.Jitter
	}
	return globalJitter{}
}

func (s *Service) sleeper() Sleeper {
	if s.Sleep != nil {
		return s.Sleep
	}
	return Sleep
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) requestTimeout() time.Duration {
	if s.RequestTimeout > 0 {
		return s.RequestTimeout
	}
	return DefaultRequestTimeout
}

func (s *Service) attemptTimeout() time.Duration {
	if s.AttemptTimeout > 0 {
		return s.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

// outbound bounds a cloud operation by RequestTimeout.
func (s *Service) outbound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.requestTimeout())
}

// transport is the base HTTP transport of outbound cloud calls: the
// standard one (proxy from the environment, HTTP/2) with every wait bounded
// by AttemptTimeout and the configured roots.
func (s *Service) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := s.attemptTimeout()
	t.DialContext = (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = d
	t.ResponseHeaderTimeout = d
	t.ExpectContinueTimeout = time.Second
	if s.RootCAs != nil {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			t.TLSClientConfig = t.TLSClientConfig.Clone()
		}
		t.TLSClientConfig.RootCAs = s.RootCAs
	}
	return t
}

// tenantClient makes the calls to endpoints an organization chose (its
// cloud identities' stsEndpoint and iamCredentialsEndpoint): the transport
// of transport, guarded by netguard, so that an organization's
// administrators cannot make Gatehouse post its workload tokens into its
// own network (or read what answers there in the error).
func (s *Service) tenantClient() *http.Client {
	s.tenantOnce.Do(func() {
		t := s.transport()
		netguard.Guard(t, s.attemptTimeout(), s.AllowPrivateTenantEndpoints)
		s.tenant = &http.Client{Transport: t}
	})
	return s.tenant
}

// randomHex returns n random bytes, hex-encoded.
func (s *Service) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand(), b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *Service) randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.rand(), b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newMeta fills the server-owned creation fields of m.
func (s *Service) newMeta(m *store.Meta, actor *authn.Principal, orgID string) {
	m.Stamp(s.NewID(), orgID, s.now(), actor.Subject)
}

// carryMeta copies the server-owned fields of old into the update m.
func (s *Service) carryMeta(m *store.Meta, old store.Meta, actor *authn.Principal) {
	m.Carry(old, s.now(), actor.Subject)
}

// storeError maps store errors about a resource of kind named name onto API
// errors as tenancy does (404, 409), except that a broken reference is a 404
// here (the project went away), and cloud errors pass through.
func storeError(err error, kind, name string) error {
	if errors.Is(err, store.ErrReference) {
		return apierror.NotFoundError("%s %q refers to a resource that does not exist in this organization", kind, name)
	}
	if _, ok := AsError(err); ok {
		return err
	}
	return tenancy.StoreError(err, kind, name)
}

// Caller is who a workload token is about: the authenticated principal as a
// member of the organization.
type Caller struct {
	// Type is PrincipalServiceAccount or PrincipalUser.
	Type string
	// ID is the service account's ID, or the user's ID in the organization
	// (not the email: a subject that a user cannot change).
	ID string
}

// The principal_type claim values.
const (
	PrincipalServiceAccount = "serviceAccount"
	PrincipalUser           = "user"
)

// caller resolves p as a member of orgID. The guard has already authorized
// the operation; this is the second look that binds the token to a member,
// never to a platform principal or a member of another organization.
func (s *Service) caller(ctx context.Context, p *authn.Principal, orgID string) (Caller, error) {
	if p == nil {
		return Caller{}, apierror.Unauthorized("no authenticated principal")
	}
	switch p.Kind {
	case authn.KindServiceAccount:
		if p.OrganizationID != orgID {
			return Caller{}, apierror.ForbiddenError("only members of the organization may obtain its workload identity tokens")
		}
		return Caller{Type: PrincipalServiceAccount, ID: p.ID}, nil
	case authn.KindUser:
		if v := p.VouchingOrganization(); v != "" && v != orgID {
			return Caller{}, apierror.ForbiddenError("only active members of the organization may obtain its workload identity tokens")
		}
		u, err := s.Store.Read().GetUserBySubject(ctx, orgID, p.Subject)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.State != "active") {
			return Caller{}, apierror.ForbiddenError("only active members of the organization may obtain its workload identity tokens")
		}
		if err != nil {
			return Caller{}, fmt.Errorf("resolve caller: %w", err)
		}
		return Caller{Type: PrincipalUser, ID: u.ID}, nil
	}
	return Caller{}, apierror.ForbiddenError("principal kind %q cannot obtain workload identity tokens", p.Kind)
}

// CheckEndpoint validates an endpoint override: an absolute https URL (http
// only on a loopback address, for tests and local stand-ins) with a host, no
// user info, query or fragment. field names it in messages.
func CheckEndpoint(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return invalid("%s must be an absolute URL", field)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, " \t\n\\") {
		return invalid("%s must have no user info, query, fragment or whitespace", field)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return invalid("%s must be https (http is allowed only on a loopback address)", field)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
