// Package mfa owns second factors (issue 14): one-time codes (TOTP, RFC
// 6238, with github.com/pquerna/otp), recovery codes, the attempt lockout
// of factors, and the multi-factor policy of organizations. A person's
// factors are keyed by subject (the email of a local account), in one table
// with a kind column (store.Factor), so passkeys are one more kind.
//
// No HTTP: the sign-in pages of internal/oidc and the account and
// administration operations of internal/server call it. Every write runs in
// one transaction and describes itself to internal/audit (when the caller
// put an audit entry on the context).
package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Mode is a multi-factor policy.
type Mode string

// The policies. A factor once enrolled is asked at every password sign-in
// whatever the mode (skipping it would only help someone who has the
// password alone); the modes decide whether enrolment is offered and
// whether it is forced.
const (
	// Off: the organization offers no second factor: enrolment is refused.
	Off Mode = "off"
	// Optional: people may enrol (the default).
	Optional Mode = "optional"
	// Required: a person without a factor must enrol at the next sign-in.
	Required Mode = "required"
)

// ParseMode reads a policy's wire form.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(s); m {
	case Off, Optional, Required:
		return m, true
	}
	return "", false
}

// rank orders the modes; the strictest of several applies.
func (m Mode) rank() int {
	switch m {
	case Off:
		return 0
	case Required:
		return 2
	}
	return 1
}

// KindTOTP is the factor kind of one-time codes from an authenticator app.
const KindTOTP = "totp"

// Errors of the factor operations.
var (
	// ErrInvalidCode: the code is wrong, was already used, or is not one.
	ErrInvalidCode = errors.New("the code is not valid")
	// ErrLocked: too many failed attempts; see LockError.
	ErrLocked = errors.New("second factor locked after too many failed attempts")
	// ErrNoEnrolment: no enrolment is pending.
	ErrNoEnrolment = errors.New("no enrolment is pending")
	// ErrNotOffered: the policy is off.
	ErrNotOffered = errors.New("multi-factor authentication is turned off by the organization")
	// ErrNoFactor: recovery codes need a confirmed factor first.
	ErrNoFactor = errors.New("no confirmed second factor")
)

// LockError is the ErrLocked of an attempt refused during a lock, or of the
// failed attempt that started it.
type LockError struct{ Until time.Time }

func (e *LockError) Error() string { return ErrLocked.Error() }

// Is makes a LockError an ErrLocked.
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// Service runs the factors of every person.
type Service struct {
	Store *store.Store
	// Sealer seals TOTP secrets at rest (bound to the factor's ID).
	Sealer *secret.Sealer
	// Issuer is the label authenticator apps show beside the account.
	Issuer string
	// MaxFailures and LockoutPeriod: the local passwords' lockout
	// (connector.Password.Lockout), applied to second factors too, with a
	// counter of their own.
	MaxFailures   int
	LockoutPeriod time.Duration
	// PlatformAdministrators is the policy of people holding the platform
	// administrator role (Required when empty).
	PlatformAdministrators Mode
	Now                    func() time.Time
	Rand                   io.Reader
	NewID                  func() string
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) rand() io.Reader {
	if s.Rand == nil {
		return rand.Reader
	}
	return s.Rand
}

func (s *Service) lockout() (int, time.Duration) {
	n, d := s.MaxFailures, s.LockoutPeriod
	if n <= 0 {
		n = 5
	}
	if d <= 0 {
		d = 15 * time.Minute
	}
	return n, d
}

// Account is what a person may pass as the owner of a local account: the
// organization that owns it ("" for the platform), which confines whose
// policies apply.
type Account struct {
	Subject string
	// Organization owns the local account ("" for a platform account).
	Organization string
}

