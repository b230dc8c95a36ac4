// Package testenv gives tests a real database and a running Gatehouse:
// SQLite in a temporary directory always, and PostgreSQL when
// GATEHOUSE_TEST_DATABASE_URL is set, each test in a schema of its own so
// tests can run in parallel against one server.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// PostgresURLEnv names the variable that enables PostgreSQL tests.
const PostgresURLEnv = "GATEHOUSE_TEST_DATABASE_URL"

// Backend is one database engine tests can run on.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.Store
}

// Backends lists SQLite, plus PostgreSQL when configured. Without
// GATEHOUSE_TEST_DATABASE_URL the PostgreSQL half is not silently dropped:
// t logs a SKIP line saying so, and under CI (CI set, as CI services and
// .ci/run set it) t fails, so that a typo in .ci/run cannot halve the
// coverage unnoticed.
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite", Open: SQLite}}
	if os.Getenv(PostgresURLEnv) != "" {
		return append(bs, Backend{Name: "postgres", Open: Postgres})
	}
	why := missingPostgres()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set)")
	}
	t.Log("SKIP postgres: " + why)
	return bs
}

// missingPostgres is why the PostgreSQL backend is not run, or "".
func missingPostgres() string {
	if os.Getenv(PostgresURLEnv) != "" {
		return ""
	}
	return PostgresURLEnv + " is not set: the PostgreSQL half of this test does not run"
}

// ForEachBackend runs f as a subtest per backend (see Backends for a
// PostgreSQL backend that is not configured).
func ForEachBackend(t *testing.T, f func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { f(t, b.Open) })
	}
}

// SQLite opens a migrated SQLite store in a temporary directory.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return st
}

// Postgres opens a migrated store in a fresh schema of the database at
// GATEHOUSE_TEST_DATABASE_URL, dropped when the test ends. It skips the test
// when the variable is unset.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return OpenMigrated(t, PostgresURL(t))
}

