package server

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// Limits are the abuse protections of the OAuth2 and login endpoints. The
// zero value limits nothing (tests); `gatehouse serve` sets them from its
// flags. They are per process: with N replicas a key gets N times the rate.
type Limits struct {
	// Token limits each client address on the token, introspection,
	// revocation, device authorization and PAR endpoints, and each client
	// ID's failed client authentications there.
	Token ratelimit.Rate
	// Login limits each client address on authorization requests and login
	// form posts, and each account (the email posted) on password checks.
	Login ratelimit.Rate
	// AuthFailures limits each client address's failed bearer
	// authentications on /api/v1 (see authThrottle).
	AuthFailures ratelimit.Rate
}

// MaxFormBytes caps the bodies of the OAuth2 endpoints' form posts: a token
// request is a few hundred bytes; a megabyte of form would only cost memory.
const MaxFormBytes = 64 << 10

// limiter applies Limits in front of the OpenID Connect provider.
type limiter struct {
	token, login *ratelimit.Limiter
	ips          *clientip.Resolver
	log          *slog.Logger
	refused      *prometheus.CounterVec
	warnXFF      sync.Once
}

// newRateLimited is the counter of requests refused by a rate limit,
// registered on reg; the OAuth2 limiter and the API's authentication
// throttle share it.
func newRateLimited(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_rate_limited_total",
		Help: "Requests refused with 429 by a rate limit, by endpoint group (token, login, api_auth) and key (client, ip, account).",
	}, []string{"limit", "key"})
	reg.MustRegister(c)
	return c
}

func newLimiter(l Limits, ips *clientip.Resolver, log *slog.Logger, refused *prometheus.CounterVec) *limiter {
	lim := &limiter{
		token: ratelimit.New(l.Token, 0, nil), login: ratelimit.New(l.Login, 0, nil), ips: ips, log: log,
		refused: refused,
	}
	if lim.ips == nil {
		lim.ips = &clientip.Resolver{}
	}
	return lim
}

