// Package config binds command-line flags to GATEHOUSE_* environment
// variables and to the keys of a YAML configuration file (--config,
// GATEHOUSE_CONFIG): every option can be given any of the three ways, a flag
// wins over the environment, the environment over the file, the file over
// the default, and --help names the variable beside each flag. The file
// works from the flag set alone (file.go), so every flag is a key without
// further code.
package config

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientip"
)

// EnvName is the environment variable of a flag: "data-dir" → GATEHOUSE_DATA_DIR.
func EnvName(flagName string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Binder registers options on a FlagSet with environment defaults.
type Binder struct {
	FS     *flag.FlagSet
	Getenv func(string) string
	errs   []error

	configPath string
	// fromEnv and fromFile name the options the environment and the
	// configuration file set (for the precedence and `config print`).
	fromEnv, fromFile map[string]bool
	// secrets are the options marked with Secret.
	secrets map[string]bool
}

// env returns the value of name's GATEHOUSE_* variable ("" when unset or
// empty) and remembers that the environment set it.
func (b *Binder) env(name string) string {
	v := b.Getenv(EnvName(name))
	if v != "" {
		if b.fromEnv == nil {
			b.fromEnv = map[string]bool{}
		}
		b.fromEnv[name] = true
	}
	return v
}

// NewBinder binds to fs, reading the process environment.
func NewBinder(fs *flag.FlagSet) *Binder { return &Binder{FS: fs, Getenv: os.Getenv} }

func (b *Binder) usage(name, usage string) string {
	return fmt.Sprintf("%s (env %s)", usage, EnvName(name))
}

// String binds a string option.
func (b *Binder) String(p *string, name, def, usage string) {
	if v := b.env(name); v != "" {
		def = v
	}
	b.FS.StringVar(p, name, def, b.usage(name, usage))
}

// Duration binds a duration option.
func (b *Binder) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v := b.env(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", EnvName(name), err))
		} else {
			def = d
		}
	}
	b.FS.DurationVar(p, name, def, b.usage(name, usage))
}

// Bool binds a boolean option; the environment takes what strconv.ParseBool
// does (true, false, 1, 0, ...).
func (b *Binder) Bool(p *bool, name string, def bool, usage string) {
	if v := b.env(name); v != "" {
		parsed, err := strconv.ParseBool(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", EnvName(name), err))
		} else {
			def = parsed
		}
	}
	b.FS.BoolVar(p, name, def, b.usage(name, usage))
}

// Parse parses args and reports bad environment values as well as bad
// flags; then it reads the configuration file that --config or
// GATEHOUSE_CONFIG names, for the options neither set.
func (b *Binder) Parse(args []string) error {
	if b.FS.Lookup(ConfigFlag) == nil {
		b.String(&b.configPath, ConfigFlag, "", "YAML file of options: keys are the flags' names (e.g. listen: 0.0.0.0:8080); flags and the environment win over it")
	}
	if len(b.errs) > 0 {
		return b.errs[0]
	}
	if err := b.FS.Parse(args); err != nil {
		return err
	}
	if b.configPath == "" {
		return nil
	}
	return b.applyFile(b.configPath)
}

// Options is a set of options that binds itself to a Binder.
type Options interface{ Bind(*Binder) }

// Parse binds opts to a new flag set called name (usage and errors go to
// out) and parses args into it.
func Parse(name string, opts Options, args []string, out io.Writer) error {
	_, err := Load(name, opts, args, out)
	return err
}

// Load is Parse that also returns the Binder, which knows where each value
// came from (for `gatehouse config print`).
func Load(name string, opts Options, args []string, out io.Writer) (*Binder, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	b := NewBinder(fs)
	opts.Bind(b)
	return b, b.Parse(args)
}

// Database selects and locates the database.
type Database struct {
	DataDir     string
	DatabaseURL string
}

// Bind registers the database options.
func (d *Database) Bind(b *Binder) {
	b.String(&d.DataDir, "data-dir", "./gatehouse-data", "directory for the embedded SQLite database, the bootstrap token and the generated encryption key")
	b.String(&d.DatabaseURL, "database-url", "", "postgres://user:pass@host:5432/db to use PostgreSQL instead of the embedded SQLite database")
}

// Postgres reports whether PostgreSQL is selected.
func (d *Database) Postgres() bool {
	return d.DatabaseURL != "" && !strings.HasPrefix(d.DatabaseURL, "sqlite:")
}

