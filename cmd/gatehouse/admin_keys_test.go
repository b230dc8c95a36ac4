package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type jwk struct {
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	D   string `json:"d"`
}

// jwksOf fetches GET /oauth2/v2/jwks from a running gatehouse.
func jwksOf(t *testing.T, addr string) map[string]jwk {
	t.Helper()
	r, err := http.Get("http://" + addr + "/oauth2/v2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(r.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("GET /oauth2/v2/jwks: %d, Content-Type %q, Cache-Control %q: %s",
			r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"), body)
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("decode JWKS %s: %v", body, err)
	}
	out := map[string]jwk{}
	for _, k := range set.Keys {
		if k.Kid == "" || k.Use != "sig" || k.D != "" {
			t.Errorf("JWKS key %+v: want a kid, use=sig and no private part", k)
		}
		out[k.Kid] = k
	}
	return out
}

func kidsOf(set map[string]jwk) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRotateKeys: serve publishes an active and a next key; `admin
// rotate-keys` against the same data directory (while that server runs)
// prints the new active kid, which is the key that was next; a server started
// afterwards publishes the old key, the new active key and a fresh next key
// of the requested algorithm, and the running one still publishes the old
// and the new active key. A bad algorithm or another encryption key is
// refused.
func TestRotateKeys(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()

	p1 := start(t, bin, "--data-dir", dir)
	first := jwksOf(t, p1.addr)
	if len(first) != 2 {
		t.Fatalf("a fresh server publishes %v, want an active and a next key", kidsOf(first))
	}
	for kid, k := range first {
		if k.Alg != "ES256" {
			t.Errorf("key %s: alg %q, want the default ES256", kid, k.Alg)
		}
	}

	out, err := exec.Command(bin, "admin", "rotate-keys", "--data-dir", dir, "--signing-algorithm", "ES512").Output()
	if err != nil {
		t.Fatalf("admin rotate-keys: %v", err)
	}
	active := strings.TrimSpace(string(out))
	if _, ok := first[active]; !ok {
		t.Fatalf("rotate-keys made %q active; want the published next key, one of %v", active, kidsOf(first))
	}
	var old string
	for kid := range first {
		if kid != active {
			old = kid
		}
	}

	p2 := start(t, bin, "--data-dir", dir)
	second := jwksOf(t, p2.addr)
	if len(second) != 3 {
		t.Fatalf("after rotate-keys a server publishes %v, want old, active and next", kidsOf(second))
	}
	for _, kid := range []string{old, active} {
		if _, ok := second[kid]; !ok {
			t.Errorf("after rotate-keys the JWKS %v lacks %s", kidsOf(second), kid)
		}
	}
	for kid, k := range second {
		if kid != old && kid != active && k.Alg != "ES512" {
			t.Errorf("the fresh next key %s is %s, want ES512 (--signing-algorithm)", kid, k.Alg)
		}
	}
	if got := jwksOf(t, p1.addr); got[old].Kid == "" || got[active].Kid == "" {
		t.Errorf("the server that was running publishes %v, want %s and %s", kidsOf(got), old, active)
	}
	r, err := http.Get("http://" + p2.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(metrics), `gatehouse_http_requests_total{code="200",operation="oauth2V2JwksGet"} 1`) {
		t.Error("/metrics does not count the JWKS request under the seed's operationId oauth2V2JwksGet")
	}
	p2.stop(t)
	p1.stop(t)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unsupported algorithm", []string{"--signing-algorithm", "HS256"}, "--signing-algorithm"},
		{"another encryption key", []string{"--encryption-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "--encryption-key"},
	} {
		msg, err := exec.Command(bin, append([]string{"admin", "rotate-keys", "--data-dir", dir}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(msg), tc.want) {
			t.Errorf("rotate-keys, %s: err %v, output %q; want a refusal naming %s", tc.name, err, msg, tc.want)
		}
	}
}
