package store

import (
	"context"
	"fmt"
	"time"
)

// SigningKeyState is where a token signing key is in its life: next
// (published, not signing), active (signing), retired (published until
// ExpiresAt, not signing).
type SigningKeyState string

// The states of a signing key, in the order a key goes through them.
const (
	SigningKeyNext    SigningKeyState = "next"
	SigningKeyActive  SigningKeyState = "active"
	SigningKeyRetired SigningKeyState = "retired"
)

// PlatformScope is the scope of the platform's signing keys (the OpenID
// Connect provider's); any other scope is an organization ID, whose keys sign
// that organization's workload identity tokens.
const PlatformScope = ""

// SigningKey is one row of signing_keys. The store sees only the sealed
// private key; sealing and key material are internal/keys' business.
type SigningKey struct {
	ID               string // the JWK kid, unique across scopes
	Scope            string // PlatformScope or an organization ID
	Algorithm        string // JOSE name: ES256, ES512, RS256
	State            SigningKeyState
	SealedPrivateKey string // secret.Sealer output, AAD bound to ID and Scope
	PublicJWK        string // public JWK JSON
	CreatedAt        time.Time
	ActivatedAt      time.Time // zero until the key becomes active
	RetiredAt        time.Time // zero until the key is retired
	ExpiresAt        time.Time // retired keys leave JWKS at this time; zero before
}

const signingKeyColumns = "id, scope, algorithm, state, private_key, public_jwk, created_at, activated_at, retired_at, expires_at"

// signingKeysLock is the PostgreSQL advisory lock key that serializes writers
// of signing_keys ("gatkeys" in ASCII).
const signingKeysLock = 0x6761746b657973

// LockSigningKeys serializes the writers of signing_keys for the rest of the
// transaction, so that replicas creating or rotating keys at the same moment
// take turns, and each sees what the previous one committed. On PostgreSQL it
// takes a transaction-scoped advisory lock (the table may be empty, so there
// is no row to lock); on SQLite BEGIN IMMEDIATE already holds the database's
// single write lock. The unique indexes on the key sets' states are the backstop
// either way. One lock serves every scope: key writes are rare and short.
func (q *Q) LockSigningKeys(ctx context.Context) error {
	if q.dialect != Postgres || !q.inTx {
		return nil
	}
	if _, err := q.q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(signingKeysLock)); err != nil {
		return fmt.Errorf("lock signing keys: %w", err)
	}
	return nil
}

// CreateSigningKey inserts k. A second next or active key in k's key set
// (an organization's scope; the platform scope and k's algorithm) is refused
// with ErrConflict.
func (q *Q) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	_, err := q.q.ExecContext(ctx, "INSERT INTO signing_keys ("+signingKeyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		k.ID, k.Scope, k.Algorithm, string(k.State), k.SealedPrivateKey, k.PublicJWK,
		toMillis(k.CreatedAt), toMillis(k.ActivatedAt), toMillis(k.RetiredAt), toMillis(k.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, classify(err))
	}
	return nil
}

// SigningKeyInState reads the next or the active key of one key set (there
// is at most one of each): the platform's keys of algorithm alg, or, with alg
// "", an organization's keys (one set, whatever its algorithm); ErrNotFound
// if there is none.
func (q *Q) SigningKeyInState(ctx context.Context, scope, alg string, state SigningKeyState) (*SigningKey, error) {
	var (
		ks  []*SigningKey
		err error
	)
	if alg == "" {
		ks, err = q.signingKeys(ctx, "scope = $1 AND state = $2", scope, string(state))
	} else {
		ks, err = q.signingKeys(ctx, "scope = $1 AND algorithm = $2 AND state = $3", scope, alg, string(state))
	}
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("%s signing key: %w", state, ErrNotFound)
	}
	return ks[0], nil
}

// PublishedSigningKeys lists the keys of one key set (scope and alg as in
// SigningKeyInState; alg "" is every algorithm of scope) that JWKS publishes
// at now: the next key, the active key, and the retired keys whose ExpiresAt
// is after now. A scope holds a handful of rows (expired ones are deleted at
// each rotation) and callers cache the result, so it is read whole.
func (q *Q) PublishedSigningKeys(ctx context.Context, scope, alg string, now time.Time) ([]*SigningKey, error) {
	if alg == "" {
		return q.signingKeys(ctx, "scope = $1 AND (state <> $2 OR expires_at > $3)", scope, string(SigningKeyRetired), toMillis(now))
	}
	return q.signingKeys(ctx, "scope = $1 AND algorithm = $2 AND (state <> $3 OR expires_at > $4)",
		scope, alg, string(SigningKeyRetired), toMillis(now))
}

