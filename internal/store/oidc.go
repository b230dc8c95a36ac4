package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// OIDCAuthRequest is an authorization request of the OpenID Connect provider
// (internal/oidc), from the authorization endpoint until its code is redeemed.
type OIDCAuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              string // space-separated
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	LoginHint           string
	CSRFHash            string
	// Prompt is the space-separated prompt parameter.
	Prompt string
	// MaxAge is the max_age parameter; negative when absent.
	MaxAge time.Duration
	// UILocale is the language the pages of this request are shown in.
	UILocale string
	// ACRValues are the space-separated acr values asked for, essential
	// when the claims parameter said so.
	ACRValues    string
	ACREssential bool
	// HintSubject is the subject of a verified id_token_hint.
	HintSubject string
	Subject     string
	AuthTime    time.Time
	AMR         string // space-separated
	ACR         string
	// SID is the sid of the browser session the login used (see
	// Authentication.SID).
	SID string
	// IdP is who vouched for the login (see Authentication.IdP).
	IdP IdP
	// Interaction is what the authenticated user must still do before the
	// request is done: "" (nothing), "onboard" or "consent".
	Interaction string
	Done        bool
	// CodeHash is the SHA-256 (hex) of the request's authorization code:
	// CreateAuthRequest stores it when the request is created done (single
	// sign-on), SaveAuthCode otherwise. Reads leave it empty.
	CodeHash      string
	CodeExpiresAt time.Time
	CodeUsed      bool
	IssuedJTI     string
	IssuedSession string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
	code_challenge, code_challenge_method, login_hint, csrf_hash, prompt, max_age, ui_locale, acr_values, acr_essential,
	hint_subject, subject, auth_time, amr, acr, interaction, done,
	code_expires_at, code_used, issued_jti, issued_session, created_at, expires_at, sid,
	idp_org, idp_id, idp_issuer, idp_subject`

func scanAuthRequest(row interface{ Scan(...any) error }) (*OIDCAuthRequest, error) {
	var a OIDCAuthRequest
	var authTime, codeExp, created, expires, maxAge int64
	if err := row.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.Scopes, &a.State, &a.Nonce, &a.ResponseType, &a.ResponseMode,
		&a.CodeChallenge, &a.CodeChallengeMethod, &a.LoginHint, &a.CSRFHash, &a.Prompt, &maxAge, &a.UILocale, &a.ACRValues,
		&a.ACREssential, &a.HintSubject, &a.Subject, &authTime, &a.AMR, &a.ACR, &a.Interaction, &a.Done,
		&codeExp, &a.CodeUsed, &a.IssuedJTI, &a.IssuedSession, &created, &expires, &a.SID,
		&a.IdP.Org, &a.IdP.ID, &a.IdP.Issuer, &a.IdP.Subject); err != nil {
		return nil, classify(err)
	}
	a.MaxAge = -1
	if maxAge >= 0 {
		a.MaxAge = time.Duration(maxAge) * time.Second
	}
	a.AuthTime, a.CodeExpiresAt = fromMillis(authTime), fromMillis(codeExp)
	a.CreatedAt, a.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &a, nil
}

// ErrCodeReplayed: an authorization code was presented a second time.
// ClaimAuthCode returns it with the request, so that the caller can revoke
// what the first redemption issued.
var ErrCodeReplayed = errors.New("authorization code already used")

// CreateAuthRequest inserts a new authorization request. A request created
// from a browser session is authenticated at once (Subject set, with AMR,
// ACR, AuthTime, Interaction and Done), and when done it may carry its code
// (CodeHash, CodeExpiresAt).
func (q *Q) CreateAuthRequest(ctx context.Context, a *OIDCAuthRequest) error {
	maxAge := int64(-1)
	if a.MaxAge >= 0 {
		maxAge = int64(a.MaxAge / time.Second)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_auth_requests (id, client_id, redirect_uri, scopes, state, nonce,
		response_type, response_mode, code_challenge, code_challenge_method, login_hint, csrf_hash, prompt, max_age,
		ui_locale, acr_values, acr_essential, hint_subject, subject, amr, acr, auth_time, interaction, done,
		code_hash, code_expires_at, created_at, expires_at, sid, idp_org, idp_id, idp_issuer, idp_subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
		$23, $24, NULLIF($25, ''), $26, $27, $28, $29, $30, $31, $32, $33)`,
		a.ID, a.ClientID, a.RedirectURI, a.Scopes, a.State, a.Nonce, a.ResponseType, a.ResponseMode,
		a.CodeChallenge, a.CodeChallengeMethod, a.LoginHint, a.CSRFHash, a.Prompt, maxAge, a.UILocale, a.ACRValues,
		a.ACREssential, a.HintSubject, a.Subject, a.AMR, a.ACR, toMillis(a.AuthTime), a.Interaction, a.Done,
		a.CodeHash, toMillis(a.CodeExpiresAt), toMillis(a.CreatedAt), toMillis(a.ExpiresAt), a.SID,
		a.IdP.Org, a.IdP.ID, a.IdP.Issuer, a.IdP.Subject)
	if err != nil {
		return fmt.Errorf("create auth request: %w", classify(err))
	}
	return nil
}

