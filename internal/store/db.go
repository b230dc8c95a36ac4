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

	"github.com/gatehouse/gatehouse/internal/telemetry"
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
	// timeout bounds each unit of database work (see WithTimeout); 0 is
	// no bound.
	timeout time.Duration
	// migrateURL is the PostgreSQL URL without the statement and lock
	// timeouts: migrations (and waiting for another replica's) may take
	// longer than any request should.
	migrateURL string
	// stmts caches prepared statements on SQLite (nil on PostgreSQL, where
	// pgx does it).
	stmts *stmtCache
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	busyTimeout time.Duration
	timeout     time.Duration
}

// WithTimeout bounds the database work of every call: each statement run
// outside a transaction, and each transaction (Tx, Snapshot) as a whole,
// from waiting for a pool connection to the commit. Past it the call fails
// with ErrUnavailable (the HTTP layer answers 503 with Retry-After) instead
// of waiting for a database that does not answer. On PostgreSQL it also
// sets the connections' statement_timeout and lock_timeout (see
// serverTimeout), unless the database URL sets them. Zero (the default, for
// the command line tools) is no bound.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

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
		db         *sql.DB
		dialect    Dialect
		migrateURL string
		err        error
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialect = Postgres
		migrateURL = withConnectTimeout(databaseURL)
		db, err = sql.Open("pgx", withServerTimeouts(migrateURL, o.timeout))
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
	s := &Store{db: db, dialect: dialect, timeout: o.timeout, migrateURL: migrateURL}
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

// serverTimeout is the statement_timeout and lock_timeout of PostgreSQL
// connections under a deadline d: four fifths of it, so that a statement
// that is merely slow, or waits for a row lock, is ended by the server with
// a clean error while its connection stays usable, before the client's
// deadline has to cut the connection (which it still does when the server
// does not answer at all). Never below a millisecond, PostgreSQL's unit.
func serverTimeout(d time.Duration) time.Duration {
	return max(d*4/5, time.Millisecond)
}

// withServerTimeouts adds statement_timeout and lock_timeout of
// serverTimeout(d) (in milliseconds) to a PostgreSQL URL that does not set
// them; pgx sends parameters it does not know itself to the server at
// connection start. d == 0 leaves the URL as it is.
func withServerTimeouts(raw string, d time.Duration) string {
	if d <= 0 {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw // sql.Open reports it
	}
	q := u.Query()
	ms := strconv.FormatInt(serverTimeout(d).Milliseconds(), 10)
	for _, p := range []string{"statement_timeout", "lock_timeout"} {
		if q.Get(p) == "" {
			q.Set(p, ms)
		}
	}
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
	b := s.bound(ctx)
	defer b.end()
	if err := s.db.PingContext(b.ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, note(ctx, b.classify(b.ctx, err)))
	}
	return nil
}

// Migrate applies every pending embedded migration.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

// migrate applies the pending embedded migrations up to version (0: all).
func (s *Store) migrate(ctx context.Context, version int64) error {
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
	db := s.db
	if s.migrateURL != "" && s.timeout > 0 {
		// The pool's connections end statements and lock waits after the
		// request timeout; migrations, and waiting for another replica's
		// advisory lock while it migrates, may take longer.
		if db, err = sql.Open("pgx", s.migrateURL); err != nil {
			return fmt.Errorf("migrations: open postgres: %w", err)
		}
		defer db.Close()
	}
	p, err := goose.NewProvider(gd, db, dir, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if version > 0 {
		_, err = p.UpTo(ctx, version)
	} else {
		_, err = p.Up(ctx)
	}
	if err != nil {
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
		return &Q{q: watched{q: preparedDB{s.db, s.stmts}, timeout: s.timeout, dialect: s.dialect}, dialect: s.dialect}
	}
	return &Q{q: watched{q: s.db, timeout: s.timeout, dialect: s.dialect}, dialect: s.dialect}
}

// Tx runs fn in one transaction: committed if fn returns nil, rolled back
// otherwise (and on panic), so a failed request leaves nothing behind. The
// CommitHook carried by ctx, if any, runs after fn and before the commit.
//
// The whole transaction, from waiting for a connection to the commit, is
// bounded by the store's timeout (WithTimeout): every statement of fn ends
// at the transaction's deadline, whatever context fn passes it.
func (s *Store) Tx(ctx context.Context, fn func(q *Q) error) (err error) {
	spanCtx, span := startSpan(ctx, "db.transaction", s.dialect)
	defer func() { telemetry.End(span, err) }()
	b := s.bound(spanCtx)
	defer b.end()
	tx, err := s.db.BeginTx(b.ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", note(ctx, b.classify(b.ctx, err)))
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
	txq := &Q{q: watched{q: q, tx: b}, dialect: s.dialect, inTx: true}
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
		return fmt.Errorf("commit: %w", note(ctx, b.classify(b.ctx, classify(err))))
	}
	return nil
}
