package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrUnavailable: the database cannot be reached, or refuses service for the
// moment (connection refused or lost, server shutting down, too many
// connections, disk full, SQLite locked past its busy timeout, a
// serialization failure or deadlock). Retrying later may succeed; the HTTP
// layer answers 503 with Retry-After.
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means that the database (not the
// request) is at fault for now. It looks through wrapping, so it works on
// errors as they reach the HTTP layer, whoever wrapped them.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return unavailableSQLState(pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// pgx reports a connection it already closed, or one that broke while in
	// use, with these unexported errors.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "conn busy")
}

// unavailableSQLState: connection exceptions (class 08), insufficient
// resources (53: disk full, out of memory, too many connections), operator
// intervention (57P01-57P03: shutdown, cannot connect now), and the
// transaction conflicts a retry resolves (40001 serialization failure,
// 40P01 deadlock). Everything else is the statement's fault.
func unavailableSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "40001", "40P01":
		return true
	}
	return false
}

// unavailable wraps err with ErrUnavailable when it is a database fault, so
// that callers (and errors.Is) see the classification.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Outage records whether the database failed as unavailable while a request
// was served. The store notes every such failure on the Outage in the
// context of the failing call, however the error is wrapped (or swallowed)
// on its way up, so the HTTP layer can answer 503 instead of whatever error
// a library made of it (zitadel/oidc turns a failed lookup into
// invalid_grant, for instance).
type Outage struct{ seen atomic.Bool }

type outageKey struct{}

// WatchOutage returns a context whose store calls report database faults on
// the returned Outage.
func WatchOutage(ctx context.Context) (context.Context, *Outage) {
	o := &Outage{}
	return context.WithValue(ctx, outageKey{}, o), o
}

// Seen reports whether a store call under the watching context met an
// unavailable database.
func (o *Outage) Seen() bool { return o != nil && o.seen.Load() }

// note records err on ctx's Outage when it is a database fault, and returns
// it classified.
func note(ctx context.Context, err error) error {
	if err == nil || !IsUnavailable(err) {
		return err
	}
	if o, ok := ctx.Value(outageKey{}).(*Outage); ok {
		o.seen.Store(true)
	}
	return unavailable(err)
}

// watched passes every statement to q and notes database faults on the
// context's Outage.
type watched struct{ q querier }

func (w watched) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := w.q.ExecContext(ctx, query, args...)
	return res, note(ctx, err)
}

func (w watched) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := w.q.QueryContext(ctx, query, args...)
	return rows, note(ctx, err)
}

func (w watched) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	row := w.q.QueryRowContext(ctx, query, args...)
	_ = note(ctx, row.Err())
	return row
}
