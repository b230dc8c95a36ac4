package loadgen_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/loadgen"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestMain silences zitadel/oidc, which logs through slog's default logger.
func TestMain(m *testing.M) { os.Exit(testenv.RunQuiet(m)) }

// target is a running Gatehouse set up as scripts/load.sh sets one up: a
// client with every grant the scenarios use, and local users load0, load1.
func target(t *testing.T, open func(testing.TB) *store.Store) *loadgen.Target {
	env := testenv.NewEnv(t, open(t))
	ctx := context.Background()
	const password = "load test password"
	for w := range 2 {
		if err := env.Password.SetPassword(ctx, fmt.Sprintf("load%d@load.example", w), password); err != nil {
			t.Fatal(err)
		}
	}
	c, sec, err := env.Clients.Create(ctx, client.Spec{Name: "load", RedirectURIs: []string{"http://127.0.0.1:9/callback"},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials},
		Scopes:     []string{"openid", "email", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	return &loadgen.Target{URL: env.URL, HTTP: env.Client, AdminToken: env.AdminToken, ClientID: c.ID, ClientSecret: sec,
		RedirectURI: "http://127.0.0.1:9/callback", Email: "load%d@load.example", Password: password, ListSize: 25, PageSize: 10}
}

// TestScenarios: every scenario sets up and runs without an error against a
// real Gatehouse, closed loop, and reports consistent numbers.
func TestScenarios(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		tg := target(t, open)
		ctx := context.Background()
		for _, name := range loadgen.ScenarioNames {
			s, err := tg.Scenario(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Setup(ctx, 2); err != nil {
				t.Fatalf("%s: setup: %v", name, err)
			}
			r := loadgen.Run(ctx, s, loadgen.Options{Duration: 300 * time.Millisecond, Workers: 2, ServerPID: os.Getpid()})
			if r.Requests == 0 || r.Errors != 0 || r.Scenario != name || r.Mode != "closed" {
				t.Errorf("%s: %+v, want requests and no errors", name, r)
			}
			if r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max || r.PerSec <= 0 || r.PeakRSS <= 0 || r.ClientCPU <= 0 {
				t.Errorf("%s: inconsistent numbers %+v", name, r)
			}
		}
		if _, err := tg.Scenario("nonsense"); err == nil || !strings.Contains(err.Error(), "discovery") {
			t.Errorf("unknown scenario: %v, want an error listing the known ones", err)
		}
	})
}

// TestOpenLoop: at a fixed rate, no more requests are sent than the rate
// allows, and errors are counted with the first one kept.
func TestOpenLoop(t *testing.T) {
	tg := target(t, testenv.SQLite)
	ctx := context.Background()
	s, _ := tg.Scenario("jwks")
	if err := s.Setup(ctx, 4); err != nil {
		t.Fatal(err)
	}
	r := loadgen.Run(ctx, s, loadgen.Options{Duration: 500 * time.Millisecond, Workers: 4, Rate: 40})
	if r.Requests < 1 || r.Requests > 21 || r.Errors != 0 || r.Mode != "open at 40/s" {
		t.Errorf("40/s for 0.5 s: %+v, want at most 21 requests and no errors", r)
	}
	tg.AdminToken = "wrong"
	acl, _ := tg.Scenario("acl")
	if err := acl.Setup(ctx, 1); err == nil {
		t.Error("setup with a wrong admin token succeeded")
	}
	tg.ClientSecret = "wrong"
	cc, _ := tg.Scenario("client_credentials")
	if err := cc.Setup(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r = loadgen.Run(ctx, cc, loadgen.Options{Duration: 200 * time.Millisecond, Workers: 1})
	if r.Errors == 0 || r.Errors != r.Requests || !strings.Contains(r.FirstError, "401") {
		t.Errorf("wrong secret: %+v, want every request an error, the first one kept", r)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := loadgen.Percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := loadgen.Percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	if got := loadgen.Percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("one sample: %v", got)
	}
}

func TestRSS(t *testing.T) {
	t.Parallel()
	if rss, err := loadgen.RSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Errorf("RSS of the test process: %d, %v", rss, err)
	}
	if _, err := loadgen.RSS(-5); err == nil {
		t.Error("RSS of no process")
	}
}

// TestProcessCPU: the CPU time read from /proc grows as the process works.
func TestProcessCPU(t *testing.T) {
	before, err := loadgen.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Busy until the clock (10 ms ticks) has moved, for at most 10 s.
	after := before
	for end := time.Now().Add(10 * time.Second); after <= before && time.Now().Before(end); {
		if after, err = loadgen.ProcessCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before {
		t.Errorf("CPU time stayed at %v through 10 s of busy loop", before)
	}
	if _, err := loadgen.ProcessCPU(0); err == nil {
		t.Error("CPU time of no process")
	}
}
