package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// outcome tallies the answers of a load run.
type outcome struct {
	mu       sync.Mutex
	statuses map[string]map[int]int // operation → status → count
	acked    []string               // IDs of groups whose create was answered 201
	problems []string
}

func (o *outcome) add(op string, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.statuses[op] == nil {
		o.statuses[op] = map[int]int{}
	}
	o.statuses[op][status]++
}

func (o *outcome) problem(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.problems) < 20 {
		o.problems = append(o.problems, fmt.Sprintf(format, args...))
	}
}

// check503 verifies a 503: Retry-After and the API's error shape with
// temporarily_unavailable.
func check503(o *outcome, op string, h http.Header, body []byte) {
	var e map[string]string
	if h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") ||
		json.Unmarshal(body, &e) != nil || e["error"] != "temporarily_unavailable" || e["error_description"] == "" {
		o.problem("%s: 503 not in the error shape with Retry-After: %v %s", op, h, body)
	}
}

// TestDatabaseCutUnderLoad: two replicas serve a mixed load (API writes
// and reads, client_credentials tokens) while the connection to PostgreSQL
// is cut (a TCP proxy closes every connection and refuses new ones) for a
// few seconds and then restored. Every request gets a 2xx or a 503 in the
// error shape with Retry-After, none a 500; /readyz says 503 while the
// database is gone and 200 once it is back, without a restart; every group
// whose creation was acknowledged exists afterwards.
func TestDatabaseCutUnderLoad(t *testing.T) {
	direct := newDatabase(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	viaProxy := u.String()

	key, data := newKey(), t.TempDir()
	gatehouse(t, "", "migrate", "--database-url", direct)
	var replicas []*replica
	for i := range 2 {
		replicas = append(replicas, serve(t, append([]string{"--database-url", viaProxy, "--encryption-key", key,
			"--data-dir", filepath.Join(data, fmt.Sprint(i))}, noRateLimits...)...))
	}
	admin := readToken(t, filepath.Join(data, "0", "bootstrap-token"))
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	status, body, err := call(hc, replicas[0].URL, admin, "POST", "/api/v1/organizations",
		map[string]any{"metadata": map[string]any{"name": "cut"}, "spec": map[string]any{"organizationType": "adhoc"}})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("create organization: %d %s %v", status, body, err)
	}
	var org map[string]any
	_ = json.Unmarshal(body, &org)
	groups := "/api/v1/organizations/" + id(org) + "/groups"
	out := gatehouse(t, "", "admin", "clients", "create", "--name", "svc", "--grant", "client_credentials", "--scope", "read", "--database-url", direct)
	var svc struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(out), &svc); err != nil {
		t.Fatal(err)
	}

	o := &outcome{statuses: map[string]map[int]int{}}
	var (
		stop      atomic.Bool
		seq       atomic.Int64
		wg        sync.WaitGroup
		cutAt     = 2 * time.Second
		restoreAt = 5 * time.Second
		endAt     = 8 * time.Second
	)
	ctx := context.Background()
	for w := range 8 {
		wg.Go(func() {
			r := replicas[w%len(replicas)]
			tokens := &loginflow.Client{BaseURL: r.URL, ClientID: svc.ID, ClientSecret: svc.Secret, HTTP: hc}
			for i := 0; !stop.Load(); i++ {
				switch i % 3 {
				case 0:
					name := fmt.Sprintf("g-%d", seq.Add(1))
					req := map[string]any{"metadata": map[string]any{"name": name},
						"spec": map[string]any{"roleIDs": []string{}, "userIDs": []string{}, "serviceAccountIDs": []string{}}}
					status, body, h, err := callH(hc, r.URL, admin, "POST", groups, req)
					if err != nil {
						o.problem("create group: %v", err)
						continue
					}
					o.add("create group", status)
					switch status {
					case http.StatusCreated:
						var g map[string]any
						_ = json.Unmarshal(body, &g)
						o.mu.Lock()
						o.acked = append(o.acked, id(g))
						o.mu.Unlock()
					case http.StatusServiceUnavailable:
						check503(o, "create group", h, body)
					default:
						o.problem("create group: status %d: %s", status, body)
					}
				case 1:
					status, body, h, err := callH(hc, r.URL, admin, "GET", groups+"?limit=5", nil)
					if err != nil {
						o.problem("list groups: %v", err)
						continue
					}
					o.add("list groups", status)
					if status == http.StatusServiceUnavailable {
						check503(o, "list groups", h, body)
					} else if status != http.StatusOK {
						o.problem("list groups: status %d: %s", status, body)
					}
				case 2:
					_, err := tokens.ClientCredentials(ctx, "read")
					var te *loginflow.Error
					switch {
					case err == nil:
						o.add("client_credentials", http.StatusOK)
					case errors.As(err, &te) && te.Status == http.StatusServiceUnavailable && te.Code == "temporarily_unavailable":
						o.add("client_credentials", te.Status)
					case errors.As(err, &te):
						o.add("client_credentials", te.Status)
						o.problem("client_credentials: %v", err)
					default:
						o.problem("client_credentials: %v", err)
					}
				}
			}
		})
	}

	// /readyz of every replica, polled throughout.
	var readyDown, readyBackUp atomic.Int32
	start := time.Now()
	wg.Go(func() {
		for !stop.Load() {
			for _, r := range replicas {
				resp, err := hc.Get(r.URL + "/readyz")
				if err != nil {
					o.problem("readyz: %v", err)
					continue
				}
				resp.Body.Close()
				since := time.Since(start)
				switch {
				case since > cutAt+500*time.Millisecond && since < restoreAt && resp.StatusCode == http.StatusServiceUnavailable:
					readyDown.Add(1)
				case since > restoreAt && resp.StatusCode == http.StatusOK:
					readyBackUp.Add(1)
				case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable:
					o.problem("readyz: status %d", resp.StatusCode)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	time.Sleep(cutAt)
	proxy.Cut()
	time.Sleep(restoreAt - cutAt)
	proxy.Restore()
	time.Sleep(endAt - restoreAt)
	stop.Store(true)
	wg.Wait()

	t.Logf("answers: %v; %d group creations acknowledged", o.statuses, len(o.acked))
	for _, p := range o.problems {
		t.Error(p)
	}
	for op, byStatus := range o.statuses {
		if byStatus[http.StatusServiceUnavailable] == 0 && op != "client_credentials" {
			t.Errorf("%s never got a 503: was the database cut at all?", op)
		}
		if byStatus[http.StatusInternalServerError] != 0 {
			t.Errorf("%s: %d answers were 500", op, byStatus[http.StatusInternalServerError])
		}
	}
	if readyDown.Load() == 0 || readyBackUp.Load() == 0 {
		t.Errorf("/readyz: %d answers of 503 while cut, %d of 200 after; want both", readyDown.Load(), readyBackUp.Load())
	}
	for _, r := range replicas {
		select {
		case err := <-r.done:
			t.Fatalf("replica %s exited: %v", r.URL, err)
		default:
		}
	}
	// Every acknowledged write is there, read through the other replica.
	if missing := missingGroups(t, hc, replicas[1].URL, admin, groups, o.acked); missing > 0 || len(o.acked) == 0 {
		t.Errorf("%d of %d acknowledged group creations are missing after the outage", missing, len(o.acked))
	}
}
