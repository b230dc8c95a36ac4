package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// BrowserSession is a browser's single sign-on session at the OpenID Connect
// provider (table oidc_browser_sessions): who logged in, when and how. The
// cookie's value is never stored, only its SHA-256.
type BrowserSession struct {
	IDHash   string
	Subject  string
	AuthTime time.Time
	AMR      string // space-separated
	ACR      string
	// IdP is who vouched for the login: a login continued from the session
	// (single sign-on, prompt=none) is vouched for by the same provider.
	IdP       IdP
	CreatedAt time.Time
	ExpiresAt time.Time
	// UserAgent and ClientAddress are the browser's User-Agent and address
	// at login (migration 00023; '' for older sessions), shown on the
	// account page so that a person recognizes their devices.
	UserAgent     string
	ClientAddress string
	// LastUsedAt is when single sign-on last reused the session (zero:
	// never).
	LastUsedAt time.Time
}

const browserSessionColumns = `id_hash, subject, auth_time, amr, acr, created_at, expires_at,
	idp_org, idp_id, idp_issuer, idp_subject, user_agent, client_address, last_used_at`

func scanBrowserSession(row interface{ Scan(...any) error }) (*BrowserSession, error) {
	var s BrowserSession
	var authTime, created, expires, lastUsed int64
	if err := row.Scan(&s.IDHash, &s.Subject, &authTime, &s.AMR, &s.ACR, &created, &expires, &s.IdP.Org, &s.IdP.ID,
		&s.IdP.Issuer, &s.IdP.Subject, &s.UserAgent, &s.ClientAddress, &lastUsed); err != nil {
		return nil, classify(err)
	}
	s.AuthTime, s.CreatedAt, s.ExpiresAt = fromMillis(authTime), fromMillis(created), fromMillis(expires)
	if lastUsed > 0 {
		s.LastUsedAt = fromMillis(lastUsed)
	}
	return &s, nil
}

