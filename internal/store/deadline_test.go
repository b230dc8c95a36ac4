package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// timeoutUnderTest is the database timeout of the stores these tests open:
// short, so that the tests are quick.
const timeoutUnderTest = 300 * time.Millisecond

// noHang is the longest a call bounded by timeoutUnderTest may take in these
// tests: generous, for a loaded CI machine; a call that hangs takes for ever.
const noHang = timeoutUnderTest + 10*time.Second

// timedStore is a store bounded by timeoutUnderTest and a way to reach
// its database from outside it (to hold locks).
type timedStore struct {
	st *store.Store
	// other opens a connection of another pool on the same database.
	other func(t *testing.T) *sql.Conn
	// slow is a query that runs for minutes unless interrupted.
	slow string
}

func timedBackends(t *testing.T) map[string]func(t *testing.T) timedStore {
	t.Helper()
	out := map[string]func(t *testing.T) timedStore{
		"sqlite": func(t *testing.T) timedStore {
			dir := t.TempDir()
			st, err := store.Open(context.Background(), "", dir, store.WithTimeout(timeoutUnderTest))
			must(t, err)
			t.Cleanup(func() { st.Close() })
			must(t, st.Migrate(context.Background()))
			return timedStore{st: st, other: otherConn("sqlite", "file:"+filepath.Join(dir, "gatehouse.db")),
				slow: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT max(x) FROM c"}
		},
	}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		out["postgres"] = func(t *testing.T) timedStore {
			u := testenv.PostgresURL(t)
			st := testenv.OpenMigrated(t, u, store.WithTimeout(timeoutUnderTest))
			return timedStore{st: st, other: otherConn("pgx", u), slow: "SELECT pg_sleep(600)::text"}
		}
	}
	return out
}

func otherConn(driver, dsn string) func(t *testing.T) *sql.Conn {
	return func(t *testing.T) *sql.Conn {
		t.Helper()
		db, err := sql.Open(driver, dsn)
		must(t, err)
		t.Cleanup(func() { db.Close() })
		c, err := db.Conn(context.Background())
		must(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestDatabaseTimeout: with a timeout (WithTimeout), database work that
// cannot finish in time (no pool connection free, a lock held elsewhere, a
// statement that runs for minutes) fails with ErrUnavailable soon after the
// timeout and notes the outage on the context (so the HTTP layer answers
// 503 with Retry-After), instead of waiting as long as the database does;
// the store works again once the obstacle is gone. Without a timeout each
// case waits for ever.
func TestDatabaseTimeout(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// block makes the database work of run wait; the returned function
		// lifts the obstacle.
		block func(t *testing.T, ts timedStore) func()
		run   func(ctx context.Context, ts timedStore) error
	}{
		{
			name: "read waits for a pool connection",
			block: func(t *testing.T, ts timedStore) func() {
				ts.st.DB().SetMaxOpenConns(1)
				c, err := ts.st.DB().Conn(context.Background())
				must(t, err)
				return func() { c.Close() }
			},
			run: func(ctx context.Context, ts timedStore) error {
				_, err := ts.st.Read().ListOrganizations(ctx, store.Page{Limit: store.NoLimit})
				return err
			},
		},
		{
			name: "transaction waits for a pool connection",
			block: func(t *testing.T, ts timedStore) func() {
				ts.st.DB().SetMaxOpenConns(1)
				c, err := ts.st.DB().Conn(context.Background())
				must(t, err)
				return func() { c.Close() }
			},
			run: func(ctx context.Context, ts timedStore) error {
				return ts.st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, timedOrg("pool")) })
			},
		},
		{
			name: "snapshot waits for a pool connection",
			block: func(t *testing.T, ts timedStore) func() {
				ts.st.DB().SetMaxOpenConns(1)
				c, err := ts.st.DB().Conn(context.Background())
				must(t, err)
				return func() { c.Close() }
			},
			run: func(ctx context.Context, ts timedStore) error {
				return ts.st.Snapshot(ctx, func(q *store.Q) error {
					_, err := q.ListOrganizations(ctx, store.Page{Limit: store.NoLimit})
					return err
				})
			},
		},
		{
			name: "transaction waits for a lock held elsewhere",
			block: func(t *testing.T, ts timedStore) func() {
				c := ts.other(t)
				lock := "BEGIN IMMEDIATE" // SQLite: the write lock
				if ts.st.Dialect() == store.Postgres {
					lock = "BEGIN; LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"
				}
				_, err := c.ExecContext(context.Background(), lock)
				must(t, err)
				return func() { _, _ = c.ExecContext(context.Background(), "ROLLBACK") }
			},
			run: func(ctx context.Context, ts timedStore) error {
				return ts.st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, timedOrg("locked")) })
			},
		},
		{
			name:  "statement runs for minutes",
			block: func(*testing.T, timedStore) func() { return func() {} },
			run: func(ctx context.Context, ts timedStore) error {
				var v string
				return ts.st.Read().ScanOne(ctx, ts.slow, &v)
			},
		},
	}
	for backend, open := range timedBackends(t) {
		for _, c := range cases {
			t.Run(backend+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				ts := open(t)
				lift := c.block(t, ts)
				ctx, outage := store.WatchOutage(context.Background())
				start := time.Now()
				err := c.run(ctx, ts)
				took := time.Since(start)
				lift()
				if !store.IsUnavailable(err) {
					t.Errorf("err = %v, want ErrUnavailable", err)
				}
				if took > noHang {
					t.Errorf("took %v, want at most %v", took, noHang)
				}
				// SQLite reports an interrupted read when its row is
				// scanned, after the statement returned: only the error
				// tells then.
				scannedLate := ts.st.Dialect() == store.SQLite && c.name == "statement runs for minutes"
				if !outage.Seen() && !scannedLate {
					t.Error("the outage was not noted on the context")
				}
				t.Logf("failed after %v: %v", took, err)
				// The same store works again. Its timeout is short, and on a
				// loaded machine a fresh connection (the pool dropped the one
				// the deadline cut) may itself take longer than that: what
				// matters is that the store recovers, so it gets a few tries.
				org := timedOrg("after")
				var err2 error
				for try := 0; try < 20; try++ {
					if err2 = ts.st.Tx(context.Background(), func(q *store.Q) error { return q.CreateOrganization(context.Background(), org) }); err2 == nil || !store.IsUnavailable(err2) {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				if err2 != nil {
					t.Fatalf("write after the obstacle is gone: %v", err2)
				}
				if _, err := ts.st.Read().GetOrganization(context.Background(), org.ID); err != nil {
					t.Errorf("read after the obstacle is gone: %v", err)
				}
			})
		}
	}
}