// Policy is the multi-factor policy that applies to acc: an account an
// organization owns follows that organization's policy alone (its logins
// act there only); a platform account the strictest policy of the
// organizations where the person is an active user, and the platform
// administrators' when the person holds that role. Optional when nothing
// says otherwise.
func (s *Service) Policy(ctx context.Context, acc Account) (Mode, error) {
	q := s.Store.Read()
	if acc.Organization != "" {
		m, _, err := q.MFAPolicy(ctx, acc.Organization)
		if err != nil || m == "" {
			return Optional, err
		}
		return Mode(m), nil
	}
	modes, err := q.MFAPoliciesOfSubject(ctx, acc.Subject, authz.ActiveUserState)
	if err != nil {
		return "", err
	}
	best := Mode("")
	for _, m := range modes {
		if best == "" || Mode(m).rank() > best.rank() {
			best = Mode(m)
		}
	}
	roles, err := q.PlatformRoles(ctx, store.MemberUser, acc.Subject)
	if err != nil {
		return "", err
	}
	admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
	for _, r := range roles {
		if r == admin.ID {
			pm := s.PlatformAdministrators
			if pm == "" {
				pm = Required
			}
			if best == "" || pm.rank() > best.rank() {
				best = pm
			}
		}
	}
	if best == "" {
		best = Optional
	}
	return best, nil
}

// Factors lists subject's factors (pending enrolments included) and the
// recovery codes left.
func (s *Service) Factors(ctx context.Context, subject string) ([]*store.Factor, int, error) {
	q := s.Store.Read()
	fs, err := q.ListFactors(ctx, subject)
	if err != nil {
		return nil, 0, err
	}
	left, _, err := q.RecoveryCodes(ctx, subject)
	return fs, left, err
}

// HasFactor reports whether subject has a confirmed factor.
func (s *Service) HasFactor(ctx context.Context, subject string) (bool, error) {
	fs, err := s.Store.Read().ListFactors(ctx, subject)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Confirmed() {
			return true, nil
		}
	}
	return false, nil
}

// Enrolment is a TOTP factor waiting for its first code: the secret as
// text (base32) and as an otpauth:// URI, and the URI's QR code. Shown to
// the person enrolling only.
type Enrolment struct {
	FactorID string
	Secret   string
	URL      string
	QR       QR
}

// factorRecord is what the audit log keeps of a factor: never its secret.
func factorRecord(f *store.Factor) map[string]any {
	return map[string]any{"id": f.ID, "subject": f.Subject, "kind": f.Kind, "name": f.Name,
		"confirmed": f.Confirmed(), "createdAt": f.CreatedAt}
}

// StartTOTP begins a TOTP enrolment for acc: a new secret, stored sealed
// in a pending factor that replaces any pending one. Refused (ErrNotOffered)
// when acc's policy is off.
func (s *Service) StartTOTP(ctx context.Context, acc Account, name string) (*Enrolment, error) {
	mode, err := s.Policy(ctx, acc)
	if err != nil {
		return nil, err
	}
	if mode == Off {
		return nil, ErrNotOffered
	}
	key, err := newTOTPKey(s.Issuer, acc.Subject, s.rand())
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "Authenticator app"
	}
	now := s.now().UTC()
	f := &store.Factor{ID: s.NewID(), Subject: acc.Subject, Kind: KindTOTP, Name: name, CreatedAt: now}
	f.SecretSealed = s.Sealer.Seal(key.URL(), sealAAD(f.ID))
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.DeletePendingFactors(ctx, acc.Subject, KindTOTP); err != nil {
			return err
		}
		if err := q.CreateFactor(ctx, f); err != nil {
			return err
		}
		audit.Describe(ctx, "mfaFactor", f.ID, nil, factorRecord(f))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return enrolmentOf(f.ID, key.URL())
}

// PendingTOTP is subject's pending TOTP enrolment (ErrNoEnrolment if none
// was started within maxAge), shown again.
func (s *Service) PendingTOTP(ctx context.Context, subject string, maxAge time.Duration) (*Enrolment, error) {
	fs, err := s.Store.Read().ListFactors(ctx, subject)
	if err != nil {
		return nil, err
	}
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if f.Kind != KindTOTP || f.Confirmed() || s.now().Sub(f.CreatedAt) > maxAge {
			continue
		}
		url, err := s.Sealer.Open(f.SecretSealed, sealAAD(f.ID))
		if err != nil {
			return nil, fmt.Errorf("factor %s: %w", f.ID, err)
		}
		return enrolmentOf(f.ID, url)
	}
	return nil, ErrNoEnrolment
}

func enrolmentOf(id, url string) (*Enrolment, error) {
	key, err := keyOf(url)
	if err != nil {
		return nil, err
	}
	qr, err := qrOf(url)
	if err != nil {
		return nil, err
	}
	return &Enrolment{FactorID: id, Secret: key.Secret(), URL: url, QR: qr}, nil
}

