package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/store"
)

// runWithStdin runs the built binary with input on its standard input and
// returns stdout, stderr and the exit code.
func runWithStdin(t *testing.T, bin, input string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(input)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("%v: %v", args, err)
	return "", "", -1
}

// localLogin logs in with the Password connector on the data directory dir,
// as the login page will.
func localLogin(t *testing.T, dir, email, password string) error {
	t.Helper()
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := connector.NewPassword(st, connector.PasswordConfig{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Login(context.Background(), email, password)
	if err == nil && (id.Subject != strings.ToLower(email) || id.ConnectorID != connector.LocalConnectorID) {
		t.Errorf("identity %+v", id)
	}
	return err
}

// TestAdminUsers: `gatehouse admin users set-password` of the built binary
// reads the password from stdin (never a flag) and the Password connector on
// the same data directory then accepts it.
func TestAdminUsers(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	db := "--data-dir=" + dir
	const first, second = "correct horse battery", "another long passphrase"

	setPassword := func(input string, args ...string) (string, string, int) {
		t.Helper()
		return runWithStdin(t, bin, input, append([]string{"admin", "users", "set-password", db}, args...)...)
	}
	refused := func(want, input string, args ...string) {
		t.Helper()
		out, errOut, code := setPassword(input, args...)
		if code != 1 || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("set-password %v <<< %q: exit %d, stdout %q, stderr %q; want exit 1 saying %q", args, input, code, out, errOut, want)
		}
		if strings.Contains(errOut, strings.TrimSpace(input)) && strings.TrimSpace(input) != "" {
			t.Errorf("stderr repeats the password: %q", errOut)
		}
	}

	out, errOut, code := setPassword(first+"\n", "--email", "Jo@Example.com")
	if code != 0 {
		t.Fatalf("set-password: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "jo@example.com") || strings.Contains(out+errOut, first) {
		t.Errorf("set-password printed %q / %q", out, errOut)
	}
	if err := localLogin(t, dir, "jo@example.com", first); err != nil {
		t.Fatalf("login with the password set by the CLI: %v", err)
	}
	if err := localLogin(t, dir, "jo@example.com", "wrong password!"); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}

	// The audit log has the change (and no password).
	func() {
		st, err := store.Open(context.Background(), "", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		events, err := st.Read().ListAuditEvents(context.Background(), store.AuditFilter{}, store.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].OperationID != "admin users set-password" || events[0].ResourceType != "localaccounts" ||
			events[0].ResourceID != "jo@example.com" || events[0].ActorKind != "cli" || strings.Contains(events[0].After+events[0].Before, first) {
			t.Errorf("audit events after set-password: %+v", events)
		}
	}()

	// Replacing: the old password stops working. No trailing newline, CRLF.
	if _, errOut, code := setPassword(second, "--email", "jo@example.com"); code != 0 {
		t.Fatalf("replace: exit %d: %s", code, errOut)
	}
	if err := localLogin(t, dir, "jo@example.com", first); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Errorf("old password after replace: %v", err)
	}
	if err := localLogin(t, dir, "jo@example.com", second); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, errOut, code := setPassword(first+"\r\nignored second line\n", "--email", "crlf@example.com"); code != 0 {
		t.Fatalf("CRLF: exit %d: %s", code, errOut)
	}
	if err := localLogin(t, dir, "crlf@example.com", first); err != nil {
		t.Errorf("password read with CRLF: %v", err)
	}

	// Refusals change nothing.
	refused("flag provided but not defined: -password", "", "--email", "x@example.com", "--password", first)
	refused("--email is required", first+"\n")
	refused("at least 12 characters", "too short\n", "--email", "short@example.com")
	refused("no password on standard input", "", "--email", "empty@example.com")
	refused("no password on standard input", "\n", "--email", "empty@example.com")
	refused("at most 1024 bytes", strings.Repeat("x", 1025)+"\n", "--email", "long@example.com")
	refused("longer than 1024 bytes", strings.Repeat("x", 5000)+"\n", "--email", "long@example.com")
	refused("invalid email address", first+"\n", "--email", "not-an-email")
	refused("unexpected arguments", first+"\n", "--email", "x@example.com", first)
	for _, email := range []string{"short@example.com", "empty@example.com", "long@example.com", "x@example.com"} {
		if err := localLogin(t, dir, email, first); !errors.Is(err, connector.ErrInvalidCredentials) {
			t.Errorf("%s exists after a refused set-password: %v", email, err)
		}
	}

	// Setting the password unlocks a locked account.
	for range 5 {
		_ = localLogin(t, dir, "jo@example.com", "wrong password!")
	}
	if err := localLogin(t, dir, "jo@example.com", second); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("not locked after 5 failures: %v", err)
	}
	if _, errOut, code := setPassword(second+"\n", "--email", "jo@example.com"); code != 0 {
		t.Fatalf("unlock: exit %d: %s", code, errOut)
	}
	if err := localLogin(t, dir, "jo@example.com", second); err != nil {
		t.Errorf("after set-password on a locked account: %v", err)
	}

	// delete.
	if _, errOut, code := runWithStdin(t, bin, "", "admin", "users", "delete", db, "--email", "JO@example.com"); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, errOut)
	}
	if err := localLogin(t, dir, "jo@example.com", second); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Errorf("login after delete: %v", err)
	}
	if _, errOut, code := runWithStdin(t, bin, "", "admin", "users", "delete", db, "--email", "jo@example.com"); code != 1 || !strings.Contains(errOut, "no local user") {
		t.Errorf("second delete: exit %d, %q", code, errOut)
	}

	// Help and unknown subcommands.
	if _, errOut, code := runWithStdin(t, bin, "", "admin", "--help"); code != 0 || !strings.Contains(errOut, "users set-password") {
		t.Errorf("admin --help: exit %d, does not list users set-password: %s", code, errOut)
	}
	if _, errOut, code := runWithStdin(t, bin, "", "admin", "users", "frobnicate"); code != 1 || !strings.Contains(errOut, "unknown subcommand") {
		t.Errorf("admin users frobnicate: exit %d: %s", code, errOut)
	}
}

