package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// databaseTimeout is the store timeout of these tests: short, so they are
// quick.
const databaseTimeout = 300 * time.Millisecond

// noHang bounds how long an answer may take once the database stopped
// answering: the timeout and a generous margin for a loaded CI machine.
const noHang = databaseTimeout + 10*time.Second

// timedBackends open stores bounded by databaseTimeout on every backend.
func timedBackends(tb testing.TB) map[string]func(t *testing.T) *store.Store {
	out := map[string]func(t *testing.T) *store.Store{
		"sqlite": func(t *testing.T) *store.Store {
			st, err := store.Open(context.Background(), "", t.TempDir(), store.WithTimeout(databaseTimeout))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for _, b := range testenv.Backends(tb) {
		if b.Name == "postgres" {
			out["postgres"] = func(t *testing.T) *store.Store {
				return testenv.OpenMigrated(t, testenv.PostgresURL(t), store.WithTimeout(databaseTimeout))
			}
		}
	}
	return out
}

// lockedLog is a log sink safe for the server's concurrent writes.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestDatabaseTimeoutAnswers503: when the database does not answer (here:
// every pool connection is taken and never given back), API reads and
// writes are answered 503 temporarily_unavailable with Retry-After soon
// after the database timeout, not when the database comes back; and the
// same server answers normally once it does.
func TestDatabaseTimeoutAnswers503(t *testing.T) {
	t.Parallel()
	for name, open := range timedBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			a := &apiEnv{Env: testenv.NewEnv(t, st)}
			org := a.newOrg(t, "frozen")
			groups := orgPath(org, "groups")
			a.admin(t, http.StatusOK, "GET", groups, nil)

			st.DB().SetMaxOpenConns(1)
			held, err := st.DB().Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				method string
				body   any
			}{
				{"GET", nil},
				{"POST", groupWrite("during", nil, nil, nil)},
			} {
				// Env.Do, not the spec oracle: the spec does not list 503,
				// which any operation may answer.
				start := time.Now()
				r := a.Do(c.method, groups, a.AdminToken, c.body)
				took := time.Since(start)
				if m := r.Map(t); r.Status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" ||
					m["error_description"] == "" || r.Header.Get("Retry-After") == "" {
					t.Errorf("%s %s: %d %v %s, want 503 temporarily_unavailable with Retry-After", c.method, groups, r.Status, r.Header, r.Body)
				}
				if took > noHang {
					t.Errorf("%s %s answered after %v, want within %v", c.method, groups, took, noHang)
				}
			}
			held.Close()
			a.admin(t, http.StatusCreated, "POST", groups, groupWrite("after", nil, nil, nil))
			if got := names(a.admin(t, http.StatusOK, "GET", groups, nil).arr(t)); len(got) != 1 || got[0] != "after" {
				t.Errorf("groups after the outage: %v, want only the one created after it", got)
			}
		})
	}
}

// TestClientGoneIs499: a client that goes away while its request waits for
// the database is logged and counted as 499, not as a 500 (an internal
// error that would page someone).
func TestClientGoneIs499(t *testing.T) {
	t.Parallel()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			st := b.Open(t)
			log := &lockedLog{}
			e := testenv.NewEnvWith(t, st, testenv.Options{Log: log})
			a := &apiEnv{Env: e}
			org := a.newOrg(t, "leaving")

			st.DB().SetMaxOpenConns(1)
			held, err := st.DB().Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			for _, method := range []string{"GET", "POST"} {
				ctx, cancel := context.WithCancel(context.Background())
				body := `{"metadata":{"name":"gone"},"spec":{"roleIDs":[],"userIDs":[],"serviceAccountIDs":[]}}`
				req := httptest.NewRequestWithContext(ctx, method, orgPath(org, "groups"), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e.AdminToken)
				req.Header.Set("Content-Type", "application/json")
				// The client leaves while its request waits.
				time.AfterFunc(100*time.Millisecond, cancel)
				e.Handler.ServeHTTP(httptest.NewRecorder(), req)
				cancel()
			}
			held.Close()

			var lines []string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "msg=request ") && strings.Contains(l, "/groups") {
					lines = append(lines, l)
				}
				if strings.Contains(l, "level=ERROR") {
					t.Errorf("an error was logged for a client that went away: %s", l)
				}
			}
			if len(lines) != 2 {
				t.Fatalf("want 2 request lines for /groups, got %d:\n%s", len(lines), log.String())
			}
			for _, l := range lines {
				if !strings.Contains(l, "status=499") {
					t.Errorf("request line without status=499: %s", l)
				}
			}
			resp, err := e.Client.Get(e.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			metrics, _ := io.ReadAll(resp.Body)
			if !bytes.Contains(metrics, []byte(`code="499"`)) || bytes.Contains(metrics, []byte(`code="500"`)) {
				t.Errorf("metrics do not count the departures as 499 (or count a 500):\n%s", grepLines(metrics, "gatehouse_http_requests_total"))
			}
		})
	}
}

// grepLines keeps the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