// sealAAD binds a sealed TOTP secret to its factor row.
func sealAAD(id string) string { return "mfafactor:" + id }

// Confirm completes subject's pending TOTP enrolment factorID with its
// first code (counted like every attempt). The person's first factor also
// gets a set of recovery codes, returned (once) as codes.
func (s *Service) Confirm(ctx context.Context, subject, factorID, code string) (f *store.Factor, codes []string, err error) {
	f, err = s.Store.Read().GetFactor(ctx, subject, factorID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (f.Confirmed() || f.Kind != KindTOTP) {
		return nil, nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.begin(ctx, subject); err != nil {
		return nil, nil, err
	}
	step, err := s.stepOf(f, code)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		ok, err := q.UseFactorStep(ctx, subject, f.ID, step, now)
		if err != nil || !ok {
			if err == nil {
				err = ErrInvalidCode
			}
			return err
		}
		if err := q.ClearFactorAttempts(ctx, subject); err != nil {
			return err
		}
		left, created, err := q.RecoveryCodes(ctx, subject)
		if err != nil {
			return err
		}
		if left == 0 && created.IsZero() {
			if codes, err = s.replaceRecoveryCodes(ctx, q, subject, now); err != nil {
				return err
			}
		}
		if f, err = q.GetFactor(ctx, subject, f.ID); err != nil {
			return err
		}
		audit.Describe(ctx, "mfaFactor", f.ID, nil, factorRecord(f))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return f, codes, nil
}

// stepOf is the time step of code for TOTP factor f (ErrInvalidCode when
// it matches none within the skew).
func (s *Service) stepOf(f *store.Factor, code string) (int64, error) {
	url, err := s.Sealer.Open(f.SecretSealed, sealAAD(f.ID))
	if err != nil {
		return 0, fmt.Errorf("factor %s: %w", f.ID, err)
	}
	key, err := keyOf(url)
	if err != nil {
		return 0, err
	}
	if step := matchStep(key.Secret(), code, s.now()); step >= 0 {
		return step, nil
	}
	return 0, ErrInvalidCode
}

// begin counts an attempt before it is checked (store.BeginFactorAttempt),
// in a transaction of its own that carries no audit event: ErrLocked (a
// LockError) during a lock.
func (s *Service) begin(ctx context.Context, subject string) error {
	n, period := s.lockout()
	var until time.Time
	err := s.Store.Tx(audit.Unaudited(ctx), func(q *store.Q) error {
		var err error
		_, until, err = q.BeginFactorAttempt(ctx, subject, s.now(), n, period)
		return err
	})
	if errors.Is(err, store.ErrFactorLocked) {
		return &LockError{Until: until}
	}
	if err != nil {
		return err
	}
	if !until.IsZero() {
		// This attempt reached the limit: the lock starts now, and this
		// attempt is refused with it (like the password's last guess, it
		// is not checked: the count was spent).
		return &LockError{Until: until}
	}
	return nil
}

// Method says which factor a sign-in code was: a TOTP code or a
// recovery code.
type Method string

// The methods of Verify.
const (
	MethodTOTP     Method = "totp"
	MethodRecovery Method = "recovery_code"
)

// Verify checks a second-factor code of subject at sign-in: six digits
// are a TOTP code of one of its confirmed factors (accepted once: a step
// already used, or an earlier one, is refused), anything else a recovery
// code (spent). Every attempt is counted first; a good one clears the
// count. ErrInvalidCode or ErrLocked (LockError) otherwise.
func (s *Service) Verify(ctx context.Context, subject, code string) (Method, error) {
	if err := s.begin(ctx, subject); err != nil {
		return "", err
	}
	now := s.now().UTC()
	var method Method
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		if rc := normalizeRecoveryCode(code); rc != "" && len(code) > Digits {
			ok, err := q.UseRecoveryCode(ctx, subject, recoveryHash(rc), now)
			if err != nil || !ok {
				if err == nil {
					err = ErrInvalidCode
				}
				return err
			}
			method = MethodRecovery
		} else {
			fs, err := q.ListFactors(ctx, subject)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if f.Kind != KindTOTP || !f.Confirmed() {
					continue
				}
				step, err := s.stepOf(f, code)
				if errors.Is(err, ErrInvalidCode) {
					continue
				}
				if err != nil {
					return err
				}
				ok, err := q.UseFactorStep(ctx, subject, f.ID, step, now)
				if err != nil {
					return err
				}
				if ok {
					method = MethodTOTP
					break
				}
			}
			if method == "" {
				return ErrInvalidCode
			}
		}
		return q.ClearFactorAttempts(ctx, subject)
	})
	if err != nil {
		return "", err
	}
	return method, nil
}

