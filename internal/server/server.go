// Package server wires Gatehouse's HTTP surface: the /api/v1 handlers
// generated from api/openapi.yaml behind the guard (authentication,
// authorization, validation), health and readiness probes, Prometheus
// metrics, and the outer request logging. Handlers are thin: they translate
// between wire types and the tenancy service.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/assignment"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/branding"
	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// Config is what the server needs.
type Config struct {
	Store   *store.Store
	Tenancy *tenancy.Service
	// Authenticator verifies bearer tokens; nil means service account tokens only.
	Authenticator authn.Authenticator
	Logger        *slog.Logger
	Now           func() time.Time
	// JWKS serves the token signing keys at GET /oauth2/v2/jwks (the seed's
	// path); nil leaves the path unserved.
	JWKS http.Handler
	// OIDC serves the OpenID Connect provider: everything under /oauth2/v2/
	// except the JWKS, /.well-known/openid-configuration, /oidc/callback and
	// the signup link GET /api/v1/signup (an HTML page outside the JSON
	// API); nil leaves those paths unserved.
	OIDC http.Handler
	// Sessions signs role sessions (the OIDC provider); nil makes role
	// assumption answer 503.
	Sessions iam.SessionSigner
	// MaxSessionLifetime caps role sessions (--max-token-lifetime); 24 h
	// when zero.
	MaxSessionLifetime time.Duration
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For header names the client (the address rate limits key
	// on and policies' sourceIP); empty means the connection's peer is the
	// client.
	TrustedProxies []netip.Prefix
	// Cloud is cloud credential federation: the /api/v1 cloud identity,
	// credential store and cloud connection operations, and the
	// organizations' workload issuers at /oidc/organizations/{id}/. Required.
	Cloud *cloud.Service
	// Accounts runs local password accounts (the /api/v1 operations on
	// them and the person's own account). Required.
	Accounts *account.Service
	// Keys are the platform's token signing keys, listed and rotated by
	// /api/v1/signingkeys; Cloud.Keys (the same Manager in serve) when nil.
	Keys *keys.Manager
	// Limits are the rate and body limits of the OAuth2 and login
	// endpoints; the zero value limits nothing.
	Limits Limits
	// PersonSessions lists and ends people's browser and application
	// sessions and consents (the OIDC provider); nil makes those operations
	// answer 503.
	PersonSessions SessionManager
	// PublicURL is Gatehouse's public base URL (the issuer), for the
	// absolute locations of SCIM resources; when empty they are built
	// from the request's Host.
	PublicURL string
	// Console, when set, is the web console (internal/console), served at
	// /console/ with its own Content-Security-Policy; / then redirects to
	// it. Nil serves no console (serve --console=false).
	Console http.Handler
}

// Server serves the HTTP API.
type Server struct {
	store    *store.Store
	tenancy  *tenancy.Service
	authn    authn.Authenticator
	log      *slog.Logger
	now      func() time.Time
	router   routers.Router
	handler  http.Handler
	registry *prometheus.Registry
	// access decides every request; iam runs the IAM operations;
	// assignments the permission sets and account assignments.
	access      *access.Engine
	iam         *iam.Service
	assignments *assignment.Service
	// ips finds a request's client address behind the trusted proxies:
	// the key of rate limits and the sourceIP of policies.
	ips   *clientip.Resolver
	cloud *cloud.Service
	// accounts runs local password accounts and the person's own account.
	accounts *account.Service
	keys     *keys.Manager
	// clients is the OAuth2 client registry of the oauth2clients
	// operations (platform and organizations' clients).
	clients *client.Registry
	// authFailures throttles failed bearer authentication per address.
	authFailures *authThrottle
	// sessions are people's sessions and consents (Config.PersonSessions).
	sessions SessionManager
	// branding is organizations' look on their sign-in pages.
	branding *branding.Service
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	s := &Server{
		store:    cfg.Store,
		tenancy:  cfg.Tenancy,
		authn:    cfg.Authenticator,
		log:      cfg.Logger,
		now:      cfg.Now,
		cloud:    cfg.Cloud,
		sessions: cfg.PersonSessions,
		accounts: cfg.Accounts,
	}
	if s.cloud == nil {
		return nil, fmt.Errorf("server: no cloud service")
	}
	if s.accounts == nil {
		return nil, fmt.Errorf("server: no local accounts service")
	}
	if s.keys = cfg.Keys; s.keys == nil {
		s.keys = s.cloud.Keys
	}
	if s.keys == nil {
		return nil, fmt.Errorf("server: no signing keys")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.branding = &branding.Service{Store: cfg.Store, Now: s.now}
	if s.authn == nil {
		s.authn = authn.Chain{authn.ServiceAccounts{Store: cfg.Store, Now: s.now}, authn.APIKeys{Store: cfg.Store, Now: s.now}}
	}
	env, err := access.NewEnv()
	if err != nil {
		return nil, err
	}
	s.access = access.NewEngine(cfg.Store, env, 0)
	s.ips = &clientip.Resolver{Trusted: cfg.TrustedProxies}
	lifetime := cfg.MaxSessionLifetime
	if lifetime <= 0 {
		lifetime = 24 * time.Hour
	}
	s.iam = &iam.Service{Store: cfg.Store, Access: s.access, Sessions: cfg.Sessions, MaxSessionLifetime: lifetime,
		Now: s.now, NewID: cfg.Tenancy.NewID, Rand: cfg.Tenancy.Rand, ObjectLimits: cfg.Tenancy.ObjectLimits}
	s.clients = &client.Registry{Store: cfg.Store, Now: s.now, NewID: cfg.Tenancy.NewID, Rand: cfg.Tenancy.Rand,
		ObjectLimits: cfg.Tenancy.ObjectLimits}
	s.assignments = &assignment.Service{Store: cfg.Store, Access: s.access, Now: s.now, NewID: cfg.Tenancy.NewID,
		ObjectLimits: cfg.Tenancy.ObjectLimits}
	// Load api/openapi.yaml as written (the generator's embedded copy
	// rewrites operationIds, which key the authorization catalogue),
	// without the Gatehouse/OIDC operations: internal/oidc serves those,
	// and the guard must never route one (GET /api/v1/signup is matched by
	// the mux before the guard; another method there stays a 404).
	var swagger *openapi3.T
	swagger, err = api.GuardSpec()
	if err != nil {
		return nil, err
	}
	// Match on paths only: the servers list names public URLs that the
	// request's Host need not equal behind a proxy.
	swagger.Servers = nil
	if s.router, err = gorillamux.NewRouter(swagger); err != nil {
		return nil, fmt.Errorf("build OpenAPI router: %w", err)
	}

	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newBuildInfo(buildinfo.Get()))
	m := newMetrics(s.registry)
	rateLimited := newRateLimited(s.registry)
	s.authFailures = newAuthThrottle(cfg.Limits.AuthFailures, s.ips, rateLimited)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/openapi.yaml", s.openapi)
	if cfg.JWKS != nil {
		mux.Handle("GET /oauth2/v2/jwks", named("oauth2V2JwksGet", cfg.JWKS))
	}
	if cfg.OIDC != nil {
		// oidcInput refuses parameters that are not text before anything,
		// the limiter included, reads them.
		// The provider records the client address (behind the trusted
		// proxies) with the browser sessions it starts.
		withAddr := s.ips.Middleware(cfg.OIDC)
		provider := oidcInput(withAddr)
		limited := oidcInput(newLimiter(cfg.Limits, s.ips, s.log, rateLimited).wrap(withAddr))
		mux.Handle("/oauth2/v2/", limited)
		// The setup link's page (issue 13): limited like the login form.
		mux.Handle(account.SetupPath, named("setupPage", limited))
		mux.Handle("/.well-known/openid-configuration", named("wellKnownOpenidConfigurationGet", provider))
		mux.Handle("GET /oidc/callback", named("oidcCallbackGet", provider))
		mux.Handle("GET /api/v1/signup", named("apiV1SignupGet", provider))
	}
	// Each organization's workload issuer (public: AWS and GCP fetch them).
	mux.Handle("GET /oidc/organizations/{organizationID}/.well-known/openid-configuration",
		named("workloadIssuerDiscoveryGet", http.HandlerFunc(s.workloadDiscovery)))
	mux.Handle("GET /oidc/organizations/{organizationID}/jwks", named("workloadIssuerJwksGet", http.HandlerFunc(s.workloadJWKS)))
	apiMux := http.NewServeMux()
	apiHandler := api.HandlerWithOptions(&handlers{s: s}, api.StdHTTPServerOptions{
		BaseRouter: apiMux,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			apierror.Write(w, apierror.BadRequest("%s", firstLine(err)))
		},
	})
	mux.Handle("/api/v1/", s.guard(apiHandler))
	// SCIM 2.0 provisioning (issue 18), behind its own gate (scim.go).
	s.scimHandler(cfg.PublicURL).Register(mux, s.scimGate)
	if cfg.Console != nil {
		// The console (issue 13); / is the landing page, which links to it.
		mux.Handle("/console/", named("console", cfg.Console))
		mux.Handle("GET /console", named("console", http.RedirectHandler("/console/", http.StatusFound)))
	}
	// The pages' stylesheet, and the landing page for a browser at / (an
	// API client, asking for JSON or anything, keeps the JSON 404 of every
	// unknown path); a browser's unknown path gets a 404 page.
	mux.HandleFunc("GET "+webui.StylesheetPath, webui.Stylesheet)
	// Organizations' branded stylesheets and logos, which their sign-in
	// pages load (public, like the pages).
	mux.Handle(branding.AssetsPattern, named("brandingAssetGet", branding.Assets(cfg.Store)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && webui.WantsHTML(r):
			webui.Landing(w, r)
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && webui.WantsHTML(r):
			webui.NotFound(w, r)
		default:
			apierror.Write(w, apierror.NotFoundError("nothing at %s", r.URL.Path))
		}
	})
	s.handler = observe(s.log, m, s.now, watchOutage(secureHeaders(peerCertificates(mux))))
	return s, nil
}

