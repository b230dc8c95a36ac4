package check

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const promInstall = "apt-get install prometheus (Debian's package has prometheus and promtool)"

var (
	alertsFile    = filepath.Join(root, "deploy", "prometheus", "alerts.yaml")
	dashboardFile = filepath.Join(root, "deploy", "grafana", "gatehouse.json")
)

// TestAlertRules: promtool accepts the rules, and their unit tests pass.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := needTool(t, "promtool", promInstall)
	run(t, promtool, "check", "rules", alertsFile)
	out := run(t, promtool, "test", "rules", filepath.Join(root, "deploy", "prometheus", "alerts_test.yaml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// query is one PromQL expression of the alerts or the dashboard, with
// where it comes from.
type query struct {
	from, expr string
	// mayBeEmpty: the series it selects exist only after events that a
	// test install does not have (empty is fine; it must still evaluate).
	mayBeEmpty bool
}

// grafanaVars stand in for the dashboard's variables.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$job", ".*", "$instance", ".*", "${datasource}", "")

// labelValues is Grafana's label_values(SELECTOR, LABEL), a variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// dashboardEmptyOK are the dashboard's queries that select events a
// freshly started Gatehouse without traffic of that kind has not counted.
var dashboardEmptyOK = regexp.MustCompile(`operation=~"assumeRole|code="503"`)

func queries(t *testing.T) []query {
	t.Helper()
	var qs []query
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	// Only the expressions matter here (promtool checks the rest).
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			// An alert's expression is empty while it does not fire.
			qs = append(qs, query{from: "alert " + r.Alert, expr: r.Expr, mayBeEmpty: true})
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query any
			}
		}
	}
	if b, err = os.ReadFile(dashboardFile); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{from: "panel " + p.Title, expr: grafanaVars.Replace(tg.Expr), mayBeEmpty: dashboardEmptyOK.MatchString(tg.Expr)})
		}
	}
	for _, v := range dash.Templating.List {
		q, ok := v.Query.(map[string]any)
		if !ok {
			continue // the data source variable
		}
		m := labelValues.FindStringSubmatch(fmt.Sprint(q["query"]))
		if m == nil {
			t.Fatalf("variable %s: query %v is not label_values(...)", v.Name, q["query"])
		}
		qs = append(qs, query{from: "variable " + v.Name, expr: grafanaVars.Replace(fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))})
	}
	if len(qs) < 20 {
		t.Fatalf("only %d queries found in the alerts and the dashboard", len(qs))
	}
	return qs
}

// metricName finds the metric names in PromQL: every selector here names
// its metric before a label matcher or a range (metric{...}, metric[5m]).
var metricName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)

// promqlWords are what precedes "{" or "[" without being a metric.
var promqlWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true}

// TestMetricsExist runs a real Prometheus that scrapes a running Gatehouse
// and checks that every metric the alerting rules and the dashboard name
// exists, that every one of their expressions evaluates, and that each
// dashboard query has data (except those of events a test install has not
// seen).
func TestMetricsExist(t *testing.T) {
	t.Parallel()
	prometheus := needTool(t, "prometheus", promInstall)
	qs := queries(t)
	names := map[string]bool{}
	for _, q := range qs {
		for _, m := range metricName.FindAllStringSubmatch(q.expr, -1) {
			if !promqlWords[m[1]] {
				names[m[1]] = true
			}
		}
	}
	for _, want := range []string{"gatehouse_http_requests_total", "gatehouse_http_request_duration_seconds_bucket", "gatehouse_rate_limited_total", "gatehouse_build_info", "up"} {
		if !names[want] {
			t.Fatalf("the metric names found (%v) lack %s: is the extraction broken?", names, want)
		}
	}

	gh := startGatehouse(t)
	// Traffic that makes every family appear: a refused API call (401), an
	// authorization request refused by the login rate limit (1/h: the
	// second one is a 429), the probes.
	for _, tc := range []struct {
		path string
		want int // 0: any
	}{
		{"/healthz", 200}, {"/readyz", 200}, {"/api/v1/organizations", 401},
		{"/oauth2/v2/authorization?client_id=x", 0}, {"/oauth2/v2/authorization?client_id=x", 429},
	} {
		resp, err := http.Get(gh + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if tc.want != 0 && resp.StatusCode != tc.want {
			t.Fatalf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}

	dir := t.TempDir()
	promAddr := freeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gatehouse\n    static_configs:\n      - targets: [%q]\n", strings.TrimPrefix(gh, "http://"))
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	startProcess(t, "prometheus", prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr, "--log.level=warn")
	api := "http://" + promAddr + "/api/v1/"

	// Scrapes every second: wait, bounded, until everything is there.
	var problems []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		problems = nil
		var have []string
		if err := promGet(api+"label/__name__/values", &have); err != nil {
			problems = append(problems, err.Error())
		}
		haveSet := map[string]bool{}
		for _, n := range have {
			haveSet[n] = true
		}
		for n := range names {
			if !haveSet[n] {
				problems = append(problems, "no metric "+n)
			}
		}
		for _, q := range qs {
			var res struct{ Result []json.RawMessage }
			if err := promGet(api+"query?query="+url.QueryEscape(q.expr), &res); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", q.from, q.expr, err))
			} else if len(res.Result) == 0 && !q.mayBeEmpty {
				problems = append(problems, fmt.Sprintf("%s: no data: %s", q.from, q.expr))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d queries, %d metrics checked against a Prometheus scraping %s", len(qs), len(names), gh)
}

// promGet GETs a Prometheus API path and decodes its data.
func promGet(u string, data any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s", env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// startGatehouse starts gatehouse serve on SQLite on a loopback port and
// returns its URL once /readyz answers.
func startGatehouse(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	startProcess(t, "gatehouse", gatehouseBin(t), "serve", "--listen", addr, "--data-dir", t.TempDir(),
		"--log-format", "text", "--rate-limit-login", "1/h")
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse at %s not ready after 60s: %v", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startProcess starts a program whose output goes to the test log on
// failure, and kills it when the test ends.
func startProcess(t *testing.T, name, path string, args ...string) {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s output:\n%s", name, b)
		}
		logFile.Close()
	})
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