// GetAuthRequest reads an unexpired authorization request (ErrNotFound
// otherwise).
func (q *Q) GetAuthRequest(ctx context.Context, id string, now time.Time) (*OIDCAuthRequest, error) {
	a, err := scanAuthRequest(q.q.QueryRowContext(ctx,
		"SELECT "+authRequestColumns+" FROM oidc_auth_requests WHERE id = $1 AND expires_at > $2", id, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("auth request: %w", err)
	}
	return a, nil
}

// Authentication is who completed the login of an auth request, and how.
type Authentication struct {
	Subject  string
	AMR      string // space-separated
	ACR      string
	AuthTime time.Time
	// SID identifies the browser session of the login (the sid claim of
	// OpenID Connect Back-Channel Logout 1.0); "" when there is none.
	SID string
	// IdP is who vouched for the person: the identity provider that
	// authenticated them. Every token issued from the login carries it.
	IdP IdP
}

// IdP is the identity provider that authenticated a login (issue 12,
// finding 1: an email alone does not say who vouched for it). A provider
// registered by an organization (Org set) is trusted for that organization
// only; a platform provider (Org ”) and a local password (ID "local") are
// trusted for the platform. The zero IdP is a login from before migration
// 00018, which keeps the behaviour of that time.
type IdP struct {
	// Org is the organization that registered the provider; ” for a
	// platform provider or a local password.
	Org string
	// ID is the provider's ID, or "local" for a password login.
	ID string
	// Issuer and Subject are the upstream's issuer and its identifier for
	// the person (the ID token's iss and sub, GitHub's user ID); for a
	// password login, this Gatehouse's issuer and the email.
	Issuer  string
	Subject string
}

// Confined reports whether the login acts in one organization only: it was
// vouched for by that organization's own provider.
func (i IdP) Confined() bool { return i.Org != "" }

// AuthenticateAuthRequest records a successful login on a pending, unexpired
// request that nobody has logged in to yet. With interaction "" the request
// is done (a code can be issued); otherwise the user must still onboard or
// consent (AdvanceAuthRequest). It changes nothing and returns ErrNotFound
// when the request is unknown, expired, done or already authenticated, so a
// login completes a request once.
func (q *Q) AuthenticateAuthRequest(ctx context.Context, id string, a Authentication, interaction string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_auth_requests SET subject = $2, amr = $3, acr = $4, auth_time = $5,
		interaction = $6, done = $7, sid = $9, idp_org = $10, idp_id = $11, idp_issuer = $12, idp_subject = $13
		WHERE id = $1 AND done = FALSE AND subject = '' AND expires_at > $8`,
		id, a.Subject, a.AMR, a.ACR, toMillis(a.AuthTime), interaction, interaction == "", toMillis(now), a.SID,
		a.IdP.Org, a.IdP.ID, a.IdP.Issuer, a.IdP.Subject)
	if err != nil {
		return fmt.Errorf("authenticate auth request: %w", classify(err))
	}
	return expectOne(res, "oidc_auth_requests", id)
}

// CompleteSecondFactor records the login of a request waiting at
// interaction from (a second-factor step) for a.Subject: a (the factor
// added to amr and acr) replaces the password-only authentication, and the
// request moves to interaction ("" makes it done). ErrNotFound when the
// request is not at from for that subject, done or expired, so a factor
// completes a request once.
func (q *Q) CompleteSecondFactor(ctx context.Context, id, from string, a Authentication, interaction string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_auth_requests SET amr = $3, acr = $4, auth_time = $5,
		interaction = $6, done = $7, sid = $9
		WHERE id = $1 AND interaction = $2 AND subject = $10 AND done = FALSE AND expires_at > $8`,
		id, from, a.AMR, a.ACR, toMillis(a.AuthTime), interaction, interaction == "", toMillis(now), a.SID, a.Subject)
	if err != nil {
		return fmt.Errorf("complete second factor: %w", classify(err))
	}
	return expectOne(res, "oidc_auth_requests", id)
}

