// Package store is Gatehouse's persistence layer: one SQL implementation over
// database/sql that runs unchanged on the embedded SQLite database
// (modernc.org/sqlite, the default) and on PostgreSQL (pgx), with the schema in
// embedded goose migrations applied at start.
//
// Writes go through Store.Tx so that every API write is exactly one
// transaction: a request that fails half-way changes nothing. The SQL text is
// shared by both engines; the few differences (error classification, row
// locking) live in dialect.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect names the SQL engine behind a Store.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is a handle on the database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// stmts caches prepared statements on SQLite (nil on PostgreSQL, where
	// pgx does it).
	stmts *stmtCache
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	busyTimeout time.Duration
}

// WithBusyTimeout sets how long a SQLite statement waits for the write lock
// before failing as ErrUnavailable (default 10 s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// DefaultConnectTimeout bounds connecting to PostgreSQL when the database URL
// sets no connect_timeout, so that a request meeting an unreachable server
// fails (503) instead of hanging.
const DefaultConnectTimeout = 5 * time.Second

// Open connects to the database named by databaseURL, or, when it is empty, to
// the SQLite file gatehouse.db inside dataDir (created if missing). It does not
// apply migrations; call Migrate.
func Open(ctx context.Context, databaseURL, dataDir string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		db      *sql.DB
		dialect Dialect
		err     error
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialect = Postgres
		db, err = sql.Open("pgx", withConnectTimeout(databaseURL))
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// As many idle connections as open ones: under load, a pool that
		// closes what it cannot keep idle reconnects (and re-authenticates)
		// all the time. ConnMaxIdleTime shrinks it when the load goes.
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		// Connections are replaced now and then, so that after a failover or
		// a load balancer change the pool ends up on the current server. A
		// connection that broke is dropped at its next use (pgx pings a
		// connection idle for more than a second), so the pool recovers from
		// an outage without a restart.
		db.SetConnMaxLifetime(30 * time.Minute)
	case databaseURL == "" || strings.HasPrefix(databaseURL, "sqlite:"):
		dialect = SQLite
		path := strings.TrimPrefix(databaseURL, "sqlite:")
		if path == "" {
			if dataDir == "" {
				return nil, errors.New("open sqlite: neither a database URL nor a data directory was given")
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
			path = filepath.Join(dataDir, "gatehouse.db")
		}
		db, err = sql.Open("sqlite", sqliteDSN(path, o.busyTimeout))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// WAL lets readers run beside the single writer; _txlock=immediate
		// (in the DSN) takes the write lock at BEGIN so that two writers never
		// deadlock upgrading a read lock, and busy_timeout makes the second one
		// wait instead of failing.
		db.SetMaxOpenConns(8)
		// Kept open: database/sql keeps 2 idle by default, and opening a
		// SQLite connection (file, pragmas) was an eighth of a token
		// request's CPU under load.
		db.SetMaxIdleConns(8)
	default:
		return nil, fmt.Errorf("unsupported database URL %q: want postgres://... or sqlite:PATH", redactURL(databaseURL))
	}
	s := &Store{db: db, dialect: dialect}
	if dialect == SQLite {
		s.stmts = newStmtCache(db)
	}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func sqliteDSN(path string, busyTimeout time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// withConnectTimeout adds connect_timeout=DefaultConnectTimeout to a
// PostgreSQL URL that has none.
func withConnectTimeout(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // sql.Open reports it
	}
	q := u.Query()
	if q.Get("connect_timeout") != "" {
		return raw
	}
	q.Set("connect_timeout", strconv.Itoa(int(DefaultConnectTimeout.Seconds())))
	u.RawQuery = q.Encode()
	return u.String()
}

// redactURL drops the password from a database URL so it can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Dialect reports the engine in use.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the underlying pool for tests and benchmarks.
func (s *Store) DB() *sql.DB { return s.db }

// Close releases the connection pool.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	return s.db.Close()
}

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, note(ctx, err))
	}
	return nil
}

// Migrate applies every pending embedded migration.
func (s *Store) Migrate(ctx context.Context) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	gd := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		gd = goose.DialectPostgres
		// Replicas starting together on an empty database must not apply the
		// same migration twice: hold a session advisory lock while migrating.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.db, dir, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs queries. Outside a transaction (Store.Read) it reads from the pool;
// inside Store.Tx every call is part of the one transaction.
type Q struct {
	q       querier
	dialect Dialect
	inTx    bool
}

// Read returns a Q for reads that need no transaction.
func (s *Store) Read() *Q {
	if s.stmts != nil {
		return &Q{q: watched{preparedDB{s.db, s.stmts}}, dialect: s.dialect}
	}
	return &Q{q: watched{s.db}, dialect: s.dialect}
}

// Tx runs fn in one transaction: committed if fn returns nil, rolled back
// otherwise (and on panic), so a failed request leaves nothing behind. The
// CommitHook carried by ctx, if any, runs after fn and before the commit.
func (s *Store) Tx(ctx context.Context, fn func(q *Q) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", note(ctx, err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var q querier = tx
	if s.stmts != nil {
		q = preparedTx{tx, s.stmts}
	}
	txq := &Q{q: watched{q}, dialect: s.dialect, inTx: true}
	if err = fn(txq); err != nil {
		return err
	}
	// A commit hook (the audit log's) writes in this same transaction, so
	// that the change and its record commit together or not at all.
	if h := commitHook(ctx); h != nil {
		if err = h(ctx, txq); err != nil {
			return err
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", note(ctx, classify(err)))
	}
	return nil
}
