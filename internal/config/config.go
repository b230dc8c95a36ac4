// Package config binds command-line flags to GATEHOUSE_* environment
// variables: every option can be given either way, flags win, and --help
// names the variable beside each flag.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
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
}

// NewBinder binds to fs, reading the process environment.
func NewBinder(fs *flag.FlagSet) *Binder { return &Binder{FS: fs, Getenv: os.Getenv} }

func (b *Binder) usage(name, usage string) string {
	return fmt.Sprintf("%s (env %s)", usage, EnvName(name))
}

// String binds a string option.
func (b *Binder) String(p *string, name, def, usage string) {
	if v := b.Getenv(EnvName(name)); v != "" {
		def = v
	}
	b.FS.StringVar(p, name, def, b.usage(name, usage))
}

// Duration binds a duration option.
func (b *Binder) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v := b.Getenv(EnvName(name)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", EnvName(name), err))
		} else {
			def = d
		}
	}
	b.FS.DurationVar(p, name, def, b.usage(name, usage))
}

// Parse parses args and reports bad environment values as well as bad flags.
func (b *Binder) Parse(args []string) error {
	if len(b.errs) > 0 {
		return b.errs[0]
	}
	return b.FS.Parse(args)
}

// Options is a set of options that binds itself to a Binder.
type Options interface{ Bind(*Binder) }

// Parse binds opts to a new flag set called name (usage and errors go to
// out) and parses args into it.
func Parse(name string, opts Options, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	b := NewBinder(fs)
	opts.Bind(b)
	return b.Parse(args)
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
	Listen             string
	Issuer             string
	BootstrapTokenFile string
	EncryptionKey      string
	EncryptionKeyFile  string
	LogLevel           string
	LogFormat          string
	ShutdownTimeout    time.Duration
	ServiceAccountTTL  time.Duration
	SigningAlgorithm   string
	KeyRotationPeriod  time.Duration
	MaxTokenLifetime   time.Duration
	ClientsFile        string

	// Abuse protections and timeouts (see docs/OPERATIONS.md).
	RateLimitToken    string
	RateLimitLogin    string
	TrustedProxies    string
	UpstreamTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	DebugListen       string
	LogFlushInterval  time.Duration
}

// Bind registers every serve option.
func (c *Serve) Bind(b *Binder) {
	c.Database.Bind(b)
	b.String(&c.Listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	b.String(&c.Issuer, "issuer", "", "public base URL of this Gatehouse, e.g. https://id.example.com (default http://LISTEN)")
	b.String(&c.BootstrapTokenFile, "bootstrap-token-file", "", "where the first start writes the platform administrator token (default DATA_DIR/bootstrap-token)")
	b.String(&c.EncryptionKey, "encryption-key", "", "base64 32-byte key that encrypts secrets at rest (required with PostgreSQL; with SQLite one is generated in DATA_DIR/encryption-key)")
	b.String(&c.EncryptionKeyFile, "encryption-key-file", "", "file holding the base64 encryption key, instead of --encryption-key")
	b.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	b.String(&c.LogFormat, "log-format", "json", "json or text")
	b.Duration(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may run after SIGTERM")
	b.Duration(&c.ServiceAccountTTL, "service-account-ttl", 365*24*time.Hour, "lifetime of service account tokens")
	b.String(&c.SigningAlgorithm, "signing-algorithm", "ES256", "algorithm of newly generated token signing keys: ES256, ES512 or RS256 (a change reaches signing two rotations later)")
	b.Duration(&c.KeyRotationPeriod, "key-rotation-period", 720*time.Hour, "rotate the token signing keys when the active key is this old (0 disables the schedule)")
	b.Duration(&c.MaxTokenLifetime, "max-token-lifetime", 24*time.Hour, "longest lifetime of any token Gatehouse signs; a retired signing key stays published this long")
	b.String(&c.ClientsFile, "clients-file", "", "JSON file of OAuth2 clients to create or update at start (see README: OAuth2 clients)")

	// Abuse protections and timeouts.
	b.String(&c.RateLimitToken, "rate-limit-token", "100/s", "limit per client ID and per client address on the token, introspection and revocation endpoints: N/s, N/m, N/h (bursts of N) or off; per replica")
	b.String(&c.RateLimitLogin, "rate-limit-login", "60/m", "limit per client address on authorization requests and login posts, and per account on password checks: N/s, N/m, N/h or off; per replica")
	b.String(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of the load balancers whose X-Forwarded-For names the client (default: none, the peer is the client)")
	b.Duration(&c.UpstreamTimeout, "upstream-timeout", 10*time.Second, "how long each step of a login at an upstream identity provider may take before the user gets an error page")
	b.Duration(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers (slow clients are cut)")
	b.Duration(&c.ReadTimeout, "read-timeout", 30*time.Second, "how long a client may take to send a whole request")
	b.Duration(&c.WriteTimeout, "write-timeout", 60*time.Second, "how long writing a response may take")
	b.Duration(&c.IdleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	b.Duration(&c.LogFlushInterval, "log-flush-interval", 100*time.Millisecond, "log lines are written in batches this often (a crash loses at most this much); 0 writes each line at once")
	b.String(&c.DebugListen, "debug-listen", "", "address of a separate listener serving Go's profiler (/debug/pprof/) for performance work, e.g. 127.0.0.1:6060; never expose it (default: off)")
}