// TestAdminUsersPlatformAdministrator: set-password --platform-administrator
// binds the platform-administrator role to the local user (and only that
// user); a refused password binds nothing.
func TestAdminUsersPlatformAdministrator(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	const pw = "correct horse battery"
	roles := func(subject string) []string {
		t.Helper()
		st, err := store.Open(context.Background(), "", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r, err := st.Read().PlatformRoles(context.Background(), store.MemberUser, subject)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
	out, errOut, code := runWithStdin(t, bin, pw+"\n", "admin", "users", "set-password", "--data-dir", dir, "--email", "Admin@Example.com", "--platform-administrator")
	if code != 0 || !strings.Contains(out, "admin@example.com is a platform administrator") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if r := roles("admin@example.com"); len(r) != 1 || r[0] != admin.ID {
		t.Errorf("platform roles of the administrator: %v", r)
	}
	if _, _, code := runWithStdin(t, bin, pw+"\n", "admin", "users", "set-password", "--data-dir", dir, "--email", "plain@example.com"); code != 0 {
		t.Fatal("plain set-password failed")
	}
	if r := roles("plain@example.com"); len(r) != 0 {
		t.Errorf("a user set without the flag holds %v", r)
	}
	if _, _, code := runWithStdin(t, bin, "short\n", "admin", "users", "set-password", "--data-dir", dir, "--email", "refused@example.com", "--platform-administrator"); code != 1 {
		t.Errorf("a refused password: exit %d, want 1", code)
	}
	if r := roles("refused@example.com"); len(r) != 0 {
		t.Errorf("a refused set-password granted %v", r)
	}
}
