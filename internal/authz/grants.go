package authz

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

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
	// Member: the principal belongs to OrganizationID (a user, service
	// account or API key of it, or a role session in it), whatever its roles.
	Member       bool
	organization permSet
	projects     map[string]permSet
	// everyProject holds project permissions that apply in every project of
	// the organization (an API key bound to a system role).
	everyProject permSet

	// Which system roles produced the permissions, to say which one decided.
	platformRoles []*Role
	orgRoles      []*Role
	projectRoles  map[string][]*Role
	membership    *Membership
	// setRoles are, per project, the system roles of the permission sets
	// assigned there (issue 6).
	setRoles map[string][]setRole
}

// setRole is a system role granted in a project by a permission set.
type setRole struct {
	name, permissionSetID string
	perms                 permSet
}

// Membership is what the store knows about a principal in one organization:
// the roles of each of its groups, and the projects each group can access.
type Membership struct {
	OrganizationID string
	Member         bool
	GroupRoles     map[string][]string // group ID → role IDs
	GroupProjects  map[string][]string // group ID → project IDs
	// Groups are all the principal's groups, with or without roles.
	Groups []string
	// AllProjects applies the roles' project permissions to every project of
	// the organization instead of the groups' projects: an API key bound to a
	// system role has no groups, and holds its role everywhere.
	AllProjects bool
	// Assigned are the permission sets assigned to the principal (directly
	// or through its groups) on targets of the organization (issue 6).
	Assigned []store.AssignedSet
}

// PermissionSetGrant names what a permission set grants through one of its
// roles, in decisions and the simulator: "permissionset:<set>/role:<role>".
func PermissionSetGrant(set, role string) string { return "permissionset:" + set + "/role:" + role }

// PermissionSetInline names a permission set's inline policy in decisions
// and the simulator: "permissionset:<set>/inline".
func PermissionSetInline(set string) string { return "permissionset:" + set + "/inline" }

// projectOperations are the (endpoint, operation) pairs of the operations
// checked in a project (ScopeProject): what a system role can grant in one
// project, and nothing organization-wide.
var projectOperations = func() permSet {
	p := permSet{}
	for _, e := range Catalogue {
		if e.Scope == ScopeProject {
			p[e.Endpoint] |= bit(e.Operation)
		}
	}
	return p
}()

// inProject is what role r allows on the operations of one project: its
// project permissions, and those of its organization permissions that
// project operations check (an administrator's projects and allocations),
// so that a permission set holding the administrator role administers its
// target project and nothing else.
func inProject(r *Role) permSet {
	all := permSet{}
	all.add(r.Organization)
	all.add(r.Project)
	out := permSet{}
	for ep, ops := range all {
		if ops&projectOperations[ep] != 0 {
			out[ep] = ops & projectOperations[ep]
		}
	}
	return out
}

// Compute builds a principal's Grants from its platform role IDs and its
// membership in one organization (nil for none). Unknown role IDs grant
// nothing. Pure: no I/O.
func Compute(platformRoleIDs []string, m *Membership) *Grants {
	g := &Grants{global: permSet{}, organization: permSet{}, projects: map[string]permSet{}, everyProject: permSet{},
		projectRoles: map[string][]*Role{}, membership: m, setRoles: map[string][]setRole{}}
	for _, id := range platformRoleIDs {
		if r, ok := RoleByID(id); ok {
			g.global.add(r.Global)
			g.platformRoles = append(g.platformRoles, r)
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
			if !slices.Contains(g.orgRoles, r) {
				g.orgRoles = append(g.orgRoles, r)
			}
			if len(r.Project) == 0 {
				continue
			}
			if m.AllProjects {
				g.everyProject.add(r.Project)
				continue
			}
			for _, p := range m.GroupProjects[group] {
				g.projects[p].add(r.Project)
				if !slices.Contains(g.projectRoles[p], r) {
					g.projectRoles[p] = append(g.projectRoles[p], r)
				}
			}
		}
	}
	// A permission set assigned on a project grants there what its system
	// roles allow on that project's operations. Its custom roles and inline
	// policy are policies, decided by internal/access. Every assigned
	// project has an ACL section, like the projects of the groups.
	for _, a := range m.Assigned {
		if a.TargetType != store.TargetProject {
			continue
		}
		p := a.TargetID
		if g.projects[p] == nil {
			g.projects[p] = permSet{}
		}
		for _, id := range a.RoleIDs {
			r, ok := RoleByID(id)
			if !ok || !r.Assignable {
				continue
			}
			perms := inProject(r)
			for ep, ops := range perms {
				g.projects[p][ep] |= ops
			}
			g.setRoles[p] = append(g.setRoles[p], setRole{name: PermissionSetGrant(a.Name, r.Name), permissionSetID: a.PermissionSetID, perms: perms})
		}
	}
	return g
}

// Assigned are the permission sets assigned to the principal in the
// organization (see Membership.Assigned).
func (g *Grants) Assigned() []store.AssignedSet {
	if g.membership == nil {
		return nil
	}
	return g.membership.Assigned
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
		return g.organization[e.Endpoint].has(e.Operation) || g.everyProject[e.Endpoint].has(e.Operation) ||
			g.projects[projectID][e.Endpoint].has(e.Operation)
	case ScopeAnyProject:
		// Any member may ask; the handler returns only what its grants
		// cover, which may be nothing.
		return g.Member || g.organization[e.Endpoint].has(e.Operation)
	}
	return false
}

