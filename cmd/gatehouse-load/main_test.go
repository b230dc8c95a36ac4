package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestMain silences zitadel/oidc, which logs through slog's default logger.
func TestMain(m *testing.M) { os.Exit(testenv.RunQuiet(m)) }

// TestCommand: the command runs the chosen scenarios against a real
// Gatehouse and prints a table, or JSON with the server's memory.
func TestCommand(t *testing.T) {
	env := testenv.NewEnv(t, testenv.SQLite(t))
	ctx := context.Background()
	if err := env.Password.SetPassword(ctx, "load0@load.example", "load test password"); err != nil {
		t.Fatal(err)
	}
	c, sec, err := env.Clients.Create(ctx, client.Spec{Name: "load", RedirectURIs: []string{"http://127.0.0.1:9/callback"},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials},
		Scopes:     []string{"openid", "email", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(env.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_LOAD_CLIENT_SECRET", sec)
	t.Setenv("GATEHOUSE_LOAD_PASSWORD", "load test password")
	args := []string{"--url", env.URL, "--client-id", c.ID, "--admin-token-file", tokenFile, "--duration", "200ms", "--warmup", "50ms",
		"--concurrency", "1", "--list-size", "5", "--page-size", "2", "--scenarios", "jwks,refresh,list"}

	var out, errb bytes.Buffer
	if err := run(ctx, args, &out, &errb); err != nil {
		t.Fatalf("run: %v; %s", err, errb.String())
	}
	for _, want := range []string{"scenario", "req/s", "p99 ms", "jwks", "refresh", "list", "closed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(ctx, append(args, "--json", "--server-pid", strconv.Itoa(os.Getpid()), "--rate", "20", "--scenarios", "userinfo"), &out, &errb); err != nil {
		t.Fatalf("run --json: %v; %s", err, errb.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output %s: %v", out.String(), err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Scenario != "userinfo" || rep.Results[0].Errors != 0 || rep.Results[0].Requests == 0 ||
		rep.Results[0].Mode != "open at 20/s" || rep.IdleRSS <= 0 || rep.Results[0].PeakRSS <= 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"--url", "http://x", "--concurrency", "0"}, {"--url", "http://x", "--admin-token-file", "/nonexistent"},
		{"--url", "http://127.0.0.1:1", "--scenarios", "nonsense"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
