package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the prepared statements kept: the store's SQL
// texts are constants, except IN lists whose length varies, which could
// otherwise add one statement per length.
const maxCachedStatements = 512

// stmtCache keeps one prepared statement per SQL text. SQLite (modernc)
// parses and plans a statement on every Query that is not prepared, which
// profiling showed to be a quarter of the CPU of a token request (4
// lookups); database/sql keeps a prepared statement per connection once
// prepared, and hands it to transactions on the same connection
// (Tx.StmtContext). PostgreSQL needs none of this: pgx caches prepared
// statements per connection itself.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

// lookup returns the prepared statement of query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// get returns the prepared statement of query, preparing it the first time;
// nil when it cannot be prepared (the caller runs the query unprepared,
// which reports the error) or the cache is full. It takes a connection of
// the pool to prepare, so it must not be called while holding one (in a
// transaction): a full pool would wait for itself. No lock is held while
// preparing, for the same reason.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	c.mu.RLock()
	full := len(c.m) >= maxCachedStatements
	c.mu.RUnlock()
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if other := c.m[query]; other != nil {
		st.Close() // prepared twice at once: keep the first
		return other
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// preparedDB runs queries on the pool through the cache.
type preparedDB struct {
	db *sql.DB
	c  *stmtCache
}

func (p preparedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.c.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p preparedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.c.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p preparedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.c.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// preparedTx runs queries in a transaction with the statements the pool
// has prepared (reads outside transactions prepare them): one already
// prepared on the transaction's connection is reused as it is, otherwise it
// is prepared on that connection. A statement only ever run in transactions
// runs unprepared: preparing it through the pool would need a second
// connection while this one is held.
type preparedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.c.lookup(query); st != nil {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.c.lookup(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.c.lookup(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
