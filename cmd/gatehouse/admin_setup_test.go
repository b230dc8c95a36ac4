package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

var (
	setupLinkRE  = regexp.MustCompile(`http://[^\s]+/setup\?token=ghsetup_[A-Za-z0-9_-]+`)
	setupFieldRE = regexp.MustCompile(`name="(token|csrf_token)" value="([^"]*)"`)
)

// completeSetup follows a setup link in a browser and creates the
// administrator; it returns the final status.
func completeSetup(t *testing.T, link, email, password string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := b.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	form := url.Values{"email": {email}, "password": {password}, "password2": {password}}
	for _, m := range setupFieldRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], m[2])
	}
	u, _ := url.Parse(link)
	resp, err = b.PostForm(u.Scheme+"://"+u.Host+"/setup", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") != "/console/" {
		t.Errorf("setup redirects to %q", resp.Header.Get("Location"))
	}
	return resp.StatusCode
}

// TestFirstStartSetupLink: the first start prints a setup link; `admin
// setup-link` prints a fresh one (the older stops working); once a person
// is platform administrator no link is given; every admin command's write
// is audited with actor kind cli.
func TestFirstStartSetupLink(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir)
	first := setupLinkRE.FindString(p.stdout.String())
	if first == "" || !strings.Contains(p.stdout.String(), filepath.Join(dir, "bootstrap-token")) {
		t.Fatalf("first start printed no setup link and token file: %q", p.stdout)
	}
	issuer := "http://" + p.addr
	out, err := exec.Command(bin, "admin", "setup-link", "--data-dir", dir, "--issuer", issuer).Output()
	if err != nil {
		t.Fatalf("admin setup-link: %v", err)
	}
	fresh := setupLinkRE.FindString(string(out))
	if fresh == "" || fresh == first {
		t.Fatalf("setup-link printed %q", out)
	}
	if got := completeSetup(t, first, "root@corp.example", "the root password"); got != http.StatusBadRequest {
		t.Errorf("older setup link: %d, want 400", got)
	}
	if got := completeSetup(t, fresh, "root@corp.example", "the root password"); got != http.StatusSeeOther {
		t.Fatalf("setup: %d, want 303", got)
	}
	if got := completeSetup(t, fresh, "other@corp.example", "the root password"); got != http.StatusBadRequest {
		t.Errorf("used setup link: %d, want 400", got)
	}
	if err := localLogin(t, dir, "root@corp.example", "the root password"); err != nil {
		t.Errorf("the administrator's password: %v", err)
	}
	p.stop(t)
	if out, err := exec.Command(bin, "admin", "setup-link", "--data-dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "already holds") {
		t.Errorf("setup-link once an administrator exists: %v %s", err, out)
	}

	// The admin commands are audited, with actor kind cli.
	if _, errOut, code := runWithStdin(t, bin, "a long password here\n", "admin", "users", "set-password", "--email", "ops@corp.example", "--data-dir", dir); code != 0 {
		t.Fatalf("set-password: %s", errOut)
	}
	for _, args := range [][]string{
		{"admin", "users", "delete", "--email", "ops@corp.example", "--data-dir", dir},
		{"admin", "issue-token", "--data-dir", dir},
		{"admin", "backup", "--to", filepath.Join(t.TempDir(), "copy.db"), "--data-dir", dir},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.DB().Query("SELECT operation_id, resource_type, resource_id FROM audit_events WHERE actor_kind = 'cli' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var op, typ, id string
		if err := rows.Scan(&op, &typ, &id); err != nil {
			t.Fatal(err)
		}
		got = append(got, op+" "+typ+" "+id)
	}
	for _, want := range []string{
		"admin setup-link localaccounts ",
		"admin users set-password localaccounts ops@corp.example",
		"admin users delete localaccounts ops@corp.example",
		"admin issue-token serviceaccounts ",
		"admin backup backups ",
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no audit event %q in %q", want, got)
		}
	}
}
