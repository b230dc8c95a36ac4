package account

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// The person's second factors over /api/v1 (issue 14): thin rules over
// internal/mfa. Removing a factor and replacing the recovery codes need a
// proof beyond the access token (Proof), so that a stolen token cannot
// weaken the account.

// Factors is what GET /api/v1/account/factors shows.
type Factors struct {
	Policy            mfa.Mode
	Factors           []*store.Factor
	RecoveryCodesLeft int
}

// Proof is what a sensitive change of factors needs besides the token:
// the current local password, or a code of a factor (TOTP or recovery
// code). Exactly one.
type Proof struct {
	Password, Code string
}

func (s *Service) mfaFor(p *authn.Principal) (*mfa.Service, error) {
	if p == nil || p.Kind != authn.KindUser {
		return nil, errNotAPerson(p)
	}
	if s.MFA == nil {
		return nil, apierror.ForbiddenError("second factors are not configured on this server")
	}
	return s.MFA, nil
}

// ListFactors reads p's factors, recovery codes left and policy.
func (s *Service) ListFactors(ctx context.Context, p *authn.Principal) (*Factors, error) {
	m, err := s.mfaFor(p)
	if err != nil {
		return nil, err
	}
	fs, left, err := m.Factors(ctx, p.Subject)
	if err != nil {
		return nil, err
	}
	mode, err := m.Policy(ctx, mfa.AccountOf(p))
	if err != nil {
		return nil, err
	}
	return &Factors{Policy: mode, Factors: fs, RecoveryCodesLeft: left}, nil
}

// maxFactorName bounds a factor's name.
const maxFactorName = 64

// StartTOTP begins a TOTP enrolment for p (403 when the policy is off).
func (s *Service) StartTOTP(ctx context.Context, p *authn.Principal, name string) (*mfa.Enrolment, *store.Factor, error) {
	m, err := s.mfaFor(p)
	if err != nil {
		return nil, nil, err
	}
	if len(name) > maxFactorName || tenancy.TextProblem(name) != "" {
		return nil, nil, apierror.BadRequest("name: at most %d characters of text", maxFactorName)
	}
	e, err := m.StartTOTP(ctx, mfa.AccountOf(p), name)
	if errors.Is(err, mfa.ErrNotOffered) {
		return nil, nil, apierror.ForbiddenError("%v", err)
	}
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Store.Read().GetFactor(ctx, p.Subject, e.FactorID)
	return e, f, err
}

// ConfirmFactor confirms p's pending factor id with its first code; a
// first factor's recovery codes come back (once).
func (s *Service) ConfirmFactor(ctx context.Context, p *authn.Principal, id, code string) (*store.Factor, []string, error) {
	m, err := s.mfaFor(p)
	if err != nil {
		return nil, nil, err
	}
	f, codes, err := m.Confirm(ctx, p.Subject, id, code)
	switch {
	case errors.Is(err, mfa.ErrNoEnrolment):
		return nil, nil, apierror.NotFoundError("no pending factor %s", id)
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrLocked):
		return nil, nil, badCode(err)
	}
	return f, codes, err
}

func badCode(err error) error {
	var le *mfa.LockError
	if errors.As(err, &le) {
		return apierror.BadRequest("too many wrong codes: the second factor is locked until %s", le.Until.UTC().Format(time.RFC3339))
	}
	return apierror.BadRequest("the code is not valid (codes work once; failed attempts count toward the lockout)")
}

// prove checks proof for p: the password of p's own local account (the
// login's voucher owns it), counted toward its lockout, or a code of p's
// factors, spent and counted toward the factor lockout. Both run in
// transactions of their own, without the request's audit event.
func (s *Service) prove(ctx context.Context, m *mfa.Service, p *authn.Principal, proof Proof) error {
	uctx := audit.Unaudited(ctx)
	switch {
	case (proof.Password == "") == (proof.Code == ""):
		return apierror.BadRequest("give exactly one proof: password (the current local password) or code (a TOTP or recovery code)")
	case proof.Code != "":
		if _, err := m.Verify(uctx, p.Subject, proof.Code); errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrLocked) {
			return badCode(err)
		} else if err != nil {
			return err
		}
		return nil
	}
	acc, err := s.Store.Read().GetLocalPassword(ctx, p.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.OrganizationID != p.VouchingOrganization() {
		return apierror.BadRequest("%s has no local password here: prove it with a code", p.Subject)
	}
	if err != nil {
		return err
	}
	ident, err := s.Password.Login(uctx, p.Subject, proof.Password)
	if errors.Is(err, connector.ErrInvalidCredentials) || err == nil && ident.Organization != acc.OrganizationID {
		return apierror.BadRequest("the password is not correct (or the account is locked after too many failures); failed attempts count toward the lockout")
	}
	return err
}

