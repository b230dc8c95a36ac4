package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// The backoff strategies of the seed's retryPolicy.backOffStrategyType.
const (
	FixedDelayBackoffStrategy  = "FixedDelayBackoffStrategy"
	EqualJitterBackoffStrategy = "EqualJitterBackoffStrategy"
	FullJitterBackoffStrategy  = "FullJitterBackoffStrategy"
)

// Limits of a retry policy, so that a caller cannot park a request for hours.
const (
	MaxRetryCount = 10
	MaxDelayMs    = 60_000 // any single delay, in milliseconds
)

// RetryPolicy is the seed's retryPolicy: how outbound cloud calls are retried
// after throttling, server errors (5xx) and network errors. Authentication and
// authorization errors (4xx) are never retried: trying again cannot fix them.
//
// Delays are in milliseconds. For retry n (0 for the first retry):
//
//	FixedDelayBackoffStrategy:  fixedBackoff
//	EqualJitterBackoffStrategy: c/2 + random[0, c/2],  c = min(maxBackoffTime, baseDelay·2ⁿ)
//	FullJitterBackoffStrategy:  random[0, c]
//
// (random bounds inclusive, in whole milliseconds; c/2 rounds down), and at
// most retryCount retries follow the first attempt.
type RetryPolicy struct {
	BackOffStrategyType string          `json:"backOffStrategyType"`
	BackOffStrategy     BackOffStrategy `json:"backOffStrategy"`
}

// BackOffStrategy holds the parameters of a strategy; which ones apply
// depends on the type (fixedBackoff for FixedDelay, baseDelay and
// maxBackoffTime for the jitter strategies; retryCount for all).
type BackOffStrategy struct {
	FixedBackoff   *int64 `json:"fixedBackoff,omitempty"`
	BaseDelay      *int64 `json:"baseDelay,omitempty"`
	MaxBackoffTime *int64 `json:"maxBackoffTime,omitempty"`
	RetryCount     *int   `json:"retryCount,omitempty"`
}

func i64(v int64) *int64 { return &v }
func intp(v int) *int    { return &v }

// DefaultRetryPolicy applies when a cloud identity or request names none:
// equal jitter from 100 ms, capped at 20 s, 3 retries (the AWS SDKs' usual
// base, cap and count).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{BackOffStrategyType: EqualJitterBackoffStrategy,
		BackOffStrategy: BackOffStrategy{BaseDelay: i64(100), MaxBackoffTime: i64(20_000), RetryCount: intp(3)}}
}

// Validate checks the policy: a known type, exactly the parameters that type
// uses, within the limits. field names the policy in messages.
func (p RetryPolicy) Validate(field string) error {
	s := p.BackOffStrategy
	if s.RetryCount == nil {
		return invalid("%s.backOffStrategy.retryCount is required", field)
	}
	if *s.RetryCount < 0 || *s.RetryCount > MaxRetryCount {
		return invalid("%s.backOffStrategy.retryCount must be between 0 and %d", field, MaxRetryCount)
	}
	delay := func(name string, v *int64, min int64) error {
		if v == nil {
			return invalid("%s.backOffStrategy.%s is required for %s", field, name, p.BackOffStrategyType)
		}
		if *v < min || *v > MaxDelayMs {
			return invalid("%s.backOffStrategy.%s must be between %d and %d milliseconds", field, name, min, MaxDelayMs)
		}
		return nil
	}
	unused := func(name string, v *int64) error {
		if v != nil {
			return invalid("%s.backOffStrategy.%s does not apply to %s", field, name, p.BackOffStrategyType)
		}
		return nil
	}
	switch p.BackOffStrategyType {
	case FixedDelayBackoffStrategy:
		return errors.Join(delay("fixedBackoff", s.FixedBackoff, 0), unused("baseDelay", s.BaseDelay), unused("maxBackoffTime", s.MaxBackoffTime))
	case EqualJitterBackoffStrategy, FullJitterBackoffStrategy:
		if err := errors.Join(unused("fixedBackoff", s.FixedBackoff), delay("baseDelay", s.BaseDelay, 1), delay("maxBackoffTime", s.MaxBackoffTime, 1)); err != nil {
			return err
		}
		if *s.MaxBackoffTime < *s.BaseDelay {
			return invalid("%s.backOffStrategy.maxBackoffTime must not be below baseDelay", field)
		}
		return nil
	}
	return invalid("%s.backOffStrategyType must be %s, %s or %s, not %q", field,
		FixedDelayBackoffStrategy, EqualJitterBackoffStrategy, FullJitterBackoffStrategy, p.BackOffStrategyType)
}

// Retries is the number of retries after the first attempt.
func (p RetryPolicy) Retries() int {
	if p.BackOffStrategy.RetryCount == nil {
		return 0
	}
	return *p.BackOffStrategy.RetryCount
}

// Jitter is the random source of the jitter strategies: Int64N returns a
// number in [0, n). *math/rand/v2.Rand satisfies it; tests inject their own.
type Jitter interface {
	Int64N(n int64) int64
}

