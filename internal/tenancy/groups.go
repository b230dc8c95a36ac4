package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// references checks that every ID in ids names a row of table in orgID; IDs
// of other organizations are as unknown as made-up ones.
func references(ctx context.Context, q *store.Q, table, orgID, field string, ids []string) error {
	n, err := q.CountExisting(ctx, table, orgID, ids)
	if err != nil {
		return err
	}
	if want := len(dedupe(ids)); n != want {
		return apierror.BadRequest("%s: %d of %d IDs do not exist in this organization", field, want-n, want)
	}
	return nil
}

func dedupe(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// CheckRoles allows only roles that organizations may grant (through a
// group's or a permission set's spec.roleIDs): the assignable system roles
// (the platform-administrator role cannot be handed out) and the
// organization's own custom roles.
func CheckRoles(ctx context.Context, q *store.Q, orgID string, roleIDs []string) error {
	var custom []string
	for _, id := range roleIDs {
		r, ok := authz.RoleByID(id)
		if !ok {
			custom = append(custom, id)
			continue
		}
		if !r.Assignable {
			return apierror.BadRequest("spec.roleIDs: role %q cannot be granted by an organization", r.Name)
		}
	}
	n, err := q.CountExisting(ctx, store.RefRoles, orgID, custom)
	if err != nil {
		return err
	}
	if want := len(dedupe(custom)); n != want {
		return apierror.BadRequest("spec.roleIDs: %d of %d roles are neither system roles nor custom roles of this organization", want-n, len(dedupe(roleIDs)))
	}
	return nil
}

func (s *Service) validateGroup(ctx context.Context, q *store.Q, g *store.Group) error {
	if err := CheckRoles(ctx, q, g.OrganizationID, g.RoleIDs); err != nil {
		return err
	}
	if err := references(ctx, q, store.RefUsers, g.OrganizationID, "spec.userIDs", g.UserIDs); err != nil {
		return err
	}
	return references(ctx, q, store.RefServiceAccounts, g.OrganizationID, "spec.serviceAccountIDs", g.ServiceAccountIDs)
}

// CreateGroup creates a group in orgID.
func (s *Service) CreateGroup(ctx context.Context, actor *authn.Principal, orgID string, g *store.Group) error {
	return s.CreateGroupWith(ctx, actor, orgID, g, Hooks[store.Group]{})
}

// CreateGroupWith is CreateGroup with the caller's own work in its
// transaction (see Hooks).
func (s *Service) CreateGroupWith(ctx context.Context, actor *authn.Principal, orgID string, g *store.Group, h Hooks[store.Group]) error {
	s.newMeta(&g.Meta, actor, orgID)
	return s.Store.Tx(ctx, func(q *store.Q) error {
		if err := h.prepare(q, nil, g); err != nil {
			return err
		}
		if err := s.validateGroup(ctx, q, g); err != nil {
			return err
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.Groups, 1); err != nil {
			return err
		}
		if err := q.CreateGroup(ctx, g); err != nil {
			return storeError(err, "group", g.Name)
		}
		audit.Describe(ctx, "groups", g.ID, nil, g)
		return h.then(q, nil, g)
	})
}

// UpdateGroup replaces a group. Changing its roles or members changes who
// holds which rights: that needs the right to grant (may) as well as the
// right to update groups (a custom role may give one without the other).
func (s *Service) UpdateGroup(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, g *store.Group) error {
	return s.UpdateGroupWith(ctx, actor, may, orgID, id, g, Hooks[store.Group]{})
}

// UpdateGroupWith is UpdateGroup with the caller's own work in its
// transaction (see Hooks).
func (s *Service) UpdateGroupWith(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, g *store.Group, h Hooks[store.Group]) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetGroup(ctx, orgID, id)
		if err != nil {
			return storeError(err, "group", id)
		}
		if err := h.prepare(q, old, g); err != nil {
			return err
		}
		if err := checkGrant(ctx, may, orgID, GroupGrantChange(old, g)); err != nil {
			return err
		}
		s.carryMeta(&g.Meta, old.Meta, actor)
		if err := s.validateGroup(ctx, q, g); err != nil {
			return err
		}
		if err := q.UpdateGroup(ctx, g); err != nil {
			return storeError(err, "group", g.Name)
		}
		audit.Describe(ctx, "groups", g.ID, old, g)
		return h.then(q, old, g)
	})
}