// Serve is the configuration of `gatehouse serve`.
type Serve struct {
	Database
	Listen string
	Issuer string

	// TLS served by Gatehouse itself, and RFC 8705 client certificates.
	TLSCertFile     string
	TLSKeyFile      string
	TLSClientCAFile string
	// Onboarding is off, local or all (see internal/oidc.Onboarding).
	Onboarding string
	UIURL      string
	// MFAPlatformAdministrators is the multi-factor policy of platform
	// administrators: required (the default) or optional (internal/mfa).
	MFAPlatformAdministrators string
	BrowserSessionLifetime    time.Duration

	BootstrapTokenFile string
	EncryptionKey      string
	EncryptionKeyFile  string
	LogLevel           string
	LogFormat          string
	ShutdownTimeout    time.Duration
	ServiceAccountTTL  time.Duration
	SigningAlgorithm   string
	KeyRotationPeriod  time.Duration
	// AuditRetention is how long audit events are kept (0: forever).
	AuditRetention   time.Duration
	MaxTokenLifetime time.Duration
	ClientsFile      string
	// Console serves the web console at /console/ and registers its OAuth2
	// client (internal/console).
	Console bool
	// TrustedProxies is a comma-separated list of CIDRs of reverse proxies
	// whose X-Forwarded-For names the client (the address rate limits key on
	// and the sourceIP policies see).
	TrustedProxies string
	// ObjectLimits are the per-organization object limits, kind=N,...
	// (internal/objectlimit).
	ObjectLimits string

	// Abuse protections and timeouts (see docs/OPERATIONS.md).
	RateLimitToken    string
	RateLimitLogin    string
	UpstreamTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	// AllowPrivateTenantEndpoints lets the URLs organizations choose
	// (back-channel logout URIs, identity providers, cloud identities' STS
	// endpoints) reach loopback and private addresses: development and
	// tests only (internal/netguard).
	AllowPrivateTenantEndpoints bool
	// DNSResolver (host:port, '' for the system resolver) and DNSTimeout:
	// where and how long domain verification looks up TXT challenges.
	DNSResolver      string
	DNSTimeout       time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration
	DebugListen      string
	LogFlushInterval time.Duration
	// OTLPEndpoint is the OpenTelemetry collector that traces go to
	// (internal/telemetry); empty leaves it to the OTEL_* variables.
	OTLPEndpoint string
	// DatabaseTimeout bounds each statement and transaction of serving
	// (store.WithTimeout).
	DatabaseTimeout time.Duration
	// RateLimitAuthFailures limits failed bearer authentications on
	// /api/v1 per client address.
	RateLimitAuthFailures string
	Cloud
	Mail
}

// Mail configures email delivery (internal/mail, internal/outbox).
type Mail struct {
	// SMTPURL is smtp://[user@]host[:port][?tls=none] (STARTTLS) or
	// smtps://[user@]host[:port] (implicit TLS); "" sends no mail.
	SMTPURL string
	// SMTPPassword (prefer the environment) or SMTPPasswordFile holds the
	// password of the URL's user: never the URL itself.
	SMTPPassword     string
	SMTPPasswordFile string
	// MailFrom is the sender address.
	MailFrom string
	// MailRetention is how long sent and failed messages stay in the
	// outbox (their bodies are erased at once).
	MailRetention time.Duration
	// RateLimitForgot limits "Forgot password?" requests per client
	// address and per account.
	RateLimitForgot string
	// MailPollInterval is how often the outbox worker looks for due
	// messages; MailBackoff the wait after a first failed delivery
	// (doubled after each further one, up to an hour).
	MailPollInterval, MailBackoff time.Duration
}

// Bind registers the mail options.
func (c *Mail) Bind(b *Binder) {
	b.String(&c.SMTPURL, "smtp-url", "", "SMTP server that mail goes through: smtp://[user@]host[:port] (STARTTLS required; add ?tls=none only for a relay on loopback) or smtps://[user@]host[:port] (implicit TLS); the password goes in --smtp-password-file or GATEHOUSE_SMTP_PASSWORD, never the URL (default: no mail; links are handed out by the API, the console and the CLI)")
	b.String(&c.SMTPPassword, "smtp-password", "", "password of the --smtp-url user (prefer the environment variable or --smtp-password-file)")
	b.String(&c.SMTPPasswordFile, "smtp-password-file", "", "file holding the password of the --smtp-url user")
	b.String(&c.MailFrom, "mail-from", "", "sender of Gatehouse's mail, e.g. 'Gatehouse <noreply@id.example.com>' (required with --smtp-url)")
	b.Duration(&c.MailRetention, "mail-retention", 7*24*time.Hour, "how long sent and failed messages stay in the outbox for inspection before they are pruned (their contents are erased as soon as they are sent)")
	b.Duration(&c.MailPollInterval, "mail-poll-interval", 5*time.Second, "how often each replica looks in the outbox for mail to deliver (mail queued on a replica is sent by it at once)")
	b.Duration(&c.MailBackoff, "mail-backoff", 30*time.Second, "wait after a failed delivery before the next attempt, doubled after each further failure up to an hour; a message is given up after 12 attempts")
	b.String(&c.RateLimitForgot, "rate-limit-forgot", "5/h", "limit on \"Forgot password?\" requests per client address and per account: N/s, N/m, N/h or off; per replica")
}