// TestDatabaseTimeoutClientGone: work stopped because the caller's context
// was canceled (the client went away) is not a database outage: nothing is
// noted, and the error is not ErrUnavailable.
func TestDatabaseTimeoutClientGone(t *testing.T) {
	t.Parallel()
	for backend, open := range timedBackends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ts := open(t)
			watched, outage := store.WatchOutage(context.Background())
			ctx, cancel := context.WithCancel(watched)
			time.AfterFunc(50*time.Millisecond, cancel)
			var v string
			err := ts.st.Read().ScanOne(ctx, ts.slow, &v)
			if err == nil || errors.Is(err, store.ErrUnavailable) || outage.Seen() {
				t.Errorf("canceled by the caller: err = %v, outage noted %v; want an error that is not ErrUnavailable, nothing noted", err, outage.Seen())
			}
		})
	}
}

func timedOrg(name string) *store.Organization {
	return &store.Organization{Meta: store.Meta{ID: newID(), Name: fmt.Sprintf("%s-%s", name, newID()[:8]), CreatedAt: t0}, Type: "adhoc"}
}

// TestServerTimeouts: a store with a timeout gives its PostgreSQL
// connections statement_timeout and lock_timeout of 4/5 of it, unless the
// database URL chose its own; without a timeout the URL is left alone.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url     string
		timeout time.Duration
		want    map[string]string
	}{
		{"postgres://h/db?sslmode=disable", 5 * time.Second, map[string]string{"statement_timeout": "4000", "lock_timeout": "4000", "sslmode": "disable"}},
		{"postgres://h/db?statement_timeout=60000", 5 * time.Second, map[string]string{"statement_timeout": "60000", "lock_timeout": "4000"}},
		{"postgres://h/db?lock_timeout=1", time.Second, map[string]string{"statement_timeout": "800", "lock_timeout": "1"}},
		{"postgres://h/db", 0, map[string]string{}},
	} {
		u, err := url.Parse(store.WithServerTimeouts(c.url, c.timeout))
		must(t, err)
		got := map[string]string{}
		for k := range u.Query() {
			got[k] = u.Query().Get(k)
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s with %v: parameters %v, want %v", c.url, c.timeout, got, c.want)
		}
	}
	if os.Getenv(testenv.PostgresURLEnv) == "" {
		return
	}
	st := testenv.OpenMigrated(t, testenv.PostgresURL(t), store.WithTimeout(timeoutUnderTest))
	for _, p := range []string{"statement_timeout", "lock_timeout"} {
		var v string
		must(t, st.Read().ScanOne(context.Background(), "SHOW "+p, &v))
		if v != "240ms" {
			t.Errorf("%s of the store's connections: %s, want 240ms", p, v)
		}
	}
}