// GetGroup reads a group.
func (s *Service) GetGroup(ctx context.Context, orgID, id string) (*store.Group, error) {
	g, err := s.Store.Read().GetGroup(ctx, orgID, id)
	return g, storeError(err, "group", id)
}

// DeleteGroup deletes a group and its account assignments.
func (s *Service) DeleteGroup(ctx context.Context, orgID, id string) error {
	return s.DeleteGroupWith(ctx, orgID, id, Hooks[store.Group]{})
}

// DeleteGroupWith is DeleteGroup with the caller's own work in its
// transaction (see Hooks; the new row given to them is nil).
func (s *Service) DeleteGroupWith(ctx context.Context, orgID, id string, h Hooks[store.Group]) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetGroup(ctx, orgID, id)
		if err != nil {
			return storeError(err, "group", id)
		}
		if err := h.prepare(q, old, nil); err != nil {
			return err
		}
		before, err := withRemovedAssignments(ctx, q, orgID, store.AssignmentFilter{PrincipalType: store.PrincipalGroup, PrincipalID: id}, old)
		if err != nil {
			return err
		}
		if err := q.DeleteGroup(ctx, orgID, id); err != nil {
			return storeError(err, "group", id)
		}
		audit.Describe(ctx, "groups", id, before, nil)
		return nil
	})
}

// User states.
var userStates = map[string]bool{"active": true, "pending": true, "suspended": true}

func (s *Service) validateUser(ctx context.Context, q *store.Q, u *store.User) error {
	subject, err := NormalizeSubject(u.Subject)
	if err != nil {
		return apierror.BadRequest("spec.subject: %v", err)
	}
	u.Subject = subject
	// A user written without metadata is named after its subject, which
	// may hold no character a name can keep.
	if u.Name == "" {
		return apierror.BadRequest("metadata.name: required, as no name can be derived from spec.subject %q", u.Subject)
	}
	if u.State == "" {
		u.State = authz.ActiveUserState
	}
	if !userStates[u.State] {
		return apierror.BadRequest("spec.state: unknown state %q", u.State)
	}
	return references(ctx, q, store.RefGroups, u.OrganizationID, "spec.groupIDs", u.GroupIDs)
}

// CreateUser adds a user to orgID. Putting it in groups grants it their
// rights: that needs the right to grant (may).
func (s *Service) CreateUser(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID string, u *store.User) error {
	return s.CreateUserWith(ctx, actor, may, orgID, u, Hooks[store.User]{})
}

// CreateUserWith is CreateUser with the caller's own work in its
// transaction (see Hooks).
func (s *Service) CreateUserWith(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID string, u *store.User, h Hooks[store.User]) error {
	s.newMeta(&u.Meta, actor, orgID)
	if err := checkGrant(ctx, may, orgID, MemberGrantChange("user", nil, u.GroupIDs)); err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(q *store.Q) error {
		if err := h.prepare(q, nil, u); err != nil {
			return err
		}
		if err := s.validateUser(ctx, q, u); err != nil {
			return err
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.Users, 1); err != nil {
			return err
		}
		if err := q.CreateUser(ctx, u); err != nil {
			return userError(err, u)
		}
		audit.Describe(ctx, "users", u.ID, nil, u)
		return h.then(q, nil, u)
	})
}

func userError(err error, u *store.User) error {
	if errors.Is(err, store.ErrConflict) {
		return apierror.ConflictError("a user named %q or with subject %q already exists in this organization", u.Name, u.Subject)
	}
	return storeError(err, "user", u.Name)
}

// UpdateUser replaces a user. The last-active time is kept. Changing its
// groups changes its rights, and so does changing the subject or making
// active a user that has groups (see UserGrantChange): that needs the right
// to grant (may).
func (s *Service) UpdateUser(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, u *store.User) error {
	return s.UpdateUserWith(ctx, actor, may, orgID, id, u, Hooks[store.User]{})
}