// TrustedProxyPrefixes parses TrustedProxies; a bare address is a /32 or
// /128.
func (c *Serve) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	p, err := clientip.ParsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	return p, nil
}

// Cloud configures cloud credential federation (internal/cloud).
type Cloud struct {
	WorkloadSigningAlgorithm string
	CloudAccessNodeEnabled   bool
	CloudRequestTimeout      time.Duration
	CloudAttemptTimeout      time.Duration
	CloudAWSAccessKeyID      string
	CloudAWSSecretAccessKey  string
	CloudAWSSecretKeyFile    string
	CloudAWSRegion           string
	CloudAWSSTSEndpoint      string
	CloudAWSOrgsEndpoint     string
	CloudAWSAmbientCreds     bool
}

// Bind registers the cloud options.
func (c *Cloud) Bind(b *Binder) {
	b.String(&c.WorkloadSigningAlgorithm, "workload-signing-algorithm", "ES256", "algorithm of organizations' workload issuer keys: ES256 or RS256 (both AWS and GCP accept them)")
	b.Bool(&c.CloudAccessNodeEnabled, "cloud-access-node-enabled", true, "run cloud connection validation on this process (the built-in access node); false makes it fail with ACCESS_NODE_COMMUNICATION_FAILED")
	b.Duration(&c.CloudRequestTimeout, "cloud-request-timeout", 30*time.Second, "longest a cloud exchange or validation may take, retries included")
	b.Duration(&c.CloudAttemptTimeout, "cloud-attempt-timeout", 10*time.Second, "longest one cloud call may wait to connect, handshake or get its response headers")
	b.String(&c.CloudAWSAccessKeyID, "cloud-aws-access-key-id", "", "this Gatehouse's own AWS access key ID: it assumes the roles of assumeRole cloud connections with the organization's external ID")
	b.String(&c.CloudAWSSecretAccessKey, "cloud-aws-secret-access-key", "", "the secret of --cloud-aws-access-key-id (prefer the environment variable or --cloud-aws-secret-access-key-file)")
	b.String(&c.CloudAWSSecretKeyFile, "cloud-aws-secret-access-key-file", "", "file holding the secret of --cloud-aws-access-key-id")
	b.String(&c.CloudAWSRegion, "cloud-aws-region", "us-east-1", "AWS region of this Gatehouse's STS calls")
	b.String(&c.CloudAWSSTSEndpoint, "cloud-aws-sts-endpoint", "", "AWS STS endpoint of cloud connections (default AWS's regional endpoint)")
	b.String(&c.CloudAWSOrgsEndpoint, "cloud-aws-organizations-endpoint", "", "AWS Organizations endpoint of cloud connections (default AWS's)")
	b.Bool(&c.CloudAWSAmbientCreds, "cloud-aws-ambient-credentials", false, "offer the ambientRole cloud connection credential: this Gatehouse's own ambient AWS identity (IRSA web identity, container or EC2 instance role, from the AWS_* environment); for self-hosted, single-tenant deployments only, since every organization could use it")
}

