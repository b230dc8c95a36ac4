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
	// ErrInvalidInput: the database refused a value as data it cannot hold
	// (see IsInvalidInput): the request's fault, a 400, never a 500.
	ErrInvalidInput = errors.New("value the database cannot store")
)

// IsInvalidInput reports whether err (however wrapped) is the database
// refusing a value of the statement: on PostgreSQL a data exception such as
// a NUL byte or invalid UTF-8 in text (SQLSTATE 22021, 22P05), a value too
// long or out of range, or text that does not parse as the column's type;
// on SQLite a string or blob over its size limit. The API refuses such
// input before it reaches the store; this is the net behind that check.
func IsInvalidInput(err error) bool {
	if errors.Is(err, ErrInvalidInput) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "22021", "22P05", "22001", "22003", "22007", "22008", "22P02":
			return true
		}
		return false
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_TOOBIG
}

// classify maps engine-specific constraint errors onto the store's errors,
// refused values onto ErrInvalidInput, and database faults onto
// ErrUnavailable. SQLite reports extended result
// codes, PostgreSQL SQLSTATEs.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if IsInvalidInput(err) {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
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
