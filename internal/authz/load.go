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
		if platformRoles, err = q.PlatformRoles(ctx, string(p.Kind), p.ID); err != nil {
			return nil, fmt.Errorf("load platform roles: %w", err)
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
	m.Groups = groups
	if m.GroupRoles, err = q.RolesOfGroups(ctx, groups); err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	if m.GroupProjects, err = q.ProjectsOfGroups(ctx, groups); err != nil {
		return nil, fmt.Errorf("load projects: %w", err)
	}
	member.GroupIDs = groups
	if m.Assigned, err = q.AssignedPermissionSets(ctx, orgID, member); err != nil {
		return nil, fmt.Errorf("load account assignments: %w", err)
	}
	return Compute(platformRoles, m), nil
}
