package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
)

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("version exited %d: %s", code, errb.String())
	}
	info := buildinfo.Get()
	for _, want := range []string{"gatehouse " + info.Version + "\n", "commit:   " + info.Commit, "go:       " + info.GoVersion} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output %q lacks %q", out.String(), want)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"version", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("version --json exited %d: %s", code, errb.String())
	}
	var got buildinfo.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got != info {
		t.Errorf("version --json = %s (%v), want %+v", out.String(), err, info)
	}
	if code := run(context.Background(), []string{"version", "extra"}, &out, &errb); code != 1 {
		t.Errorf("version with an argument exited %d, want 1", code)
	}
}

// TestConfigPrint: `gatehouse config print` takes serve's flags and a
// configuration file and redacts secrets.
func TestConfigPrint(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("encryption-key: dG9wLXNlY3JldA==\nlog-format: text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "print", "--config", file, "--listen", "0.0.0.0:9"}, &out, &errb); code != 0 {
		t.Fatalf("config print exited %d: %s", code, errb.String())
	}
	s := out.String()
	if strings.Contains(s, "dG9wLXNlY3JldA==") || !strings.Contains(s, "encryption-key: <redacted> # file, redacted") ||
		!strings.Contains(s, "listen: 0.0.0.0:9 # flag") || !strings.Contains(s, "log-format: text # file") {
		t.Errorf("config print:\n%s", s)
	}
	for _, args := range [][]string{{"config"}, {"config", "show"}, {"config", "print", "--no-such-flag"},
		{"config", "print", "--config", filepath.Join(t.TempDir(), "missing.yaml")}} {
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code == 0 {
			t.Errorf("%q exited 0", args)
		}
	}
}

func TestHealthcheckURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    healthOptions
		want string
	}{
		{healthOptions{listen: "0.0.0.0:8080"}, "http://127.0.0.1:8080/readyz"},
		{healthOptions{listen: ":8080"}, "http://127.0.0.1:8080/readyz"},
		{healthOptions{listen: "[::]:8080"}, "http://127.0.0.1:8080/readyz"},
		{healthOptions{listen: "[::1]:9000"}, "http://[::1]:9000/readyz"},
		{healthOptions{listen: "10.0.0.5:443", tlsCertFile: "/c.pem"}, "https://10.0.0.5:443/readyz"},
		{healthOptions{listen: "x", url: "http://h/readyz"}, "http://h/readyz"},
	} {
		got, err := tc.o.probeURL()
		if err != nil || got != tc.want {
			t.Errorf("probeURL(%+v) = %q, %v; want %q", tc.o, got, err, tc.want)
		}
	}
	if _, err := (&healthOptions{listen: "8080"}).probeURL(); err == nil {
		t.Error("a listen address without a port was accepted")
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	status := map[string]int{"/readyz": http.StatusOK, "/down/readyz": http.StatusServiceUnavailable}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := status[r.URL.Path]
		if !ok {
			code = http.StatusNotFound
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--listen", addr}, 0},
		{[]string{"--healthcheck-url", srv.URL + "/down/readyz"}, 1},
		{[]string{"--listen", "127.0.0.1:1"}, 1}, // nothing listens
		{[]string{"--listen", addr, "--healthcheck-timeout", "soon"}, 1},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"healthcheck"}, tc.args...), &out, &errb); code != tc.want {
			t.Errorf("healthcheck %q exited %d, want %d: %s", tc.args, code, tc.want, errb.String())
		}
	}
}
