package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// UserProfile is what an upstream identity provider said of a person at
// their last login through it (OpenID Connect standard claims), keyed by
// subject (the email): userinfo answers it for the profile scope.
type UserProfile struct {
	Subject    string
	Name       string
	GivenName  string
	FamilyName string
	Picture    string
	Locale     string
	UpdatedAt  time.Time
}

// PutUserProfile records p, replacing what an earlier login recorded.
func (q *Q) PutUserProfile(ctx context.Context, p UserProfile) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO user_profiles (subject, name, given_name, family_name, picture, locale, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (subject) DO UPDATE SET name = excluded.name, given_name = excluded.given_name,
			family_name = excluded.family_name, picture = excluded.picture, locale = excluded.locale, updated_at = excluded.updated_at`,
		p.Subject, p.Name, p.GivenName, p.FamilyName, p.Picture, p.Locale, toMillis(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put profile of %s: %w", p.Subject, classify(err))
	}
	return nil
}

// GetUserProfile reads subject's profile; ErrNotFound when no upstream
// login recorded one.
func (q *Q) GetUserProfile(ctx context.Context, subject string) (*UserProfile, error) {
	p := UserProfile{Subject: subject}
	var updated int64
	err := q.q.QueryRowContext(ctx, `SELECT name, given_name, family_name, picture, locale, updated_at FROM user_profiles WHERE subject = $1`,
		subject).Scan(&p.Name, &p.GivenName, &p.FamilyName, &p.Picture, &p.Locale, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get profile of %s: %w", subject, classify(err))
	}
	p.UpdatedAt = fromMillis(updated)
	return &p, nil
}

// TouchUserActivity sets lastActive to now on every user row of subject
// (one per organization it is a member of) last marked active before
// now - every, and reports how many rows it wrote. The condition is the
// cross-replica bound: replicas that each decide to record the same
// person's activity within one interval write the rows once, the others'
// UPDATE matches nothing (no row version, no WAL on PostgreSQL).
func (q *Q) TouchUserActivity(ctx context.Context, subject string, now time.Time, every time.Duration) (int64, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE users SET last_active = $1 WHERE subject = $2 AND last_active < $3`,
		toMillis(now), subject, toMillis(now.Add(-every)))
	if err != nil {
		return 0, fmt.Errorf("touch activity of %s: %w", subject, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("touch activity of %s: %w", subject, err)
	}
	return n, nil
}