// PostgresURL creates a fresh schema in the database at
// GATEHOUSE_TEST_DATABASE_URL, dropped when the test ends, and returns the
// database URL that selects it (search_path). It skips the test when the
// variable is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		t.Skipf("%s not set", PostgresURLEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "gh_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenMigrated opens the store at databaseURL (closed when the test ends)
// and applies the migrations.
func OpenMigrated(t testing.TB, databaseURL string, opts ...store.Option) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), databaseURL, "", opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// Clock is a settable clock for tests.
type Clock struct{ now atomic.Int64 }

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now reads the clock.
func (c *Clock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.now.Store(t.UnixNano()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// IDs returns a generator of sequential, sortable UUID-shaped IDs.
func IDs() func() string {
	var n atomic.Uint64
	return func() string {
		v := n.Add(1)
		return "00000000-0000-7000-8000-" + leftPad(v)
	}
}

func leftPad(v uint64) string {
	s := strings.Repeat("0", 12) + strconv.FormatUint(v, 10)
	return s[len(s)-12:]
}

// Env is a running Gatehouse on a real database.
type Env struct {
	URL        string
	Store      *store.Store
	Tenancy    *tenancy.Service
	Clock      *Clock
	AdminToken string // platform administrator
	Client     *http.Client
	// The OpenID Connect provider and what it runs on. OIDCClock is its
	// clock (tokens, codes, sessions): it starts at the real time, because
	// zitadel/oidc stamps ID tokens and expires_in with the real clock.
	Provider  *oidc.Provider
	OIDCClock *Clock
	Keys      *keys.Manager
	Clients   *client.Registry
	Password  *connector.Password
	// Accounts runs local password accounts (links, setup), on the OIDC
	// clock.
	Accounts *account.Service
	// Cloud is cloud credential federation, on the OIDC clock. Tests point
	// it at stand-in clouds (RootCAs, endpoints, Jitter, Sleep) before the
	// first cloud call.
	Cloud *cloud.Service
	// Handler is the server's root handler, for in-process requests
	// (fuzzing) that need no network.
	Handler http.Handler
	t       testing.TB
	server  *httptest.Server
}

// FastArgon2 are cheap password hashing parameters for tests.
var FastArgon2 = connector.Argon2Params{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Options change the Gatehouse a test runs (NewEnvWith).
type Options struct {
	// MFAPlatformAdministrators is the platform administrators'
	// multi-factor policy: Optional when empty, because most tests sign
	// platform administrators in with a password alone (serve's default,
	// --mfa-platform-administrators, is Required).
	MFAPlatformAdministrators mfa.Mode
	// TLS serves over HTTPS with httptest's certificate (Env.Client trusts
	// it): cloud providers accept only https issuers.
	TLS bool
	// Log receives the server's log lines (discarded if nil).
	Log io.Writer
	// Wrap, if set, wraps Gatehouse's root handler, e.g. to inject faults in
	// front of it.
	Wrap func(http.Handler) http.Handler
	// Onboarding is the provider's onboarding mode (off when empty).
	Onboarding oidc.Onboarding
	// UIURL is where signup links land.
	UIURL string
	// ClientCAs, when set, serve HTTPS (httptest's certificate) and request
	// TLS client certificates, with these CAs for tls_client_auth clients.
	ClientCAs *x509.CertPool
	// EditOIDC and EditServer change the provider's and the server's
	// configuration before they are built (see WithOIDC, WithServer).
	EditOIDC   []func(*oidc.Config)
	EditServer []func(*server.Config)
	// ObjectLimits are the per-organization object limits (nil: the
	// defaults); see WithObjectLimits.
	ObjectLimits objectlimit.Limits
	// Resolver answers domain verification's DNS lookups (the system
	// resolver when nil; see NewDNSServer), within DNSTimeout (the
	// default when zero).
	Resolver   tenancy.TXTResolver
	DNSTimeout time.Duration
}

// Option adjusts the Gatehouse NewEnv starts.
type Option func(*Options)

// WithOIDC edits the provider's configuration before it is built.
func WithOIDC(f func(*oidc.Config)) Option {
	return func(o *Options) { o.EditOIDC = append(o.EditOIDC, f) }
}

// WithServer edits the server's configuration before it is built (rate
// limits, for instance).
func WithServer(f func(*server.Config)) Option {
	return func(o *Options) { o.EditServer = append(o.EditServer, f) }
}

// WithObjectLimits sets the per-organization object limits (low ones, to
// reach them in a test).
func WithObjectLimits(l objectlimit.Limits) Option {
	return func(o *Options) { o.ObjectLimits = l }
}

// NewEnv starts Gatehouse over st behind an httptest server and bootstraps
// the platform administrator.
func NewEnv(t testing.TB, st *store.Store, opts ...Option) *Env {
	t.Helper()
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	return NewEnvWith(t, st, o)
}

// NewEnvWith is NewEnv with options.
func NewEnvWith(t testing.TB, st *store.Store, opts Options) *Env {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, _ = rand.Read(key)
	sealer, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	newID := IDs() // one sequence for every table, so no two resources share an ID
	ten := &tenancy.Service{Store: st, Sealer: sealer, Now: clock.Now, NewID: newID, Rand: rand.Reader, ObjectLimits: opts.ObjectLimits,
		Resolver: opts.Resolver, DNSTimeout: opts.DNSTimeout}
	token, created, err := ten.Bootstrap(context.Background())
	if err != nil || !created {
		t.Fatalf("bootstrap: created=%v err=%v", created, err)
	}
	logOut := opts.Log
	if logOut == nil {
		logOut = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	oidcClock := NewClock(time.Now())
	km := &keys.Manager{Store: st, Sealer: sealer, Now: oidcClock.Now, TokenLifetime: time.Hour, Logger: logger,
		NewPrivateKey: SigningKeyMaterial}
	if err := km.Ensure(context.Background()); err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	clients := &client.Registry{Store: st, Now: clock.Now, NewID: IDs(), Rand: rand.Reader}
	pw, err := connector.NewPassword(st, connector.PasswordConfig{Params: FastArgon2, Now: oidcClock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The issuer is the httptest server's URL, known once it listens: the
	// handler is set just after.
	var root atomic.Pointer[http.Handler]
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*root.Load()).ServeHTTP(w, r) }))
	switch {
	case opts.ClientCAs != nil:
		hs.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
		hs.StartTLS()
	case opts.TLS:
		hs.StartTLS()
	default:
		hs.Start()
	}
	t.Cleanup(hs.Close)
	accounts := &account.Service{Store: st, Password: pw, Issuer: hs.URL, Now: oidcClock.Now, Rand: rand.Reader, NewID: newID}
	adminMFA := opts.MFAPlatformAdministrators
	if adminMFA == "" {
		adminMFA = mfa.Optional
	}
	maxFailures, lockout := pw.Lockout()
	accounts.MFA = &mfa.Service{Store: st, Sealer: sealer, Issuer: "Gatehouse test", MaxFailures: maxFailures, LockoutPeriod: lockout,
		PlatformAdministrators: adminMFA, Now: oidcClock.Now, Rand: rand.Reader, NewID: newID}
	oc := oidc.Config{Issuer: hs.URL, Store: st, Clients: clients, Keys: km, Password: pw, Tenancy: ten, Accounts: accounts, MFA: accounts.MFA,
		AllowInsecure: true, Onboarding: opts.Onboarding, UIURL: opts.UIURL, ClientCAs: opts.ClientCAs,
		Now: oidcClock.Now, Logger: logger}
	for _, f := range opts.EditOIDC {
		f(&oc)
	}
	provider, err := oidc.New(oc)
	if err != nil {
		t.Fatal(err)
	}
	ten.SessionsEnded = provider.NotifySessionsEnded
	accounts.SessionsEnded = provider.NotifySessionsEnded
	cl := &cloud.Service{Store: st, Sealer: sealer, Keys: km, Issuer: hs.URL, Now: oidcClock.Now, NewID: newID,
		Rand: rand.Reader, Logger: logger}
	sc := server.Config{Store: st, Tenancy: ten, Accounts: accounts, Now: clock.Now, Logger: logger,
		JWKS: keys.JWKSHandler(km), OIDC: provider.Handler(), Sessions: provider, MaxSessionLifetime: provider.MaxSessionLifetime(), Cloud: cl, Keys: km,
		PersonSessions: provider,
		// Tests speak as clients anywhere: loopback is a trusted proxy, so a
		// test sets the client address (rate limits, policies' sourceIP)
		// with X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Authenticator: authn.Chain{authn.ServiceAccounts{Store: st, Now: clock.Now}, authn.APIKeys{Store: st, Now: clock.Now},
			provider.Authenticator()}}
	for _, f := range opts.EditServer {
		f(&sc)
	}
	srv, err := server.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	root.Store(&h)
	return &Env{URL: hs.URL, Store: st, Tenancy: ten, Clock: clock, AdminToken: token, Client: hs.Client(),
		Provider: provider, OIDCClock: oidcClock, Keys: km, Clients: clients, Password: pw, Accounts: accounts, Cloud: cl, Handler: h, t: t, server: hs}
}

// ClientWithCertificate is an HTTP client of an HTTPS Env (Options.ClientCAs)
// that presents cert as its TLS client certificate (whatever CAs the server
// names).
func (e *Env) ClientWithCertificate(cert tls.Certificate) *http.Client {
	tr := e.server.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with token as bearer (none if ”), body marshalled as
// JSON unless it is a string or []byte (sent as is).
func (e *Env) Do(method, path, token string, body any) *Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must sends a request and fails the test unless the status is want; it
// returns the response.
func (e *Env) Must(want int, method, path, token string, body any) *Response {
	e.t.Helper()
	r := e.Do(method, path, token, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// Tenant is an organization with a service account holding one role in it.
type Tenant struct {
	OrgID            string
	GroupID          string
	ServiceAccountID string
	Token            string
}

// NewTenant creates organization name (as the platform administrator), a
// group granting roleName, and a service account in that group.
func (e *Env) NewTenant(name, roleName string) *Tenant {
	e.t.Helper()
	org := e.Must(http.StatusAccepted, "POST", "/api/v1/organizations", e.AdminToken, map[string]any{
		"metadata": map[string]any{"name": name}, "spec": map[string]any{"organizationType": "adhoc"}}).Map(e.t)
	orgID := org["metadata"].(map[string]any)["id"].(string)
	return e.AddMember(orgID, name+"-"+roleName, roleName)
}

// AddMember adds a group granting roleName and a service account in it to
// an existing organization.
func (e *Env) AddMember(orgID, name, roleName string) *Tenant {
	e.t.Helper()
	roleID := ""
	var roles []map[string]any
	e.Must(http.StatusOK, "GET", "/api/v1/organizations/"+orgID+"/roles", e.AdminToken, nil).JSON(e.t, &roles)
	for _, r := range roles {
		md := r["metadata"].(map[string]any)
		if md["name"] == roleName {
			roleID = md["id"].(string)
		}
	}
	if roleID == "" {
		e.t.Fatalf("no role %q", roleName)
	}
	base := "/api/v1/organizations/" + orgID
	g := e.Must(http.StatusCreated, "POST", base+"/groups", e.AdminToken, map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"roleIDs": []string{roleID}, "userIDs": []string{}, "serviceAccountIDs": []string{}}}).Map(e.t)
	groupID := g["metadata"].(map[string]any)["id"].(string)
	sa := e.Must(http.StatusCreated, "POST", base+"/serviceaccounts", e.AdminToken, map[string]any{
		"metadata": map[string]any{"name": name}, "spec": map[string]any{"groupIDs": []string{groupID}}}).Map(e.t)
	return &Tenant{
		OrgID: orgID, GroupID: groupID,
		ServiceAccountID: sa["metadata"].(map[string]any)["id"].(string),
		Token:            sa["status"].(map[string]any)["accessToken"].(string),
	}
}

// RunQuiet runs a package's tests with slog's default logger silenced:
// zitadel/oidc logs every refused request through it. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunQuiet(m)) }
func RunQuiet(m *testing.M) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return m.Run()
}
