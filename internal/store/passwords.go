package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// LocalPassword is the credential of a local user: someone who logs in with
// an email and a password kept by Gatehouse itself (the built-in password
// connector) instead of through an upstream identity provider. The hashing
// and the lockout policy belong to internal/connector; the store keeps the
// state and changes the counters atomically.
type LocalPassword struct {
	Email          string // lowercased; the key
	Hash           string // encoded hash, parameters included (PHC string)
	FailedAttempts int    // attempts since the last success, in flight ones included
	LockedUntil    time.Time
	UpdatedAt      time.Time // when the password was last set
	// OrganizationID owns the account: "" for the platform, or the one
	// organization whose logins it vouches for (migration 00021).
	OrganizationID string
}

// normalizeEmail is the key form of an email: trimmed and lowercased, so
// that Jo@Example.com and jo@example.com are one account.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const localPasswordColumns = "email, password_hash, failed_attempts, locked_until, updated_at, COALESCE(organization_id, '')"

func scanLocalPassword(row interface{ Scan(...any) error }) (*LocalPassword, error) {
	var (
		p               LocalPassword
		locked, updated int64
	)
	if err := row.Scan(&p.Email, &p.Hash, &p.FailedAttempts, &locked, &updated, &p.OrganizationID); err != nil {
		return nil, err
	}
	p.LockedUntil = fromMillis(locked)
	p.UpdatedAt = fromMillis(updated)
	return &p, nil
}

// SetLocalPassword creates email's platform-owned credential or replaces its
// hash (see SetOwnedLocalPassword): ErrConflict when an organization owns
// the address.
func (q *Q) SetLocalPassword(ctx context.Context, email, hash string, now time.Time) error {
	return q.SetOwnedLocalPassword(ctx, email, "", hash, now)
}

// SetOwnedLocalPassword creates email's credential owned by orgID ("" the
// platform) or replaces its hash. Either way the failure count and any lock
// are cleared: setting a password also unlocks the account. An address held
// by another owner's account is not taken over: ErrConflict, and nothing
// changes.
func (q *Q) SetOwnedLocalPassword(ctx context.Context, email, orgID, hash string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `INSERT INTO local_passwords (email, password_hash, failed_attempts, locked_until, updated_at, organization_id)
		VALUES ($1, $2, 0, 0, $3, NULLIF($4, ''))
		ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash, failed_attempts = 0,
			locked_until = 0, updated_at = excluded.updated_at
		WHERE COALESCE(local_passwords.organization_id, '') = $4`,
		normalizeEmail(email), hash, toMillis(now), orgID)
	if err != nil {
		return fmt.Errorf("set local password: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set local password: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("set local password: %w: the address has a local account of another owner", ErrConflict)
	}
	return nil
}

// GetLocalPassword reads email's credential (ErrNotFound if there is none).
func (q *Q) GetLocalPassword(ctx context.Context, email string) (*LocalPassword, error) {
	p, err := scanLocalPassword(q.q.QueryRowContext(ctx,
		"SELECT "+localPasswordColumns+" FROM local_passwords WHERE email = $1", normalizeEmail(email)))
	if err != nil {
		return nil, fmt.Errorf("get local password: %w", classify(err))
	}
	return p, nil
}

// BeginLocalPasswordAttempt counts a login attempt against email before its
// password is checked, and returns the credential to check it against. It is
// one UPDATE, so concurrent attempts each get their own count:
//
//   - an account locked at now is not touched, and the result is ErrNotFound,
//     exactly as for an unknown email;
//   - a lock that has expired is lifted and the count restarts at 1;
//   - otherwise the count grows by one, and the attempt that brings it to
//     maxFailures locks the account until now+lockFor.
//
// The caller allows the attempt only if the returned FailedAttempts is at
// most maxFailures, and calls ClearLocalPasswordFailures when the password
// was right. Counting first means that no number of concurrent guesses can
// check more than maxFailures passwords before the lock: each guess must
// win one of the maxFailures counts first.
func (q *Q) BeginLocalPasswordAttempt(ctx context.Context, email string, now time.Time, maxFailures int, lockFor time.Duration) (*LocalPassword, error) {
	p, err := scanLocalPassword(q.q.QueryRowContext(ctx, `UPDATE local_passwords SET
			failed_attempts = CASE WHEN locked_until <> 0 THEN 1 ELSE failed_attempts + 1 END,
			locked_until = CASE
				WHEN (CASE WHEN locked_until <> 0 THEN 1 ELSE failed_attempts + 1 END) >= CAST($3 AS BIGINT) THEN CAST($4 AS BIGINT)
				ELSE 0 END
		WHERE email = $1 AND locked_until <= CAST($2 AS BIGINT)
		RETURNING `+localPasswordColumns,
		normalizeEmail(email), toMillis(now), int64(maxFailures), toMillis(now.Add(lockFor))))
	if err != nil {
		return nil, fmt.Errorf("begin local password attempt: %w", classify(err))
	}
	return p, nil
}

// ClearLocalPasswordFailures resets email's failure count and lifts any lock,
// after a successful login.
func (q *Q) ClearLocalPasswordFailures(ctx context.Context, email string) error {
	if _, err := q.q.ExecContext(ctx, "UPDATE local_passwords SET failed_attempts = 0, locked_until = 0 WHERE email = $1",
		normalizeEmail(email)); err != nil {
		return fmt.Errorf("clear local password failures: %w", classify(err))
	}
	return nil
}

// ReplaceLocalPasswordHash swaps oldHash for newHash (the same password
// hashed with new parameters) unless the password changed meanwhile, and
// reports whether it did. updated_at is left alone: the password is the same.
func (q *Q) ReplaceLocalPasswordHash(ctx context.Context, email, oldHash, newHash string) (bool, error) {
	res, err := q.q.ExecContext(ctx, "UPDATE local_passwords SET password_hash = $3 WHERE email = $1 AND password_hash = $2",
		normalizeEmail(email), oldHash, newHash)
	if err != nil {
		return false, fmt.Errorf("replace local password hash: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replace local password hash: %w", err)
	}
	return n == 1, nil
}

// DeleteLocalPassword removes email's credential, whoever owns it
// (ErrNotFound if none).
func (q *Q) DeleteLocalPassword(ctx context.Context, email string) error {
	return q.deleteLocalPassword(ctx, "email = $1", normalizeEmail(email))
}

// DeleteOwnedLocalPassword removes email's credential if orgID ("" the
// platform) owns it (ErrNotFound otherwise: another owner's account is as
// unknown as a missing one).
func (q *Q) DeleteOwnedLocalPassword(ctx context.Context, email, orgID string) error {
	return q.deleteLocalPassword(ctx, "email = $1 AND COALESCE(organization_id, '') = $2", normalizeEmail(email), orgID)
}

func (q *Q) deleteLocalPassword(ctx context.Context, where string, args ...any) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM local_passwords WHERE "+where, args...)
	if err != nil {
		return fmt.Errorf("delete local password: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete local password: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete local password: %w", ErrNotFound)
	}
	return nil
}
