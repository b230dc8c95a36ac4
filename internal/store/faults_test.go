package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestIsUnavailable: database faults (the server gone, refusing, locked,
// out of resources, a transaction conflict that a retry resolves) are
// ErrUnavailable; the request's own faults (constraints, missing rows) are
// not.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: connecting is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, refused := store.Open(context.Background(), "postgres://postgres@"+closed+"/test?sslmode=disable", "")

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", fmt.Errorf("get group: %w", store.ErrNotFound), false},
		{"conflict", fmt.Errorf("insert: %w", store.ErrConflict), false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"context canceled (the client left)", context.Canceled, false},
		{"connection refused (real pgx error)", refused, true},
		{"admin shutdown", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"statement_timeout", &pgconn.PgError{Code: "57014"}, true},
		{"lock_timeout", &pgconn.PgError{Code: "55P03"}, true},
		{"deadline exceeded", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"bad connection", fmt.Errorf("exec: %w", sql.ErrConnDone), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"wrapped ErrUnavailable", fmt.Errorf("list: %w", store.ErrUnavailable), true},
	} {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s (%v): IsUnavailable = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if refused == nil {
		t.Error("opening a store on a closed port succeeded")
	}
}

// TestSQLiteLockedIsUnavailable: a write that waits for the SQLite write
// lock longer than the busy timeout fails as ErrUnavailable, reads go on,
// and nothing is written.
func TestSQLiteLockedIsUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "", dir, store.WithBusyTimeout(50*time.Millisecond))
	must(t, err)
	defer st.Close()
	must(t, st.Migrate(context.Background()))

	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "gatehouse.db"))
	must(t, err)
	defer other.Close()
	conn, err := other.Conn(context.Background())
	must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	must(t, err)

	ctx, outage := store.WatchOutage(context.Background())
	org := &store.Organization{Meta: store.Meta{ID: newID(), Name: "locked-out", CreatedAt: t0}, Type: "adhoc"}
	err = st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, org) })
	if !errors.Is(err, store.ErrUnavailable) || !store.IsUnavailable(err) {
		t.Fatalf("write under another writer's lock: %v, want ErrUnavailable", err)
	}
	if !outage.Seen() {
		t.Error("the outage was not noted on the request's context")
	}
	if _, err := st.Read().ListOrganizations(context.Background(), store.Page{Limit: store.NoLimit}); err != nil {
		t.Errorf("reads while another connection writes: %v", err)
	}
	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	must(t, err)
	if _, err := st.Read().GetOrganization(context.Background(), org.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed write left a row: %v", err)
	}
	tx(t, st, func(q *store.Q) error { return q.CreateOrganization(context.Background(), org) })
}

// TestPostgresOutageRecovers: statements fail as ErrUnavailable while the
// server is cut off, and the same pool works again once it is back.
func TestPostgresOutageRecovers(t *testing.T) {
	t.Parallel()
	raw := testenv.PostgresURL(t)
	st, proxy := testenv.OpenThroughProxy(t, raw)
	org := &store.Organization{Meta: store.Meta{ID: newID(), Name: "before", CreatedAt: t0}, Type: "adhoc"}
	tx(t, st, func(q *store.Q) error { return q.CreateOrganization(context.Background(), org) })

	proxy.Cut()
	ctx, outage := store.WatchOutage(context.Background())
	if _, err := st.Read().GetOrganization(ctx, org.ID); !store.IsUnavailable(err) {
		t.Errorf("read while cut off: %v, want ErrUnavailable", err)
	}
	if err := st.Ping(ctx); !store.IsUnavailable(err) {
		t.Errorf("ping while cut off: %v, want ErrUnavailable", err)
	}
	during := &store.Organization{Meta: store.Meta{ID: newID(), Name: "during", CreatedAt: t0}, Type: "adhoc"}
	if err := st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, during) }); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write while cut off: %v, want ErrUnavailable", err)
	}
	if !outage.Seen() {
		t.Error("the outage was not noted on the context")
	}
	proxy.Restore()

	if _, err := st.Read().GetOrganization(context.Background(), org.ID); err != nil {
		t.Fatalf("read after the outage: %v", err)
	}
	if _, err := st.Read().GetOrganization(context.Background(), during.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the write that failed during the outage: %v, want not found", err)
	}
}
