package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on. Every error the store returns wraps one of these
// or is an infrastructure failure.
var (
	// ErrNotFound: no row with that identity (in that scope).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule (name per scope, domain, ...) would break.
	ErrConflict = errors.New("conflict")
	// ErrReference: a referenced row does not exist.
	ErrReference = errors.New("reference to a missing resource")
)

// classify maps engine-specific constraint errors onto the store's errors,
// and database faults onto ErrUnavailable. SQLite reports extended result
// codes, PostgreSQL SQLSTATEs.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", ErrReference, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case "23503":
			return fmt.Errorf("%w: %v", ErrReference, err)
		}
	}
	return unavailable(err)
}
