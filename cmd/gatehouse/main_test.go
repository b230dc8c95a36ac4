package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestHelpDocumentsEveryOption: --help names each flag with its environment
// variable.
func TestHelpDocumentsEveryOption(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("serve --help exited %d: %s", code, errb.String())
	}
	help := errb.String()
	for _, name := range []string{"listen", "issuer", "data-dir", "database-url", "bootstrap-token-file", "encryption-key",
		"encryption-key-file", "log-level", "log-format", "shutdown-timeout", "service-account-ttl",
		"signing-algorithm", "key-rotation-period", "audit-retention", "max-token-lifetime", "clients-file", "tls-cert-file", "tls-key-file",
		"tls-client-ca-file", "onboarding", "ui-url", "browser-session-lifetime", "mfa-platform-administrators",
		"workload-signing-algorithm", "cloud-access-node-enabled", "cloud-request-timeout", "cloud-attempt-timeout",
		"cloud-aws-access-key-id", "cloud-aws-secret-access-key", "cloud-aws-secret-access-key-file", "cloud-aws-region",
		"cloud-aws-sts-endpoint", "cloud-aws-organizations-endpoint", "cloud-aws-ambient-credentials"} {
		if !strings.Contains(help, "-"+name) || !strings.Contains(help, config.EnvName(name)) {
			t.Errorf("serve --help does not document -%s / %s", name, config.EnvName(name))
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("stderr %q does not explain", errb.String())
	}
}

func TestEnvironmentConfiguresFlags(t *testing.T) {
	t.Setenv("GATEHOUSE_SHUTDOWN_TIMEOUT", "not-a-duration")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "GATEHOUSE_SHUTDOWN_TIMEOUT") {
		t.Errorf("bad environment value: exit %d, stderr %q", code, errb.String())
	}
}

// binary builds gatehouse once per test binary run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type process struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	done   chan error
	addr   string
}

func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	p := &process{cmd: cmd, stdout: &bytes.Buffer{}, done: make(chan error, 1), addr: addr}
	cmd.Stdout = p.stdout
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gatehouse did not become ready; stdout: %s", p.stdout)
	return nil
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("gatehouse exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gatehouse did not stop after SIGTERM")
	}
}

func status(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/organizations", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

// TestBootstrapOnceAndReissue: the first start writes a 0600 token file and
// says so on stdout; the second start creates nothing; admin issue-token
// replaces the token and the old one stops working.
func TestBootstrapOnceAndReissue(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()

	p := start(t, bin, "--data-dir", dir)
	tokenFile := filepath.Join(dir, "bootstrap-token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("no bootstrap token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bootstrap token mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(p.stdout.String(), tokenFile) {
		t.Errorf("stdout does not say where the token is: %q", p.stdout)
	}
	b, _ := os.ReadFile(tokenFile)
	first := strings.TrimSpace(string(b))
	if got := status(t, p.addr, first); got != 200 {
		t.Fatalf("bootstrap token: status %d", got)
	}
	p.stop(t)

	p = start(t, bin, "--data-dir", dir)
	if p.stdout.Len() != 0 {
		t.Errorf("second start printed %q; it must not bootstrap again", p.stdout)
	}
	b, _ = os.ReadFile(tokenFile)
	if strings.TrimSpace(string(b)) != first {
		t.Error("second start rewrote the bootstrap token")
	}
	if got := status(t, p.addr, first); got != 200 {
		t.Fatalf("bootstrap token after restart: status %d", got)
	}

	out, err := exec.Command(bin, "admin", "issue-token", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("admin issue-token: %v", err)
	}
	fresh := strings.TrimSpace(string(out))
	if fresh == "" || fresh == first {
		t.Fatalf("issue-token printed %q", fresh)
	}
	if got := status(t, p.addr, first); got != 401 {
		t.Errorf("old token after reissue: status %d, want 401", got)
	}
	if got := status(t, p.addr, fresh); got != 200 {
		t.Errorf("reissued token: status %d, want 200", got)
	}
	p.stop(t)
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes,
// and the process then exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir)
	b, _ := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
	token := strings.TrimSpace(string(b))

	// Send the headers and half the body, signal, then send the rest.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"metadata":{"name":"in-flight"},"spec":{"organizationType":"adhoc"}}`
	fmt.Fprintf(conn, "POST /api/v1/organizations HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		p.addr, token, len(body), body[:10])
	time.Sleep(100 * time.Millisecond) // the server is now reading the body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Fprint(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("in-flight request: status %d, want 202", resp.StatusCode)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}