// UpdateUserWith is UpdateUser with the caller's own work in its
// transaction (see Hooks).
func (s *Service) UpdateUserWith(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, u *store.User, h Hooks[store.User]) error {
	var ended []*store.OIDCSession
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetUser(ctx, orgID, id)
		if err != nil {
			return storeError(err, "user", id)
		}
		if err := h.prepare(q, old, u); err != nil {
			return err
		}
		s.carryMeta(&u.Meta, old.Meta, actor)
		u.LastActive = old.LastActive
		// Validated first: the grant check compares the normalized
		// subject and the defaulted state with the stored ones.
		if err := s.validateUser(ctx, q, u); err != nil {
			return err
		}
		var held []string
		if userHandedOver(old, u) {
			// What the record holds once written: its new groups, and
			// the permission sets assigned to it or to them.
			if held, err = heldBy(ctx, q, orgID, store.Member{Type: store.PrincipalUser, ID: old.ID, GroupIDs: u.GroupIDs}); err != nil {
				return err
			}
		}
		if err := checkGrant(ctx, may, orgID, UserGrantChange(old, u, held)); err != nil {
			return err
		}
		if err := q.UpdateUser(ctx, u); err != nil {
			return userError(err, u)
		}
		// A suspension (or a move back to pending), or a subject changed
		// away: the old subject may have lost its last active record.
		if old.State == authz.ActiveUserState && (u.State != authz.ActiveUserState || u.Subject != old.Subject) {
			if ended, err = s.endSessionsIfInactive(ctx, q, old.Subject); err != nil {
				return err
			}
			// A login this organization vouched for (its own provider, its
			// local account) reaches it only: it ends here even when the
			// person stays active elsewhere.
			more, err := q.EndSessionsOfSubjectVouchedBy(ctx, old.Subject, orgID, s.Now().UTC())
			if err != nil {
				return err
			}
			ended = append(ended, more...)
		}
		if u.Subject != old.Subject {
			// The organization's local account of the old address belonged
			// to this user: it goes with the address.
			if err := dropOwnedLocalAccount(ctx, q, orgID, old.Subject); err != nil {
				return err
			}
		}
		audit.Describe(ctx, "users", u.ID, old, u)
		return h.then(q, old, u)
	})
	s.sessionsEnded(ctx, err, ended)
	return err
}

// dropOwnedLocalAccount deletes the local account orgID owns at email, and
// its pending links, when the organization's user of that address goes
// (deleted, or given another subject): nobody else may use it, and it would
// keep the address from other owners. Another owner's account stays.
func dropOwnedLocalAccount(ctx context.Context, q *store.Q, orgID, email string) error {
	if err := q.DeleteOwnedLocalPassword(ctx, email, orgID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return q.DeleteLocalAccountLinks(ctx, email, orgID)
}

// endSessionsIfInactive ends subject's OIDC sessions (refresh tokens, the
// latest access tokens, browser sessions) when the write in q has left it
// no active user record in any organization: such a person may no longer
// log in or refresh, and the relying parties are told. Deleting the last
// record ends them too: whatever the tokens were issued for is gone.
func (s *Service) endSessionsIfInactive(ctx context.Context, q *store.Q, subject string) ([]*store.OIDCSession, error) {
	states, err := q.UserStatesOfSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, st := range states {
		if st.State == authz.ActiveUserState {
			return nil, nil
		}
	}
	return q.EndSessionsOfSubject(ctx, subject, s.Now().UTC())
}

// sessionsEnded passes the sessions a committed write ended to
// SessionsEnded.
func (s *Service) sessionsEnded(ctx context.Context, err error, ended []*store.OIDCSession) {
	if err == nil && len(ended) > 0 && s.SessionsEnded != nil {
		s.SessionsEnded(ctx, ended)
	}
}

// GetUser reads a user.
func (s *Service) GetUser(ctx context.Context, orgID, id string) (*store.User, error) {
	u, err := s.Store.Read().GetUser(ctx, orgID, id)
	return u, storeError(err, "user", id)
}

// DeleteUser removes a user, its memberships and its account assignments.
func (s *Service) DeleteUser(ctx context.Context, orgID, id string) error {
	return s.DeleteUserWith(ctx, orgID, id, Hooks[store.User]{})
}

// DeleteUserWith is DeleteUser with the caller's own work in its
// transaction (see Hooks; the new row given to them is nil).
func (s *Service) DeleteUserWith(ctx context.Context, orgID, id string, h Hooks[store.User]) error {
	var ended []*store.OIDCSession
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetUser(ctx, orgID, id)
		if err != nil {
			return storeError(err, "user", id)
		}
		if err := h.prepare(q, old, nil); err != nil {
			return err
		}
		before, err := withRemovedAssignments(ctx, q, orgID, store.AssignmentFilter{PrincipalType: store.PrincipalUser, PrincipalID: id}, old)
		if err != nil {
			return err
		}
		if err := q.DeleteUser(ctx, orgID, id); err != nil {
			return storeError(err, "user", id)
		}
		if old.State == authz.ActiveUserState {
			if ended, err = s.endSessionsIfInactive(ctx, q, old.Subject); err != nil {
				return err
			}
		}
		more, err := q.EndSessionsOfSubjectVouchedBy(ctx, old.Subject, orgID, s.Now().UTC())
		if err != nil {
			return err
		}
		ended = append(ended, more...)
		if err := dropOwnedLocalAccount(ctx, q, orgID, old.Subject); err != nil {
			return err
		}
		audit.Describe(ctx, "users", id, before, nil)
		return nil
	})
	s.sessionsEnded(ctx, err, ended)
	return err
}

