package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Purposes of a LocalAccountLink.
const (
	// LinkInvite lets a person choose the first password of a local
	// account (and activates their pending user, for an organization's).
	LinkInvite = "invite"
	// LinkReset lets the person replace the password of an existing local
	// account.
	LinkReset = "reset"
	// LinkSetup creates the first human platform administrator.
	LinkSetup = "setup"
)

// LocalAccountLink is a single-use link that lets a person choose a
// password. Only the SHA-256 of its token is stored.
type LocalAccountLink struct {
	TokenHash string
	Purpose   string // LinkInvite, LinkReset or LinkSetup
	// Email is the account's address ("" for a setup link, where the
	// person chooses it).
	Email string
	// OrganizationID owns the account ("" the platform); UserID is the
	// organization's user the link activates ("" for platform links).
	OrganizationID, UserID string
	CreatedAt, ExpiresAt   time.Time
}

const linkColumns = "token_hash, purpose, email, COALESCE(organization_id, ''), user_id, created_at, expires_at"

func scanLink(row interface{ Scan(...any) error }) (*LocalAccountLink, error) {
	var (
		l                LocalAccountLink
		created, expires int64
	)
	if err := row.Scan(&l.TokenHash, &l.Purpose, &l.Email, &l.OrganizationID, &l.UserID, &created, &expires); err != nil {
		return nil, err
	}
	l.CreatedAt, l.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &l, nil
}

