package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Profile is what GET /api/v1/account shows a signed-in person.
type Profile struct {
	Subject, Email string
	// IdP is who vouched for the login the token comes from (nil for a
	// token from before Gatehouse recorded it).
	IdP *authn.IdP
	// LocalAccount: the person has a local password account that the
	// login's voucher owns (so PUT /api/v1/account/password applies).
	LocalAccount bool
	// Organizations are those the person is an active user of (only the
	// vouching organization's for a confined login), with the names of the
	// roles their groups grant there.
	Organizations []Membership
}

// Membership is one organization of a Profile.
type Membership struct {
	OrganizationID, OrganizationName, UserID, UserName string
	Roles                                              []string
}

// errNotAPerson refuses machine principals: an account is a person's.
func errNotAPerson(p *authn.Principal) error {
	return apierror.ForbiddenError("%s is not a person signed in through OpenID Connect: the account operations are for people", p.Subject)
}

// Profile reads p's account.
func (s *Service) Profile(ctx context.Context, p *authn.Principal) (*Profile, error) {
	if p == nil || p.Kind != authn.KindUser {
		return nil, errNotAPerson(p)
	}
	q := s.Store.Read()
	pr := &Profile{Subject: p.Subject, Email: p.Email, IdP: p.IdP, Organizations: []Membership{}}
	if pr.Email == "" {
		pr.Email = p.Subject
	}
	acc, err := q.GetLocalPassword(ctx, p.Subject)
	switch {
	case err == nil:
		pr.LocalAccount = acc.OrganizationID == p.VouchingOrganization()
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	states, err := q.UserStatesOfSubject(ctx, p.Subject)
	if err != nil {
		return nil, err
	}
	vouching := p.VouchingOrganization()
	for _, st := range states {
		if st.State != authz.ActiveUserState || vouching != "" && st.OrganizationID != vouching {
			continue
		}
		m, err := membership(ctx, q, st.OrganizationID, p.Subject)
		if err != nil {
			return nil, err
		}
		pr.Organizations = append(pr.Organizations, *m)
	}
	return pr, nil
}

// membership reads subject's user in orgID and the roles its groups grant.
func membership(ctx context.Context, q *store.Q, orgID, subject string) (*Membership, error) {
	org, err := q.GetOrganization(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("organization %s: %w", orgID, err)
	}
	u, err := q.GetUserBySubject(ctx, orgID, subject)
	if err != nil {
		return nil, fmt.Errorf("user of %s: %w", orgID, err)
	}
	m := &Membership{OrganizationID: orgID, OrganizationName: org.Name, UserID: u.ID, UserName: u.Name, Roles: []string{}}
	seen := map[string]bool{}
	for _, gid := range u.GroupIDs {
		g, err := q.GetGroup(ctx, orgID, gid)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", gid, err)
		}
		for _, rid := range g.RoleIDs {
			if seen[rid] {
				continue
			}
			seen[rid] = true
			if r, ok := authz.RoleByID(rid); ok {
				m.Roles = append(m.Roles, r.Name)
				continue
			}
			r, err := q.GetIAMRole(ctx, orgID, rid)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted concurrently: grants nothing
			}
			if err != nil {
				return nil, fmt.Errorf("role %s: %w", rid, err)
			}
			m.Roles = append(m.Roles, r.Name)
		}
	}
	return m, nil
}

// ChangePassword replaces the password of p's own local account: the one at
// p's subject owned by whoever vouched for p's login (the platform, or the
// organization a confined login belongs to). current must be the password
// now (a wrong one is a 400, and counts toward the account's lockout like a
// failed login); next must meet the policy (400). Every other session the
// old password began ends; the one of the caller's token stays. Machine
// principals, and people without such an account, get 403.
func (s *Service) ChangePassword(ctx context.Context, p *authn.Principal, current, next string) error {
	if p == nil || p.Kind != authn.KindUser {
		return errNotAPerson(p)
	}
	owner := p.VouchingOrganization()
	acc, err := s.Store.Read().GetLocalPassword(ctx, p.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.OrganizationID != owner {
		return apierror.ForbiddenError("%s has no local password account here: the password is kept by the identity provider it signs in with", p.Subject)
	}
	if err != nil {
		return err
	}
	if err := connector.CheckPasswordPolicy(next); err != nil {
		return apierror.BadRequest("new password: %v", err)
	}
	// Checking the current password writes (the attempt counter) in
	// transactions of its own: not the request's audited write, which
	// follows and records nothing if it does not happen.
	ident, err := s.Password.Login(audit.Unaudited(ctx), p.Subject, current)
	if errors.Is(err, connector.ErrInvalidCredentials) || err == nil && ident.Organization != owner {
		return apierror.BadRequest("the current password is not correct (or the account is locked after too many failures); failed attempts count toward the lockout")
	}
	if err != nil {
		return err
	}
	hash, err := s.Password.Hash(ctx, next)
	if err != nil {
		return err
	}
	var ended []*store.OIDCSession
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		now := s.Now().UTC()
		if err := q.SetOwnedLocalPassword(ctx, p.Subject, owner, hash, now); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apierror.ConflictError("the local account of %s changed owner meanwhile", p.Subject)
			}
			return err
		}
		if ended, err = q.EndLocalSessions(ctx, p.Subject, p.TokenID, now); err != nil {
			return err
		}
		audit.Describe(ctx, "account", p.Subject, accountRecord(acc),
			accountRecord(&store.LocalPassword{Email: acc.Email, OrganizationID: owner, UpdatedAt: now}))
		return s.mailPasswordChanged(ctx, q, acc.Email, owner, now)
	})
	s.pokeMail(err)
	s.sessionsEnded(ctx, err, ended)
	return err
}