// ReplaceBrowserSession stores s, deleting the session the same browser had
// before (previousHash, ” if none) in the same transaction, so that a login
// in a browser leaves it exactly one session.
func (q *Q) ReplaceBrowserSession(ctx context.Context, previousHash string, s *BrowserSession) error {
	if previousHash != "" {
		if err := q.DeleteBrowserSession(ctx, previousHash); err != nil {
			return err
		}
	}
	var lastUsed int64
	if !s.LastUsedAt.IsZero() {
		lastUsed = toMillis(s.LastUsedAt)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_browser_sessions (`+browserSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		s.IDHash, s.Subject, toMillis(s.AuthTime), s.AMR, s.ACR, toMillis(s.CreatedAt), toMillis(s.ExpiresAt),
		s.IdP.Org, s.IdP.ID, s.IdP.Issuer, s.IdP.Subject, s.UserAgent, s.ClientAddress, lastUsed)
	if err != nil {
		return fmt.Errorf("create browser session: %w", classify(err))
	}
	return nil
}

// GetBrowserSession reads the unexpired session with that cookie hash
// (ErrNotFound otherwise).
func (q *Q) GetBrowserSession(ctx context.Context, idHash string, now time.Time) (*BrowserSession, error) {
	s, err := scanBrowserSession(q.q.QueryRowContext(ctx, "SELECT "+browserSessionColumns+
		" FROM oidc_browser_sessions WHERE id_hash = $1 AND expires_at > $2", idHash, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("browser session: %w", err)
	}
	return s, nil
}

// BrowserSessionsOfSubject lists subject's unexpired browser sessions,
// newest first.
func (q *Q) BrowserSessionsOfSubject(ctx context.Context, subject string, now time.Time) ([]*BrowserSession, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+browserSessionColumns+
		" FROM oidc_browser_sessions WHERE subject = $1 AND expires_at > $2 ORDER BY created_at DESC, id_hash", subject, toMillis(now))
	if err != nil {
		return nil, fmt.Errorf("browser sessions of subject: %w", classify(err))
	}
	defer rows.Close()
	var out []*BrowserSession
	for rows.Next() {
		s, err := scanBrowserSession(rows)
		if err != nil {
			return nil, fmt.Errorf("browser sessions of subject: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("browser sessions of subject: %w", classify(err))
	}
	return out, nil
}

// TouchBrowserSession records that single sign-on reused the session at
// now. It writes at most once a minute per session: the time is shown to
// people, and a write per authorization request would cost more than the
// minute is worth.
func (q *Q) TouchBrowserSession(ctx context.Context, idHash string, now time.Time) error {
	ms := toMillis(now)
	if _, err := q.q.ExecContext(ctx, "UPDATE oidc_browser_sessions SET last_used_at = $2 WHERE id_hash = $1 AND last_used_at < $3",
		idHash, ms, ms-time.Minute.Milliseconds()); err != nil {
		return fmt.Errorf("touch browser session: %w", classify(err))
	}
	return nil
}

// DeleteBrowserSession ends a browser session; an unknown hash changes
// nothing.
func (q *Q) DeleteBrowserSession(ctx context.Context, idHash string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM oidc_browser_sessions WHERE id_hash = $1", idHash); err != nil {
		return fmt.Errorf("delete browser session: %w", classify(err))
	}
	return nil
}

// ConsentedScopes returns the scopes subject allowed client (none if the
// user never consented).
func (q *Q) ConsentedScopes(ctx context.Context, subject, clientID string) ([]string, error) {
	var scopes string
	err := q.q.QueryRowContext(ctx, "SELECT scopes FROM oidc_consents WHERE subject = $1 AND client_id = $2",
		subject, clientID).Scan(&scopes)
	if errors.Is(classify(err), ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consent: %w", classify(err))
	}
	return strings.Fields(scopes), nil
}

// Consent is what a subject allowed a client (table oidc_consents).
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// ConsentsOfSubject lists the consents subject gave, by client ID.
func (q *Q) ConsentsOfSubject(ctx context.Context, subject string) ([]*Consent, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT subject, client_id, scopes, granted_at FROM oidc_consents WHERE subject = $1 ORDER BY client_id", subject)
	if err != nil {
		return nil, fmt.Errorf("consents: %w", classify(err))
	}
	defer rows.Close()
	var out []*Consent
	for rows.Next() {
		var c Consent
		var scopes string
		var granted int64
		if err := rows.Scan(&c.Subject, &c.ClientID, &scopes, &granted); err != nil {
			return nil, fmt.Errorf("consents: %w", classify(err))
		}
		c.Scopes, c.GrantedAt = strings.Fields(scopes), fromMillis(granted)
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consents: %w", classify(err))
	}
	return out, nil
}

// DeleteConsent forgets what subject allowed client: the next login asks
// again (for a client that asks). ErrNotFound when there was no consent.
func (q *Q) DeleteConsent(ctx context.Context, subject, clientID string) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM oidc_consents WHERE subject = $1 AND client_id = $2", subject, clientID)
	if err != nil {
		return fmt.Errorf("delete consent: %w", classify(err))
	}
	return expectOne(res, "oidc_consents", clientID)
}

// GrantConsent adds scopes to what subject allowed client. Call it inside
// Store.Tx: the read and the write must see the same row.
func (q *Q) GrantConsent(ctx context.Context, subject, clientID string, scopes []string, now time.Time) error {
	have, err := q.ConsentedScopes(ctx, subject, clientID)
	if err != nil {
		return err
	}
	for _, s := range scopes {
		if !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO oidc_consents (subject, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		subject, clientID, strings.Join(have, " "), toMillis(now))
	if err != nil {
		return fmt.Errorf("grant consent: %w", classify(err))
	}
	return nil
}

// subjectLockSpace keeps LockSubject's advisory locks apart from the others
// ("subj" in ASCII).
const subjectLockSpace int32 = 0x7375626a

// LockSubject serializes, for the rest of the transaction, the writers that
// decide from "this subject has no user record yet" (onboarding), so that
// two concurrent onboardings of one person cannot both see none. PostgreSQL:
// a transaction-scoped advisory lock on the subject's hash; SQLite: BEGIN
// IMMEDIATE already holds the database's single write lock.
func (q *Q) LockSubject(ctx context.Context, subject string) error {
	if q.dialect != Postgres || !q.inTx {
		return nil
	}
	if _, err := q.q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", subjectLockSpace, subject); err != nil {
		return fmt.Errorf("lock subject: %w", err)
	}
	return nil
}

// Signup is a signup link of a pending user (table user_signups).
type Signup struct {
	TokenHash      string
	OrganizationID string
	UserID         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// ReplaceSignup stores s as the one signup link of its user: an earlier link
// stops working.
func (q *Q) ReplaceSignup(ctx context.Context, s *Signup) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM user_signups WHERE user_id = $1", s.UserID); err != nil {
		return fmt.Errorf("replace signup: %w", classify(err))
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO user_signups (token_hash, organization_id, user_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, s.TokenHash, s.OrganizationID, s.UserID, toMillis(s.CreatedAt), toMillis(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create signup: %w", classify(err))
	}
	return nil
}

// TakeSignup deletes and returns the unexpired signup link with that token
// hash, so that it works once (ErrNotFound otherwise).
func (q *Q) TakeSignup(ctx context.Context, tokenHash string, now time.Time) (*Signup, error) {
	var s Signup
	var created, expires int64
	err := q.q.QueryRowContext(ctx, `DELETE FROM user_signups WHERE token_hash = $1 AND expires_at > $2
		RETURNING token_hash, organization_id, user_id, created_at, expires_at`, tokenHash, toMillis(now)).
		Scan(&s.TokenHash, &s.OrganizationID, &s.UserID, &created, &expires)
	if err != nil {
		return nil, fmt.Errorf("signup: %w", classify(err))
	}
	s.CreatedAt, s.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &s, nil
}