// refuseDerivedMint refuses what (creating a service account, rotating its
// token) to a caller whose credential has a lineage: a role session, or an
// API key minted by another credential. Such a credential dies with its
// source (internal/iam derivedFrom), but the service account token it would
// get lives a year and records no lineage: it would outlive the session,
// its source and its role. A person, a service account, and a key a person
// created (no lineage) are not refused.
func (s *Service) refuseDerivedMint(actor *authn.Principal, what string) error {
	if actor == nil {
		return nil
	}
	if actor.Kind == authn.KindAssumedRole || (actor.Kind == authn.KindAPIKey && len(actor.Lineage) > 0) {
		return apierror.ForbiddenError("a %s cannot %s: it derives from another credential, and a service account token lives %d days and could not end with it",
			credentialName(actor), what, int(s.ttl().Hours()/24))
	}
	return nil
}

// credentialName names actor's kind of credential in refuseDerivedMint's
// error.
func credentialName(actor *authn.Principal) string {
	if actor.Kind == authn.KindAssumedRole {
		return "role session"
	}
	return "derived API key"
}

// newServiceAccountToken mints a token, stores its hash and expiry on sa and
// returns the token: the only time it exists in clear.
func (s *Service) newServiceAccountToken(sa *store.ServiceAccount) (string, error) {
	token, err := secret.NewToken(s.Rand, authn.ServiceAccountTokenPrefix)
	if err != nil {
		return "", fmt.Errorf("service account token: %w", err)
	}
	sa.TokenHash = secret.Hash(token)
	sa.ExpiresAt = s.Now().UTC().Add(s.ttl()).Truncate(time.Millisecond)
	return token, nil
}