type globalJitter struct{}

func (globalJitter) Int64N(n int64) int64 { return rand.Int64N(n) }

// Delay is the wait before retry n (0-based) of a valid policy.
func (p RetryPolicy) Delay(n int, j Jitter) time.Duration {
	s := p.BackOffStrategy
	ms := int64(0)
	switch p.BackOffStrategyType {
	case FixedDelayBackoffStrategy:
		ms = *s.FixedBackoff
	case EqualJitterBackoffStrategy, FullJitterBackoffStrategy:
		ceiling := *s.MaxBackoffTime
		// base·2ⁿ without overflow: base ≤ MaxDelayMs < 2¹⁶, so n ≤ 30 is safe,
		// and past that the cap has long been reached.
		if n < 30 {
			ceiling = min(ceiling, *s.BaseDelay<<n)
		}
		if p.BackOffStrategyType == EqualJitterBackoffStrategy {
			ms = ceiling/2 + j.Int64N(ceiling/2+1)
		} else {
			ms = j.Int64N(ceiling + 1)
		}
	}
	return time.Duration(ms) * time.Millisecond
}

// Sleeper waits d or until ctx ends, whichever comes first; it returns
// ctx's error in the latter case.
type Sleeper func(ctx context.Context, d time.Duration) error

// Sleep is the real Sleeper.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff walks one operation's retries: each call to next sleeps the delay
// of the following retry. It is used by one request at a time.
type backoff struct {
	policy RetryPolicy
	jitter Jitter
	sleep  Sleeper
	mu     sync.Mutex
	n      int
}

func (b *backoff) wait(ctx context.Context) error {
	b.mu.Lock()
	n := b.n
	b.n++
	b.mu.Unlock()
	return b.sleep(ctx, b.policy.Delay(n, b.jitter))
}

// awsRetryer is the policy as an aws-sdk-go-v2 retryer for one operation:
// the SDK's standard retryer with its retryable-error rules (throttling
// codes, 5xx, connection errors; STS's IDPCommunicationError), the policy's
// attempt count, no client-side retry quota (the policy alone decides), and
// the policy's delays.
//
// The delayer sleeps itself, with the injected Sleeper, and hands the SDK a
// zero delay: the SDK's own sleep is not injectable, and tests must count
// delays without waiting for them. The delayer counts retries itself rather
// than trusting the attempt number the SDK passes, whose base changes with
// the SDK's AWS_NEW_RETRIES_2026 mode; hence one retryer per operation.
func awsRetryer(ctx context.Context, p RetryPolicy, j Jitter, sleep Sleeper) aws.Retryer {
	b := &backoff{policy: p, jitter: j, sleep: sleep}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = p.Retries() + 1
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{Codes: map[string]struct{}{"IDPCommunicationError": {}}})
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
			return 0, b.wait(ctx)
		})
	})
}

// retryTransport applies the policy to plain HTTP calls (the GCP token
// exchange and IAM Credentials): it retries 429, 5xx and network errors,
// never other statuses, and records the last failure for classification.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	jitter Jitter
	sleep  Sleeper

	mu   sync.Mutex
	last *httpFailure
}

// httpFailure is the last failed response (or transport error) seen.
type httpFailure struct {
	URL    string // scheme, host and path; no query
	Status int    // 0 for a transport error
	Body   []byte // at most maxFailureBody bytes
	Err    error
}

const maxFailureBody = 8 << 10

func (t *retryTransport) lastFailure() *httpFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

func (t *retryTransport) record(f *httpFailure) {
	t.mu.Lock()
	t.last = f
	t.mu.Unlock()
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// retryableTransportError: no answer at all is worth another try, unless the
// caller gave up or the endpoint's certificate is not trusted (which another
// try will not change).
func retryableTransportError(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return !errors.As(err, &certErr) && !errors.As(err, &unknownAuthority) && !errors.As(err, &hostErr)
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	b := &backoff{policy: t.policy, jitter: t.jitter, sleep: t.sleep}
	where := req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			if req.Body != nil && req.GetBody == nil {
				return nil, &transportError{err: errors.New("cannot retry a request whose body cannot be replayed")}
			}
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.base.RoundTrip(r)
		var retryable bool
		switch {
		case err != nil:
			t.record(&httpFailure{URL: where, Err: err})
			retryable = retryableTransportError(ctx, err)
		case resp.StatusCode >= 400:
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxFailureBody))
			resp.Body.Close()
			t.record(&httpFailure{URL: where, Status: resp.StatusCode, Body: body})
			retryable = retryableStatus(resp.StatusCode)
			// Hand the caller the body we read.
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		if (err == nil && resp.StatusCode < 400) || !retryable || attempt >= t.policy.Retries() {
			if err != nil {
				return nil, &transportError{err: err}
			}
			return resp, nil
		}
		if resp != nil {
			resp.Body.Close()
		}
		if err := b.wait(ctx); err != nil {
			return nil, &transportError{err: err}
		}
	}
}
