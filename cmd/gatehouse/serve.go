package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/logbuf"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/telemetry"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(quietLibrary{slog.NewJSONHandler(w, opts)}), nil
	case "text":
		return slog.New(quietLibrary{slog.NewTextHandler(w, opts)}), nil
	}
	return nil, fmt.Errorf("--log-format: want json or text, got %q", format)
}

// libraryChatter are messages zitadel/oidc logs at INFO that say nothing
// an operator acts on: seven "registered route" lines at every start.
// quietLibrary logs them at DEBUG.
var libraryChatter = map[string]bool{"registered route": true}

// quietLibrary is a slog.Handler that demotes libraryChatter to DEBUG.
type quietLibrary struct{ slog.Handler }

// Enabled lets an INFO record through to Handle, which decides by its
// message (Enabled does not see it).
func (h quietLibrary) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h quietLibrary) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && libraryChatter[r.Message] {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h quietLibrary) WithAttrs(as []slog.Attr) slog.Handler {
	return quietLibrary{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h quietLibrary) WithGroup(name string) slog.Handler {
	return quietLibrary{h.Handler.WithGroup(name)}
}

// openStore opens and migrates the configured database.
func openStore(ctx context.Context, db config.Database, opts ...store.Option) (*store.Store, error) {
	st, err := store.Open(ctx, db.DatabaseURL, db.DataDir, opts...)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// loadSealer finds the key-encryption key: --encryption-key, then
// --encryption-key-file, then (SQLite only) DATA_DIR/encryption-key, created on
// first start. PostgreSQL deployments have several replicas that must share
// the key, so there it must be configured.
func loadSealer(c *config.Serve) (*secret.Sealer, error) {
	raw := c.EncryptionKey
	if raw == "" && c.EncryptionKeyFile != "" {
		b, err := os.ReadFile(c.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read encryption key file: %w", err)
		}
		raw = string(b)
	}
	if raw == "" {
		if c.Postgres() {
			return nil, errors.New("--encryption-key (or --encryption-key-file) is required with PostgreSQL, so that every replica shares it; generate one with: head -c 32 /dev/urandom | base64")
		}
		path := filepath.Join(c.DataDir, "encryption-key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			raw = string(b)
		case errors.Is(err, os.ErrNotExist):
			key := make([]byte, secret.KeySize)
			if _, err := rand.Read(key); err != nil {
				return nil, fmt.Errorf("generate encryption key: %w", err)
			}
			raw = base64.StdEncoding.EncodeToString(key)
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
			if err := os.WriteFile(path, []byte(raw+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write encryption key: %w", err)
			}
		default:
			return nil, fmt.Errorf("read encryption key: %w", err)
		}
	}
	key, err := secret.ParseKey(raw)
	if err != nil {
		return nil, err
	}
	return secret.NewSealer(key)
}

// openTenancy opens the database and the encryption key and builds the
// tenancy service on them, for serving: every unit of database work is
// bounded by --database-timeout. The caller closes the store.
func openTenancy(ctx context.Context, c *config.Serve) (*store.Store, *tenancy.Service, error) {
	if c.DatabaseTimeout <= 0 {
		return nil, nil, fmt.Errorf("--database-timeout must be positive, got %v", c.DatabaseTimeout)
	}
	sealer, err := loadSealer(c)
	if err != nil {
		return nil, nil, err
	}
	return openTenancyWith(ctx, c, sealer, store.WithTimeout(c.DatabaseTimeout))
}

// openTenancyWith is openTenancy with a given sealer (nil for commands that
// touch no encrypted column) and store options (the administration
// commands set no database timeout: an operator at a terminal can stop a
// command that waits).
func openTenancyWith(ctx context.Context, c *config.Serve, sealer *secret.Sealer, opts ...store.Option) (*store.Store, *tenancy.Service, error) {
	limits, err := objectlimit.Parse(c.ObjectLimits)
	if err != nil {
		return nil, nil, err
	}
	if c.DNSTimeout <= 0 {
		return nil, nil, fmt.Errorf("--dns-timeout must be positive, got %v", c.DNSTimeout)
	}
	resolver, err := tenancy.NewResolver(c.DNSResolver)
	if err != nil {
		return nil, nil, fmt.Errorf("--dns-resolver: %w", err)
	}
	st, err := openStore(ctx, c.Database, opts...)
	if err != nil {
		return nil, nil, err
	}
	return st, &tenancy.Service{
		Store: st, Sealer: sealer, Now: time.Now, Rand: rand.Reader, ServiceAccountTTL: c.ServiceAccountTTL, ObjectLimits: limits,
		NewID:    func() string { return uuid.Must(uuid.NewV7()).String() },
		Resolver: resolver, DNSTimeout: c.DNSTimeout,
	}, nil
}

func bootstrapTokenPath(c *config.Serve) string {
	if c.BootstrapTokenFile != "" {
		return c.BootstrapTokenFile
	}
	return filepath.Join(c.DataDir, "bootstrap-token")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config.Serve
	if err := config.Parse("gatehouse serve", &c, args, stderr); err != nil {
		return err
	}
	logOut := logbuf.New(stderr, c.LogFlushInterval, 64<<10)
	defer logOut.Close()
	log, err := newLogger(logOut, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	// zitadel/oidc logs through slog's default logger: make it ours.
	slog.SetDefault(log)
	// Tracing (off unless a collector is configured) starts before anything
	// that makes spans, and flushes its last spans after the server stopped.
	stopTracing, err := telemetry.Setup(ctx, telemetry.Config{Endpoint: c.OTLPEndpoint, ServiceVersion: version, Logger: log})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(fctx); err != nil {
			log.Warn("tracing", "error", err)
		}
	}()
	if c.Issuer == "" {
		c.Issuer = "http://" + c.Listen
		if c.TLSCertFile != "" {
			c.Issuer = "https://" + c.Listen
		}
	}
	tlsConfig, clientCAs, err := loadTLS(&c)
	if err != nil {
		return err
	}
	if m, ok := mfa.ParseMode(c.MFAPlatformAdministrators); !ok || m == mfa.Off {
		return fmt.Errorf("--mfa-platform-administrators: %q is not required or optional", c.MFAPlatformAdministrators)
	}
	if _, err := oidc.ParseOnboarding(c.Onboarding); err != nil {
		return fmt.Errorf("--onboarding: %w", err)
	}
	if c.UIURL != "" {
		if u, err := url.Parse(c.UIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--ui-url %q: want an absolute http(s) URL", c.UIURL)
		}
	}
	limits, err := serveLimits(&c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Take the port before touching the database: a start that cannot serve
	// must fail before it bootstraps (writes the administrator token once) or
	// migrates, so that retrying on another port is a clean first start.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	st, ten, err := openTenancy(ctx, &c)
	if err != nil {
		return err
	}
	defer st.Close()

	if err := applyClientsFile(ctx, st, c.ClientsFile, log); err != nil {
		return err
	}
	var consoleHandler http.Handler
	if c.Console {
		if consoleHandler, err = startConsole(ctx, st, c.Issuer, log); err != nil {
			return err
		}
	}

	pw, err := connector.NewPassword(st, connector.PasswordConfig{})
	if err != nil {
		return err
	}
	accounts := newAccounts(&c, st, ten, pw)
	accounts.MFA = newMFA(&c, st, ten, pw)
	if err := bootstrap(ctx, ten, accounts, &c, stdout, log); err != nil {
		return err
	}

	keyManager, stopRotation, err := startSigningKeys(ctx, &c, st, ten.Sealer, log)
	if err != nil {
		return err
	}
	defer stopRotation()
	stopRetention, err := startAuditRetention(ctx, &c, st, ten.NewID, log)
	if err != nil {
		return err
	}
	defer stopRetention()

	provider, err := newOIDCProvider(&c, st, ten, pw, accounts, keyManager, clientCAs, log)
	if err != nil {
		return err
	}
	// A user suspended or deleted through /api/v1, or a local password
	// changed, loses their sessions; the provider tells the relying parties.
	ten.SessionsEnded = provider.NotifySessionsEnded
	accounts.SessionsEnded = provider.NotifySessionsEnded
	proxies, err := c.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	cl, err := newCloud(&c, st, ten, keyManager, log)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Store: st, Tenancy: ten, Accounts: accounts, Logger: log, JWKS: keys.JWKSHandler(keyManager),
		OIDC: provider.Handler(), Sessions: provider, MaxSessionLifetime: provider.MaxSessionLifetime(), TrustedProxies: proxies,
		Cloud: cl, Limits: limits, PersonSessions: provider, Keys: keyManager, Console: consoleHandler, PublicURL: c.Issuer,
		Authenticator: authn.Chain{authn.ServiceAccounts{Store: st, Now: time.Now}, authn.APIKeys{Store: st, Now: time.Now},
			provider.Authenticator()}})
	if err != nil {
		return err
	}
	mailQueue, stopMail, err := startMail(ctx, &c.Mail, st, ten.Sealer, ten.NewID, srv.Registry(), log)
	if err != nil {
		return err
	}
	defer stopMail()
	// Set before the first request is served: the account service and the
	// pages read it.
	accounts.Mail = mailQueue
	hs := newHTTPServer(&c, srv.Handler(), log)
	hs.TLSConfig = tlsConfig
	stopDebug, err := startDebugServer(c.DebugListen, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	releaseStartupMemory()
	log.Info("gatehouse serving", "listen", ln.Addr().String(), "issuer", c.Issuer, "database", string(st.Dialect()),
		"tls", tlsConfig != nil, "client_certificates", clientCAs != nil, "onboarding", c.Onboarding, "version", version)
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight requests finish.
	log.Info("shutting down", "timeout", c.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Logout tokens still on their way to relying parties: each delivery
	// is bounded (oidc.DefaultBackchannelLogoutTimeout), and they are not
	// retried after a restart.
	provider.WaitLogoutNotifications()
	log.Info("stopped")
	return nil
}

// bootstrap creates the platform administrator on an empty database and
// writes its token, once, to a 0600 file.
func bootstrap(ctx context.Context, ten *tenancy.Service, accounts *account.Service, c *config.Serve, stdout io.Writer, log *slog.Logger) error {
	token, created, err := ten.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	needed, err := accounts.SetupNeeded(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		if needed {
			log.Info("no person holds the platform administrator role yet: `gatehouse admin setup-link` prints a link that creates one")
		}
		return nil
	}
	path := bootstrapTokenPath(c)
	if err := writeSecretFile(path, token); err != nil {
		return fmt.Errorf("bootstrap: %w (recover with: gatehouse admin issue-token)", err)
	}
	base := strings.TrimRight(c.Issuer, "/")
	if needed {
		// The first human platform administrator: a one-time link (a day),
		// printed once; `gatehouse admin setup-link` prints a fresh one.
		link, err := accounts.CreateSetupLink(ctx)
		if err != nil {
			return fmt.Errorf("bootstrap: setup link: %w (print one with: gatehouse admin setup-link)", err)
		}
		fmt.Fprintf(stdout, "Gatehouse is ready. Open this link within 24 hours to create the first platform administrator\n"+
			"(email and password), then sign in to the console; it works once:\n  %s\n", link.URL)
	}
	fmt.Fprintf(stdout, "For automation, the platform administrator token is in %s (mode 0600). Use it as a bearer token:\n"+
		"  curl -H \"Authorization: Bearer $(cat %s)\" %s/api/v1/organizations\n", path, path, base)
	return nil
}

// newAccounts is the local accounts service of serve and the admin
// commands: its links start with the issuer.
func newAccounts(c *config.Serve, st *store.Store, ten *tenancy.Service, pw *connector.Password) *account.Service {
	return &account.Service{Store: st, Password: pw, Issuer: c.Issuer, Now: time.Now, Rand: rand.Reader, NewID: ten.NewID}
}

// newMFA is the second factors' service of serve: TOTP secrets sealed with
// the encryption key, the local passwords' lockout, and the platform
// administrators' policy of --mfa-platform-administrators.
func newMFA(c *config.Serve, st *store.Store, ten *tenancy.Service, pw *connector.Password) *mfa.Service {
	n, period := pw.Lockout()
	return &mfa.Service{Store: st, Sealer: ten.Sealer, Issuer: mfaIssuer(c.Issuer), MaxFailures: n, LockoutPeriod: period,
		PlatformAdministrators: mfa.Mode(c.MFAPlatformAdministrators), Now: time.Now, Rand: rand.Reader, NewID: ten.NewID}
}

// mfaIssuer is the label authenticator apps show for Gatehouse's accounts:
// the issuer's host.
func mfaIssuer(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return "Gatehouse (" + u.Host + ")"
	}
	return "Gatehouse"
}

func writeSecretFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(content + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return f.Close()
}

// startConsole registers (creates or updates) the console's public client
// for issuer, like a clients file entry, and returns the console's handler.
func startConsole(ctx context.Context, st *store.Store, issuer string, log *slog.Logger) (http.Handler, error) {
	res, err := newClientRegistry(st).Apply(ctx, []client.Declared{console.Client(issuer)})
	if err != nil {
		return nil, fmt.Errorf("register the console's client: %w", err)
	}
	if len(res.Created)+len(res.Updated) > 0 {
		log.Info("console client registered", "client_id", console.ClientID, "redirect_uri", console.Client(issuer).Spec.RedirectURIs[0])
	}
	return console.Handler()
}

// newOIDCProvider builds the OpenID Connect provider on the local password
// connector, the system OAuth2 providers, the client registry and the
// signing keys.
func newOIDCProvider(c *config.Serve, st *store.Store, ten *tenancy.Service, pw *connector.Password, accounts *account.Service, km *keys.Manager, clientCAs *x509.CertPool, log *slog.Logger) (*oidc.Provider, error) {
	forgot, err := ratelimit.ParseRate(c.RateLimitForgot)
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-forgot: %w", err)
	}
	return oidc.New(oidc.Config{ForgotRate: &forgot,
		Issuer: c.Issuer, Store: st, Clients: newClientRegistry(st), Keys: km, Password: pw, Tenancy: ten, Accounts: accounts, MFA: accounts.MFA,
		AllowInsecure: strings.HasPrefix(c.Issuer, "http://"), Onboarding: oidc.Onboarding(c.Onboarding), UIURL: c.UIURL,
		BrowserSessionLifetime: c.BrowserSessionLifetime, ClientCAs: clientCAs,
		Now: time.Now, Rand: rand.Reader, Logger: log, UpstreamTimeout: c.UpstreamTimeout,
		AllowPrivateTenantEndpoints: c.AllowPrivateTenantEndpoints,
	})
}

// loadTLS reads --tls-cert-file and --tls-key-file (nil config: serve plain
// HTTP) and --tls-client-ca-file. With client CAs the server requests a
// client certificate from every client but requires none (browsers and
// secret-holding clients go on without), and verifies it in the application:
// against these CAs for tls_client_auth, by thumbprint for
// self_signed_tls_client_auth (whose certificates chain to nothing, so the
// handshake must not check chains). The CAs are not sent in the
// CertificateRequest, so that clients with self-signed certificates still
// present theirs.
func loadTLS(c *config.Serve) (*tls.Config, *x509.CertPool, error) {
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "" && c.TLSClientCAFile == "":
		return nil, nil, nil
	case c.TLSCertFile == "" || c.TLSKeyFile == "":
		return nil, nil, errors.New("--tls-cert-file and --tls-key-file go together (--tls-client-ca-file needs both: client certificates exist only when Gatehouse terminates TLS)")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCAFile == "" {
		return cfg, nil, nil
	}
	pem, err := os.ReadFile(c.TLSClientCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("--tls-client-ca-file %s: no PEM certificate in it", c.TLSClientCAFile)
	}
	cfg.ClientAuth = tls.RequestClientCert
	return cfg, pool, nil
}

// startDebugServer serves Go's profiler on addr (nothing when empty), on a
// listener of its own so that it is never reachable through the public
// port. The returned function stops it.
func startDebugServer(addr string, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Warn("profiler listening: keep this address private", "debug_listen", ln.Addr().String())
	return func() { hs.Close() }, nil
}

// releaseStartupMemory returns the garbage of the start-up to the operating
// system before serving: goose keeps a 4 MiB parse buffer per migration in a
// sync.Pool (gone after two collections), and loading the OpenAPI document
// leaves its intermediate forms. An idle server would otherwise hold tens of
// MiB it never uses again until the runtime's periodic collection.
func releaseStartupMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	tuneGC()
}

// serveGCPercent is the garbage collector's target for serve when GOGC is
// not set: the live heap of a serving Gatehouse is small (about 5 MiB), so at
// Go's default of 100 a busy server collects every few hundred requests, a
// tenth of its CPU under load (profiled). 200 lets the heap grow to three
// times the live data between collections: half the collections for some
// MiB more. (400 saved a little more CPU but let a burst of logins, 19 MiB
// of argon2 memory each, push the peak RSS to 134 MiB.) GOGC in the
// environment wins.
const serveGCPercent = 200

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serveLimits reads the rate limit flags (--trusted-proxies, which they
// share with policies, is server.Config.TrustedProxies).
func serveLimits(c *config.Serve) (server.Limits, error) {
	var (
		l   server.Limits
		err error
	)
	if l.Token, err = ratelimit.ParseRate(c.RateLimitToken); err != nil {
		return l, fmt.Errorf("--rate-limit-token: %w", err)
	}
	if l.Login, err = ratelimit.ParseRate(c.RateLimitLogin); err != nil {
		return l, fmt.Errorf("--rate-limit-login: %w", err)
	}
	if l.AuthFailures, err = ratelimit.ParseRate(c.RateLimitAuthFailures); err != nil {
		return l, fmt.Errorf("--rate-limit-auth-failures: %w", err)
	}
	if c.UpstreamTimeout <= 0 {
		return l, fmt.Errorf("--upstream-timeout must be positive, got %v", c.UpstreamTimeout)
	}
	return l, nil
}

// newHTTPServer is the HTTP server with serve's timeouts: a client that
// sends its headers or body too slowly (slowloris) is cut off, and a
// keep-alive connection does not stay idle for ever.
func newHTTPServer(c *config.Serve, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
