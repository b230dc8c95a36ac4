package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
)

// cli runs the built binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
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

// authenticate checks a client secret against the database in dir, as the
// token endpoint will.
func authenticate(t *testing.T, dir, id, secret string) error {
	t.Helper()
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = newClientRegistry(st).Authenticate(context.Background(), id, secret)
	return err
}

// TestAdminClients drives every `gatehouse admin clients` subcommand of the
// built binary against one SQLite data directory.
func TestAdminClients(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	db := "--data-dir=" + dir
	ok := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, args...)...)
		if code != 0 {
			t.Fatalf("admin clients %v: exit %d: %s", args, code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("admin clients %v printed %q: %v", args, out, err)
		}
		return m
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, args...)...)
		if code != 1 || !strings.Contains(errOut, want) || out != "" {
			t.Errorf("admin clients %v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", args, code, out, errOut, want)
		}
	}

	web := ok("create", db, "--id", "web", "--name", "Web app",
		"--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://127.0.0.1/cb",
		"--grant", "authorization_code", "--grant", "client_credentials",
		"--scope", "openid", "--scope", "api:read", "--auth-method", "client_secret_post", "--access-token-lifetime", "10m")
	secret, _ := web["secret"].(string)
	if !strings.HasPrefix(secret, client.SecretPrefix) {
		t.Fatalf("create printed no secret: %v", web)
	}
	want := map[string]any{
		"id": "web", "name": "Web app", "type": "confidential",
		"redirectURIs":            []any{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		"postLogoutRedirectURIs":  []any{},
		"grantTypes":              []any{"authorization_code", "client_credentials"},
		"scopes":                  []any{"openid", "api:read"},
		"tokenEndpointAuthMethod": "client_secret_post", "requirePKCE": false,
		"accessTokenLifetime": "10m0s", "refreshTokenLifetime": "720h0m0s",
	}
	for k, v := range want {
		if !reflect.DeepEqual(web[k], v) {
			t.Errorf("create: %s = %v, want %v", k, web[k], v)
		}
	}
	if err := authenticate(t, dir, "web", secret); err != nil {
		t.Errorf("the printed secret does not authenticate: %v", err)
	}

	got := ok("get", "web", db) // CLIENT_ID before the flags
	if _, has := got["secret"]; has {
		t.Error("get printed a secret")
	}
	delete(web, "secret")
	if !reflect.DeepEqual(got, web) {
		t.Errorf("get:\n %v\nwant\n %v", got, web)
	}

	pub := ok("create", db, "--name", "CLI", "--type", "public", "--redirect-uri", "http://127.0.0.1/callback")
	if _, has := pub["secret"]; has || pub["tokenEndpointAuthMethod"] != "none" || pub["requirePKCE"] != true || pub["id"] == "" {
		t.Errorf("public client: %v", pub)
	}
	pubID := pub["id"].(string)
	if err := authenticate(t, dir, pubID, ""); err != nil {
		t.Errorf("public client: %v", err)
	}

	// Refused writes: exit 1, a readable reason, nothing on stdout.
	fails("http is allowed only for loopback", "create", db, "--name", "x", "--redirect-uri", "http://app.example.com/cb")
	fails("fragment", "create", db, "--name", "x", "--redirect-uri", "https://app.example.com/cb#f")
	fails("already exists", "create", db, "--id", "web", "--name", "x", "--redirect-uri", "https://app.example.com/cb")
	fails("public client cannot use the client_credentials", "create", db, "--name", "x", "--type", "public",
		"--grant", "client_credentials")
	fails("not supported", "create", db, "--name", "x", "--grant", "password")
	fails("needs a name", "create", db, "--redirect-uri", "https://app.example.com/cb")
	fails("public clients have no secret", "rotate-secret", db, pubID)
	fails("cannot change", "update", db, "web", "--type", "public")
	fails("not found", "get", db, "nobody")
	fails("expected one CLIENT_ID", "get", db)
	fails("unexpected arguments", "list", db, "extra")
	fails("unknown subcommand", "frobnicate")

	// Update changes what is given and keeps the rest, secret included.
	upd := ok("update", db, "web", "--name", "Web 2", "--scope", "openid", "--post-logout-redirect-uri", "https://app.example.com/bye")
	if upd["name"] != "Web 2" || !reflect.DeepEqual(upd["scopes"], []any{"openid"}) ||
		!reflect.DeepEqual(upd["redirectURIs"], want["redirectURIs"]) || upd["tokenEndpointAuthMethod"] != "client_secret_post" ||
		!reflect.DeepEqual(upd["postLogoutRedirectURIs"], []any{"https://app.example.com/bye"}) || upd["modifiedAt"] == nil {
		t.Errorf("update: %v", upd)
	}
	upd = ok("update", db, "web", "--post-logout-redirect-uri", "")
	if !reflect.DeepEqual(upd["postLogoutRedirectURIs"], []any{}) || upd["name"] != "Web 2" {
		t.Errorf("update clearing a list: %v", upd)
	}
	if err := authenticate(t, dir, "web", secret); err != nil {
		t.Errorf("update lost the secret: %v", err)
	}

	// Rotation: printed once, the old secret stops working at once.
	rot := ok("rotate-secret", db, "web")
	fresh, _ := rot["secret"].(string)
	if rot["id"] != "web" || !strings.HasPrefix(fresh, client.SecretPrefix) || fresh == secret {
		t.Fatalf("rotate-secret: %v", rot)
	}
	if err := authenticate(t, dir, "web", secret); !errors.Is(err, client.ErrInvalidClient) {
		t.Errorf("old secret after rotate-secret: %v", err)
	}
	if err := authenticate(t, dir, "web", fresh); err != nil {
		t.Errorf("new secret: %v", err)
	}

	// List: everything, or a page.
	out, errOut, code := cli(t, bin, "admin", "clients", "list", db)
	var all []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &all) != nil || len(all) != 2 {
		t.Fatalf("list: exit %d, %q, %s", code, out, errOut)
	}
	for _, c := range all {
		if _, has := c["secret"]; has {
			t.Error("list printed a secret")
		}
	}
	out, _, _ = cli(t, bin, "admin", "clients", "list", db, "--limit", "1", "--after", all[0]["id"].(string))
	var page []map[string]any
	if json.Unmarshal([]byte(out), &page) != nil || len(page) != 1 || page[0]["id"] != all[1]["id"] {
		t.Errorf("list --limit 1 --after: %q", out)
	}

	if del := ok("delete", db, "web"); del["deleted"] != true || del["id"] != "web" {
		t.Errorf("delete: %v", del)
	}
	fails("not found", "get", db, "web")
	fails("not found", "delete", db, "web")
	if err := authenticate(t, dir, "web", fresh); !errors.Is(err, client.ErrInvalidClient) {
		t.Errorf("secret of a deleted client: %v", err)
	}

	// Every successful write, and only those, is in the audit log as the
	// API operation, by the operator, without any secret.
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.DB().Query("SELECT operation_id, actor_kind, resource_id, before_state || after_state FROM audit_events ORDER BY created_at, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ops []string
	for rows.Next() {
		var op, kind, id, states string
		if err := rows.Scan(&op, &kind, &id, &states); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op+" "+id)
		if kind != audit.ActorCLI {
			t.Errorf("%s: actor kind %q, want %q", op, kind, audit.ActorCLI)
		}
		for _, bad := range []string{secret, fresh, client.SecretPrefix, "ecret", "ash"} {
			if strings.Contains(states, bad) {
				t.Errorf("%s: the event holds %q: %s", op, bad, states)
			}
		}
	}
	wantOps := []string{"createOauth2Client web", "createOauth2Client " + pubID, "updateOauth2Client web", "updateOauth2Client web",
		"rotateOauth2ClientSecret web", "deleteOauth2Client web"}
	if len(ops) != len(wantOps) {
		t.Errorf("audit events %q, want %q", ops, wantOps)
	} else {
		// Events of one millisecond come in ID order: compare as sets.
		for _, w := range wantOps {
			if !slices.Contains(ops, w) {
				t.Errorf("audit events %q lack %q", ops, w)
			}
		}
	}

	// Help.
	if _, errOut, code := cli(t, bin, "admin", "clients", "--help"); code != 0 || !strings.Contains(errOut, "rotate-secret CLIENT_ID") {
		t.Errorf("admin clients --help: exit %d, %q", code, errOut)
	}
	if _, errOut, _ := cli(t, bin, "admin", "--help"); !strings.Contains(errOut, "gatehouse admin clients create|list|get|update|delete|rotate-secret") {
		t.Errorf("admin --help does not list clients: %q", errOut)
	}
}

