package connector

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// LocalConnectorID is the ConnectorID of identities the Password connector
// vouches for.
const LocalConnectorID = "local"

// Password policy of local users. NIST SP 800-63B style: a minimum length
// and no composition rules; the maximum only bounds the hashing work.
const (
	MinPasswordLength = 12   // characters (Unicode code points)
	MaxPasswordBytes  = 1024 // bytes
)

// Password connector errors.
var (
	// ErrInvalidCredentials is the one answer to every failed login: wrong
	// password, unknown email, locked account. A caller cannot tell them
	// apart, by the error or by the time it takes.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrPasswordPolicy: SetPassword refused the new password.
	ErrPasswordPolicy = errors.New("password does not meet the policy")
	// ErrInvalidEmail: SetPassword refused the email address.
	ErrInvalidEmail = errors.New("invalid email address")
)

// PasswordConfig tunes the Password connector; zero fields take the defaults.
type PasswordConfig struct {
	// MaxFailures is the number of consecutive failed logins that locks an
	// account (default 5).
	MaxFailures int
	// LockoutPeriod is how long a locked account refuses every login, even
	// with the right password (default 15 minutes).
	LockoutPeriod time.Duration
	// Params are the argon2id parameters of new hashes (default
	// DefaultArgon2Params). Hashes made with other parameters still verify
	// and are rehashed with these at the next successful login.
	Params Argon2Params
	// MaxConcurrentHashes bounds the hashes computed at once, and so the
	// memory a burst of logins can take (Params.Memory each); default
	// GOMAXPROCS. An argon2id hash with parallelism 1 keeps one core busy,
	// so more hashes at once than cores finish no sooner: they would only
	// hold their memory while waiting for a core. Further logins wait for a
	// slot.
	MaxConcurrentHashes int
	// Now and Rand are the clock and the salt source (defaults time.Now,
	// crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// Password is the built-in local password connector: email + password
// checked against an argon2id hash in the database, with a lockout after
// repeated failures. It lets Gatehouse log people in with no upstream
// identity provider at all (offline installs, small teams, break-glass
// administrators). Safe for concurrent use, across replicas too: the lockout
// state lives in the database and changes by atomic updates only.
type Password struct {
	store *store.Store
	cfg   PasswordConfig
	slots chan struct{}
	dummy string // see NewPassword
	// onVerify, when set (by tests), sees the parameters of every hash
	// check: the proof that every login path does the same work.
	onVerify func(Argon2Params)
}

// NewPassword returns the Password connector over st.
func NewPassword(st *store.Store, cfg PasswordConfig) (*Password, error) {
	if st == nil {
		return nil, errors.New("password connector: no store")
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.LockoutPeriod <= 0 {
		cfg.LockoutPeriod = 15 * time.Minute
	}
	if cfg.Params == (Argon2Params{}) {
		cfg.Params = DefaultArgon2Params
	}
	if err := cfg.Params.validate(); err != nil {
		return nil, fmt.Errorf("password connector: %w", err)
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	// The hash that unknown emails and locked accounts are checked against,
	// made with the current parameters so that it costs what a real check
	// costs.
	dummy, err := hashPassword("gatehouse-dummy-password", cfg.Params, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("password connector: %w", err)
	}
	return &Password{store: st, cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrentHashes), dummy: dummy}, nil
}

// Lockout is the lockout policy: the consecutive failures that lock an
// account and how long the lock lasts. The login page states it after every
// failed attempt, known account or not, so that it says nothing about any
// account.
func (p *Password) Lockout() (maxFailures int, period time.Duration) {
	return p.cfg.MaxFailures, p.cfg.LockoutPeriod
}

// LockError is the ErrInvalidCredentials of the failed login that locked
// its account (errors.Is it is ErrInvalidCredentials, so a caller that
// shows the failure cannot tell it apart): for the audit log only, the
// login page never says it.
type LockError struct {
	// Until is when the lock ends.
	Until time.Time
}

func (e *LockError) Error() string { return ErrInvalidCredentials.Error() }

// Is makes a LockError an ErrInvalidCredentials.
func (e *LockError) Is(target error) bool { return target == ErrInvalidCredentials }

// Login checks email and password. It returns the local identity, or
// ErrInvalidCredentials whatever the reason (wrong password, unknown email,
// locked account), or an infrastructure error.
//
// The attempt is counted before the password is checked (see
// store.Q.BeginLocalPasswordAttempt), and the count is cleared only by a
// success, so at most MaxFailures guesses are ever checked between two
// successes or lockout periods, however many arrive at once and on however
// many replicas. The flip side: more than MaxFailures logins of one account
// at the same instant may lock it even with the right password (each
// success then lifts the lock again).
func (p *Password) Login(ctx context.Context, email, password string) (Identity, error) {
	email = normalizeEmail(email)
	if email == "" || password == "" || len(password) > MaxPasswordBytes {
		// Decided from the input alone: says nothing about any account.
		return Identity{}, ErrInvalidCredentials
	}
	var rec *store.LocalPassword
	err := p.store.Tx(ctx, func(q *store.Q) error {
		var err error
		rec, err = q.BeginLocalPasswordAttempt(ctx, email, p.cfg.Now(), p.cfg.MaxFailures, p.cfg.LockoutPeriod)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Unknown email, or locked: spend the time of a real check.
		p.burn(ctx, password)
		return Identity{}, ErrInvalidCredentials
	case err != nil:
		return Identity{}, fmt.Errorf("local login: %w", err)
	case rec.FailedAttempts > p.cfg.MaxFailures:
		// Only if MaxFailures was lowered while the count was above it.
		p.burn(ctx, password)
		return Identity{}, ErrInvalidCredentials
	}
	ok, params, err := p.verify(ctx, password, rec.Hash)
	if err != nil {
		return Identity{}, fmt.Errorf("local login: %w", err)
	}
	if !ok {
		if !rec.LockedUntil.IsZero() {
			// This attempt was the one that reached MaxFailures: the row
			// the counting update returned carries the lock it set (an
			// attempt during a lock is not counted and gets no row).
			return Identity{}, &LockError{Until: rec.LockedUntil}
		}
		return Identity{}, ErrInvalidCredentials // already counted
	}
	var rehashed string
	if params != p.cfg.Params {
		if rehashed, err = p.hash(ctx, password); err != nil {
			return Identity{}, fmt.Errorf("local login: rehash: %w", err)
		}
	}
	err = p.store.Tx(ctx, func(q *store.Q) error {
		if err := q.ClearLocalPasswordFailures(ctx, email); err != nil {
			return err
		}
		if rehashed != "" {
			_, err := q.ReplaceLocalPasswordHash(ctx, email, rec.Hash, rehashed)
			return err
		}
		return nil
	})
	if err != nil {
		return Identity{}, fmt.Errorf("local login: %w", err)
	}
	return Identity{ConnectorID: LocalConnectorID, Subject: email, Email: email, EmailVerified: true,
		Organization: rec.OrganizationID}, nil
}

// SetPassword creates the local user email or replaces its password; it also
// clears the failure count and lifts a lock. The password must have at least
// MinPasswordLength characters, at most MaxPasswordBytes bytes, and be UTF-8.
func (p *Password) SetPassword(ctx context.Context, email, password string) error {
	email, err := checkEmail(email)
	if err != nil {
		return err
	}
	if err := CheckPasswordPolicy(password); err != nil {
		return err
	}
	h, err := p.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return p.store.Tx(ctx, func(q *store.Q) error {
		return q.SetLocalPassword(ctx, email, h, p.cfg.Now())
	})
}

// Hash checks password against the policy (CheckPasswordPolicy) and hashes
// it with the current parameters, for a caller that stores it itself (in
// the transaction that spends a link, for instance).
func (p *Password) Hash(ctx context.Context, password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	h, err := p.hash(ctx, password)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// CheckEmail accepts a bare address (no display name, no angle brackets, at
// most 254 bytes) and returns its key form (trimmed, lower-cased), or an
// error wrapping ErrInvalidEmail.
func CheckEmail(email string) (string, error) { return checkEmail(email) }

// CheckPasswordPolicy reports why password may not be set (an error wrapping
// ErrPasswordPolicy), or nil.
func CheckPasswordPolicy(password string) error {
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: it must be valid UTF-8 text", ErrPasswordPolicy)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: at most %d bytes", ErrPasswordPolicy, MaxPasswordBytes)
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("%w: at least %d characters", ErrPasswordPolicy, MinPasswordLength)
	}
	return nil
}

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// checkEmail accepts a bare address (no display name, no angle brackets) and
// returns its key form.
func checkEmail(email string) (string, error) {
	email = normalizeEmail(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return "", fmt.Errorf("%w: %q (want a bare address like jo@example.com)", ErrInvalidEmail, email)
	}
	return email, nil
}

// acquire takes a hashing slot, or fails when ctx ends first.
//
// Releasing the slot first collects the garbage of the hash just computed
// when it is large. An argon2id hash leaves Params.Memory of garbage (19 MiB
// by default) that the collector, paced by the live heap (and serve's GOGC of
// 200), would let pile up over several logins: a burst of logins raised the
// process's peak RSS by 100 MiB and more. Collecting before the next hash may
// start keeps the garbage of at most MaxConcurrentHashes hashes, for a few
// milliseconds per login (the hash itself takes tens).
func (p *Password) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return func() {
			if p.cfg.Params.Memory >= largeHashKiB {
				runtime.GC()
			}
			<-p.slots
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// largeHashKiB is the hash memory (KiB) from which a hash's garbage is
// collected at once (see acquire).
const largeHashKiB = 4 << 10

func (p *Password) hash(ctx context.Context, password string) (string, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return hashPassword(password, p.cfg.Params, p.cfg.Rand)
}

func (p *Password) verify(ctx context.Context, password, encoded string) (bool, Argon2Params, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return false, Argon2Params{}, err
	}
	defer release()
	ok, params, err := verifyPassword(password, encoded)
	if p.onVerify != nil {
		p.onVerify(params)
	}
	return ok, params, err
}

// burn checks password against the dummy hash: the cost of a real check,
// with nothing to learn from it.
func (p *Password) burn(ctx context.Context, password string) {
	_, _, _ = p.verify(ctx, password, p.dummy)
}