// AdvanceAuthRequest moves an authenticated request from interaction from to
// interaction to ("" makes it done). ErrNotFound when the request is not at
// from (a form posted twice, or for another step), done or expired.
func (q *Q) AdvanceAuthRequest(ctx context.Context, id, from, to string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_auth_requests SET interaction = $3, done = $4
		WHERE id = $1 AND interaction = $2 AND subject <> '' AND done = FALSE AND expires_at > $5`,
		id, from, to, to == "", toMillis(now))
	if err != nil {
		return fmt.Errorf("advance auth request: %w", classify(err))
	}
	return expectOne(res, "oidc_auth_requests", id)
}

// SaveAuthCode attaches the hash of the authorization code to a done
// request that has none yet; a request gets one code only.
func (q *Q) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_auth_requests SET code_hash = $2, code_expires_at = $3
		WHERE id = $1 AND done = TRUE AND code_hash IS NULL`, id, codeHash, toMillis(expiresAt))
	if err != nil {
		return fmt.Errorf("save auth code: %w", classify(err))
	}
	return expectOne(res, "oidc_auth_requests", id)
}

// ClaimAuthCode marks the code as used and returns its request, in one
// conditional UPDATE: of two concurrent redemptions exactly one gets the
// request. A code presented again gets ErrCodeReplayed with the request (and
// the request is marked replayed, see SetAuthRequestIssued); an unknown code
// ErrNotFound. Expiry is the caller's to check.
func (q *Q) ClaimAuthCode(ctx context.Context, codeHash string) (*OIDCAuthRequest, error) {
	a, err := scanAuthRequest(q.q.QueryRowContext(ctx, `UPDATE oidc_auth_requests SET code_used = TRUE
		WHERE code_hash = $1 AND code_used = FALSE RETURNING `+authRequestColumns, codeHash))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("claim auth code: %w", err)
	}
	// The UPDATE waits for a redemption recording its tokens (its row
	// lock), so it returns them if they are recorded; if not, the flag tells
	// that redemption to revoke them itself.
	a, err = scanAuthRequest(q.q.QueryRowContext(ctx, `UPDATE oidc_auth_requests SET code_replayed = TRUE
		WHERE code_hash = $1 RETURNING `+authRequestColumns, codeHash))
	if err != nil {
		return nil, fmt.Errorf("claim auth code: %w", err)
	}
	return a, ErrCodeReplayed
}

// SetAuthRequestIssued records the access token and session a code produced,
// and reports whether the code was replayed meanwhile: then the caller must
// revoke them in the same transaction, since the replay could not.
func (q *Q) SetAuthRequestIssued(ctx context.Context, id, jti, sessionID string) (replayed bool, err error) {
	err = q.q.QueryRowContext(ctx, `UPDATE oidc_auth_requests SET
		issued_jti = CASE WHEN $2 = '' THEN issued_jti ELSE $2 END,
		issued_session = CASE WHEN $3 = '' THEN issued_session ELSE $3 END WHERE id = $1
		RETURNING code_replayed`, id, jti, sessionID).Scan(&replayed)
	if err != nil {
		return false, fmt.Errorf("record issued tokens: %w", classify(err))
	}
	return replayed, nil
}

