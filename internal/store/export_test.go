package store

import (
	"context"
	"database/sql"
)

// MigrateTo applies the embedded migrations up to version only, so that a
// test can write rows as an earlier release left them.
func (s *Store) MigrateTo(ctx context.Context, version int64) error { return s.migrate(ctx, version) }

// Exec runs a statement outside any transaction (test fixtures of old
// schemas).
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.db.ExecContext(ctx, query, args...)
	return err
}

// Statement is one SQL statement a Q ran, with its arguments.
type Statement struct {
	Query string
	Args  []any
}

// TracedRead is Read, but every statement run through the returned Q is
// passed to record first. Tests use it to EXPLAIN the exact SQL the store
// issues instead of a copy that could drift from it.
func (s *Store) TracedRead(record func(Statement)) *Q {
	return &Q{q: tracer{q: s.db, record: record}, dialect: s.dialect}
}

type tracer struct {
	q      querier
	record func(Statement)
}

func (t tracer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.record(Statement{Query: query, Args: args})
	return t.q.ExecContext(ctx, query, args...)
}

func (t tracer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.record(Statement{Query: query, Args: args})
	return t.q.QueryContext(ctx, query, args...)
}

func (t tracer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	t.record(Statement{Query: query, Args: args})
	return t.q.QueryRowContext(ctx, query, args...)
}

// TracedRollback runs fn in a transaction traced like TracedRead, and always
// rolls it back: tests trace writes (deletes) without changing anything.
func (s *Store) TracedRollback(ctx context.Context, record func(Statement), fn func(q *Q) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(&Q{q: tracer{q: tx, record: record}, dialect: s.dialect, inTx: true})
}

// ScanOne runs query through q, bounded and watched like the store's own
// statements, and scans the one value of its one row into dest.
func (q *Q) ScanOne(ctx context.Context, query string, dest any) error {
	return q.q.QueryRowContext(ctx, query).Scan(dest)
}

// WithServerTimeouts exposes withServerTimeouts to the tests.
var WithServerTimeouts = withServerTimeouts
