package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// States of an OutboxMessage.
const (
	OutboxQueued = "queued"
	OutboxSent   = "sent"
	OutboxFailed = "failed"
)

// OutboxMessage is one mail in the outbox (migration 00027).
type OutboxMessage struct {
	ID, Kind, Recipient, Lang string
	// Body is the sealed message data; "" once sent or given up.
	Body          string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    time.Time
	LeaseOwner    string
	LastError     string
	CreatedAt     time.Time
	// ExpiresAt: past it the message is not sent (zero: never).
	ExpiresAt time.Time
	DoneAt    time.Time
}

const outboxColumns = "id, kind, recipient, lang, body, state, attempts, next_attempt_at, lease_until, lease_owner, last_error, created_at, expires_at, done_at"

func scanOutbox(row interface{ Scan(...any) error }) (*OutboxMessage, error) {
	var (
		m                                   OutboxMessage
		next, lease, created, expires, done int64
	)
	if err := row.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Lang, &m.Body, &m.State, &m.Attempts, &next, &lease, &m.LeaseOwner,
		&m.LastError, &created, &expires, &done); err != nil {
		return nil, err
	}
	m.NextAttemptAt, m.LeaseUntil, m.CreatedAt = fromMillis(next), fromMillis(lease), fromMillis(created)
	m.ExpiresAt, m.DoneAt = fromMillis(expires), fromMillis(done)
	return &m, nil
}

// EnqueueMail adds m to the outbox as queued, due at m.NextAttemptAt. Run
// it in the transaction of the event the message tells of.
func (q *Q) EnqueueMail(ctx context.Context, m *OutboxMessage) error {
	if _, err := q.q.ExecContext(ctx, `INSERT INTO mail_outbox (id, kind, recipient, lang, body, state, attempts, next_attempt_at, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)`,
		m.ID, m.Kind, m.Recipient, m.Lang, m.Body, OutboxQueued, toMillis(m.NextAttemptAt), toMillis(m.CreatedAt), toMillis(m.ExpiresAt)); err != nil {
		return fmt.Errorf("enqueue mail: %w", classify(err))
	}
	return nil
}

// ClaimMail leases up to limit queued messages due at now (their lease,
// if any, run out) to owner until leaseUntil, counting an attempt on each,
// and returns them. Claims of concurrent workers never overlap: on
// PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED
// (a second worker takes other rows instead of waiting), on SQLite the
// one writer makes the conditional UPDATE atomic; either way the UPDATE
// re-checks the lease, so a row goes to one owner per lease.
func (q *Q) ClaimMail(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]*OutboxMessage, error) {
	lock := ""
	if q.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := q.q.QueryContext(ctx, `UPDATE mail_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
		WHERE state = $3 AND next_attempt_at <= $4 AND lease_until <= $4 AND id IN (
			SELECT id FROM mail_outbox WHERE state = $3 AND next_attempt_at <= $4 AND lease_until <= $4
			ORDER BY next_attempt_at, id LIMIT $5`+lock+`)
		RETURNING `+outboxColumns,
		owner, toMillis(leaseUntil), OutboxQueued, toMillis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", classify(err))
	}
	defer rows.Close()
	var out []*OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("claim mail: %w", classify(err))
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", classify(err))
	}
	return out, nil
}

// ErrLeaseLost: the message's lease passed to another owner (or the row is
// gone): its outcome is no longer this worker's to record.
var ErrLeaseLost = errors.New("the message's lease is no longer held")

// MarkMailSent records that owner delivered message id at now: the row is
// sent, its body (the link) erased.
func (q *Q) MarkMailSent(ctx context.Context, id, owner string, now time.Time) error {
	return q.finishMail(ctx, "mark mail sent", `UPDATE mail_outbox SET state = $1, body = '', lease_until = 0, last_error = '', done_at = $2
		WHERE id = $3 AND lease_owner = $4 AND state = $5`, OutboxSent, toMillis(now), id, owner, OutboxQueued)
}

// RetryMail records owner's failed attempt at message id: due again at
// next, with the error (never the message) kept for operators.
func (q *Q) RetryMail(ctx context.Context, id, owner, lastError string, next time.Time) error {
	return q.finishMail(ctx, "retry mail", `UPDATE mail_outbox SET lease_until = 0, next_attempt_at = $1, last_error = $2
		WHERE id = $3 AND lease_owner = $4 AND state = $5`, toMillis(next), lastError, id, owner, OutboxQueued)
}

// FailMail gives up on message id (owner's lease): failed, body erased.
func (q *Q) FailMail(ctx context.Context, id, owner, lastError string, now time.Time) error {
	return q.finishMail(ctx, "fail mail", `UPDATE mail_outbox SET state = $1, body = '', lease_until = 0, last_error = $2, done_at = $3
		WHERE id = $4 AND lease_owner = $5 AND state = $6`, OutboxFailed, lastError, toMillis(now), id, owner, OutboxQueued)
}

func (q *Q) finishMail(ctx context.Context, what, query string, args ...any) error {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrLeaseLost)
	}
	return nil
}

// GetMail reads message id (ErrNotFound if there is none).
func (q *Q) GetMail(ctx context.Context, id string) (*OutboxMessage, error) {
	m, err := scanOutbox(q.q.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM mail_outbox WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get mail: %w", classify(err))
	}
	return m, nil
}

// PruneMail deletes the sent and failed messages done before before, and
// returns how many.
func (q *Q) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.q.ExecContext(ctx, "DELETE FROM mail_outbox WHERE state <> $1 AND done_at < $2", OutboxQueued, toMillis(before))
	if err != nil {
		return 0, fmt.Errorf("prune mail: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune mail: %w", err)
	}
	return n, nil
}

// OutboxStats is what the metrics show of the outbox.
type OutboxStats struct {
	// Queued counts the messages not yet sent or given up.
	Queued int64
	// OldestQueued is when the oldest of them was queued (zero if none).
	OldestQueued time.Time
}

// MailStats counts the queued messages and finds the oldest.
func (q *Q) MailStats(ctx context.Context) (OutboxStats, error) {
	var (
		st     OutboxStats
		oldest *int64
	)
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*), MIN(created_at) FROM mail_outbox WHERE state = $1", OutboxQueued).Scan(&st.Queued, &oldest); err != nil {
		return st, fmt.Errorf("mail stats: %w", classify(err))
	}
	if oldest != nil {
		st.OldestQueued = fromMillis(*oldest)
	}
	return st, nil
}