// Bind registers every serve option.
func (c *Serve) Bind(b *Binder) {
	c.Database.Bind(b)
	b.String(&c.Listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	b.String(&c.Issuer, "issuer", "", "public base URL of this Gatehouse, e.g. https://id.example.com (default http://LISTEN)")
	b.String(&c.TLSCertFile, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key-file")
	b.String(&c.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	b.String(&c.TLSClientCAFile, "tls-client-ca-file", "", "PEM CA certificates of OAuth2 clients' TLS certificates: request (not require) client certificates and offer RFC 8705 client authentication")
	b.String(&c.Onboarding, "onboarding", "local", "who may create an organization at their first login: off, local (local password users) or all (upstream logins too)")
	b.String(&c.MFAPlatformAdministrators, "mfa-platform-administrators", "required", "multi-factor policy of people holding the platform administrator role: required (enrolment forced at the next password sign-in) or optional")
	b.String(&c.UIURL, "ui-url", "", "where a completed signup link (GET /api/v1/signup) sends the browser (default: Gatehouse's own page)")
	b.Duration(&c.BrowserSessionLifetime, "browser-session-lifetime", 12*time.Hour, "how long a browser login is reused for single sign-on")
	b.String(&c.BootstrapTokenFile, "bootstrap-token-file", "", "where the first start writes the platform administrator token (default DATA_DIR/bootstrap-token)")
	b.String(&c.EncryptionKey, "encryption-key", "", "base64 32-byte key that encrypts secrets at rest (required with PostgreSQL; with SQLite one is generated in DATA_DIR/encryption-key)")
	b.String(&c.EncryptionKeyFile, "encryption-key-file", "", "file holding the base64 encryption key, instead of --encryption-key")
	b.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	b.String(&c.LogFormat, "log-format", "json", "json or text")
	b.Duration(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may run after SIGTERM")
	b.Duration(&c.ServiceAccountTTL, "service-account-ttl", 365*24*time.Hour, "lifetime of service account tokens")
	b.String(&c.SigningAlgorithm, "signing-algorithm", "ES256", "default token signing algorithm (access tokens, logout tokens, ID tokens of clients that chose none): ES256, ES512 or RS256; keys of all three are always published")
	b.Duration(&c.KeyRotationPeriod, "key-rotation-period", 720*time.Hour, "rotate the token signing keys when the active key is this old (0 disables the schedule)")
	b.Duration(&c.AuditRetention, "audit-retention", 0, "delete audit events older than this (e.g. 8760h), oldest first, checked hourly by every replica; each purge is itself recorded (0 keeps every event)")
	b.Duration(&c.MaxTokenLifetime, "max-token-lifetime", 24*time.Hour, "longest lifetime of any token Gatehouse signs; a retired signing key stays published this long")
	b.Bool(&c.Console, "console", true, "serve the web console at /console/ and register its public OAuth2 client gatehouse-console (redirect URI ISSUER/console/callback); false serves neither and leaves an existing registration alone")
	b.String(&c.ClientsFile, "clients-file", "", "JSON file of OAuth2 clients to create or update at start (see README: OAuth2 clients)")
	b.String(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of the load balancers whose X-Forwarded-For names the client: the address that rate limits key on and policies see as sourceIP (default: none, the peer is the client)")

	// Abuse protections and timeouts.
	b.String(&c.RateLimitToken, "rate-limit-token", "100/s", "limit per client address on the token, introspection, revocation, device authorization and PAR endpoints, and per client ID for failed client authentications there: N/s, N/m, N/h (bursts of N) or off; per replica")
	b.String(&c.RateLimitLogin, "rate-limit-login", "60/m", "limit per client address on authorization requests and login posts, and per account on password checks: N/s, N/m, N/h or off; per replica")
	b.String(&c.ObjectLimits, "object-limits", "", "per-organization limits on what members create, as kind=N,... (kinds: accountassignments, apikeys, groups, oauth2providers, permissionsets, projects, roles, serviceaccounts, users); unnamed kinds keep their defaults (see docs/OPERATIONS.md)")
	b.String(&c.RateLimitAuthFailures, "rate-limit-auth-failures", "30/m", "limit per client address on failed bearer authentications (401) on /api/v1: past it the address gets 429 before its token is checked; successful ones count nothing. N/s, N/m, N/h or off; per replica")
	b.Duration(&c.UpstreamTimeout, "upstream-timeout", 10*time.Second, "how long each step of a login at an upstream identity provider may take before the user gets an error page")
	b.Duration(&c.DatabaseTimeout, "database-timeout", 5*time.Second, "longest a request's database work may take: each statement, each transaction (waiting for a pool connection included); past it the request gets 503 temporarily_unavailable with Retry-After. On PostgreSQL, connections also get statement_timeout and lock_timeout of 4/5 of it, unless --database-url sets them")
	b.Bool(&c.AllowPrivateTenantEndpoints, "allow-private-tenant-endpoints", false, "let the URLs organizations choose (their OAuth2 clients' back-channel logout URIs, their identity providers, their cloud identities' STS endpoints) reach loopback and private addresses; for development and tests only (default: public addresses only, and no proxy for those requests)")
	b.String(&c.DNSResolver, "dns-resolver", "", "DNS server (host:port) that domain verification asks for the _gatehouse-challenge TXT records, over UDP and TCP (default: the system resolver)")
	b.Duration(&c.DNSTimeout, "dns-timeout", 5*time.Second, "how long one domain verification's DNS lookup may take before the request gets 503")
	b.Duration(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers (slow clients are cut)")
	b.Duration(&c.ReadTimeout, "read-timeout", 30*time.Second, "how long a client may take to send a whole request")
	b.Duration(&c.WriteTimeout, "write-timeout", 60*time.Second, "how long writing a response may take")
	b.Duration(&c.IdleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	b.Duration(&c.LogFlushInterval, "log-flush-interval", 100*time.Millisecond, "log lines are written in batches this often (a crash loses at most this much); 0 writes each line at once")
	b.String(&c.DebugListen, "debug-listen", "", "address of a separate listener serving Go's profiler (/debug/pprof/) for performance work, e.g. 127.0.0.1:6060; never expose it (default: off)")
	b.String(&c.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector to send traces to over OTLP/HTTP (protobuf), e.g. http://otel-collector:4318 (spans go to /v1/traces); default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, and without any, tracing is off")
	c.Cloud.Bind(b)
	c.Mail.Bind(b)
}
