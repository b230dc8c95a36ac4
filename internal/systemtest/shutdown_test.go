package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestSIGTERMUnderLoad: SIGTERM arrives while clients stream writes. The
// server stops accepting, lets the requests in flight finish (none of them
// fails: no 5xx), exits 0, and after a restart every write it acknowledged
// is there. On SQLite always, on PostgreSQL when configured.
func TestSIGTERMUnderLoad(t *testing.T) {
	// Each engine's serve flags; the data directory holds the bootstrap token.
	engines := map[string]func(t *testing.T, dataDir string) []string{
		"sqlite": func(t *testing.T, dataDir string) []string { return []string{"--data-dir", dataDir} },
	}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		engines["postgres"] = func(t *testing.T, dataDir string) []string {
			return []string{"--database-url", newDatabase(t), "--encryption-key", newKey(), "--data-dir", dataDir}
		}
	}
	for name, flags := range engines {
		t.Run(name, func(t *testing.T) {
			dataDir := t.TempDir()
			args := append(flags(t, dataDir), noRateLimits...)
			r := serve(t, args...)
			admin := readToken(t, filepath.Join(dataDir, "bootstrap-token"))
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			status, body, err := call(hc, r.URL, admin, "POST", "/api/v1/organizations",
				map[string]any{"metadata": map[string]any{"name": "sigterm"}, "spec": map[string]any{"organizationType": "adhoc"}})
			if err != nil || status != http.StatusAccepted {
				t.Fatalf("create organization: %d %s %v", status, body, err)
			}
			var org map[string]any
			_ = json.Unmarshal(body, &org)
			groups := "/api/v1/organizations/" + id(org) + "/groups"

			var (
				mu       sync.Mutex
				acked    []string
				failures []string
				seq      atomic.Int64
				wg       sync.WaitGroup
			)
			for range 6 {
				wg.Go(func() {
					for {
						name := fmt.Sprintf("g-%d", seq.Add(1))
						status, body, err := call(hc, r.URL, admin, "POST", groups, map[string]any{"metadata": map[string]any{"name": name},
							"spec": map[string]any{"roleIDs": []string{}, "userIDs": []string{}, "serviceAccountIDs": []string{}}})
						if err != nil {
							return // the server has stopped listening: nothing more is acknowledged
						}
						mu.Lock()
						if status == http.StatusCreated {
							var g map[string]any
							_ = json.Unmarshal(body, &g)
							acked = append(acked, id(g))
						} else {
							failures = append(failures, fmt.Sprintf("%d %s", status, body))
						}
						mu.Unlock()
					}
				})
			}
			time.Sleep(time.Second)
			r.stop(t) // SIGTERM while the writes stream; it must exit 0
			wg.Wait()
			for _, f := range failures {
				t.Errorf("a write during the shutdown was answered %s", f)
			}

			r = serve(t, args...)
			missing := missingGroups(t, hc, r.URL, admin, groups, acked)
			t.Logf("%d writes acknowledged before and during the shutdown, %d found after the restart", len(acked), len(acked)-missing)
			if missing > 0 || len(acked) < 10 {
				t.Errorf("%d of %d acknowledged writes are missing after the restart", missing, len(acked))
			}
			r.stop(t)
		})
	}
}