// Remove deletes subject's factor id; with the last confirmed factor the
// recovery codes go too (nothing left for them to stand in for).
func (s *Service) Remove(ctx context.Context, subject, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		f, err := q.GetFactor(ctx, subject, id)
		if err != nil {
			return err
		}
		if err := q.DeleteFactor(ctx, subject, id); err != nil {
			return err
		}
		fs, err := q.ListFactors(ctx, subject)
		if err != nil {
			return err
		}
		confirmed := false
		for _, g := range fs {
			confirmed = confirmed || g.Confirmed()
		}
		if !confirmed {
			if err := q.DeleteRecoveryCodes(ctx, subject); err != nil {
				return err
			}
		}
		audit.Describe(ctx, "mfaFactor", f.ID, factorRecord(f), nil)
		return nil
	})
}

// RegenerateRecoveryCodes replaces subject's recovery codes with a new set,
// returned once. The person needs a confirmed factor (ErrNoFactor).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, subject string) ([]string, error) {
	var codes []string
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		fs, err := q.ListFactors(ctx, subject)
		if err != nil {
			return err
		}
		confirmed := false
		for _, f := range fs {
			confirmed = confirmed || f.Confirmed()
		}
		if !confirmed {
			return ErrNoFactor
		}
		codes, err = s.replaceRecoveryCodes(ctx, q, subject, s.now().UTC())
		if err != nil {
			return err
		}
		audit.Describe(ctx, "mfaRecoveryCodes", subject, nil, map[string]any{"subject": subject, "count": len(codes)})
		return nil
	})
	return codes, err
}

func (s *Service) replaceRecoveryCodes(ctx context.Context, q *store.Q, subject string, now time.Time) ([]string, error) {
	codes, err := newRecoveryCodes(s.rand())
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = recoveryHash(normalizeRecoveryCode(c))
	}
	return codes, q.ReplaceRecoveryCodes(ctx, subject, hashes, now)
}

// Reset removes every factor and recovery code of subject and lifts a
// factor lock (an administrator's help for a person who lost their
// factors); the person enrols again at the next sign-in if a policy
// requires it. It reports how many factors were removed.
func (s *Service) Reset(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		fs, err := q.ListFactors(ctx, subject)
		if err != nil {
			return err
		}
		if n, err = q.DeleteFactorsOfSubject(ctx, subject); err != nil {
			return err
		}
		before := make([]map[string]any, 0, len(fs))
		for _, f := range fs {
			before = append(before, factorRecord(f))
		}
		// The route names the resource (the user, or the subject).
		audit.Describe(ctx, "", "", map[string]any{"subject": subject, "factors": before}, nil)
		return nil
	})
	return n, err
}

// SetPolicy sets organization orgID's policy.
func (s *Service) SetPolicy(ctx context.Context, orgID string, mode Mode) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		before, _, err := q.MFAPolicy(ctx, orgID)
		if err != nil {
			return err
		}
		if err := q.SetMFAPolicy(ctx, orgID, string(mode), s.now().UTC()); err != nil {
			return err
		}
		if before == "" {
			before = string(Optional) // the default applied until now
		}
		audit.Describe(ctx, "", "", map[string]any{"mfaPolicy": before}, map[string]any{"mfaPolicy": mode})
		return nil
	})
}

// OrganizationPolicy reads orgID's policy (Optional when it set none) and
// when it was set.
func (s *Service) OrganizationPolicy(ctx context.Context, orgID string) (Mode, time.Time, error) {
	m, at, err := s.Store.Read().MFAPolicy(ctx, orgID)
	if err != nil || m == "" {
		return Optional, at, err
	}
	return Mode(m), at, nil
}

// AccountOf is the Account of principal p: its subject and the
// organization that vouched for its login (the owner of its local account).
func AccountOf(p *authn.Principal) Account {
	return Account{Subject: p.Subject, Organization: p.VouchingOrganization()}
}
