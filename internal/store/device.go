package store

import (
	"context"
	"fmt"
	"time"
)

// Device authorization states (table oidc_device_codes, migration 00028).
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	// DeviceUsed: the tokens were issued; the device code works no more.
	DeviceUsed = "used"
)

// DeviceCode is a device authorization (RFC 8628): its codes are kept as
// SHA-256 hashes only.
type DeviceCode struct {
	DeviceCodeHash string
	UserCodeHash   string
	ClientID       string
	Scopes         string // space-separated
	State          string
	// AuthRequestID is the login the user code's page started ("" until a
	// person entered the code).
	AuthRequestID string
	// Interval is the polling interval the device must keep (raised by
	// each slow_down); LastPollAt the last poll (zero for none).
	Interval   time.Duration
	LastPollAt time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

const deviceColumns = `device_code_hash, user_code_hash, client_id, scopes, state, auth_request_id, interval_s,
	last_poll_at, created_at, expires_at`

func scanDeviceCode(row interface{ Scan(...any) error }) (*DeviceCode, error) {
	var d DeviceCode
	var interval, last, created, expires int64
	if err := row.Scan(&d.DeviceCodeHash, &d.UserCodeHash, &d.ClientID, &d.Scopes, &d.State, &d.AuthRequestID,
		&interval, &last, &created, &expires); err != nil {
		return nil, classify(err)
	}
	d.Interval = time.Duration(interval) * time.Second
	d.LastPollAt, d.CreatedAt, d.ExpiresAt = fromMillis(last), fromMillis(created), fromMillis(expires)
	return &d, nil
}

// CreateDeviceCode stores a new device authorization. A user code hash
// already taken (by an unexpired authorization: PurgeOIDC removes the
// others) is ErrConflict, and the caller draws another code.
func (q *Q) CreateDeviceCode(ctx context.Context, d *DeviceCode) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_device_codes (`+deviceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.DeviceCodeHash, d.UserCodeHash, d.ClientID, d.Scopes, d.State, d.AuthRequestID, int64(d.Interval/time.Second),
		toMillis(d.LastPollAt), toMillis(d.CreatedAt), toMillis(d.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create device code: %w", classify(err))
	}
	return nil
}

// PendingDeviceCode is the unexpired, undecided device authorization of a
// user code hash (ErrNotFound otherwise).
func (q *Q) PendingDeviceCode(ctx context.Context, userCodeHash string, now time.Time) (*DeviceCode, error) {
	d, err := scanDeviceCode(q.q.QueryRowContext(ctx, "SELECT "+deviceColumns+
		" FROM oidc_device_codes WHERE user_code_hash = $1 AND state = 'pending' AND expires_at > $2", userCodeHash, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("device code by user code: %w", err)
	}
	return d, nil
}

// DeviceCodeOfAuthRequest is the pending, unexpired device authorization
// whose login is auth request id (ErrNotFound otherwise).
func (q *Q) DeviceCodeOfAuthRequest(ctx context.Context, id string, now time.Time) (*DeviceCode, error) {
	d, err := scanDeviceCode(q.q.QueryRowContext(ctx, "SELECT "+deviceColumns+
		" FROM oidc_device_codes WHERE auth_request_id = $1 AND auth_request_id <> '' AND state = 'pending' AND expires_at > $2",
		id, toMillis(now)))
	if err != nil {
		return nil, fmt.Errorf("device code by auth request: %w", err)
	}
	return d, nil
}

// BindDeviceCode makes auth request id the login of the pending device
// authorization of userCodeHash: the latest browser to enter a code is the
// one whose approval counts.
func (q *Q) BindDeviceCode(ctx context.Context, userCodeHash, id string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_device_codes SET auth_request_id = $2
		WHERE user_code_hash = $1 AND state = 'pending' AND expires_at > $3`, userCodeHash, id, toMillis(now))
	if err != nil {
		return fmt.Errorf("bind device code: %w", classify(err))
	}
	return expectOne(res, "oidc_device_codes", "(user code)")
}

// DecideDeviceCode records the person's answer (DeviceApproved or
// DeviceDenied) for the pending, unexpired device authorization whose login
// is auth request id; ErrNotFound when there is none any more.
func (q *Q) DecideDeviceCode(ctx context.Context, id, state string, now time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE oidc_device_codes SET state = $2
		WHERE auth_request_id = $1 AND auth_request_id <> '' AND state = 'pending' AND expires_at > $3`, id, state, toMillis(now))
	if err != nil {
		return fmt.Errorf("decide device code: %w", classify(err))
	}
	return expectOne(res, "oidc_device_codes", id)
}

// GetDeviceCode reads a device authorization by its device code hash,
// whatever its state or expiry (ErrNotFound when there is none).
func (q *Q) GetDeviceCode(ctx context.Context, deviceCodeHash string) (*DeviceCode, error) {
	d, err := scanDeviceCode(q.q.QueryRowContext(ctx, "SELECT "+deviceColumns+
		" FROM oidc_device_codes WHERE device_code_hash = $1", deviceCodeHash))
	if err != nil {
		return nil, fmt.Errorf("device code: %w", err)
	}
	return d, nil
}

// RecordDevicePoll notes a poll at now and the interval the device must
// keep from now on.
func (q *Q) RecordDevicePoll(ctx context.Context, deviceCodeHash string, interval time.Duration, now time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE oidc_device_codes SET last_poll_at = $2, interval_s = $3 WHERE device_code_hash = $1`,
		deviceCodeHash, toMillis(now), int64(interval/time.Second))
	if err != nil {
		return fmt.Errorf("record device poll: %w", classify(err))
	}
	return nil
}

// ClaimDeviceCode turns an approved device authorization into a used one
// and returns its auth request ID, in one conditional UPDATE: of two
// concurrent polls (on any replica) one gets the tokens. ErrNotFound when
// it is not approved (any more).
func (q *Q) ClaimDeviceCode(ctx context.Context, deviceCodeHash string) (string, error) {
	var id string
	err := q.q.QueryRowContext(ctx, `UPDATE oidc_device_codes SET state = 'used'
		WHERE device_code_hash = $1 AND state = 'approved' RETURNING auth_request_id`, deviceCodeHash).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("claim device code: %w", classify(err))
	}
	return id, nil
}

// PushedRequest is a pushed authorization request (RFC 9126).
type PushedRequest struct {
	RequestHash string
	ClientID    string
	// Params is the JSON object of the request's parameters.
	Params    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePushedRequest stores a pushed authorization request.
func (q *Q) CreatePushedRequest(ctx context.Context, r *PushedRequest) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO oidc_pushed_requests (request_hash, client_id, params, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, r.RequestHash, r.ClientID, r.Params, toMillis(r.CreatedAt), toMillis(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create pushed request: %w", classify(err))
	}
	return nil
}

// ClaimPushedRequest marks an unused, unexpired pushed request used and
// returns it, in one conditional UPDATE: a request_uri works once, on any
// replica. ErrNotFound otherwise.
func (q *Q) ClaimPushedRequest(ctx context.Context, hash string, now time.Time) (*PushedRequest, error) {
	r := PushedRequest{RequestHash: hash}
	var created, expires int64
	err := q.q.QueryRowContext(ctx, `UPDATE oidc_pushed_requests SET used = TRUE
		WHERE request_hash = $1 AND used = FALSE AND expires_at > $2 RETURNING client_id, params, created_at, expires_at`,
		hash, toMillis(now)).Scan(&r.ClientID, &r.Params, &created, &expires)
	if err != nil {
		return nil, fmt.Errorf("claim pushed request: %w", classify(err))
	}
	r.CreatedAt, r.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &r, nil
}