// DeleteAuthRequest removes a request that has no code. Requests with a code
// stay until they expire, for replay detection.
func (q *Q) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := q.q.ExecContext(ctx, "DELETE FROM oidc_auth_requests WHERE id = $1 AND code_hash IS NULL", id); err != nil {
		return fmt.Errorf("delete auth request: %w", classify(err))
	}
	return nil
}

// OIDCSession is a login of subject at client: the refresh token family.
type OIDCSession struct {
	ID               string
	Subject          string
	ClientID         string
	Scopes           string // space-separated
	AMR              string // space-separated
	ACR              string
	AuthTime         time.Time
	RefreshHash      string
	RefreshExpiresAt time.Time
	AccessJTI        string
	AccessExpiresAt  time.Time
	CreatedAt        time.Time
	// SID is the sid of the browser session whose login started the
	// session ("" if unknown).
	SID string
	// IdP is who vouched for the login that started the session: refreshed
	// tokens carry it as the first ones did.
	IdP IdP
	// Device is "" for a client with one session per person (the seed's
	// rule), and for a client with sessionPerDevice the sid of the browser
	// session the login came from: one session per (subject, client,
	// device) (migration 00023).
	Device string
	// LastUsedAt is the last refresh (zero: never refreshed).
	LastUsedAt time.Time
}

const sessionColumns = `id, subject, client_id, scopes, amr, acr, auth_time, refresh_hash, refresh_expires_at,
	access_jti, access_expires_at, created_at, sid, idp_org, idp_id, idp_issuer, idp_subject, device, last_used_at`

func scanSession(row interface{ Scan(...any) error }) (*OIDCSession, error) {
	var s OIDCSession
	var authTime, refreshExp, accessExp, created, lastUsed int64
	if err := row.Scan(&s.ID, &s.Subject, &s.ClientID, &s.Scopes, &s.AMR, &s.ACR, &authTime, &s.RefreshHash, &refreshExp,
		&s.AccessJTI, &accessExp, &created, &s.SID, &s.IdP.Org, &s.IdP.ID, &s.IdP.Issuer, &s.IdP.Subject, &s.Device, &lastUsed); err != nil {
		return nil, classify(err)
	}
	s.AuthTime, s.RefreshExpiresAt = fromMillis(authTime), fromMillis(refreshExp)
	s.AccessExpiresAt, s.CreatedAt = fromMillis(accessExp), fromMillis(created)
	if lastUsed > 0 {
		s.LastUsedAt = fromMillis(lastUsed)
	}
	return &s, nil
}

