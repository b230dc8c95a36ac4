package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestFailedAuthenticationThrottled is finding 7 of issue 12 (2,000 bad
// bearer tokens from one address, all answered 401): failed bearer
// authentications on /api/v1 are limited per client address. After a
// burst of failures the address gets 429 too_many_requests with
// Retry-After in the API's error shape, before its token is looked at (a
// good one too); another address still gets 401 for a bad token and 200
// for a good one; and successful authentications count nothing, however
// many.
func TestFailedAuthenticationThrottled(t *testing.T) {
	t.Parallel()
	const burst = 5
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := testenv.NewEnv(t, b.Open(t), testenv.WithServer(func(c *server.Config) {
				c.Limits.AuthFailures = ratelimit.Rate{N: burst, Per: time.Minute}
			}))
			// Loopback is a trusted proxy in testenv: X-Forwarded-For sets
			// the client address.
			get := func(addr, token string) (int, http.Header, map[string]any) {
				t.Helper()
				req, err := http.NewRequest("GET", e.URL+"/api/v1/organizations", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Forwarded-For", addr)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := e.Client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				return resp.StatusCode, resp.Header, m
			}
			const attacker, other, busy = "203.0.113.7", "198.51.100.9", "192.0.2.44"
			bad := "gh_sa_not-a-real-token"

			for i := range burst {
				if status, _, _ := get(attacker, bad); status != http.StatusUnauthorized {
					t.Fatalf("bad token %d of the burst: %d, want 401", i+1, status)
				}
			}
			for _, c := range []struct{ what, token string }{
				{"a bad token", bad}, {"no token", ""}, {"a good token", e.AdminToken},
			} {
				status, h, body := get(attacker, c.token)
				retry := h.Get("Retry-After")
				if status != http.StatusTooManyRequests || body["error"] != "too_many_requests" || body["error_description"] == "" || retry == "" {
					t.Errorf("%s from the address past its burst: %d %v %v, want 429 too_many_requests with Retry-After", c.what, status, h, body)
				}
			}

			if status, _, _ := get(other, bad); status != http.StatusUnauthorized {
				t.Errorf("a bad token from another address: %d, want 401", status)
			}
			if status, _, body := get(other, e.AdminToken); status != http.StatusOK {
				t.Errorf("a good token from another address: %d %v, want 200", status, body)
			}

			// Successes take nothing: many of them, then a full burst of
			// failures is still answered 401.
			for i := range 4 * burst {
				if status, _, _ := get(busy, e.AdminToken); status != http.StatusOK {
					t.Fatalf("good request %d from a busy address: %d, want 200", i+1, status)
				}
			}
			for i := range burst {
				if status, _, _ := get(busy, bad); status != http.StatusUnauthorized {
					t.Fatalf("failure %d after many successes: %d, want 401", i+1, status)
				}
			}
		})
	}
}
