package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCloudOptions: serve refuses cloud options that cannot work before it
// serves anything.
func TestCloudOptions(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "aws-secret")
	if err := os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ES512 workload keys", []string{"--workload-signing-algorithm", "ES512"}, "--workload-signing-algorithm"},
		{"access key without a secret", []string{"--cloud-aws-access-key-id", "AKIAEXAMPLE000000000"}, "go together"},
		{"secret without an access key", []string{"--cloud-aws-secret-access-key-file", secretFile}, "go together"},
		{"missing secret file", []string{"--cloud-aws-access-key-id", "AKIAEXAMPLE000000000", "--cloud-aws-secret-access-key-file", "/nonexistent"}, "secret-access-key-file"},
		{"plain http endpoint", []string{"--cloud-aws-sts-endpoint", "http://sts.amazonaws.com"}, "--cloud-aws-sts-endpoint"},
		{"zero timeout", []string{"--cloud-request-timeout", "0s"}, "--cloud-request-timeout"},
		{"bad boolean", []string{"--cloud-access-node-enabled=maybe"}, "cloud-access-node-enabled"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
		if code := run(context.Background(), args, &out, &errb); code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming %s", tc.name, code, errb.String(), tc.want)
		}
	}
}

// TestRotateOrganizationKeys: `admin rotate-keys --organization` rotates that
// organization's workload issuer keys, which a running server publishes at
// the organization's JWKS; an unknown organization is refused.
func TestRotateOrganizationKeys(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir)
	token, err := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/api/v1/organizations",
		strings.NewReader(`{"metadata":{"name":"acme"},"spec":{"organizationType":"adhoc"}}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var org struct{ Metadata struct{ ID string } }
	_ = json.NewDecoder(r.Body).Decode(&org)
	r.Body.Close()
	orgKeys := func() map[string]jwk {
		r, err := http.Get("http://" + p.addr + "/oidc/organizations/" + org.Metadata.ID + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var set struct{ Keys []jwk }
		if err := json.NewDecoder(r.Body).Decode(&set); err != nil || r.StatusCode != 200 {
			t.Fatalf("organization JWKS: %d %v", r.StatusCode, err)
		}
		out := map[string]jwk{}
		for _, k := range set.Keys {
			out[k.Kid] = k
		}
		return out
	}
	before := orgKeys()
	platform := jwksOf(t, p.addr)
	out, err := exec.Command(bin, "admin", "rotate-keys", "--data-dir", dir, "--organization", org.Metadata.ID).Output()
	if err != nil {
		t.Fatalf("rotate-keys --organization: %v", err)
	}
	active := strings.TrimSpace(string(out))
	if _, ok := before[active]; !ok || len(before) != 2 {
		t.Fatalf("rotate-keys made %q active; want the organization's published next key, one of %v", active, kidsOf(before))
	}
	if _, ok := platform[active]; ok {
		t.Error("the organization's key is a platform key")
	}
	if after := jwksOf(t, p.addr); len(after) != len(platform) {
		t.Errorf("rotating an organization's keys changed the platform's: %v → %v", kidsOf(platform), kidsOf(after))
	}
	msg, err := exec.Command(bin, "admin", "rotate-keys", "--data-dir", dir, "--organization", "no-such-org").CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "no-such-org") {
		t.Errorf("rotate-keys for an unknown organization: %v %s", err, msg)
	}
	p.stop(t)
}