// RemoveFactor removes p's factor id, with proof.
func (s *Service) RemoveFactor(ctx context.Context, p *authn.Principal, id string, proof Proof) error {
	m, err := s.mfaFor(p)
	if err != nil {
		return err
	}
	if _, err := s.Store.Read().GetFactor(ctx, p.Subject, id); errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("no factor %s", id)
	} else if err != nil {
		return err
	}
	if err := s.prove(ctx, m, p, proof); err != nil {
		return err
	}
	err = m.Remove(ctx, p.Subject, id)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("no factor %s", id)
	}
	return err
}

// RegenerateRecoveryCodes replaces p's recovery codes, with proof.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, p *authn.Principal, proof Proof) ([]string, error) {
	m, err := s.mfaFor(p)
	if err != nil {
		return nil, err
	}
	if has, err := m.HasFactor(ctx, p.Subject); err != nil {
		return nil, err
	} else if !has {
		return nil, apierror.BadRequest("recovery codes stand in for a second factor: enrol one first")
	}
	if err := s.prove(ctx, m, p, proof); err != nil {
		return nil, err
	}
	codes, err := m.RegenerateRecoveryCodes(ctx, p.Subject)
	if errors.Is(err, mfa.ErrNoFactor) {
		return nil, apierror.BadRequest("recovery codes stand in for a second factor: enrol one first")
	}
	return codes, err
}

// ResetUserFactors removes the factors of organization orgID's user
// userID, whose local account the organization must own (404 otherwise:
// a platform account's factors protect it everywhere, so only platform
// administrators reset them).
func (s *Service) ResetUserFactors(ctx context.Context, orgID, userID string) error {
	if s.MFA == nil {
		return apierror.NotFoundError("second factors are not configured on this server")
	}
	q := s.Store.Read()
	u, err := orgUser(ctx, q, orgID, userID)
	if err != nil {
		return err
	}
	acc, err := q.GetLocalPassword(ctx, u.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.OrganizationID != orgID {
		return apierror.NotFoundError("%s has no local account of this organization", u.Subject)
	}
	if err != nil {
		return err
	}
	_, err = s.MFA.Reset(ctx, u.Subject)
	return err
}

// ResetSubjectFactors removes every factor of subject (platform
// administrators); 404 when there is none.
func (s *Service) ResetSubjectFactors(ctx context.Context, subject string) error {
	if s.MFA == nil {
		return apierror.NotFoundError("second factors are not configured on this server")
	}
	fs, _, err := s.MFA.Factors(ctx, subject)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		return apierror.NotFoundError("%s has no second factor", subject)
	}
	_, err = s.MFA.Reset(ctx, subject)
	return err
}

// OrganizationMFAPolicy reads orgID's policy (404 for an unknown
// organization).
func (s *Service) OrganizationMFAPolicy(ctx context.Context, orgID string) (mfa.Mode, time.Time, error) {
	if _, err := s.Store.Read().GetOrganization(ctx, orgID); err != nil {
		return "", time.Time{}, tenancy.StoreError(err, "organization", orgID)
	}
	if s.MFA == nil {
		return mfa.Off, time.Time{}, nil
	}
	return s.MFA.OrganizationPolicy(ctx, orgID)
}

// SetOrganizationMFAPolicy sets orgID's policy (400 for an unknown mode).
func (s *Service) SetOrganizationMFAPolicy(ctx context.Context, orgID, mode string) (mfa.Mode, time.Time, error) {
	m, ok := mfa.ParseMode(mode)
	if !ok {
		return "", time.Time{}, apierror.BadRequest("mode: %q is not off, optional or required", mode)
	}
	if _, err := s.Store.Read().GetOrganization(ctx, orgID); err != nil {
		return "", time.Time{}, tenancy.StoreError(err, "organization", orgID)
	}
	if s.MFA == nil {
		return "", time.Time{}, apierror.BadRequest("second factors are not configured on this server")
	}
	if err := s.MFA.SetPolicy(ctx, orgID, m); err != nil {
		return "", time.Time{}, err
	}
	return s.MFA.OrganizationPolicy(ctx, orgID)
}