// ReplaceSession makes s the one session of (s.Subject, s.ClientID,
// s.Device): the previous session, if any, is revoked (its access token
// included) and replaced in the same statement, so concurrent logins leave
// exactly one. Call it inside Store.Tx.
func (q *Q) ReplaceSession(ctx context.Context, s *OIDCSession, now time.Time) error {
	old, err := q.SessionOf(ctx, s.Subject, s.ClientID, s.Device)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		if err := q.RevokeJTI(ctx, old.AccessJTI, old.AccessExpiresAt, now); err != nil {
			return err
		}
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO oidc_sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0)
		ON CONFLICT (subject, client_id, device) DO UPDATE SET last_used_at = 0, id = excluded.id, scopes = excluded.scopes, amr = excluded.amr, sid = excluded.sid,
			idp_org = excluded.idp_org, idp_id = excluded.idp_id, idp_issuer = excluded.idp_issuer, idp_subject = excluded.idp_subject,
			acr = excluded.acr, auth_time = excluded.auth_time, refresh_hash = excluded.refresh_hash,
			refresh_expires_at = excluded.refresh_expires_at, access_jti = excluded.access_jti,
			access_expires_at = excluded.access_expires_at, created_at = excluded.created_at`,
		s.ID, s.Subject, s.ClientID, s.Scopes, s.AMR, s.ACR, toMillis(s.AuthTime), s.RefreshHash, toMillis(s.RefreshExpiresAt),
		s.AccessJTI, toMillis(s.AccessExpiresAt), toMillis(s.CreatedAt), s.SID, s.IdP.Org, s.IdP.ID, s.IdP.Issuer, s.IdP.Subject, s.Device)
	if err != nil {
		return fmt.Errorf("replace session: %w", classify(err))
	}
	return nil
}

// SessionOf reads the session of subject at client on device ("" for a
// client with one session per person; ErrNotFound if none).
func (q *Q) SessionOf(ctx context.Context, subject, clientID, device string) (*OIDCSession, error) {
	s, err := scanSession(q.q.QueryRowContext(ctx,
		"SELECT "+sessionColumns+" FROM oidc_sessions WHERE subject = $1 AND client_id = $2 AND device = $3", subject, clientID, device))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// SessionsOfSubject lists every session (refresh token family) of subject,
// at every client, newest first.
func (q *Q) SessionsOfSubject(ctx context.Context, subject string) ([]*OIDCSession, error) {
	return q.sessionsWhere(ctx, "subject = $1 ORDER BY created_at DESC, id", subject)
}

// SessionByID reads session id of subject (ErrNotFound if none, or if it is
// another subject's).
func (q *Q) SessionByID(ctx context.Context, subject, id string) (*OIDCSession, error) {
	s, err := scanSession(q.q.QueryRowContext(ctx,
		"SELECT "+sessionColumns+" FROM oidc_sessions WHERE id = $1 AND subject = $2", id, subject))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// EndSessionsOfClient deletes every session subject has at client (every
// device) and revokes their latest access tokens; it returns them, for
// back-channel logout. Call it inside Store.Tx.
func (q *Q) EndSessionsOfClient(ctx context.Context, subject, clientID string, now time.Time) ([]*OIDCSession, error) {
	ended, err := q.endFamilies(ctx, "subject = $1 AND client_id = $2", now, subject, clientID)
	if err != nil {
		return nil, fmt.Errorf("end sessions of client: %w", err)
	}
	return ended, nil
}

// EndSessionsOfBrowser deletes the sessions of subject that logins in the
// browser session sid started (none for sid "") and revokes their latest
// access tokens; it returns them, for back-channel logout. Call it inside
// Store.Tx, with the deletion of the browser session.
func (q *Q) EndSessionsOfBrowser(ctx context.Context, subject, sid string, now time.Time) ([]*OIDCSession, error) {
	if sid == "" {
		return nil, nil
	}
	ended, err := q.endFamilies(ctx, "subject = $1 AND sid = $2", now, subject, sid)
	if err != nil {
		return nil, fmt.Errorf("end sessions of browser session: %w", err)
	}
	return ended, nil
}

// endFamilies deletes the sessions matching where and revokes their latest
// access tokens (every other access token of a family dies with its row).
func (q *Q) endFamilies(ctx context.Context, where string, now time.Time, args ...any) ([]*OIDCSession, error) {
	rows, err := q.q.QueryContext(ctx, "DELETE FROM oidc_sessions WHERE "+where+" RETURNING "+sessionColumns, args...)
	if err != nil {
		return nil, classify(err)
	}
	ended, err := scanSessions(rows)
	if err != nil {
		return nil, err
	}
	for _, s := range ended {
		if err := q.RevokeJTI(ctx, s.AccessJTI, s.AccessExpiresAt, now); err != nil {
			return nil, err
		}
	}
	return ended, nil
}

// sessionsWhere reads the sessions matching where (which may end in ORDER
// BY).
func (q *Q) sessionsWhere(ctx context.Context, where string, args ...any) ([]*OIDCSession, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+sessionColumns+" FROM oidc_sessions WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", classify(err))
	}
	out, err := scanSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return out, nil
}

// scanSessions reads and closes rows of sessionColumns.
func scanSessions(rows *sql.Rows) ([]*OIDCSession, error) {
	defer rows.Close()
	var out []*OIDCSession
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// SessionsOfSID reads the sessions that logins in the browser session sid
// started (none for sid ""): the clients a logout of that browser session
// concerns.
func (q *Q) SessionsOfSID(ctx context.Context, sid string) ([]*OIDCSession, error) {
	if sid == "" {
		return nil, nil
	}
	rows, err := q.q.QueryContext(ctx, "SELECT "+sessionColumns+" FROM oidc_sessions WHERE sid = $1 ORDER BY client_id", sid)
	if err != nil {
		return nil, fmt.Errorf("sessions of sid: %w", classify(err))
	}
	defer rows.Close()
	var out []*OIDCSession
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions of sid: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions of sid: %w", classify(err))
	}
	return out, nil
}

// SessionByRefreshHash reads the session whose current refresh token has
// that hash (ErrNotFound if none).
func (q *Q) SessionByRefreshHash(ctx context.Context, hash string) (*OIDCSession, error) {
	if hash == "" {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	s, err := scanSession(q.q.QueryRowContext(ctx,
		"SELECT "+sessionColumns+" FROM oidc_sessions WHERE refresh_hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// UsedRefreshToken returns the session a rotated-away refresh token belonged
// to (ErrNotFound if the hash was never rotated).
func (q *Q) UsedRefreshToken(ctx context.Context, hash string) (string, error) {
	var id string
	if err := q.q.QueryRowContext(ctx, "SELECT session_id FROM oidc_used_refresh_tokens WHERE token_hash = $1", hash).Scan(&id); err != nil {
		return "", fmt.Errorf("used refresh token: %w", classify(err))
	}
	return id, nil
}

// RotateRefreshToken replaces the session's refresh token oldHash by
// newHash, only if oldHash is still the current one, records oldHash as
// used and the session as last used now. ErrConflict when another rotation
// won (the caller treats it as reuse).
func (q *Q) RotateRefreshToken(ctx context.Context, id, oldHash, newHash string, newExpiry, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_sessions SET refresh_hash = $3, refresh_expires_at = $4, last_used_at = $5
		WHERE id = $1 AND refresh_hash = $2`, id, oldHash, newHash, toMillis(newExpiry), toMillis(now))
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("rotate refresh token: %w", ErrConflict)
	}
	if _, err := q.q.ExecContext(ctx, `INSERT INTO oidc_used_refresh_tokens (token_hash, session_id, expires_at)
		VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING`, oldHash, id, toMillis(newExpiry)); err != nil {
		return fmt.Errorf("record used refresh token: %w", classify(err))
	}
	return nil
}

