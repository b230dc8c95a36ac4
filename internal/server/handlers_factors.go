package server

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Second factors (issue 14): thin wrappers around internal/account, which
// applies the rules of internal/mfa.

func (h *handlers) GetAccountFactors(w http.ResponseWriter, r *http.Request) {
	fs, err := h.s.accounts.ListFactors(r.Context(), principal(r))
	h.reply(w, r, http.StatusOK, later(err, func() any {
		out := api.AccountFactors{Policy: api.AccountFactorsPolicy(fs.Policy), RecoveryCodesLeft: fs.RecoveryCodesLeft,
			Factors: make([]api.FactorRead, 0, len(fs.Factors))}
		for _, f := range fs.Factors {
			out.Factors = append(out.Factors, factorToAPI(f))
		}
		return out
	}), err)
}

func (h *handlers) StartAccountTotpEnrolment(w http.ResponseWriter, r *http.Request) {
	var in api.TotpEnrolmentRequest
	if !h.decode(w, r, &in) {
		return
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	e, f, err := h.s.accounts.StartTOTP(r.Context(), principal(r), name)
	h.reply(w, r, http.StatusCreated, later(err, func() any {
		return api.TotpEnrolment{Factor: factorToAPI(f), Secret: e.Secret, OtpauthURL: e.URL,
			QrCode: api.QrCode{Size: e.QR.Size, Path: e.QR.Path}}
	}), err)
}

func (h *handlers) ConfirmAccountFactor(w http.ResponseWriter, r *http.Request, factorID string) {
	var in api.FactorCode
	if !h.decode(w, r, &in) {
		return
	}
	f, codes, err := h.s.accounts.ConfirmFactor(r.Context(), principal(r), factorID, in.Code)
	h.reply(w, r, http.StatusOK, later(err, func() any {
		out := api.FactorConfirmation{Factor: factorToAPI(f)}
		if len(codes) > 0 {
			out.RecoveryCodes = &codes
		}
		return out
	}), err)
}

func (h *handlers) RemoveAccountFactor(w http.ResponseWriter, r *http.Request, factorID string) {
	var in api.FactorProof
	if !h.decode(w, r, &in) {
		return
	}
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.RemoveFactor(r.Context(), principal(r), factorID, proofFromAPI(in)))
}

func (h *handlers) RegenerateAccountRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	var in api.FactorProof
	if !h.decode(w, r, &in) {
		return
	}
	codes, err := h.s.accounts.RegenerateRecoveryCodes(r.Context(), principal(r), proofFromAPI(in))
	h.reply(w, r, http.StatusCreated, later(err, func() any { return api.RecoveryCodes{Codes: codes} }), err)
}

func (h *handlers) ResetUserFactors(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.ResetUserFactors(r.Context(), organizationID, userID))
}

func (h *handlers) ResetSubjectFactors(w http.ResponseWriter, r *http.Request, subject string) {
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.ResetSubjectFactors(r.Context(), subject))
}

func (h *handlers) GetOrganizationMfaPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	m, at, err := h.s.accounts.OrganizationMFAPolicy(r.Context(), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return mfaPolicyToAPI(m, at) }), err)
}

func (h *handlers) SetOrganizationMfaPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.MfaPolicy
	if !h.decode(w, r, &in) {
		return
	}
	m, at, err := h.s.accounts.SetOrganizationMFAPolicy(r.Context(), organizationID, string(in.Mode))
	h.reply(w, r, http.StatusOK, later(err, func() any { return mfaPolicyToAPI(m, at) }), err)
}

func factorToAPI(f *store.Factor) api.FactorRead {
	out := api.FactorRead{Id: f.ID, Kind: f.Kind, Name: f.Name, Confirmed: f.Confirmed(), CreatedAt: f.CreatedAt}
	if !f.LastUsedAt.IsZero() {
		used := f.LastUsedAt
		out.LastUsedAt = &used
	}
	return out
}

func proofFromAPI(in api.FactorProof) account.Proof {
	var p account.Proof
	if in.Password != nil {
		p.Password = *in.Password
	}
	if in.Code != nil {
		p.Code = *in.Code
	}
	return p
}

func mfaPolicyToAPI(m mfa.Mode, at time.Time) api.MfaPolicy {
	out := api.MfaPolicy{Mode: api.MfaPolicyMode(m)}
	if !at.IsZero() {
		out.UpdatedAt = &at
	}
	return out
}