// ReplaceLocalAccountLink stores l and deletes the links it supersedes:
// for a setup link, every other setup link; otherwise every link of the
// same address and owner (a newer invitation or reset revokes the older
// ones; another owner's pending links are not touched).
func (q *Q) ReplaceLocalAccountLink(ctx context.Context, l *LocalAccountLink) error {
	var err error
	if l.Purpose == LinkSetup {
		_, err = q.q.ExecContext(ctx, "DELETE FROM local_account_links WHERE purpose = $1", LinkSetup)
	} else {
		_, err = q.q.ExecContext(ctx, "DELETE FROM local_account_links WHERE email = $1 AND purpose <> $2 AND COALESCE(organization_id, '') = $3",
			normalizeEmail(l.Email), LinkSetup, l.OrganizationID)
	}
	if err != nil {
		return fmt.Errorf("revoke older links: %w", classify(err))
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO local_account_links (token_hash, purpose, email, organization_id, user_id, created_at, expires_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7)`,
		l.TokenHash, l.Purpose, normalizeEmail(l.Email), l.OrganizationID, l.UserID, toMillis(l.CreatedAt), toMillis(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create local account link: %w", classify(err))
	}
	return nil
}

// GetLocalAccountLink reads the unexpired link whose token hashes to hash
// (ErrNotFound otherwise), without spending it.
func (q *Q) GetLocalAccountLink(ctx context.Context, hash string, now time.Time) (*LocalAccountLink, error) {
	l, err := scanLink(q.q.QueryRowContext(ctx, "SELECT "+linkColumns+" FROM local_account_links WHERE token_hash = $1 AND expires_at > $2",
		hash, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("get local account link: %w", classify(err))
	}
	return l, nil
}

// TakeLocalAccountLink spends the unexpired link whose token hashes to hash:
// it is deleted and returned (ErrNotFound if there is none, it expired, or
// another request spent it first). Run it in the transaction that does what
// the link allows, so that the link works once and only if that succeeds.
func (q *Q) TakeLocalAccountLink(ctx context.Context, hash string, now time.Time) (*LocalAccountLink, error) {
	l, err := scanLink(q.q.QueryRowContext(ctx, "DELETE FROM local_account_links WHERE token_hash = $1 AND expires_at > $2 RETURNING "+linkColumns,
		hash, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("take local account link: %w", classify(err))
	}
	return l, nil
}

// DeleteLocalAccountLinks deletes the pending links of email owned by orgID
// ("" the platform): what deleting the account, or its user, revokes.
func (q *Q) DeleteLocalAccountLinks(ctx context.Context, email, orgID string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM local_account_links WHERE email = $1 AND purpose <> $2 AND COALESCE(organization_id, '') = $3",
		normalizeEmail(email), LinkSetup, orgID); err != nil {
		return fmt.Errorf("delete local account links: %w", classify(err))
	}
	return nil
}

// ListLocalPasswords lists the local accounts orgID owns ("" the
// platform's), by email, a page at a time (Page.After is the last email of
// the previous page).
func (q *Q) ListLocalPasswords(ctx context.Context, orgID string, page Page) ([]*LocalPassword, error) {
	query := "SELECT " + localPasswordColumns + " FROM local_passwords WHERE COALESCE(organization_id, '') = $1 AND email > $2 ORDER BY email"
	args := []any{orgID, page.After}
	if page.Limit != NoLimit {
		query += " LIMIT $3"
		args = append(args, page.limit())
	}
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list local passwords: %w", classify(err))
	}
	defer rows.Close()
	var out []*LocalPassword
	for rows.Next() {
		p, err := scanLocalPassword(rows)
		if err != nil {
			return nil, fmt.Errorf("list local passwords: %w", classify(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list local passwords: %w", classify(err))
	}
	return out, nil
}

// HasUserWithPlatformRole reports whether a person (a user principal, not a
// service account) holds platform role roleID: whether a human platform
// administrator exists.
func (q *Q) HasUserWithPlatformRole(ctx context.Context, roleID string) (bool, error) {
	var one int
	err := q.q.QueryRowContext(ctx, "SELECT 1 FROM platform_role_bindings WHERE principal_type = $1 AND role_id = $2 LIMIT 1",
		MemberUser, roleID).Scan(&one)
	switch err = classify(err); {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("human platform roles: %w", err)
	}
	return true, nil
}

// EndLocalSessions ends what a local password login of subject began: its
// OIDC sessions (refresh families, latest access tokens) except the one
// whose latest access token is keepJTI ("" keeps none), and its browser
// sessions. For a password changed, reset or removed, and an account
// deleted: whoever knew the old password loses what it gave them.
func (q *Q) EndLocalSessions(ctx context.Context, subject, keepJTI string, now time.Time) ([]*OIDCSession, error) {
	rows, err := q.q.QueryContext(ctx, "DELETE FROM oidc_sessions WHERE subject = $1 AND idp_id = $2 AND ($3 = '' OR access_jti <> $3) RETURNING "+sessionColumns,
		subject, localIdP, keepJTI)
	if err != nil {
		return nil, fmt.Errorf("end local sessions: %w", classify(err))
	}
	var ended []*OIDCSession
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("end local sessions: %w", err)
		}
		ended = append(ended, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("end local sessions: %w", classify(err))
	}
	for _, s := range ended {
		if err := q.RevokeJTI(ctx, s.AccessJTI, s.AccessExpiresAt, now); err != nil {
			return nil, err
		}
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM oidc_browser_sessions WHERE subject = $1 AND idp_id = $2", subject, localIdP); err != nil {
		return nil, fmt.Errorf("end local browser sessions: %w", classify(err))
	}
	return ended, nil
}

// EndSessionsOfSubjectVouchedBy ends subject's sessions and browser sessions
// that organization org vouched for (its own identity providers, its local
// accounts): what suspending or removing the person's user in org ends,
// even when they stay active elsewhere, since such a login reaches org only.
func (q *Q) EndSessionsOfSubjectVouchedBy(ctx context.Context, subject, org string, now time.Time) ([]*OIDCSession, error) {
	if org == "" {
		return nil, errors.New("end sessions of subject vouched by: no organization")
	}
	ended, err := q.endSessions(ctx, "subject = $1 AND idp_org = $2", now, subject, org)
	if err != nil {
		return nil, fmt.Errorf("end sessions of %s vouched by %s: %w", subject, org, err)
	}
	return ended, nil
}

// localIdP is the IdP.ID of a password login (connector.LocalConnectorID).
const localIdP = "local"