// TestServeClientsFile: serve applies GATEHOUSE_CLIENTS_FILE at every start,
// idempotently, with the secret taken from the environment; a bad file stops
// the start with a reason.
func TestServeClientsFile(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	const appSecret = "0123456789abcdefghijklmnopqrstuvwxyz-app-secret"
	file := filepath.Join(t.TempDir(), "clients.json")
	content := `{"clients": [
  {"id": "app", "name": "App", "secretEnv": "APP_CLIENT_SECRET", "redirectURIs": ["https://app.example.com/cb"]},
  {"id": "spa", "name": "SPA", "type": "public", "redirectURIs": ["https://spa.example.com/"]}
]}`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APP_CLIENT_SECRET", appSecret)
	t.Setenv("GATEHOUSE_CLIENTS_FILE", file)
	// Only the file's clients (the console's has its own test).
	t.Setenv("GATEHOUSE_CONSOLE", "false")

	p := start(t, bin, "--data-dir", dir)
	p.stop(t)
	first, errOut, code := cli(t, bin, "admin", "clients", "list", "--data-dir", dir)
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(first), &list) != nil || len(list) != 2 || list[0]["id"] != "app" || list[1]["id"] != "spa" {
		t.Fatalf("clients after the first start: exit %d, %q, %s", code, first, errOut)
	}
	if err := authenticate(t, dir, "app", appSecret); err != nil {
		t.Errorf("secret from the environment: %v", err)
	}

	// A client created by hand is neither changed nor deleted by a start.
	cli(t, bin, "admin", "clients", "create", "--data-dir", dir, "--id", "zz-manual", "--name", "Manual",
		"--redirect-uri", "https://manual.example.com/cb")
	p = start(t, bin, "--data-dir", dir)
	p.stop(t)
	again, _, _ := cli(t, bin, "admin", "clients", "list", "--data-dir", dir, "--limit", "2")
	if again != first {
		t.Errorf("a second start changed the declared clients:\n%s\n%s", first, again)
	}
	if _, _, code := cli(t, bin, "admin", "clients", "get", "zz-manual", "--data-dir", dir); code != 0 {
		t.Error("a start removed a client the file does not declare")
	}

	// A plain-text secret in the file: the start fails and says why.
	if err := os.WriteFile(file, []byte(`{"clients":[{"id":"app","name":"App","secret":"hunter2hunter2","redirectURIs":["https://app.example.com/cb"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = cli(t, bin, "serve", "--listen", freeAddr(t), "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "plain-text secret") || !strings.Contains(errOut, file) {
		t.Errorf("serve with a bad clients file: exit %d, stderr %q", code, errOut)
	}
}

// TestAdminClientsBackchannel: the back-channel logout flags of create and
// update, what get prints, and a bad URI refused with its reason.
func TestAdminClientsBackchannel(t *testing.T) {
	bin := binary(t)
	db := "--data-dir=" + t.TempDir()
	run := func(args ...string) (map[string]any, string, int) {
		t.Helper()
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, args...)...)
		var m map[string]any
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("admin clients %v printed %q: %v", args, out, err)
			}
		}
		return m, errOut, code
	}
	steps := []struct {
		name        string
		args        []string
		wantURI     any // nil: not printed
		wantSession any
		wantErr     string
	}{
		{"create", []string{"create", db, "--id", "bc", "--name", "BC", "--redirect-uri", "https://app.example.com/cb",
			"--backchannel-logout-uri", "https://app.example.com/bcl", "--backchannel-logout-session-required"},
			"https://app.example.com/bcl", true, ""},
		{"update keeps them", []string{"update", "bc", db, "--name", "Renamed"}, "https://app.example.com/bcl", true, ""},
		{"http elsewhere", []string{"update", "bc", db, "--backchannel-logout-uri", "http://app.example.com/bcl"},
			nil, nil, "http is allowed only for loopback"},
		{"fragment", []string{"update", "bc", db, "--backchannel-logout-uri", "https://app.example.com/bcl#x"},
			nil, nil, "must not have a fragment"},
		{"removed", []string{"update", "bc", db, "--backchannel-logout-uri", "", "--backchannel-logout-session-required=false"},
			nil, nil, ""},
	}
	for _, s := range steps {
		m, errOut, code := run(s.args...)
		if s.wantErr != "" {
			if code != 1 || !strings.Contains(errOut, s.wantErr) {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 saying %q", s.name, code, errOut, s.wantErr)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", s.name, code, errOut)
		}
		if m["backchannelLogoutURI"] != s.wantURI || m["backchannelLogoutSessionRequired"] != s.wantSession {
			t.Errorf("%s: printed %v %v, want %v %v", s.name, m["backchannelLogoutURI"], m["backchannelLogoutSessionRequired"], s.wantURI, s.wantSession)
		}
	}
}

// TestAdminClientsSessionPerDevice: --session-per-device on create and
// update, printed as sessionPerDevice (absent when off), kept by an update
// that does not name it.
func TestAdminClientsSessionPerDevice(t *testing.T) {
	bin := binary(t)
	db := "--data-dir=" + t.TempDir()
	for _, s := range []struct {
		name string
		args []string
		want any // nil: not printed (off)
	}{
		{"create", []string{"create", db, "--id", "spa", "--name", "SPA", "--type", "public", "--redirect-uri", "http://127.0.0.1/cb",
			"--session-per-device"}, true},
		{"update keeps it", []string{"update", "spa", db, "--name", "Renamed"}, true},
		{"turned off", []string{"update", "spa", db, "--session-per-device=false"}, nil},
		{"get", []string{"get", "spa", db}, nil},
	} {
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, s.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", s.name, code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s printed %q: %v", s.name, out, err)
		}
		if m["sessionPerDevice"] != s.want {
			t.Errorf("%s: sessionPerDevice %v, want %v", s.name, m["sessionPerDevice"], s.want)
		}
	}
}

// TestAdminClientsDeviceAndPAR (issue 16): a public command-line client
// with the device grant; --require-pushed-authorization-requests on update,
// printed as requirePushedAuthorizationRequests (absent when off), kept by
// an update that does not name it; refused without the code grant.
func TestAdminClientsDeviceAndPAR(t *testing.T) {
	bin := binary(t)
	db := "--data-dir=" + t.TempDir()
	out, errOut, code := cli(t, bin, "admin", "clients", "create", db, "--id", "cli", "--name", "CLI", "--type", "public",
		"--grant", "urn:ietf:params:oauth:grant-type:device_code", "--grant", "refresh_token")
	if code != 0 || !strings.Contains(out, "device_code") {
		t.Fatalf("device client: exit %d: %s %s", code, out, errOut)
	}
	if _, errOut, code := cli(t, bin, "admin", "clients", "update", "cli", db, "--require-pushed-authorization-requests"); code == 0 || !strings.Contains(errOut, "authorization_code") {
		t.Fatalf("PAR without the code grant: exit %d: %s", code, errOut)
	}
	for _, s := range []struct {
		name string
		args []string
		want any
	}{
		{"create", []string{"create", db, "--id", "web", "--name", "Web", "--redirect-uri", "https://web.example/cb",
			"--require-pushed-authorization-requests"}, true},
		{"update keeps it", []string{"update", "web", db, "--name", "Renamed"}, true},
		{"turned off", []string{"update", "web", db, "--require-pushed-authorization-requests=false"}, nil},
	} {
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, s.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", s.name, code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s printed %q: %v", s.name, out, err)
		}
		if m["requirePushedAuthorizationRequests"] != s.want {
			t.Errorf("%s: requirePushedAuthorizationRequests %v, want %v", s.name, m["requirePushedAuthorizationRequests"], s.want)
		}
	}
}

// TestAdminClientsIDTokenAlgorithm: --id-token-signed-response-alg sets the
// algorithm of a client's ID tokens, an update without it keeps it, "" goes
// back to the server's default, and an algorithm without published keys
// (or none) is refused.
func TestAdminClientsIDTokenAlgorithm(t *testing.T) {
	bin := binary(t)
	db := "--data-dir=" + t.TempDir()
	steps := []struct {
		name    string
		args    []string
		want    any // nil: not printed (the server's default)
		wantErr string
	}{
		{"create", []string{"create", db, "--id", "rp", "--name", "RP", "--redirect-uri", "https://rp.example.com/cb",
			"--id-token-signed-response-alg", "RS256"}, "RS256", ""},
		{"update keeps it", []string{"update", "rp", db, "--name", "Renamed"}, "RS256", ""},
		{"ES512", []string{"update", "rp", db, "--id-token-signed-response-alg", "ES512"}, "ES512", ""},
		{"a MAC", []string{"update", "rp", db, "--id-token-signed-response-alg", "HS256"}, nil, "id_token_signed_response_alg"},
		{"unsigned", []string{"update", "rp", db, "--id-token-signed-response-alg", "none"}, nil, "id_token_signed_response_alg"},
		{"back to the default", []string{"update", "rp", db, "--id-token-signed-response-alg", ""}, nil, ""},
	}
	for _, s := range steps {
		out, errOut, code := cli(t, bin, append([]string{"admin", "clients"}, s.args...)...)
		if s.wantErr != "" {
			if code != 1 || !strings.Contains(errOut, s.wantErr) {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 saying %q", s.name, code, errOut, s.wantErr)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", s.name, code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s: printed %q: %v", s.name, out, err)
		}
		if m["idTokenSignedResponseAlg"] != s.want {
			t.Errorf("%s: printed idTokenSignedResponseAlg %v, want %v", s.name, m["idTokenSignedResponseAlg"], s.want)
		}
	}
}
