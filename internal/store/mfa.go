package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Factor is one second factor of a person (table mfa_factors, migration
// 00026): kind "totp" today; passkeys are more rows of other kinds.
type Factor struct {
	ID      string
	Subject string
	Kind    string
	Name    string
	// SecretSealed is the factor's secret sealed with the encryption key
	// and bound to ID (never returned by the API).
	SecretSealed string
	// PublicData is a credential's public part (none for TOTP).
	PublicData string
	// LastStep is the highest TOTP time step accepted.
	LastStep int64
	// ConfirmedAt is zero while the enrolment waits for its first code.
	ConfirmedAt time.Time
	CreatedAt   time.Time
	LastUsedAt  time.Time
}

// Confirmed reports whether the factor's enrolment is complete.
func (f *Factor) Confirmed() bool { return !f.ConfirmedAt.IsZero() }

const factorColumns = `id, subject, kind, name, secret_sealed, public_data, last_step, confirmed_at, created_at, last_used_at`

func scanFactor(row interface{ Scan(...any) error }) (*Factor, error) {
	var f Factor
	var confirmed, created, used int64
	if err := row.Scan(&f.ID, &f.Subject, &f.Kind, &f.Name, &f.SecretSealed, &f.PublicData, &f.LastStep, &confirmed, &created, &used); err != nil {
		return nil, classify(err)
	}
	f.ConfirmedAt, f.CreatedAt, f.LastUsedAt = fromMillis(confirmed), fromMillis(created), fromMillis(used)
	return &f, nil
}

// CreateFactor inserts f (pending unless ConfirmedAt is set).
func (q *Q) CreateFactor(ctx context.Context, f *Factor) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO mfa_factors (`+factorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.Subject, f.Kind, f.Name, f.SecretSealed, f.PublicData, f.LastStep, toMillis(f.ConfirmedAt), toMillis(f.CreatedAt), toMillis(f.LastUsedAt))
	if err != nil {
		return fmt.Errorf("create factor: %w", classify(err))
	}
	return nil
}

// ListFactors lists subject's factors, pending ones included, oldest first.
func (q *Q) ListFactors(ctx context.Context, subject string) ([]*Factor, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+factorColumns+` FROM mfa_factors WHERE subject = $1 ORDER BY created_at, id`, subject)
	if err != nil {
		return nil, fmt.Errorf("list factors: %w", classify(err))
	}
	defer rows.Close()
	out := []*Factor{}
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, fmt.Errorf("list factors: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list factors: %w", classify(err))
	}
	return out, nil
}

// GetFactor reads subject's factor id (ErrNotFound when it is another's).
func (q *Q) GetFactor(ctx context.Context, subject, id string) (*Factor, error) {
	f, err := scanFactor(q.q.QueryRowContext(ctx, `SELECT `+factorColumns+` FROM mfa_factors WHERE id = $1 AND subject = $2`, id, subject))
	if err != nil {
		return nil, fmt.Errorf("factor %s: %w", id, err)
	}
	return f, nil
}

// UseFactorStep records that TOTP step was accepted for factor id: it
// succeeds (true) only if no code of that step or a later one was accepted
// before, in one atomic UPDATE, so a code works once however many replicas
// see it at the same moment. A pending factor is confirmed by its first
// good code.
func (q *Q) UseFactorStep(ctx context.Context, subject, id string, step int64, now time.Time) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE mfa_factors SET last_step = $3, last_used_at = $4,
			confirmed_at = CASE WHEN confirmed_at = 0 THEN $4 ELSE confirmed_at END
		WHERE id = $1 AND subject = $2 AND last_step < $3`, id, subject, step, toMillis(now))
	if err != nil {
		return false, fmt.Errorf("use factor step: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use factor step: %w", err)
	}
	return n == 1, nil
}

// DeleteFactor removes subject's factor id (ErrNotFound if none).
func (q *Q) DeleteFactor(ctx context.Context, subject, id string) error {
	res, err := q.q.ExecContext(ctx, `DELETE FROM mfa_factors WHERE id = $1 AND subject = $2`, id, subject)
	if err != nil {
		return fmt.Errorf("delete factor: %w", classify(err))
	}
	return expectOne(res, "mfa_factors", id)
}

// DeletePendingFactors removes subject's unconfirmed factors of kind: a new
// enrolment replaces an abandoned one.
func (q *Q) DeletePendingFactors(ctx context.Context, subject, kind string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM mfa_factors WHERE subject = $1 AND kind = $2 AND confirmed_at = 0`, subject, kind); err != nil {
		return fmt.Errorf("delete pending factors: %w", classify(err))
	}
	return nil
}

// DeleteFactorsOfSubject removes every factor and recovery code of subject
// and clears its failed attempts (an administrator's reset). It returns the
// number of factors removed.
func (q *Q) DeleteFactorsOfSubject(ctx context.Context, subject string) (int64, error) {
	res, err := q.q.ExecContext(ctx, `DELETE FROM mfa_factors WHERE subject = $1`, subject)
	if err != nil {
		return 0, fmt.Errorf("delete factors: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	for _, stmt := range []string{`DELETE FROM mfa_recovery_codes WHERE subject = $1`, `DELETE FROM mfa_attempts WHERE subject = $1`} {
		if _, err := q.q.ExecContext(ctx, stmt, subject); err != nil {
			return 0, fmt.Errorf("delete factors: %w", classify(err))
		}
	}
	return n, nil
}

// ReplaceRecoveryCodes makes hashes subject's recovery codes, dropping the
// previous set.
func (q *Q) ReplaceRecoveryCodes(ctx context.Context, subject string, hashes []string, now time.Time) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE subject = $1`, subject); err != nil {
		return fmt.Errorf("replace recovery codes: %w", classify(err))
	}
	for _, h := range hashes {
		if _, err := q.q.ExecContext(ctx, `INSERT INTO mfa_recovery_codes (subject, code_hash, created_at) VALUES ($1, $2, $3)`,
			subject, h, toMillis(now)); err != nil {
			return fmt.Errorf("replace recovery codes: %w", classify(err))
		}
	}
	return nil
}