// CreateServiceAccount creates a service account in orgID (” for a platform
// account) and returns its token, which is not stored. Putting it in groups
// grants it their rights: that needs the right to grant (may). No
// credential with a lineage may create one (see Service.refuseDerivedMint).
func (s *Service) CreateServiceAccount(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID string, sa *store.ServiceAccount) (string, error) {
	if err := s.refuseDerivedMint(actor, "create a service account"); err != nil {
		return "", err
	}
	s.newMeta(&sa.Meta, actor, orgID)
	if err := checkGrant(ctx, may, orgID, MemberGrantChange("service account", nil, sa.GroupIDs)); err != nil {
		return "", err
	}
	token, err := s.newServiceAccountToken(sa)
	if err != nil {
		return "", err
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := references(ctx, q, store.RefGroups, orgID, "spec.groupIDs", sa.GroupIDs); err != nil {
			return err
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.ServiceAccounts, 1); err != nil {
			return err
		}
		if err := q.CreateServiceAccount(ctx, sa); err != nil {
			return storeError(err, "service account", sa.Name)
		}
		audit.Describe(ctx, "serviceaccounts", sa.ID, nil, sa)
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// UpdateServiceAccount replaces a service account's metadata and groups; its
// token is unchanged. Changing its groups changes its rights: that needs the
// right to grant (may).
func (s *Service) UpdateServiceAccount(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, sa *store.ServiceAccount) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		// Locked first: the token hash read below is written back, and must
		// not be one a concurrent rotation has just replaced.
		if err := q.LockServiceAccount(ctx, orgID, id); err != nil {
			return storeError(err, "service account", id)
		}
		old, err := q.GetServiceAccount(ctx, orgID, id)
		if err != nil {
			return storeError(err, "service account", id)
		}
		if err := checkGrant(ctx, may, orgID, MemberGrantChange("service account", old.GroupIDs, sa.GroupIDs)); err != nil {
			return err
		}
		s.carryMeta(&sa.Meta, old.Meta, actor)
		sa.TokenHash, sa.ExpiresAt = old.TokenHash, old.ExpiresAt
		if err := references(ctx, q, store.RefGroups, orgID, "spec.groupIDs", sa.GroupIDs); err != nil {
			return err
		}
		if err := q.UpdateServiceAccount(ctx, sa); err != nil {
			return storeError(err, "service account", sa.Name)
		}
		audit.Describe(ctx, "serviceaccounts", sa.ID, old, sa)
		return nil
	})
}

// RotateServiceAccount replaces the token: the old one stops working when the
// transaction commits. Returns the account and its new token. The caller
// gets the account's rights with the token: for an account with groups
// that needs the right to grant (may), and no credential with a lineage
// may do it (see Service.refuseDerivedMint).
func (s *Service) RotateServiceAccount(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string) (*store.ServiceAccount, string, error) {
	if err := s.refuseDerivedMint(actor, "rotate a service account's token"); err != nil {
		return nil, "", err
	}
	var (
		sa    *store.ServiceAccount
		token string
	)
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		// Locked first, so that concurrent rotations and updates take turns
		// on every replica: each rotation's token is valid until the next
		// one commits, and an update never restores a replaced token.
		if err := q.LockServiceAccount(ctx, orgID, id); err != nil {
			return storeError(err, "service account", id)
		}
		var err error
		if sa, err = q.GetServiceAccount(ctx, orgID, id); err != nil {
			return storeError(err, "service account", id)
		}
		held, err := heldBy(ctx, q, orgID, store.Member{Type: store.PrincipalServiceAccount, ID: sa.ID, GroupIDs: sa.GroupIDs})
		if err != nil {
			return err
		}
		if err := checkGrant(ctx, may, orgID, RotationGrantChange(held)); err != nil {
			return err
		}
		before := *sa
		s.carryMeta(&sa.Meta, sa.Meta, actor)
		if token, err = s.newServiceAccountToken(sa); err != nil {
			return err
		}
		if err := q.UpdateServiceAccount(ctx, sa); err != nil {
			return storeError(err, "service account", sa.Name)
		}
		audit.Describe(ctx, "serviceaccounts", sa.ID, &before, sa)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return sa, token, nil
}

// GetServiceAccount reads a service account.
func (s *Service) GetServiceAccount(ctx context.Context, orgID, id string) (*store.ServiceAccount, error) {
	sa, err := s.Store.Read().GetServiceAccount(ctx, orgID, id)
	return sa, storeError(err, "service account", id)
}

// DeleteServiceAccount deletes a service account and its account
// assignments; its token stops working.
func (s *Service) DeleteServiceAccount(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetServiceAccount(ctx, orgID, id)
		if err != nil {
			return storeError(err, "service account", id)
		}
		before, err := withRemovedAssignments(ctx, q, orgID, store.AssignmentFilter{PrincipalType: store.PrincipalServiceAccount, PrincipalID: id}, old)
		if err != nil {
			return err
		}
		if err := q.DeleteServiceAccount(ctx, orgID, id); err != nil {
			return storeError(err, "service account", id)
		}
		audit.Describe(ctx, "serviceaccounts", id, before, nil)
		return nil
	})
}
