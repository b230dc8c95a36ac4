package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestLimitFlags: the abuse protection flags are documented in --help and
// bad values stop serve before it touches anything.
func TestLimitFlags(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	for _, name := range []string{"rate-limit-token", "rate-limit-login", "rate-limit-auth-failures", "database-timeout", "trusted-proxies", "upstream-timeout",
		"read-header-timeout", "read-timeout", "write-timeout", "idle-timeout", "debug-listen", "log-flush-interval", "dns-resolver", "dns-timeout", "otlp-endpoint"} {
		if !strings.Contains(errb.String(), "-"+name) || !strings.Contains(errb.String(), config.EnvName(name)) {
			t.Errorf("serve --help does not document -%s / %s", name, config.EnvName(name))
		}
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--rate-limit-token", "lots"}, "--rate-limit-token"},
		{[]string{"--rate-limit-login", "5/fortnight"}, "--rate-limit-login"},
		{[]string{"--trusted-proxies", "10.0.0.0/99"}, "--trusted-proxies"},
		{[]string{"--upstream-timeout", "0s"}, "--upstream-timeout"},
		{[]string{"--rate-limit-auth-failures", "many"}, "--rate-limit-auth-failures"},
		{[]string{"--database-timeout", "0s"}, "--database-timeout"},
		{[]string{"--dns-resolver", "no-port"}, "--dns-resolver"},
		{[]string{"--dns-timeout", "0s"}, "--dns-timeout"},
		{[]string{"--otlp-endpoint", "collector:4318"}, "OTLP endpoint"},
	} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir}, c.args...)
		if code := run(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), c.says) {
			t.Errorf("serve %v: exit %d, stderr %q; want 1 naming %s", c.args, code, errb.String(), c.says)
		}
	}
}

// TestSlowClientsAreCut: a client that trickles its headers (slowloris) is
// disconnected after --read-header-timeout, and one that trickles its body
// after --read-timeout, instead of holding a connection for ever.
func TestSlowClientsAreCut(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir, "--read-header-timeout", "300ms", "--read-timeout", "1s")
	token, err := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
	if err != nil {
		t.Fatal(err)
	}
	// Authenticated, so that the server gets as far as reading the body.
	auth := "Authorization: Bearer " + strings.TrimSpace(string(token)) + "\r\n"
	for _, c := range []struct {
		name     string
		head     string
		trickle  string
		deadline time.Duration
	}{
		{"headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: y\r\n", 2 * time.Second},
		{"body", "POST /api/v1/organizations HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n", "{", 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			closed := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, conn) // returns when the server closes
				closed <- err
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					if took := time.Since(start); took > c.deadline {
						t.Errorf("cut after %v, want within %v", took, c.deadline)
					}
					return
				case <-tick.C:
					if time.Since(start) > 10*time.Second {
						t.Fatalf("a client trickling its %s still connected after 10 s", c.name)
					}
					// A write may fail once the server has closed; the read
					// above reports the cut.
					_, _ = io.WriteString(conn, c.trickle)
				}
			}
		})
	}
	p.stop(t)
}

// TestDebugListener: --debug-listen serves the profiler on its own address
// only; the public port never does.
func TestDebugListener(t *testing.T) {
	bin := binary(t)
	debug := freeAddr(t)
	p := start(t, bin, "--data-dir", t.TempDir(), "--debug-listen", debug)
	defer p.stop(t)
	for addr, want := range map[string]int{debug: http.StatusOK, p.addr: http.StatusNotFound} {
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/debug/pprof/ on %s: %d, want %d", addr, resp.StatusCode, want)
		}
	}
}
