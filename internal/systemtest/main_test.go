package systemtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// bin is the gatehouse binary TestMain built.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-systemtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "github.com/gatehouse/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Test users and clients.
const (
	email       = "jo@acme.example"
	password    = "correct horse battery staple"
	redirectURI = "http://127.0.0.1:9/callback"
)

// noRateLimits turns the per-instance rate limits off and raises the
// per-organization object limits: the races fire hundreds of requests of one
// client from one address on purpose, and the load tests create thousands of
// groups in one organization.
var noRateLimits = []string{"--rate-limit-token", "off", "--rate-limit-login", "off", "--rate-limit-auth-failures", "off",
	"--object-limits", "groups=1000000,apikeys=1000000,serviceaccounts=1000000,users=1000000,projects=1000000"}

// newDatabase creates a database on the PostgreSQL server of
// GATEHOUSE_TEST_DATABASE_URL, dropped (with its connections) when the test
// ends, and returns its URL. It skips the test when the variable is unset.
func newDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(testenv.PostgresURLEnv)
	if base == "" {
		t.Skipf("%s is not set: the replica and database fault tests need PostgreSQL", testenv.PostgresURLEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gh_sys_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// newKey is a fresh key-encryption key.
func newKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// gatehouse runs a gatehouse command to completion and returns its stdout;
// stdin may be empty.
func gatehouse(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := gatehouseErr(stdin, args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v", args[0], err)
	}
	return out
}

func gatehouseErr(stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// replica is one running `gatehouse serve`.
type replica struct {
	URL  string
	addr string
	cmd  *exec.Cmd
	done chan error
	log  string // stderr, in a file
}

// freeAddr finds a loopback port nobody listens on (the serve process takes
// it a moment later; a clash makes start retry).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts `gatehouse serve` with args on a free port and waits until
// /readyz answers 200. It is killed when the test ends, if still running.
func serve(t *testing.T, args ...string) *replica {
	t.Helper()
	return serveOn(t, freeAddr(t), args...)
}

func serveOn(t *testing.T, addr string, args ...string) *replica {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "serve.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--log-format", "text", "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{URL: "http://" + addr, addr: addr, cmd: cmd, done: make(chan error, 1), log: logFile}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("log of gatehouse serve on %s (last 3000 bytes):\n%s", addr, tail(b, 3000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("gatehouse serve exited during start: %v\n%s", err, b)
		default:
		}
		if resp, err := http.Get(r.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gatehouse serve on %s not ready within 30 s", addr)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("gatehouse serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse serve still running 30 s after SIGTERM")
	}
}

// cluster is several replicas of one Gatehouse on one PostgreSQL database.
type cluster struct {
	dbURL, key, dataDir string
	replicas            []*replica
	adminToken          string
	// web is a confidential client with the code flow and refresh tokens;
	// svc one with client_credentials.
	web, svc *loginflow.Client
	http     *http.Client
}

// dbArgs are the database and encryption key flags of serve and rotate-keys.
func (c *cluster) dbArgs() []string {
	return []string{"--database-url", c.dbURL, "--encryption-key", c.key}
}

// newCluster migrates a fresh database once (as an operator would before
// starting replicas), starts n replicas sharing its URL, encryption key and
// issuer (the first replica's URL, as a load balancer's would be shared),
// and registers a user and two clients with the admin CLI.
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{dbURL: newDatabase(t), key: newKey(), dataDir: t.TempDir()}
	gatehouse(t, "", "migrate", "--database-url", c.dbURL)
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	issuer := "http://" + addrs[0]
	for i, addr := range addrs {
		args := append(append(c.dbArgs(), "--issuer", issuer, "--data-dir", filepath.Join(c.dataDir, fmt.Sprint(i))), noRateLimits...)
		c.replicas = append(c.replicas, serveOn(t, addr, append(args, extra...)...))
	}
	c.adminToken = readToken(t, filepath.Join(c.dataDir, "0", "bootstrap-token"))
	c.http = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}

	gatehouse(t, password+"\n", "admin", "users", "set-password", "--email", email, "--database-url", c.dbURL)
	// The user's email domain belongs to an organization, so a login ends at
	// the relying party rather than at onboarding (offered to local users
	// who belong nowhere). Only a verified domain is an organization's: the
	// platform administrator marks it verified.
	people := c.mustAPI(t, http.StatusAccepted, "POST", "/api/v1/organizations", map[string]any{
		"metadata": map[string]any{"name": "people"},
		"spec":     map[string]any{"organizationType": "domain", "domain": email[strings.LastIndexByte(email, '@')+1:]}})
	peopleID, _ := people["metadata"].(map[string]any)["id"].(string)
	c.mustAPI(t, http.StatusOK, "POST", "/api/v1/organizations/"+peopleID+"/domain/verify", map[string]any{"markVerified": true})
	c.web = c.newClient(t, "web", "--redirect-uri", redirectURI, "--grant", "authorization_code", "--grant", "refresh_token",
		"--scope", "openid", "--scope", "email", "--scope", "offline_access")
	c.svc = c.newClient(t, "svc", "--grant", "client_credentials", "--scope", "read")
	return c
}

// newClient registers a confidential client with the admin CLI.
func (c *cluster) newClient(t *testing.T, name string, flags ...string) *loginflow.Client {
	t.Helper()
	out := gatehouse(t, "", append([]string{"admin", "clients", "create", "--name", name, "--database-url", c.dbURL}, flags...)...)
	var created struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" || created.Secret == "" {
		t.Fatalf("admin clients create printed %q: %v", out, err)
	}
	return &loginflow.Client{BaseURL: c.replicas[0].URL, ClientID: created.ID, ClientSecret: created.Secret,
		RedirectURI: redirectURI, HTTP: c.http}
}

// on returns a copy of client talking to replica i (round robin).
func (c *cluster) on(client *loginflow.Client, i int) *loginflow.Client {
	cp := *client
	cp.BaseURL = c.replicas[i%len(c.replicas)].URL
	return &cp
}

// api sends an /api/v1 request as the platform administrator to replica i.
func (c *cluster) api(i int, method, path string, body any) (int, []byte, error) {
	return call(c.http, c.replicas[i%len(c.replicas)].URL, c.adminToken, method, path, body)
}

// mustAPI is api that fails the test unless the status is want.
func (c *cluster) mustAPI(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	status, b, err := c.api(0, method, path, body)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %s %v, want %d", method, path, status, b, err, want)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// call sends one request with a bearer token and a JSON body.
func call(c *http.Client, base, token, method, path string, body any) (int, []byte, error) {
	status, b, _, err := callH(c, base, token, method, path, body)
	return status, b, err
}

// callH is call that also returns the response headers.
func callH(c *http.Client, base, token, method, path string, body any) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// missingGroups lists the groups at path (as admin, through base) and
// returns how many of the IDs in acked are not among them.
func missingGroups(t *testing.T, hc *http.Client, base, admin, path string, acked []string) int {
	t.Helper()
	status, body, err := call(hc, base, admin, "GET", path, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list groups: %d %s %v", status, body, err)
	}
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, g := range list {
		have[id(g)] = true
	}
	missing := 0
	for _, g := range acked {
		if !have[g] {
			missing++
		}
	}
	return missing
}

// readToken reads a bootstrap token file.
func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no bootstrap token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// userinfo is the status of GET /oauth2/v2/userinfo with access on replica i.
func (c *cluster) userinfo(t *testing.T, i int, access string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", c.replicas[i%len(c.replicas)].URL+"/oauth2/v2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// race runs f(i) for i in [0, n) all at once (released together) and
// returns their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func id(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	s, _ := md["id"].(string)
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
