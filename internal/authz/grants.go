package authz

import "sort"

// opSet is a bit set of operations.
type opSet uint8

func (s opSet) has(op Operation) bool { return s&bit(op) != 0 }

func bit(op Operation) opSet {
	for i, o := range allOps {
		if o == op {
			return 1 << i
		}
	}
	return 0
}

func (s opSet) list() []Operation {
	var out []Operation
	for _, o := range allOps {
		if s.has(o) {
			out = append(out, o)
		}
	}
	return out
}

// permSet is endpoint → allowed operations.
type permSet map[string]opSet

func (p permSet) add(perms Permissions) {
	for ep, ops := range perms {
		for _, op := range ops {
			p[ep] |= bit(op)
		}
	}
}

func (p permSet) union(o permSet) permSet {
	out := make(permSet, len(p)+len(o))
	for k, v := range p {
		out[k] |= v
	}
	for k, v := range o {
		out[k] |= v
	}
	return out
}

// Grants is everything one principal may do: platform-wide, in one
// organization, and in that organization's projects.
type Grants struct {
	global         permSet
	OrganizationID string
	// Member: the principal belongs to OrganizationID (a user or service
	// account of it), whatever its roles.
	Member       bool
	organization permSet
	projects     map[string]permSet
}

// Membership is what the store knows about a principal in one organization:
// the roles of each of its groups, and the projects each group can access.
type Membership struct {
	OrganizationID string
	Member         bool
	GroupRoles     map[string][]string // group ID → role IDs
	GroupProjects  map[string][]string // group ID → project IDs
}

// Compute builds a principal's Grants from its platform role IDs and its
// membership in one organization (nil for none). Unknown role IDs grant
// nothing. Pure: no I/O.
func Compute(platformRoleIDs []string, m *Membership) *Grants {
	g := &Grants{global: permSet{}, organization: permSet{}, projects: map[string]permSet{}}
	for _, id := range platformRoleIDs {
		if r, ok := RoleByID(id); ok {
			g.global.add(r.Global)
		}
	}
	if m == nil {
		return g
	}
	g.OrganizationID, g.Member = m.OrganizationID, m.Member
	// Every project the principal's groups reach appears in its ACL, even
	// when only organization-wide roles grant rights there.
	for _, projects := range m.GroupProjects {
		for _, p := range projects {
			if g.projects[p] == nil {
				g.projects[p] = permSet{}
			}
		}
	}
	for group, roleIDs := range m.GroupRoles {
		for _, id := range roleIDs {
			r, ok := RoleByID(id)
			if !ok || !r.Assignable {
				continue
			}
			g.organization.add(r.Organization)
			if len(r.Project) == 0 {
				continue
			}
			for _, p := range m.GroupProjects[group] {
				g.projects[p].add(r.Project)
			}
		}
	}
	return g
}

// Allows reports whether e may proceed on organization orgID and project
// projectID (either may be ” when the route has none).
func (g *Grants) Allows(e Entry, orgID, projectID string) bool {
	switch e.Scope {
	case ScopeAuthenticated:
		return true
	case ScopeGlobal:
		return g.global[e.Endpoint].has(e.Operation)
	}
	if g.global[e.Endpoint].has(e.Operation) || (e.Scope == ScopeOrganizationMember && g.global[EndpointOrganizations].has(Read)) {
		return true
	}
	if orgID == "" || orgID != g.OrganizationID {
		return false
	}
	switch e.Scope {
	case ScopeOrganizationMember:
		return g.Member
	case ScopeOrganization:
		return g.organization[e.Endpoint].has(e.Operation)
	case ScopeProject:
		return g.organization[e.Endpoint].has(e.Operation) || g.projects[projectID][e.Endpoint].has(e.Operation)
	case ScopeAnyProject:
		// Any member may ask; the handler returns only what its grants
		// cover, which may be nothing.
		return g.Member || g.organization[e.Endpoint].has(e.Operation)
	}
	return false
}

// OrganizationWide reports whether the permission holds across the whole
// organization (globally or through an organization-scoped role), as opposed
// to only in some projects. List handlers use it to decide whether to filter.
func (g *Grants) OrganizationWide(endpoint string, op Operation) bool {
	return g.global[endpoint].has(op) || g.organization[endpoint].has(op)
}

// Global reports a platform-wide permission.
func (g *Grants) Global(endpoint string, op Operation) bool { return g.global[endpoint].has(op) }

// ProjectsWith lists the projects where the permission holds through project
// grants, sorted.
func (g *Grants) ProjectsWith(endpoint string, op Operation) []string {
	var out []string
	for id, p := range g.projects {
		if p[endpoint].has(op) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// EndpointACL is one endpoint with its allowed operations.
type EndpointACL struct {
	Name       string
	Operations []Operation
}

// ScopedACL is the endpoints allowed on one resource (organization or project).
type ScopedACL struct {
	ID        string
	Endpoints []EndpointACL
}

// ACL is what the ACL endpoints return.
type ACL struct {
	Global       []EndpointACL
	Organization *ScopedACL
	Projects     []ScopedACL
}

func (p permSet) endpoints() []EndpointACL {
	names := make([]string, 0, len(p))
	for n, ops := range p {
		if ops != 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]EndpointACL, 0, len(names))
	for _, n := range names {
		out = append(out, EndpointACL{Name: n, Operations: p[n].list()})
	}
	return out
}

// ACL renders the grants. The organization section, present when Grants were
// computed for an organization, is the union of global and organization
// permissions. There is a project section for every project the principal's
// groups reach: the organization section plus that project's grants, i.e.
// exactly what Allows permits there.
func (g *Grants) ACL() ACL {
	acl := ACL{Global: g.global.endpoints()}
	if g.OrganizationID == "" {
		return acl
	}
	org := g.global.union(g.organization)
	acl.Organization = &ScopedACL{ID: g.OrganizationID, Endpoints: org.endpoints()}
	ids := make([]string, 0, len(g.projects))
	for id := range g.projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		acl.Projects = append(acl.Projects, ScopedACL{ID: id, Endpoints: org.union(g.projects[id]).endpoints()})
	}
	return acl
}
