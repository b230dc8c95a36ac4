package cloud

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type pickJitter func(n int64) int64

func (p pickJitter) Int64N(n int64) int64 { return p(n) }

func policyOf(kind string, fixed, base, max *int64, retries int) RetryPolicy {
	return RetryPolicy{BackOffStrategyType: kind, BackOffStrategy: BackOffStrategy{FixedBackoff: fixed, BaseDelay: base, MaxBackoffTime: max, RetryCount: &retries}}
}

// TestRetryPolicyDelays: the delay of each retry, per strategy, at both
// ends of the jitter range and in the middle; the ceiling doubles from
// baseDelay and stops at maxBackoffTime, and never overflows.
func TestRetryPolicyDelays(t *testing.T) {
	t.Parallel()
	lowest := pickJitter(func(int64) int64 { return 0 })
	highest := pickJitter(func(n int64) int64 { return n - 1 })
	var bounds []int64
	record := pickJitter(func(n int64) int64 { bounds = append(bounds, n); return 0 })
	for _, tc := range []struct {
		name   string
		p      RetryPolicy
		j      Jitter
		want   []int // ms, retries 0..len-1
		bounds []int64
	}{
		{"fixed", policyOf(FixedDelayBackoffStrategy, i64(750), nil, nil, 3), lowest, []int{750, 750, 750}, nil},
		{"fixed zero", policyOf(FixedDelayBackoffStrategy, i64(0), nil, nil, 2), highest, []int{0, 0}, nil},
		{"equal jitter lowest", policyOf(EqualJitterBackoffStrategy, nil, i64(100), i64(1000), 6), lowest, []int{50, 100, 200, 400, 500, 500}, nil},
		{"equal jitter highest", policyOf(EqualJitterBackoffStrategy, nil, i64(100), i64(1000), 6), highest, []int{100, 200, 400, 800, 1000, 1000}, nil},
		{"equal jitter draws", policyOf(EqualJitterBackoffStrategy, nil, i64(3), i64(100), 3), record, []int{1, 3, 6}, []int64{2, 4, 7}},
		{"full jitter lowest", policyOf(FullJitterBackoffStrategy, nil, i64(100), i64(1000), 5), lowest, []int{0, 0, 0, 0, 0}, nil},
		{"full jitter highest", policyOf(FullJitterBackoffStrategy, nil, i64(100), i64(1000), 5), highest, []int{100, 200, 400, 800, 1000}, nil},
		{"full jitter draws", policyOf(FullJitterBackoffStrategy, nil, i64(60000), i64(60000), 2), record, []int{0, 0}, []int64{60001, 60001}},
	} {
		bounds = nil
		for n, want := range tc.want {
			if got := tc.p.Delay(n, tc.j); got != time.Duration(want)*time.Millisecond {
				t.Errorf("%s: retry %d waits %v, want %dms", tc.name, n, got, want)
			}
		}
		if tc.bounds != nil && !equalInts(bounds, tc.bounds) {
			t.Errorf("%s: jitter drawn in [0, n) for n = %v, want %v", tc.name, bounds, tc.bounds)
		}
	}
	// Far retries do not overflow: the ceiling is the maximum.
	p := policyOf(EqualJitterBackoffStrategy, nil, i64(60000), i64(60000), 10)
	for _, n := range []int{29, 30, 31, 63, 64, 1000} {
		if got := p.Delay(n, highest); got != time.Minute {
			t.Errorf("retry %d: %v, want the 60 s cap", n, got)
		}
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRetryPolicyValidate: the seed's three types with exactly their
// parameters, within bounds.
func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    RetryPolicy
		ok   bool
	}{
		{"default", DefaultRetryPolicy(), true},
		{"fixed", policyOf(FixedDelayBackoffStrategy, i64(0), nil, nil, 0), true},
		{"equal", policyOf(EqualJitterBackoffStrategy, nil, i64(1), i64(60000), 10), true},
		{"full", policyOf(FullJitterBackoffStrategy, nil, i64(5), i64(5), 1), true},
		{"unknown type", policyOf("ExponentialBackoffStrategy", i64(1), nil, nil, 1), false},
		{"Harness's == bug: type in another case", policyOf("fixedDelayBackoffStrategy", i64(1), nil, nil, 1), false},
		{"no retry count", RetryPolicy{BackOffStrategyType: FixedDelayBackoffStrategy, BackOffStrategy: BackOffStrategy{FixedBackoff: i64(1)}}, false},
		{"negative retry count", policyOf(FixedDelayBackoffStrategy, i64(1), nil, nil, -1), false},
		{"too many retries", policyOf(FixedDelayBackoffStrategy, i64(1), nil, nil, 11), false},
		{"fixed without fixedBackoff", policyOf(FixedDelayBackoffStrategy, nil, nil, nil, 1), false},
		{"fixed with baseDelay", policyOf(FixedDelayBackoffStrategy, i64(1), i64(1), nil, 1), false},
		{"fixed over a minute", policyOf(FixedDelayBackoffStrategy, i64(60001), nil, nil, 1), false},
		{"fixed negative", policyOf(FixedDelayBackoffStrategy, i64(-1), nil, nil, 1), false},
		{"jitter without max", policyOf(EqualJitterBackoffStrategy, nil, i64(1), nil, 1), false},
		{"jitter with fixedBackoff", policyOf(FullJitterBackoffStrategy, i64(1), i64(1), i64(2), 1), false},
		{"jitter base zero", policyOf(FullJitterBackoffStrategy, nil, i64(0), i64(2), 1), false},
		{"jitter max below base", policyOf(EqualJitterBackoffStrategy, nil, i64(10), i64(5), 1), false},
	} {
		err := tc.p.Validate("retryPolicy")
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tc.name, err, tc.ok)
		}
		if e, ok := AsError(err); err != nil && (!ok || e.Type != ErrInvalidRequest || !strings.Contains(e.Message, "retryPolicy")) {
			t.Errorf("%s: %v is not an INVALID_REQUEST naming the field", tc.name, err)
		}
	}
}