// SetSessionAccessToken records the latest access token of a session.
// access_expires_at only grows: every access token of the family (and every
// token exchanged from one) lives only while the session row does, so the
// row must not be purged before the longest-lived of them expires, even
// after the client's access token lifetime was shortened.
func (q *Q) SetSessionAccessToken(ctx context.Context, id, jti string, expiresAt time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE oidc_sessions SET access_jti = $2,
		access_expires_at = CASE WHEN access_expires_at > $3 THEN access_expires_at ELSE $3 END WHERE id = $1`,
		id, jti, toMillis(expiresAt))
	if err != nil {
		return fmt.Errorf("record session access token: %w", classify(err))
	}
	return nil
}

// RevokeSession deletes session id and revokes its latest access token.
// Unknown ids change nothing.
func (q *Q) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s, err := scanSession(q.q.QueryRowContext(ctx, "DELETE FROM oidc_sessions WHERE id = $1 RETURNING "+sessionColumns, id))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return q.RevokeJTI(ctx, s.AccessJTI, s.AccessExpiresAt, now)
}

// EndSessionsOfSubject deletes every session of subject (at every client),
// revokes their latest access tokens and deletes the subject's browser
// sessions, for a person who may no longer log in. It returns the sessions
// it ended, whose clients back-channel logout notifies. Call it inside
// Store.Tx, with the write that took the person's access away.
func (q *Q) EndSessionsOfSubject(ctx context.Context, subject string, now time.Time) ([]*OIDCSession, error) {
	ended, err := q.endSessions(ctx, "subject = $1", now, subject)
	if err != nil {
		return nil, fmt.Errorf("end sessions of subject: %w", err)
	}
	return ended, nil
}

// EndSessionsVouchedBy deletes every session, and every browser session,
// that identity provider id of organization org vouched for (IdP.Org and
// IdP.ID), and revokes their latest access tokens; with id ” it ends those
// of every provider of org (org must not be ” then). The tokens issued from
// them carry their family and die with it. Call it inside Store.Tx, with the
// write that removed or changed the provider, so that a provider no longer
// trusted does not outlive its removal. It returns the sessions it ended.
func (q *Q) EndSessionsVouchedBy(ctx context.Context, org, id string, now time.Time) ([]*OIDCSession, error) {
	var (
		ended []*OIDCSession
		err   error
	)
	switch {
	case id != "":
		ended, err = q.endSessions(ctx, "idp_org = $1 AND idp_id = $2", now, org, id)
	case org != "":
		ended, err = q.endSessions(ctx, "idp_org = $1", now, org)
	default:
		return nil, errors.New("end sessions vouched by: no provider and no organization")
	}
	if err != nil {
		return nil, fmt.Errorf("end sessions vouched by %s/%s: %w", org, id, err)
	}
	return ended, nil
}

// endSessions deletes the sessions and browser sessions matching where (on
// columns both tables have) and revokes the sessions' latest access tokens.
func (q *Q) endSessions(ctx context.Context, where string, now time.Time, args ...any) ([]*OIDCSession, error) {
	rows, err := q.q.QueryContext(ctx, "DELETE FROM oidc_sessions WHERE "+where+" RETURNING "+sessionColumns, args...)
	if err != nil {
		return nil, classify(err)
	}
	var ended []*OIDCSession
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ended = append(ended, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	for _, s := range ended {
		if err := q.RevokeJTI(ctx, s.AccessJTI, s.AccessExpiresAt, now); err != nil {
			return nil, err
		}
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM oidc_browser_sessions WHERE "+where, args...); err != nil {
		return nil, fmt.Errorf("browser sessions: %w", classify(err))
	}
	return ended, nil
}

// VouchingOrganization reads organization org if identity provider id is
// still one of its own (ErrNotFound otherwise), in one query: what refresh
// and single sign-on re-check for a login that provider vouched for.
func (q *Q) VouchingOrganization(ctx context.Context, org, id string) (*Organization, error) {
	os, err := list[Organization](ctx, q, tOrganizations,
		"id = $1 AND EXISTS (SELECT 1 FROM "+tProviders+" p WHERE p.organization_id = $1 AND p.id = $2)", Page{Limit: 1}, org, id)
	if err != nil {
		return nil, fmt.Errorf("vouching organization: %w", err)
	}
	if len(os) == 0 {
		return nil, ErrNotFound
	}
	return os[0], nil
}

// RevokeJTI records an access token as revoked until it expires; empty or
// already expired tokens need no record.
func (q *Q) RevokeJTI(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if jti == "" || !expiresAt.After(now) {
		return nil
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO NOTHING`, jti, toMillis(expiresAt))
	if err != nil {
		return fmt.Errorf("revoke access token: %w", classify(err))
	}
	return nil
}

