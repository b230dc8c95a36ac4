package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// ActiveUserState is the only user state that confers membership: pending and
// suspended users hold no rights.
const ActiveUserState = "active"

// Load computes p's Grants, in organization orgID when it is not ”. Five
// indexed queries at most, whatever the number of groups, projects and
// account assignments. A user vouched for by an organization's identity
// provider (Principal.VouchingOrganization) holds no platform role and is a
// member of that organization only.
func Load(ctx context.Context, q *store.Q, p *authn.Principal, orgID string) (*Grants, error) {
	if p.BoundToRole() {
		// An API key or a role session holds exactly its one role, in its
		// own organization, and nothing platform-wide. A system role's
		// project permissions apply in every project (it has no groups to
		// name projects).
		m := &Membership{OrganizationID: orgID}
		if orgID != "" && orgID == p.OrganizationID {
			m.Member, m.AllProjects = true, true
			m.GroupRoles = map[string][]string{"": {p.RoleID}}
		}
		if orgID == "" {
			m = nil
		}
		return Compute(nil, m), nil
	}
	// A user vouched for by an organization's own identity provider is
	// trusted by that organization only (issue 12, finding 1): its platform
	// role bindings (bound to the email) and its user records elsewhere
	// belong to whoever else has that email, not to what this provider
	// says.
	vouching := p.VouchingOrganization()
	var (
		platformRoles []string
		err           error
	)
	if vouching == "" {
		if platformRoles, err = platformRolesOf(ctx, q, p.Kind, p.ID); err != nil {
			return nil, err
		}
	}
	if orgID == "" {
		return Compute(platformRoles, nil), nil
	}
	m := &Membership{OrganizationID: orgID}
	if vouching != "" && vouching != orgID {
		return Compute(nil, m), nil
	}
	var groups []string
	// The principal's record in the organization, whose account
	// assignments (issue 6) apply to it.
	var member store.Member
	switch p.Kind {
	case authn.KindServiceAccount:
		if p.OrganizationID == orgID {
			m.Member = true
			member = store.Member{Type: store.PrincipalServiceAccount, ID: p.ID}
			byMember, err := q.GroupsOfMembers(ctx, orgID, string(p.Kind), []string{p.ID})
			if err != nil {
				return nil, fmt.Errorf("load groups: %w", err)
			}
			groups = byMember[p.ID]
		}
	case authn.KindUser:
		// The user's record in this organization comes with its groups.
		u, err := q.GetUserBySubject(ctx, orgID, p.Subject)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("load user: %w", err)
		case u.State == ActiveUserState:
			m.Member, groups = true, u.GroupIDs
			member = store.Member{Type: store.PrincipalUser, ID: u.ID}
		}
	}
	if !m.Member {
		return Compute(platformRoles, m), nil
	}
	member.GroupIDs = groups
	if err := loadMembership(ctx, q, m, member); err != nil {
		return nil, err
	}
	return Compute(platformRoles, m), nil
}

// loadMembership fills the membership m of member (a user record or service
// account of m.OrganizationID, its groups in member.GroupIDs): the roles and
// projects of its groups and the permission sets assigned to it or to them.
// Load and HeldBy both read a member's rights here, so that a source of
// rights added later counts for both.
func loadMembership(ctx context.Context, q *store.Q, m *Membership, member store.Member) error {
	var err error
	m.Groups = member.GroupIDs
	if m.GroupRoles, err = q.RolesOfGroups(ctx, member.GroupIDs); err != nil {
		return fmt.Errorf("load roles: %w", err)
	}
	if m.GroupProjects, err = q.ProjectsOfGroups(ctx, member.GroupIDs); err != nil {
		return fmt.Errorf("load projects: %w", err)
	}
	if m.Assigned, err = q.AssignedPermissionSets(ctx, m.OrganizationID, member); err != nil {
		return fmt.Errorf("load account assignments: %w", err)
	}
	return nil
}

// platformRolesOf reads the platform roles bound to a principal: a service
// account by its ID, a user by its subject (Principal.ID), so that they
// belong to the person, not to any of its user records.
func platformRolesOf(ctx context.Context, q *store.Q, kind authn.Kind, id string) ([]string, error) {
	roles, err := q.PlatformRoles(ctx, string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("load platform roles: %w", err)
	}
	return roles, nil
}

// HeldBy computes the rights that member, a user record or a service account
// of orgID with the groups member.GroupIDs, holds when it is active and its
// credential is used: what a write handing the record to someone else
// passes on with it (giving a user record another subject, making it active
// again, rotating a service account's token and handing the new one to the
// caller). It reads the same sources as Load, through the same functions:
// the groups' roles and projects, the permission sets assigned to the member
// or its groups, and, for a service account, the platform roles bound to it
// (they go with its token). A user's platform roles are bound to its subject,
// the person, and stay with that person whatever becomes of the record.
func HeldBy(ctx context.Context, q *store.Q, orgID string, member store.Member) (*Grants, error) {
	var platformRoles []string
	switch member.Type {
	case store.PrincipalServiceAccount:
		var err error
		if platformRoles, err = platformRolesOf(ctx, q, authn.KindServiceAccount, member.ID); err != nil {
			return nil, err
		}
	case store.PrincipalUser:
	default:
		return nil, fmt.Errorf("rights held by a %q: only users and service accounts hold rights of their own", member.Type)
	}
	m := &Membership{OrganizationID: orgID, Member: true}
	if err := loadMembership(ctx, q, m, member); err != nil {
		return nil, err
	}
	return Compute(platformRoles, m), nil
}