// wrap limits the provider's endpoints that an attacker could use to guess
// secrets or passwords, or to make Gatehouse write: the token, introspection
// revocation, device authorization and PAR endpoints (per address, and per
// client for failed client authentications only), authorization
// requests (per address: each one is a row) and login posts (per address,
// and per account for password checks). oidcInput, in front of it, has
// capped (MaxFormBytes) and parsed their form bodies.
func (l *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && (r.URL.Path == oidc.TokenPath || r.URL.Path == oidc.IntrospectionPath || r.URL.Path == oidc.RevocationPath ||
			r.URL.Path == oidc.DeviceAuthorizationPath || r.URL.Path == oidc.PARPath):
			// The device authorization and PAR endpoints authenticate the
			// client as the token endpoint does, and each call is a row.
			// Every request costs its address; a client's own bucket counts
			// only its failed authentications (see clientFailures).
			if !l.allow(w, r, l.token, "token", "ip", "ip:"+l.clientKey(r), false) {
				return
			}
			l.clientFailures(w, r, next)
			return
		case r.URL.Path == oidc.AuthorizationPath:
			if !l.allow(w, r, l.login, "login", "ip", "authorize:"+l.clientKey(r), true) {
				return
			}
		case r.Method == http.MethodPost && (r.URL.Path == account.PasswordPath || r.URL.Path == account.SetupPath):
			// Password and setup links: each post may hash a password.
			if !l.allow(w, r, l.login, "login", "ip", "link:"+l.clientKey(r), true) {
				return
			}
		case r.Method == http.MethodPost && (r.URL.Path == oidc.DevicePath || r.URL.Path == oidc.DeviceConfirmPath):
			// User codes (the provider also counts wrong ones per address).
			if !l.allow(w, r, l.login, "login", "ip", "device:"+l.clientKey(r), true) {
				return
			}
		case r.Method == http.MethodPost && (r.URL.Path == oidc.MFAPath || r.URL.Path == oidc.MFAEnrolPath):
			// Second-factor codes: per address here; per person, the
			// factor lockout (internal/mfa) counts every attempt.
			if !l.allow(w, r, l.login, "login", "ip", "mfa:"+l.clientKey(r), true) {
				return
			}
		case r.Method == http.MethodPost && r.URL.Path == oidc.LoginPath:
			if !l.allow(w, r, l.login, "login", "ip", "login:"+l.clientKey(r), true) {
				return
			}
			if r.PostForm.Get("password") != "" {
				account := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
				if !l.allow(w, r, l.login, "login", "account", "account:"+account, true) {
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// clientFailures serves a request of the client endpoints under the
// client's failure budget. The client_id of a request is not authenticated
// before the provider checks it: charging the client for every request that
// names it let anyone exhaust a client (a public one needs no secret) and
// answer its users 429. So the client's bucket is charged only when client
// authentication fails (401, RFC 6749 §5.2), which is what it exists to
// slow down: secret guessing spread over many addresses. While it is empty,
// the client's requests are refused. A stranger can still lock a
// confidential client out by failing its authentication on purpose, for
// at most the limit's period; the per-address limit bounds how fast.
func (l *limiter) clientFailures(w http.ResponseWriter, r *http.Request, next http.Handler) {
	key := "client:" + clientID(r)
	if blocked, retry := l.token.Blocked(key); blocked {
		l.refuse(w, r, "token", "client", retry, false)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	next.ServeHTTP(sw, r)
	if sw.status == http.StatusUnauthorized {
		l.token.Allow(key)
	}
}

// statusWriter records the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status before writing it.
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 of a body written without WriteHeader.
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// clientKey is the rate limiting key of the request's client address.
func (l *limiter) clientKey(r *http.Request) string {
	a, untrusted := l.ips.Addr(r)
	if untrusted {
		l.warnXFF.Do(func() {
			l.log.Warn("X-Forwarded-For received from a peer that is not a trusted proxy: it is ignored, so behind a load balancer every client shares its address for rate limiting; set --trusted-proxies",
				"peer", r.RemoteAddr)
		})
	}
	return clientip.Key(a)
}

// clientID is the client a token request claims to be: HTTP Basic's user
// (form-urlencoded, RFC 6749 §2.3.1) or the client_id field. It is not
// authenticated yet, which is why only failed authentications are charged
// to it (clientFailures).
func clientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return u
		}
		return id
	}
	return r.PostForm.Get("client_id")
}

// allow takes a token for key; when there is none it answers 429 with
// Retry-After (an HTML page for page requests, the OAuth2 error shape
// otherwise) and returns false.
func (l *limiter) allow(w http.ResponseWriter, r *http.Request, lim *ratelimit.Limiter, name, kind, key string, page bool) bool {
	ok, retry := lim.Allow(key)
	if ok {
		return true
	}
	l.refuse(w, r, name, kind, retry, page)
	return false
}

// refuse answers 429 with Retry-After and counts the refusal.
func (l *limiter) refuse(w http.ResponseWriter, r *http.Request, name, kind string, retry time.Duration, page bool) {
	l.refused.WithLabelValues(name, kind).Inc()
	e := apierror.RateLimited(retry, "too many requests; retry in %s seconds", apierror.RetryAfterSeconds(retry))
	if page {
		w.Header().Set("Retry-After", apierror.RetryAfterSeconds(retry))
		webui.TooMany(w, r, apierror.RetryAfterSeconds(retry))
		return
	}
	apierror.Write(w, e)
}

// tokenResponsePaths answer with tokens or facts about tokens: never to be
// cached by a browser or a proxy (RFC 6749 §5.1, RFC 7662 §2.2).
var tokenResponsePaths = map[string]bool{
	oidc.TokenPath: true, oidc.UserinfoPath: true, oidc.IntrospectionPath: true, oidc.RevocationPath: true,
	oidc.DeviceAuthorizationPath: true, oidc.PARPath: true,
}

// secureHeaders sets the headers every answer carries: no MIME sniffing,
// no referrer, no framing (X-Frame-Options and CSP frame-ancestors), and a
// CSP that allows nothing but this origin's stylesheet and images (the
// pages', webui.CSP); pages that need more (the login page's form) set
// their own. Token, userinfo,
// introspection and revocation answers are never cached.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", webui.CSP())
		if tokenResponsePaths[r.URL.Path] {
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}
