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

// TestRotateKeys: serve publishes an active and a next key of each
// algorithm (ES256, ES512, RS256); `admin rotate-keys --algorithm ES512`
// against the same data directory (while that server runs) prints the new
// active ES512 kid, which is the key that was next, and touches no other
// algorithm; a plain `admin rotate-keys` rotates every algorithm and prints
// "ALG KID" of each. A server started afterwards publishes the old keys and
// the new ones, and the running one still publishes the old and the new
// active keys. A bad algorithm or another encryption key is refused.
func TestRotateKeys(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()

	p1 := start(t, bin, "--data-dir", dir)
	first := jwksOf(t, p1.addr)
	perAlg := map[string][]string{}
	for kid, k := range first {
		perAlg[k.Alg] = append(perAlg[k.Alg], kid)
	}
	if len(first) != 6 || len(perAlg["ES256"]) != 2 || len(perAlg["ES512"]) != 2 || len(perAlg["RS256"]) != 2 {
		t.Fatalf("a fresh server publishes %v, want an active and a next key of ES256, ES512 and RS256", perAlg)
	}

	out, err := exec.Command(bin, "admin", "rotate-keys", "--data-dir", dir, "--algorithm", "ES512").Output()
	if err != nil {
		t.Fatalf("admin rotate-keys --algorithm ES512: %v", err)
	}
	active := strings.TrimSpace(string(out))
	if !slices.Contains(perAlg["ES512"], active) {
		t.Fatalf("rotate-keys --algorithm ES512 made %q active; want the published next ES512 key, one of %v", active, perAlg["ES512"])
	}
	var old string
	for _, kid := range perAlg["ES512"] {
		if kid != active {
			old = kid
		}
	}

	p2 := start(t, bin, "--data-dir", dir)
	second := jwksOf(t, p2.addr)
	if len(second) != 7 {
		t.Fatalf("after rotate-keys --algorithm ES512 a server publishes %v, want the 6 keys and a fresh ES512 next key", kidsOf(second))
	}
	for kid := range first {
		if _, ok := second[kid]; !ok {
			t.Errorf("after rotate-keys the JWKS %v lacks %s", kidsOf(second), kid)
		}
	}
	for kid, k := range second {
		if _, ok := first[kid]; !ok && k.Alg != "ES512" {
			t.Errorf("the fresh next key %s is %s, want ES512 (--algorithm)", kid, k.Alg)
		}
	}
	if got := jwksOf(t, p1.addr); got[old].Kid == "" || got[active].Kid == "" {
		t.Errorf("the server that was running publishes %v, want %s and %s", kidsOf(got), old, active)
	}

	out, err = exec.Command(bin, "admin", "rotate-keys", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("admin rotate-keys: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var algs []string
	for _, l := range lines {
		alg, kid, ok := strings.Cut(l, " ")
		if k, published := second[kid]; !ok || !published || k.Alg != alg {
			t.Errorf("rotate-keys printed %q; want \"ALG KID\" of a key published as next", l)
		}
		algs = append(algs, alg)
	}
	if slices.Sort(algs); !slices.Equal(algs, []string{"ES256", "ES512", "RS256"}) {
		t.Errorf("rotate-keys rotated %v, want every algorithm once", algs)
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
		{"unsupported algorithm to rotate", []string{"--algorithm", "HS256"}, "--algorithm"},
		{"an algorithm of an organization", []string{"--algorithm", "RS256", "--organization", "x"}, "--algorithm"},
		{"another encryption key", []string{"--encryption-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "--encryption-key"},
	} {
		msg, err := exec.Command(bin, append([]string{"admin", "rotate-keys", "--data-dir", dir}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(msg), tc.want) {
			t.Errorf("rotate-keys, %s: err %v, output %q; want a refusal naming %s", tc.name, err, msg, tc.want)
		}
	}
}
