package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupAndRestore: `admin backup` copies the database of a running
// server; a server started on the copy (with the same encryption key) has
// the data, the administrator token and working signing keys.
func TestBackupAndRestore(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir)
	token := strings.TrimSpace(readFile(t, filepath.Join(dir, "bootstrap-token")))
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/api/v1/organizations",
		strings.NewReader(`{"metadata":{"name":"kept-in-backup"},"spec":{"organizationType":"adhoc"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create organization: %v %v", resp, err)
	}

	backup := filepath.Join(t.TempDir(), "gatehouse-backup.db")
	out, err := exec.Command(bin, "admin", "backup", "--data-dir", dir, "--to", backup).CombinedOutput()
	if err != nil || !strings.Contains(string(out), backup) || !strings.Contains(string(out), "encryption key is not in the backup") {
		t.Fatalf("admin backup while serving: %v: %s", err, out)
	}
	p.stop(t)

	restored := t.TempDir()
	copyFile(t, backup, filepath.Join(restored, "gatehouse.db"))
	copyFile(t, filepath.Join(dir, "encryption-key"), filepath.Join(restored, "encryption-key"))
	p = start(t, bin, "--data-dir", restored)
	defer p.stop(t)
	req, _ = http.NewRequest("GET", "http://"+p.addr+"/api/v1/organizations", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "kept-in-backup") {
		t.Errorf("restored server: %d %s; want the organization, with the original token", resp.StatusCode, body)
	}
	if p.stdout.Len() != 0 {
		t.Errorf("the restored server bootstrapped again: %s", p.stdout)
	}
	if resp, err := http.Get("http://" + p.addr + "/oauth2/v2/jwks"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("JWKS of the restored server: %v %v", resp, err)
	}
}

// TestBackupRefusals: no --to, an existing file, no database, PostgreSQL.
func TestBackupRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("migrate: %s", errb.String())
	}
	existing := filepath.Join(t.TempDir(), "exists.db")
	if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--data-dir", dir}, "--to"},
		{[]string{"--data-dir", dir, "--to", existing}, "already exists"},
		{[]string{"--data-dir", t.TempDir(), "--to", filepath.Join(t.TempDir(), "x.db")}, "no database"},
		{[]string{"--database-url", "postgres://u@127.0.0.1:1/db", "--to", filepath.Join(t.TempDir(), "x.db")}, "pg_dump"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"admin", "backup"}, c.args...), &out, &errb); code != 1 || !strings.Contains(errb.String(), c.says) {
			t.Errorf("admin backup %v: exit %d, stderr %q; want 1 mentioning %q", c.args, code, errb.String(), c.says)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Error("admin backup overwrote an existing file")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, []byte(readFile(t, from)), 0o600); err != nil {
		t.Fatal(err)
	}
}