// SigningKeyScopes lists the scopes that have an active key, sorted: the
// rotation schedule walks them.
func (q *Q) SigningKeyScopes(ctx context.Context) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT DISTINCT scope FROM signing_keys WHERE state = $1 ORDER BY scope", string(SigningKeyActive))
	if err != nil {
		return nil, fmt.Errorf("list signing key scopes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("scan signing key scope: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ListSigningKeys lists every signing key of every scope, expired ones
// included, oldest first.
func (q *Q) ListSigningKeys(ctx context.Context) ([]*SigningKey, error) {
	return q.signingKeys(ctx, "1 = 1")
}

func (q *Q) signingKeys(ctx context.Context, where string, args ...any) ([]*SigningKey, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+signingKeyColumns+" FROM signing_keys WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []*SigningKey
	for rows.Next() {
		var k SigningKey
		var state string
		if err := rows.Scan(&k.ID, &k.Scope, &k.Algorithm, &state, &k.SealedPrivateKey, &k.PublicJWK,
			(*millis)(&k.CreatedAt), (*millis)(&k.ActivatedAt), (*millis)(&k.RetiredAt), (*millis)(&k.ExpiresAt)); err != nil {
			return nil, fmt.Errorf("scan signing key: %w", err)
		}
		k.State = SigningKeyState(state)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// ActivateSigningKey turns the next key id into the active key at time at.
// It changes nothing and returns ErrNotFound unless id is the next key, so a
// rotation that lost a race to another replica cannot activate a key twice;
// ErrConflict if another key is still active.
func (q *Q) ActivateSigningKey(ctx context.Context, id string, at time.Time) error {
	res, err := q.q.ExecContext(ctx, "UPDATE signing_keys SET state = $1, activated_at = $2 WHERE id = $3 AND state = $4",
		string(SigningKeyActive), toMillis(at), id, string(SigningKeyNext))
	if err != nil {
		return fmt.Errorf("activate signing key %s: %w", id, classify(err))
	}
	return expectOne(res, "next signing key", id)
}

// RetireSigningKey turns the active key id into a retired key at time at,
// published until expires. ErrNotFound unless id is the active key.
func (q *Q) RetireSigningKey(ctx context.Context, id string, at, expires time.Time) error {
	res, err := q.q.ExecContext(ctx, "UPDATE signing_keys SET state = $1, retired_at = $2, expires_at = $3 WHERE id = $4 AND state = $5",
		string(SigningKeyRetired), toMillis(at), toMillis(expires), id, string(SigningKeyActive))
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", id, classify(err))
	}
	return expectOne(res, "active signing key", id)
}

// DeleteExpiredSigningKeys deletes the retired keys of one key set (scope
// and alg as in PublishedSigningKeys) whose ExpiresAt is at or before now,
// and reports how many it deleted.
func (q *Q) DeleteExpiredSigningKeys(ctx context.Context, scope, alg string, now time.Time) (int64, error) {
	if alg == "" {
		return q.deleteSigningKeys(ctx, "scope = $1 AND state = $2 AND expires_at <= $3", scope, string(SigningKeyRetired), toMillis(now))
	}
	return q.deleteSigningKeys(ctx, "scope = $1 AND algorithm = $2 AND state = $3 AND expires_at <= $4",
		scope, alg, string(SigningKeyRetired), toMillis(now))
}

// DeleteRetiredSigningKeys deletes every retired key of one key set (alg ""
// is every algorithm of scope), expired or not, and reports how many it
// deleted: after a key compromise, tokens signed by the old keys must stop
// verifying at once.
func (q *Q) DeleteRetiredSigningKeys(ctx context.Context, scope, alg string) (int64, error) {
	if alg == "" {
		return q.deleteSigningKeys(ctx, "scope = $1 AND state = $2", scope, string(SigningKeyRetired))
	}
	return q.deleteSigningKeys(ctx, "scope = $1 AND algorithm = $2 AND state = $3", scope, alg, string(SigningKeyRetired))
}

func (q *Q) deleteSigningKeys(ctx context.Context, where string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, "DELETE FROM signing_keys WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("delete signing keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete signing keys: rows affected: %w", err)
	}
	return n, nil
}