// DeleteRecoveryCodes removes subject's recovery codes (the last factor
// is gone: nothing left to recover).
func (q *Q) DeleteRecoveryCodes(ctx context.Context, subject string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE subject = $1`, subject); err != nil {
		return fmt.Errorf("delete recovery codes: %w", classify(err))
	}
	return nil
}

// UseRecoveryCode spends subject's unused recovery code of hash hash, and
// reports whether there was one: one atomic UPDATE, so a code works once.
func (q *Q) UseRecoveryCode(ctx context.Context, subject, hash string, now time.Time) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE mfa_recovery_codes SET used_at = $3 WHERE subject = $1 AND code_hash = $2 AND used_at = 0`,
		subject, hash, toMillis(now))
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return n == 1, nil
}

// RecoveryCodes counts subject's recovery codes left unused, and says when
// the set was made (zero without a set).
func (q *Q) RecoveryCodes(ctx context.Context, subject string) (left int, created time.Time, err error) {
	var total, unused, at sql.NullInt64
	err = q.q.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CASE WHEN used_at = 0 THEN 1 ELSE 0 END), MAX(created_at)
		FROM mfa_recovery_codes WHERE subject = $1`, subject).Scan(&total, &unused, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("recovery codes: %w", classify(err))
	}
	return int(unused.Int64), fromMillis(at.Int64), nil
}

// ErrFactorLocked: too many failed second-factor attempts; every attempt is
// refused until the lock ends.
var ErrFactorLocked = errors.New("second factor locked after too many failed attempts")

// BeginFactorAttempt counts a second-factor attempt of subject before the
// code is checked, like BeginLocalPasswordAttempt: the count goes up by one
// (restarting at 1 after an expired lock), and the attempt that reaches
// maxFailures locks until now+lockFor. During a lock it counts nothing and
// returns ErrFactorLocked with the lock's end. The caller calls
// ClearFactorAttempts after a good code.
func (q *Q) BeginFactorAttempt(ctx context.Context, subject string, now time.Time, maxFailures int, lockFor time.Duration) (failed int, lockedUntil time.Time, err error) {
	var n, until int64
	err = q.q.QueryRowContext(ctx, `INSERT INTO mfa_attempts (subject, failed_attempts, locked_until)
		VALUES ($1, 1, CASE WHEN 1 >= CAST($3 AS BIGINT) THEN CAST($4 AS BIGINT) ELSE 0 END)
		ON CONFLICT (subject) DO UPDATE SET
			failed_attempts = CASE WHEN mfa_attempts.locked_until <> 0 THEN 1 ELSE mfa_attempts.failed_attempts + 1 END,
			locked_until = CASE
				WHEN (CASE WHEN mfa_attempts.locked_until <> 0 THEN 1 ELSE mfa_attempts.failed_attempts + 1 END) >= CAST($3 AS BIGINT) THEN CAST($4 AS BIGINT)
				ELSE 0 END
		WHERE mfa_attempts.locked_until <= CAST($2 AS BIGINT)
		RETURNING failed_attempts, locked_until`,
		subject, toMillis(now), int64(maxFailures), toMillis(now.Add(lockFor))).Scan(&n, &until)
	if errors.Is(err, sql.ErrNoRows) {
		var lockedMs int64
		if err := q.q.QueryRowContext(ctx, `SELECT locked_until FROM mfa_attempts WHERE subject = $1`, subject).Scan(&lockedMs); err != nil {
			return 0, time.Time{}, fmt.Errorf("begin factor attempt: %w", classify(err))
		}
		return 0, fromMillis(lockedMs), ErrFactorLocked
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("begin factor attempt: %w", classify(err))
	}
	return int(n), fromMillis(until), nil
}

// ClearFactorAttempts resets subject's failed second-factor attempts after
// a good code.
func (q *Q) ClearFactorAttempts(ctx context.Context, subject string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM mfa_attempts WHERE subject = $1`, subject); err != nil {
		return fmt.Errorf("clear factor attempts: %w", classify(err))
	}
	return nil
}

// MFAPolicy reads an organization's multi-factor mode ("" when it set none).
func (q *Q) MFAPolicy(ctx context.Context, orgID string) (string, time.Time, error) {
	var mode string
	var at int64
	err := q.q.QueryRowContext(ctx, `SELECT mode, updated_at FROM mfa_policies WHERE organization_id = $1`, orgID).Scan(&mode, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mfa policy: %w", classify(err))
	}
	return mode, fromMillis(at), nil
}

// SetMFAPolicy sets an organization's multi-factor mode.
func (q *Q) SetMFAPolicy(ctx context.Context, orgID, mode string, now time.Time) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO mfa_policies (organization_id, mode, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at`, orgID, mode, toMillis(now))
	if err != nil {
		return fmt.Errorf("set mfa policy: %w", classify(err))
	}
	return nil
}

// MFAPoliciesOfSubject lists the multi-factor modes set by the
// organizations where subject is a user in state (active).
func (q *Q) MFAPoliciesOfSubject(ctx context.Context, subject, state string) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT p.mode FROM users u JOIN mfa_policies p ON p.organization_id = u.organization_id
		WHERE u.subject = $1 AND u.state = $2`, subject, state)
	if err != nil {
		return nil, fmt.Errorf("mfa policies of subject: %w", classify(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("mfa policies of subject: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mfa policies of subject: %w", classify(err))
	}
	return out, nil
}
