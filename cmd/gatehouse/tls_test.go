package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestServeTLS: serve --tls-cert-file/--tls-key-file/--tls-client-ca-file
// serves HTTPS with an https issuer, requests but does not require client
// certificates, and a client registered by `admin clients create
// --auth-method self_signed_tls_client_auth --tls-certificate FILE` gets a
// certificate-bound token with its certificate and nothing without.
func TestServeTLS(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	serverCert := testenv.SelfSigned(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "gatehouse"},
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	certFile, keyFile := testenv.WritePEM(t, dir, "server", serverCert)
	caFile, _ := testenv.WritePEM(t, dir, "ca", testenv.NewCA(t, "Client CA", nil, testenv.CertOptions{}).TLS())
	robot := testenv.SelfSigned(t, testenv.CertOptions{Subject: pkix.Name{CommonName: "robot"}})
	robotFile, _ := testenv.WritePEM(t, dir, "robot", robot)
	data := filepath.Join(dir, "data")

	out, errOut, code := cli(t, bin, "admin", "clients", "create", "--data-dir", data, "--id", "robot", "--name", "Robot",
		"--grant", "client_credentials", "--scope", "read", "--auth-method", "self_signed_tls_client_auth", "--tls-certificate", robotFile)
	if code != 0 || strings.Contains(out, `"secret"`) {
		t.Fatalf("admin clients create: exit %d %s %s", code, out, errOut)
	}
	var created map[string]any
	_ = json.Unmarshal([]byte(out), &created)
	if got := created["tlsClientCertificates"].([]any)[0]; got != thumbprint(robot.Leaf) {
		t.Fatalf("registered thumbprint %v", got)
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", data, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-client-ca-file", caFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	roots := x509.NewCertPool()
	roots.AddCert(serverCert.Leaf)
	clientFor := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	plain := clientFor(nil)
	base := "https://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := plain.Get(base + "/readyz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready over TLS: %v; %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var d map[string]any
	resp, err := plain.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["issuer"] != base || d["tls_client_certificate_bound_access_tokens"] != true {
		t.Fatalf("discovery %v", d)
	}
	token := func(hc *http.Client) (int, map[string]any) {
		resp, err := hc.PostForm(base+"/oauth2/v2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"robot"}, "scope": {"read"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, m := token(plain); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Fatalf("without the certificate: %d %v", status, m)
	}
	status, m := token(clientFor(&robot))
	if status != http.StatusOK {
		t.Fatalf("with the certificate: %d %v", status, m)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(m["access_token"].(string), ".")[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(robot.Leaf) {
		t.Fatalf("cnf %v", claims["cnf"])
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGINT: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("did not stop")
	}
}

func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestServeRefusesBadOptions: option mistakes stop serve before it listens.
func TestServeRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testenv.WritePEM(t, dir, "server", testenv.SelfSigned(t, testenv.CertOptions{}))
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file", certFile}, "go together"},
		{[]string{"--tls-client-ca-file", certFile}, "go together"},
		{[]string{"--tls-cert-file", certFile, "--tls-key-file", bad}, "--tls-cert-file/--tls-key-file"},
		{[]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-client-ca-file", bad}, "no PEM certificate"},
		{[]string{"--onboarding", "everyone"}, "want off, local or all"},
		{[]string{"--ui-url", "console.example"}, "absolute http(s) URL"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}, tt.args...)
		if code := run(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("serve %v: exit %d, stderr %q, want %q", tt.args, code, errb.String(), tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "gatehouse.db")); !os.IsNotExist(err) {
		t.Errorf("a refused start created the database (%v)", err)
	}
}

// TestAdminUsersInvite: `admin users invite` prints the signup link of a
// pending user; its token activates the user once.
func TestAdminUsersInvite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	ten := &tenancy.Service{Store: st, Now: time.Now, Rand: rand.Reader, NewID: func() string { n++; return "id-" + string(rune('a'+n)) }}
	actor := &authn.Principal{Kind: authn.KindServiceAccount, Subject: "test"}
	org := &store.Organization{Meta: store.Meta{Name: "acme"}, Type: tenancy.OrganizationAdhoc}
	if err := ten.CreateOrganization(ctx, actor, org); err != nil {
		t.Fatal(err)
	}
	if err := ten.CreateUser(ctx, actor, access.TrustedGrant, org.ID, &store.User{Meta: store.Meta{Name: "jo"}, Subject: "jo@acme.example", State: "pending"}); err != nil {
		t.Fatal(err)
	}
	invite := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"admin", "users", "invite", "--data-dir", dir}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errOut, code := invite("--organization", org.ID, "--email", "jo@acme.example", "--issuer", "https://id.example.com/", "--lifetime", "1h")
	if code != 0 {
		t.Fatalf("invite: exit %d %s", code, errOut)
	}
	var got struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || !strings.HasPrefix(got.URL, "https://id.example.com/api/v1/signup?token=ghsu_") ||
		got.ExpiresAt.Sub(time.Now()) > time.Hour {
		t.Fatalf("invite printed %q (%v)", out, err)
	}
	u, _ := url.Parse(got.URL)
	if _, err := ten.CompleteSignup(ctx, u.Query().Get("token")); err != nil {
		t.Fatalf("the printed token: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--organization", org.ID, "--email", "jo@acme.example"}, "signup links are for pending users"},
		{[]string{"--organization", org.ID, "--email", "nobody@acme.example"}, "not found"},
		{[]string{"--email", "jo@acme.example"}, "--organization is required"},
		{[]string{"--organization", org.ID, "--email", "jo@acme.example", "--lifetime", "9000h"}, "lifetime"},
	} {
		if out, errOut, code := invite(tt.args...); code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("invite %v: exit %d %q %q, want %q", tt.args, code, out, errOut, tt.want)
		}
	}
}