// PlatformAllows reports whether e is allowed by the principal's platform
// roles alone, wherever it is aimed: platform administrators are not subject
// to an organization's guardrail or roles.
func (g *Grants) PlatformAllows(e Entry) bool {
	switch e.Scope {
	case ScopeAuthenticated:
		return false
	case ScopeOrganizationMember:
		return g.global[EndpointOrganizations].has(Read)
	}
	return g.global[e.Endpoint].has(e.Operation)
}

// AllowedBy names the system role that allows e on orgID and projectID
// (platform roles first, then organization-wide, then project roles, then
// the roles of permission sets assigned on the project), "" when none does
// or e needs no role. Decisions report it.
func (g *Grants) AllowedBy(e Entry, orgID, projectID string) string {
	name, _ := g.AllowedThrough(e, orgID, projectID)
	return name
}

// AllowedThrough is AllowedBy, and when the allowing role is a permission
// set's, the set's ID (its name is then PermissionSetGrant(set, role)).
func (g *Grants) AllowedThrough(e Entry, orgID, projectID string) (name, permissionSetID string) {
	if !g.Allows(e, orgID, projectID) || e.Scope == ScopeAuthenticated {
		return "", ""
	}
	for _, r := range g.platformRoles {
		if r.Global[e.Endpoint] != nil && slices.Contains(r.Global[e.Endpoint], e.Operation) ||
			e.Scope == ScopeOrganizationMember && slices.Contains(r.Global[EndpointOrganizations], Read) {
			return r.Name, ""
		}
	}
	if e.Scope == ScopeOrganizationMember || e.Scope == ScopeAnyProject && g.Member {
		return "organization membership", ""
	}
	for _, r := range g.orgRoles {
		if slices.Contains(r.Organization[e.Endpoint], e.Operation) ||
			e.Scope == ScopeProject && g.membership != nil && g.membership.AllProjects && slices.Contains(r.Project[e.Endpoint], e.Operation) {
			return r.Name, ""
		}
	}
	for _, r := range g.projectRoles[projectID] {
		if slices.Contains(r.Project[e.Endpoint], e.Operation) {
			return r.Name, ""
		}
	}
	if e.Scope == ScopeProject {
		for _, sr := range g.setRoles[projectID] {
			if sr.perms[e.Endpoint].has(e.Operation) {
				return sr.name, sr.permissionSetID
			}
		}
	}
	return "", ""
}

// RoleIDs are the IDs of every role the principal holds in the organization,
// system and custom, known or not, sorted and without repeats.
func (g *Grants) RoleIDs() []string {
	if g.membership == nil {
		return nil
	}
	var ids []string
	for _, roles := range g.membership.GroupRoles {
		ids = append(ids, roles...)
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

// GroupIDs are the principal's groups in the organization.
func (g *Grants) GroupIDs() []string {
	if g.membership == nil {
		return nil
	}
	return g.membership.Groups
}

// EveryProject reports whether some permission holds in every project of the
// organization through a project-scoped role (an API key bound to a system
// role): the ACL then has a section for every project.
func (g *Grants) EveryProject() bool { return len(g.everyProject.endpoints()) > 0 }

// ProjectIDs are the projects the principal's groups reach, sorted: the
// project sections of its ACL.
func (g *Grants) ProjectIDs() []string {
	ids := make([]string, 0, len(g.projects))
	for id := range g.projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// OrganizationWide reports whether the permission holds across the whole
// organization (globally, through an organization-scoped role, or in every
// project), as opposed to only in some projects. List handlers use it to
// decide whether to filter.
func (g *Grants) OrganizationWide(endpoint string, op Operation) bool {
	return g.global[endpoint].has(op) || g.organization[endpoint].has(op) || g.everyProject[endpoint].has(op)
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
	for _, id := range g.ProjectIDs() {
		acl.Projects = append(acl.Projects, ScopedACL{ID: id, Endpoints: org.union(g.projects[id]).endpoints()})
	}
	return acl
}

// Held describes each source of rights in g, for the message of a write
// that hands them to someone else (see HeldBy): its platform roles, its
// groups in the organization (a group gives roles, projects and account
// assignments, and policies may name it), the groups that give roles or
// projects, and the permission sets assigned to it. It is nil when g holds
// nothing beyond a bare membership. A test walks every field of Membership,
// so that a source added there and not here fails it.
func (g *Grants) Held() []string {
	var out []string
	if len(g.platformRoles) > 0 {
		names := make([]string, len(g.platformRoles))
		for i, r := range g.platformRoles {
			names[i] = r.Name
		}
		out = append(out, "platform roles "+strings.Join(names, ", "))
	}
	m := g.membership
	if m == nil {
		return out
	}
	groups := slices.Clone(m.Groups)
	for id := range m.GroupRoles {
		groups = append(groups, id)
	}
	for id := range m.GroupProjects {
		groups = append(groups, id)
	}
	slices.Sort(groups)
	if groups = slices.Compact(groups); len(groups) > 0 {
		out = append(out, "groups "+strings.Join(groups, ", "))
	}
	if len(m.Assigned) > 0 {
		sets := make([]string, len(m.Assigned))
		for i, a := range m.Assigned {
			sets[i] = fmt.Sprintf("%s on %s %s", a.Name, a.TargetType, a.TargetID)
		}
		out = append(out, "account assignments of "+strings.Join(sets, ", "))
	}
	return out
}