// peerCertificates hands the TLS client certificate chain of the connection
// (when Gatehouse terminates TLS and the client sent one) to the inner
// layers through the context: client authentication by certificate and the
// checks of certificate-bound tokens (RFC 8705) read it there.
func peerCertificates(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			r = r.WithContext(authn.WithPeerCertificates(r.Context(), r.TLS.PeerCertificates))
		}
		next.ServeHTTP(w, r)
	})
}

// named labels a non-API route's requests with the seed's operationId in the
// log line and the metrics.
func named(operation string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).operation = operation
		h.ServeHTTP(w, r)
	})
}

// Handler is the root HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry exposes the metrics registry (for extra collectors).
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "error", err)
		apierror.Write(w, apierror.Unavailable("the database is not reachable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// openapi serves the spec the API is validated against.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(api.SpecYAML)
}

// writeError sends err: API errors as they are, anything else as a logged 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := apierror.As(err); ok {
		apierror.Write(w, e)
		return
	}
	if clientGone(r) {
		// The client went away and its work was stopped: not a fault of
		// the server's, and nobody reads the answer.
		s.log.Info("client went away", "request_id", info(r.Context()).id, "error", err)
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	if store.IsInvalidInput(err) {
		// The guard refuses such values first; this catches what it cannot see.
		s.log.Warn("the database refused a value of the request", "request_id", info(r.Context()).id, "error", err)
		apierror.Write(w, apierror.BadRequest("a value of the request cannot be stored (not valid text, too long or out of range)"))
		return
	}
	if store.IsUnavailable(err) {
		s.log.Warn("database unavailable", "request_id", info(r.Context()).id, "error", err)
		apierror.Write(w, apierror.Unavailable(unavailableDescription))
		return
	}
	s.log.Error("internal error", "request_id", info(r.Context()).id, "error", err)
	apierror.Write(w, apierror.Internal())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
