// Command gatehouse-load drives a running Gatehouse over HTTP and prints
// throughput and latency per scenario:
//
//	gatehouse-load --url http://127.0.0.1:8080 --admin-token-file DATA/bootstrap-token \
//	    --client-id ID --email 'load%d@load.example' [--scenarios discovery,jwks,...] \
//	    [--duration 10s] [--concurrency 16] [--rate N] [--server-pid PID] [--json]
//
// The client secret, the users' password and the admin token may come from
// GATEHOUSE_LOAD_CLIENT_SECRET, GATEHOUSE_LOAD_PASSWORD and
// GATEHOUSE_LOAD_ADMIN_TOKEN instead of flags (which ps shows). The client
// (client_credentials, authorization_code, refresh_token) and the local users
// are made with the admin CLI; scripts/load.sh does the whole set-up, runs
// it on SQLite or PostgreSQL, and stops the server. Results:
// docs/PERFORMANCE.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		}
		os.Exit(2)
	}
}

type options struct {
	url, scenarios, adminToken, adminTokenFile, clientID, clientSecret, redirectURI, email, password string
	duration, warmup                                                                                 time.Duration
	concurrency, listSize, pageSize, serverPID                                                       int
	rate                                                                                             float64
	json                                                                                             bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("gatehouse-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "base URL of the running Gatehouse (its issuer), e.g. http://127.0.0.1:8080")
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(loadgen.ScenarioNames, ","), "comma-separated scenarios, run in this order")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured run of each scenario first (connections, caches)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent requests (closed loop), or the most in flight (open loop)")
	fs.Float64Var(&o.rate, "rate", 0, "requests per second in all: open loop, latency counted from when each request was due (0: closed loop)")
	fs.StringVar(&o.adminToken, "admin-token", os.Getenv("GATEHOUSE_LOAD_ADMIN_TOKEN"), "platform administrator token, for the /api/v1 scenarios (env GATEHOUSE_LOAD_ADMIN_TOKEN)")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "file holding the administrator token (DATA_DIR/bootstrap-token)")
	fs.StringVar(&o.clientID, "client-id", "", "confidential client with client_credentials, authorization_code and refresh_token")
	fs.StringVar(&o.clientSecret, "client-secret", os.Getenv("GATEHOUSE_LOAD_CLIENT_SECRET"), "its secret (env GATEHOUSE_LOAD_CLIENT_SECRET)")
	fs.StringVar(&o.redirectURI, "redirect-uri", "http://127.0.0.1:9/callback", "a redirect URI registered for the client")
	fs.StringVar(&o.email, "email", "load%d@load.example", "local user to log in as; %d is the worker number (refresh needs one user per worker)")
	fs.StringVar(&o.password, "password", os.Getenv("GATEHOUSE_LOAD_PASSWORD"), "the users' password (env GATEHOUSE_LOAD_PASSWORD)")
	fs.IntVar(&o.listSize, "list-size", 1000, "users created for the paged list scenario")
	fs.IntVar(&o.pageSize, "page-size", 100, "page size of the paged list scenario")
	fs.IntVar(&o.serverPID, "server-pid", 0, "process ID of the server, to report its memory (VmRSS, Linux)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.url == "" {
		return nil, errors.New("--url is required")
	}
	if o.adminTokenFile != "" {
		b, err := os.ReadFile(o.adminTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file: %w", err)
		}
		o.adminToken = strings.TrimSpace(string(b))
	}
	if o.duration <= 0 || o.concurrency <= 0 || o.rate < 0 {
		return nil, errors.New("--duration and --concurrency must be positive, --rate not negative")
	}
	return o, nil
}

// report is what --json prints.
type report struct {
	URL        string           `json:"url"`
	IdleRSS    int64            `json:"idleRSSBytes,omitempty"`
	FinalRSS   int64            `json:"finalRSSBytes,omitempty"`
	Results    []loadgen.Result `json:"results"`
	StartedAt  time.Time        `json:"startedAt"`
	Concurrent int              `json:"concurrency"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	// No compression: the responses are small, and gzip would be CPU taken
	// from the server on the same machine.
	transport := &http.Transport{MaxIdleConns: 4 * o.concurrency, MaxIdleConnsPerHost: 2 * o.concurrency, IdleConnTimeout: time.Minute,
		DisableCompression: true}
	t := &loadgen.Target{URL: strings.TrimRight(o.url, "/"), HTTP: &http.Client{Transport: transport, Timeout: 30 * time.Second},
		AdminToken: o.adminToken, ClientID: o.clientID, ClientSecret: o.clientSecret, RedirectURI: o.redirectURI,
		Email: o.email, Password: o.password, ListSize: o.listSize, PageSize: o.pageSize}
	rep := report{URL: t.URL, StartedAt: time.Now().UTC(), Concurrent: o.concurrency}
	if o.serverPID > 0 {
		if rep.IdleRSS, err = loadgen.RSS(o.serverPID); err != nil {
			return err
		}
	}
	opts := loadgen.Options{Duration: o.duration, Workers: o.concurrency, Rate: o.rate, ServerPID: o.serverPID}
	for _, name := range strings.Split(o.scenarios, ",") {
		s, err := t.Scenario(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		if err := s.Setup(ctx, o.concurrency); err != nil {
			return fmt.Errorf("%s: set-up: %w", s.Name(), err)
		}
		if o.warmup > 0 {
			w := opts
			w.Duration, w.ServerPID = o.warmup, 0
			loadgen.Run(ctx, s, w)
		}
		r := loadgen.Run(ctx, s, opts)
		rep.Results = append(rep.Results, r)
		if !o.json {
			fmt.Fprintf(stderr, "%s: %d requests, %.0f/s, p99 %s\n", r.Scenario, r.Requests, r.PerSec, ms(r.P99))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if o.serverPID > 0 {
		rep.FinalRSS, _ = loadgen.RSS(o.serverPID)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(stdout, &rep)
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

func micros(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprint(d.Microseconds())
}

func printTable(w io.Writer, rep *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tworkers\trequests\terrors\treq/s\tp50 ms\tp99 ms\tmax ms\tpeak RSS MiB\tserver CPU µs/req\tclient CPU µs/req\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%d\t\n", r.Scenario, r.Mode, r.Workers, r.Requests, r.Errors, r.PerSec,
			float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, float64(r.Max.Microseconds())/1000, mib(r.PeakRSS),
			micros(r.ServerCPU), r.ClientCPU.Microseconds())
	}
	tw.Flush()
	if rep.IdleRSS > 0 {
		fmt.Fprintf(w, "server RSS: %s MiB before the load, %s MiB after\n", mib(rep.IdleRSS), mib(rep.FinalRSS))
	}
	for _, r := range rep.Results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", r.Scenario, r.FirstError)
		}
	}
}
