package server

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Local password accounts and the person's own account (issue 13): thin
// wrappers around internal/account.

func (h *handlers) GetUserPassword(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	acc, err := h.s.accounts.UserPassword(r.Context(), organizationID, userID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return localAccountToAPI(acc, h.s.now()) }), err)
}

func (h *handlers) DeleteUserPassword(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.DeleteUserPassword(r.Context(), organizationID, userID))
}

func (h *handlers) InviteUser(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	l, err := h.s.accounts.InviteUser(r.Context(), h.mayGrant(r), organizationID, userID)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return linkToAPI(l) }), err)
}

func (h *handlers) ResetUserPassword(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	l, err := h.s.accounts.ResetUserPassword(r.Context(), h.mayGrant(r), organizationID, userID)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return linkToAPI(l) }), err)
}

func (h *handlers) ListLocalAccounts(w http.ResponseWriter, r *http.Request, params api.ListLocalAccountsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	accs, err := h.s.accounts.ListPlatform(r.Context(), p)
	now := h.s.now()
	replyList(h, w, r, p, accs, err, func(a *store.LocalPassword) string { return a.Email },
		func(a *store.LocalPassword) api.LocalAccountRead { return localAccountToAPI(a, now) })
}

func (h *handlers) InviteLocalAccount(w http.ResponseWriter, r *http.Request) {
	var in api.LocalAccountEmail
	if !h.decode(w, r, &in) {
		return
	}
	l, err := h.s.accounts.InvitePlatform(r.Context(), in.Email)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return linkToAPI(l) }), err)
}

func (h *handlers) ResetLocalAccountPassword(w http.ResponseWriter, r *http.Request) {
	var in api.LocalAccountEmail
	if !h.decode(w, r, &in) {
		return
	}
	l, err := h.s.accounts.ResetPlatform(r.Context(), in.Email)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return linkToAPI(l) }), err)
}

func (h *handlers) DeleteLocalAccount(w http.ResponseWriter, r *http.Request, email string) {
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.DeletePlatform(r.Context(), email))
}

func (h *handlers) GetAccount(w http.ResponseWriter, r *http.Request) {
	p, err := h.s.accounts.Profile(r.Context(), principal(r))
	h.reply(w, r, http.StatusOK, later(err, func() any { return profileToAPI(p) }), err)
}

func (h *handlers) ChangeAccountPassword(w http.ResponseWriter, r *http.Request) {
	var in api.AccountPasswordChange
	if !h.decode(w, r, &in) {
		return
	}
	h.reply(w, r, http.StatusOK, nil, h.s.accounts.ChangePassword(r.Context(), principal(r), in.CurrentPassword, in.NewPassword))
}

func linkToAPI(l *account.Link) api.PasswordLink {
	return api.PasswordLink{Url: l.URL, ExpiresAt: l.ExpiresAt}
}

func localAccountToAPI(a *store.LocalPassword, now time.Time) api.LocalAccountRead {
	out := api.LocalAccountRead{Email: a.Email, OrganizationID: optional(a.OrganizationID), PasswordUpdatedAt: a.UpdatedAt,
		Locked: a.LockedUntil.After(now)}
	if out.Locked {
		until := a.LockedUntil
		out.LockedUntil = &until
	}
	return out
}

func profileToAPI(p *account.Profile) api.AccountRead {
	out := api.AccountRead{Subject: p.Subject, Email: p.Email, LocalAccount: p.LocalAccount,
		Organizations: make([]api.AccountOrganization, 0, len(p.Organizations))}
	if p.IdP != nil {
		out.IdentityProvider = &api.AccountIdentityProvider{OrganizationID: optional(p.IdP.Org), ProviderID: p.IdP.ID,
			Issuer: optional(p.IdP.Issuer), Subject: optional(p.IdP.Subject)}
	}
	for _, m := range p.Organizations {
		out.Organizations = append(out.Organizations, api.AccountOrganization{OrganizationID: m.OrganizationID,
			OrganizationName: m.OrganizationName, UserID: m.UserID, UserName: m.UserName, Roles: m.Roles})
	}
	return out
}

// optional is s, or nil when s is empty (an absent optional field).
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
