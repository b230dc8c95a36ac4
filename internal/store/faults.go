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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/telemetry"
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
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL,
			// A statement is interrupted when its context ends: the
			// database timeout passed (a client that went away is told
			// apart by its request's context, before this is asked).
			sqlite3.SQLITE_INTERRUPT:
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
// intervention (57P01-57P03: shutdown, cannot connect now), the transaction
// conflicts a retry resolves (40001 serialization failure, 40P01
// deadlock), and the server's own timeouts (57014: statement_timeout,
// 55P03: lock_timeout; see WithTimeout). Everything else is the statement's
// fault.
func unavailableSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "40001", "40P01", "57014", "55P03":
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
// it classified. An error met after the caller's context was canceled (the
// client went away) is the caller's doing, not the database's: it is
// returned as it is and notes nothing.
func note(ctx context.Context, err error) error {
	if err == nil || errors.Is(ctx.Err(), context.Canceled) || !IsUnavailable(err) {
		return err
	}
	if o, ok := ctx.Value(outageKey{}).(*Outage); ok {
		o.seen.Store(true)
	}
	return unavailable(err)
}

// errDeadline is the cause of a context that reached the store's timeout.
var errDeadline = errors.New("no answer within the database timeout")

// unit is one unit of database work bounded by the store's timeout (see
// WithTimeout): a statement outside a transaction, or a transaction with
// all its statements.
type unit struct {
	// ctx is the caller's context, ending at the deadline.
	ctx     context.Context
	timeout time.Duration
	// stop releases ctx; nil when there is no timeout.
	stop context.CancelFunc

	mu sync.Mutex
	// kept release the contexts of the unit's queries, whose rows outlive
	// the call that made them.
	kept []context.CancelFunc
}

// bound starts a unit of work under ctx ending after timeout (never, when
// timeout is not positive).
func bound(ctx context.Context, timeout time.Duration) *unit {
	if timeout <= 0 {
		return &unit{ctx: ctx}
	}
	c, stop := context.WithTimeoutCause(ctx, timeout, errDeadline)
	return &unit{ctx: c, timeout: timeout, stop: stop}
}

// bound starts a unit of work bounded by the store's timeout.
func (s *Store) bound(ctx context.Context) *unit { return bound(ctx, s.timeout) }

// end releases the unit's contexts; its statements' rows must be closed.
func (u *unit) end() {
	u.mu.Lock()
	kept := u.kept
	u.kept = nil
	u.mu.Unlock()
	for _, c := range kept {
		c()
	}
	if u.stop != nil {
		u.stop()
	}
}

// keep holds the release of a query's context until the unit ends: the
// query's rows are read after the call that made them returned. A unit
// that is a single statement is never ended: its context is released at
// its deadline, or with the caller's context, whichever comes first.
func (u *unit) keep(release context.CancelFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.kept = append(u.kept, release)
}

// statement returns the context of one statement of the unit: the one the
// caller passed (with its values), ending at the unit's deadline too, and
// its release.
func (u *unit) statement(ctx context.Context) (context.Context, context.CancelFunc) {
	if u.stop == nil || ctx == u.ctx {
		return ctx, func() {}
	}
	d, _ := u.ctx.Deadline()
	return context.WithDeadlineCause(ctx, d, errDeadline)
}

// classify makes err ErrUnavailable when the deadline of the unit (or of
// the statement's context stmt) has passed: whatever the driver made of the
// interruption (a timeout, a closed connection, an interrupted SQLite
// statement, a transaction already rolled back), the database did not
// answer in time. Other errors pass unchanged.
func (u *unit) classify(stmt context.Context, err error) error {
	if err == nil || u.stop == nil || errors.Is(err, errDeadline) ||
		!errors.Is(context.Cause(u.ctx), errDeadline) && !errors.Is(context.Cause(stmt), errDeadline) {
		return err
	}
	return fmt.Errorf("%w (%w, %s): %w", ErrUnavailable, errDeadline, u.timeout, err)
}

// watched passes every statement to q, bounded by the store's timeout, and
// notes database faults on the context's Outage.
type watched struct {
	q querier
	// timeout bounds each statement outside a transaction.
	timeout time.Duration
	// tx is the transaction the statements belong to: they end at its
	// deadline. Nil outside a transaction.
	tx *unit
	// dialect names the engine in the spans of statements outside a
	// transaction (see startSpan).
	dialect Dialect
}

// start returns the unit a statement belongs to, the context to run it in
// and the release of that context.
func (w watched) start(ctx context.Context) (*unit, context.Context, context.CancelFunc) {
	if w.tx != nil {
		c, release := w.tx.statement(ctx)
		return w.tx, c, release
	}
	u := bound(ctx, w.timeout)
	if u.stop == nil {
		return u, ctx, func() {}
	}
	return u, u.ctx, u.stop
}

// span starts a statement's span: outside a transaction only (see
// startSpan).
func (w watched) span(ctx context.Context, query string) (context.Context, trace.Span) {
	if w.tx != nil {
		return ctx, trace.SpanFromContext(context.Background()) // the no-op span, allocating nothing
	}
	return startStatementSpan(ctx, w.dialect, query)
}

func (w watched) ExecContext(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	ctx, span := w.span(ctx, query)
	defer func() { telemetry.End(span, err) }()
	u, c, release := w.start(ctx)
	defer release()
	res, err = w.q.ExecContext(c, query, args...)
	return res, note(ctx, u.classify(c, err))
}

func (w watched) QueryContext(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	ctx, span := w.span(ctx, query)
	defer func() { telemetry.End(span, err) }()
	u, c, release := w.start(ctx)
	rows, err = w.q.QueryContext(c, query, args...)
	if err != nil {
		release()
		return rows, note(ctx, u.classify(c, err))
	}
	u.keep(release)
	return rows, nil
}

func (w watched) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, span := w.span(ctx, query)
	u, c, release := w.start(ctx)
	row := w.q.QueryRowContext(c, query, args...)
	err := note(ctx, u.classify(c, row.Err()))
	u.keep(release)
	telemetry.End(span, err)
	return row
}