// IsRevoked reports whether the access token jti was revoked.
func (q *Q) IsRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM oidc_revoked_tokens WHERE jti = $1", jti).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", classify(err))
	}
	return n > 0, nil
}

// PurgeOIDC deletes expired authorization requests, used refresh token
// records, revocation records, upstream logins, browser sessions, signup
// links and sessions whose refresh token expired.
func (q *Q) PurgeOIDC(ctx context.Context, now time.Time) error {
	ms := toMillis(now)
	for _, stmt := range []string{
		"DELETE FROM oidc_auth_requests WHERE expires_at <= $1",
		"DELETE FROM oidc_used_refresh_tokens WHERE expires_at <= $1",
		"DELETE FROM oidc_revoked_tokens WHERE expires_at <= $1",
		"DELETE FROM oidc_upstream_logins WHERE expires_at <= $1",
		"DELETE FROM oidc_browser_sessions WHERE expires_at <= $1",
		"DELETE FROM user_signups WHERE expires_at <= $1",
		"DELETE FROM oidc_device_codes WHERE expires_at <= $1",
		"DELETE FROM oidc_pushed_requests WHERE expires_at <= $1",
		"DELETE FROM oidc_sessions WHERE refresh_expires_at <= $1 AND access_expires_at <= $1",
	} {
		if _, err := q.q.ExecContext(ctx, stmt, ms); err != nil {
			return fmt.Errorf("purge: %w", classify(err))
		}
	}
	return nil
}