// TestRetryTransport: the GCP side of the policy retries 429, 5xx and
// network errors with the policy's delays, replays the body, never retries
// other statuses, and stops when the request's context ends.
func TestRetryTransport(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var bodies []string
	statuses := map[string][]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		seq := statuses[r.URL.Path]
		if int(n) <= len(seq) {
			w.WriteHeader(seq[n-1])
			_, _ = io.WriteString(w, `{"error":"e"}`)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path     string
		statuses []int
		retries  int
		want     int // final status
		calls    int
		delays   int
	}{
		{"/throttled", []int{429, 503}, 3, 200, 3, 2},
		{"/denied", []int{403}, 3, 403, 1, 0},
		{"/bad", []int{400, 500}, 3, 400, 1, 0},
		{"/exhausted", []int{500, 502, 504}, 2, 504, 3, 2},
		{"/unauthorized", []int{401}, 5, 401, 1, 0},
	} {
		calls.Store(0)
		bodies = nil
		statuses[tc.path] = tc.statuses
		var slept []time.Duration
		rt := &retryTransport{base: http.DefaultTransport, policy: policyOf(FixedDelayBackoffStrategy, i64(9), nil, nil, tc.retries),
			jitter: globalJitter{}, sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
		req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader("payload"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || int(calls.Load()) != tc.calls || len(slept) != tc.delays {
			t.Errorf("%s: status %d after %d calls and delays %v; want %d, %d calls, %d delays", tc.path, resp.StatusCode, calls.Load(), slept, tc.want, tc.calls, tc.delays)
		}
		if tc.want >= 400 && string(body) != `{"error":"e"}` {
			t.Errorf("%s: the failure's body is lost: %q", tc.path, body)
		}
		for i, b := range bodies {
			if b != "payload" {
				t.Errorf("%s: attempt %d sent %q, the body was not replayed", tc.path, i+1, b)
			}
		}
		if f := rt.lastFailure(); tc.want >= 400 && (f == nil || f.Status != tc.want) {
			t.Errorf("%s: last failure %+v", tc.path, f)
		}
	}

	// Network errors are retried; a cancelled sleep ends the request.
	rt := &retryTransport{base: http.DefaultTransport, policy: policyOf(FixedDelayBackoffStrategy, i64(1), nil, nil, 2), jitter: globalJitter{}}
	var attempts int
	rt.sleep = func(context.Context, time.Duration) error { attempts++; return nil }
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	if _, err := rt.RoundTrip(req); err == nil || attempts != 2 {
		t.Errorf("refused connection: %v after %d retries, want an error after 2", err, attempts)
	}
	var te *transportError
	ctx, cancel := context.WithCancel(context.Background())
	rt.sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	req, _ = http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:1/", nil)
	if _, err := rt.RoundTrip(req); !errors.As(err, &te) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during the backoff: %v", err)
	}
}

// TestCheckEndpoint: endpoint overrides are https, or http on loopback.
func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://sts.eu-west-1.amazonaws.com": true, "https://sts.example.com:8443/prefix": true, "https://127.0.0.1:9": true,
		"http://127.0.0.1:8080": true, "http://[::1]:80": true, "http://localhost:1": true,
		"http://sts.amazonaws.com": false, "ftp://x": false, "sts.amazonaws.com": false, "https://": false, "https://u:p@x.example": false,
		"https://x.example/?q=1": false, "https://x.example/#f": false, "https://x.example/a b": false, "": false,
	} {
		if err := CheckEndpoint("endpoint", raw); (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", raw, err, ok)
		}
	}
}
