package keys_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, body
}

// TestJWKSHandler: the JWKS over HTTP is JSON, briefly cacheable, and
// verifies tokens; a failure is a 500 in the seed's error shape.
func TestJWKSHandler(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		c := newCluster(t, open)
		m := c.replica(keys.ES256)
		must(t, m.Ensure(t.Context()))
		srv := httptest.NewServer(keys.JWKSHandler(m))
		t.Cleanup(srv.Close)

		resp, body := get(t, srv.URL)
		for _, tc := range []struct{ name, got, want string }{
			{"status", resp.Status, "200 OK"},
			{"Content-Type", resp.Header.Get("Content-Type"), "application/json"},
			{"Cache-Control", resp.Header.Get("Cache-Control"), "public, max-age=300"},
		} {
			if tc.got != tc.want {
				t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
			}
		}
		var set jose.JSONWebKeySet
		must(t, json.Unmarshal(body, &set))
		if got, want := kids(set), kids(jwks(t, m)); !slices.Equal(got, want) || len(got) != 2 {
			t.Errorf("served kids %v, want %v", got, want)
		}
		if _, err := verify(signJWT(t, activeKey(t, m), "bob"), set, keys.ES256); err != nil {
			t.Errorf("a token does not verify against the served JWKS: %v", err)
		}

		// After a rotation (and the cache's lifetime) the handler serves the
		// new set, not the encoding it kept of the old one.
		must(t, m.Rotate(t.Context()))
		c.clock.Advance(keys.DefaultCacheTTL)
		_, body = get(t, srv.URL)
		set = jose.JSONWebKeySet{}
		must(t, json.Unmarshal(body, &set))
		if got, want := kids(set), kids(jwks(t, m)); !slices.Equal(got, want) || len(got) != 3 {
			t.Errorf("after a rotation: served kids %v, want %v", got, want)
		}
	})

	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		c := newCluster(t, testenv.SQLite)
		m := c.replica(keys.ES256)
		must(t, c.st.Close())
		srv := httptest.NewServer(keys.JWKSHandler(m))
		t.Cleanup(srv.Close)
		resp, body := get(t, srv.URL)
		var e map[string]string
		must(t, json.Unmarshal(body, &e))
		if resp.StatusCode != 500 || e["error"] != "server_error" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("JWKS without a database: %d %s (Cache-Control %q); want 500 server_error, no-store",
				resp.StatusCode, body, resp.Header.Get("Cache-Control"))
		}
	})
}
