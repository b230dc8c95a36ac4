package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// authThrottle limits failed bearer authentications on /api/v1 per client
// address: each 401 takes a token from the address's bucket, and an
// address whose bucket is empty is answered 429 with Retry-After before
// its token is even looked at, so guessing tokens (or flooding the token
// lookups) from one address costs a minute per burst instead of a few
// milliseconds per try. Successful authentications take nothing: a busy
// client with a good token is never slowed, and an address that never
// fails keeps no state. The buckets are per process, like the other rate
// limits (docs/OPERATIONS.md).
type authThrottle struct {
	failures *ratelimit.Limiter
	ips      *clientip.Resolver
	refused  *prometheus.CounterVec
}

func newAuthThrottle(r ratelimit.Rate, ips *clientip.Resolver, refused *prometheus.CounterVec) *authThrottle {
	return &authThrottle{failures: ratelimit.New(r, 0, nil), ips: ips, refused: refused}
}

// key is the rate limiting key of r's client address.
func (a *authThrottle) key(r *http.Request) string {
	addr, _ := a.ips.Addr(r)
	return clientip.Key(addr)
}

// refuse answers 429 (the API's error shape, Retry-After) and returns true
// when r's address has used up its failures.
func (a *authThrottle) refuse(w http.ResponseWriter, r *http.Request) bool {
	blocked, retry := a.failures.Blocked(a.key(r))
	if !blocked {
		return false
	}
	a.refused.WithLabelValues("api_auth", "ip").Inc()
	apierror.Write(w, apierror.RateLimited(retry, "too many failed authentications from this address; retry in %s seconds",
		apierror.RetryAfterSeconds(retry)))
	return true
}

// failed counts a failed authentication of r's address.
func (a *authThrottle) failed(r *http.Request) { a.failures.Allow(a.key(r)) }