// UserState is a subject's user record in one organization.
type UserState struct {
	OrganizationID string
	State          string
}

// UserStatesOfSubject lists the organizations in which a user with that
// subject exists, with the record's state.
func (q *Q) UserStatesOfSubject(ctx context.Context, subject string) ([]UserState, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT organization_id, state FROM users WHERE subject = $1 ORDER BY organization_id", subject)
	if err != nil {
		return nil, fmt.Errorf("user states: %w", classify(err))
	}
	defer rows.Close()
	var out []UserState
	for rows.Next() {
		var s UserState
		if err := rows.Scan(&s.OrganizationID, &s.State); err != nil {
			return nil, fmt.Errorf("user states: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetAuthRequestCSRF stores the hash of the login form's CSRF token on a
// pending, unexpired request (ErrNotFound otherwise).
func (q *Q) SetAuthRequestCSRF(ctx context.Context, id, hash string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_auth_requests SET csrf_hash = $2
		WHERE id = $1 AND done = FALSE AND expires_at > $3`, id, hash, toMillis(now))
	if err != nil {
		return fmt.Errorf("set login csrf: %w", classify(err))
	}
	return expectOne(res, "oidc_auth_requests", id)
}

// OIDCUpstreamLogin is a login in flight at an upstream identity provider.
type OIDCUpstreamLogin struct {
	StateHash     string
	AuthRequestID string
	ProviderOrg   string
	ProviderID    string
	Verifier      string
	Nonce         string
	ExpiresAt     time.Time
}

// CreateUpstreamLogin records a redirect to an upstream provider.
func (q *Q) CreateUpstreamLogin(ctx context.Context, l *OIDCUpstreamLogin) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_upstream_logins (state_hash, auth_request_id, provider_org,
		provider_id, verifier, nonce, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		l.StateHash, l.AuthRequestID, l.ProviderOrg, l.ProviderID, l.Verifier, l.Nonce, toMillis(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create upstream login: %w", classify(err))
	}
	return nil
}

// TakeUpstreamLogin deletes and returns the unexpired login of that state
// hash: a state is accepted once (ErrNotFound otherwise).
func (q *Q) TakeUpstreamLogin(ctx context.Context, stateHash string, now time.Time) (*OIDCUpstreamLogin, error) {
	var l OIDCUpstreamLogin
	var exp int64
	err := q.q.QueryRowContext(ctx, `DELETE FROM oidc_upstream_logins WHERE state_hash = $1 AND expires_at > $2
		RETURNING state_hash, auth_request_id, provider_org, provider_id, verifier, nonce, expires_at`,
		stateHash, toMillis(now)).Scan(&l.StateHash, &l.AuthRequestID, &l.ProviderOrg, &l.ProviderID, &l.Verifier, &l.Nonce, &exp)
	if err != nil {
		return nil, fmt.Errorf("upstream login: %w", classify(err))
	}
	l.ExpiresAt = fromMillis(exp)
	return &l, nil
}

// OrganizationByDomain reads the organization that has verified email domain
// domain (ErrNotFound if none); login routing and onboarding use it. A
// pending claim owns nothing: anyone may claim any domain, so only a proven
// one may route logins (unique among verified claims, see migration 00017).
func (q *Q) OrganizationByDomain(ctx context.Context, domain string) (*Organization, error) {
	os, err := list[Organization](ctx, q, tOrganizations, "domain = $1 AND domain_verified_at > 0", Page{Limit: 1}, strings.ToLower(domain))
	if err != nil {
		return nil, fmt.Errorf("organization by domain: %w", err)
	}
	if len(os) == 0 {
		return nil, fmt.Errorf("organization by domain %s: %w", domain, ErrNotFound)
	}
	return os[0], nil
}
