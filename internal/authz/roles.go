// Package authz decides what a principal may do. Everything it knows is data
// declared once in this package:
//
//   - Catalogue: every API operation (by OpenAPI operationId) with the
//     endpoint it belongs to, its CRUD operation and the scope it is checked
//     in (global, organization or project);
//   - SystemRoles: what each built-in role permits, per scope;
//
// and Grants, computed per request from the principal's platform roles and
// its groups → roles → projects, answers both "may this call proceed?"
// (enforcement middleware) and "what may this principal do?" (the ACL
// endpoints). Both read the same Grants, so they cannot disagree.
package authz

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"sort"
)

// Operation is a CRUD verb on an endpoint.
type Operation string

// The operations, in the order the ACL lists them.
const (
	Create Operation = "create"
	Read   Operation = "read"
	Update Operation = "update"
	Delete Operation = "delete"
)

var allOps = []Operation{Create, Read, Update, Delete}

// Endpoint names: one per resource family, as the ACL reports them.
const (
	EndpointOrganizations   = "identity:organizations"
	EndpointGroups          = "identity:groups"
	EndpointProjects        = "identity:projects"
	EndpointUsers           = "identity:users"
	EndpointServiceAccounts = "identity:serviceaccounts"
	EndpointOAuth2Providers = "identity:oauth2providers"
	EndpointQuotas          = "identity:quotas"
	EndpointAllocations     = "identity:allocations"
	EndpointRoles           = "identity:roles"
	// IAM (issue 4).
	EndpointPolicies    = "identity:policies"
	EndpointAPIKeys     = "identity:apikeys"
	EndpointAuditEvents = "identity:auditevents"

	// Cloud credential federation (issue 5).

	// EndpointCloudIdentities: a project's cloud identities (configuration).
	EndpointCloudIdentities = "identity:cloudidentities"
	// EndpointCloudIdentityTokens: obtaining workload identity tokens and
	// cloud credentials from a cloud identity ("create" only). Kept apart
	// from reading the configuration: issuing credentials is more
	// sensitive, and platform administrators do not hold it.
	EndpointCloudIdentityTokens = "identity:cloudidentitytokens"
	// EndpointCredentials: the organization's credential store.
	EndpointCredentials = "identity:credentials"
	// EndpointCloudConnections: connected cloud organizations and
	// credential validation.
	EndpointCloudConnections = "identity:cloudconnections"
	// EndpointSigningKeys: the token signing keys (issues 13 and 17);
	// platform administrators only.
	EndpointSigningKeys = "identity:signingkeys"
	// Permission sets and account assignments (issue 6).
	EndpointPermissionSets     = "identity:permissionsets"
	EndpointAccountAssignments = "identity:accountassignments"
	// EndpointCloudAccountCredentials: obtaining AWS credentials through an
	// account assignment on a cloud account ("create" only). No role holds
	// it: any member may ask (ScopeOrganizationMember), and the assignment
	// is what decides; a custom role or the guardrail can still deny it.
	EndpointCloudAccountCredentials = "identity:cloudaccountcredentials"
	// EndpointSessions: a person's browser and application sessions and
	// consents (issue 13). Administrators see and end them (an
	// organization's administrators: only those its own identity
	// providers vouched for); the account operations, a person's own, are
	// ScopeAuthenticated and need no role.
	EndpointSessions = "identity:sessions"
	// EndpointOAuth2Clients: OAuth2 clients (issue 13), the platform's
	// (global permission) and an organization's own.
	EndpointOAuth2Clients = "identity:oauth2clients"
	// EndpointSCIM: SCIM 2.0 provisioning of an organization's users and
	// groups by its directory (issue 18), served at /scim/v2/ rather
	// than /api/v1 (see SCIMRoutes).
	EndpointSCIM = "identity:scim"
)

// Permissions maps an endpoint to the operations allowed on it.
type Permissions map[string][]Operation

// Role is a system role: a name and what it permits at each scope.
// Global permissions apply everywhere; Organization permissions to the whole
// organization whose group grants the role; Project permissions only to the
// projects that list such a group.
type Role struct {
	ID          string
	Name        string
	Description string
	// Assignable: may organization administrators put it in a group? The
	// platform-administrator role is bound only at platform level.
	Assignable   bool
	Global       Permissions
	Organization Permissions
	Project      Permissions
}

// roleID derives a stable UUID-formatted ID (name-based, SHA-1, RFC 9562 v5
// layout) so system role IDs are the same in every installation.
func roleID(name string) string {
	h := sha1.Sum([]byte("gatehouse/system-role/" + name))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func crud() []Operation { return append([]Operation(nil), allOps...) }

// The system role names.
const (
	RolePlatformAdministrator = "platform-administrator"
	RoleAdministrator         = "administrator"
	RoleUser                  = "user"
	RoleReader                = "reader"
	// RoleSCIMProvisioner is the role of a directory's SCIM API key
	// (issue 18): SCIM provisioning and nothing else.
	RoleSCIMProvisioner = "scim-provisioner"
)

// SystemRoles are the built-in roles. Documented in docs/RBAC.md; a test keeps
// that page and this table in step.
var SystemRoles = []*Role{
	{
		ID:          roleID(RolePlatformAdministrator),
		Name:        RolePlatformAdministrator,
		Description: "Operates the platform: every operation on every organization, system identity providers, OAuth2 clients and quotas.",
		Global: Permissions{
			EndpointOrganizations: crud(), EndpointGroups: crud(), EndpointProjects: crud(),
			EndpointUsers: crud(), EndpointServiceAccounts: crud(), EndpointOAuth2Providers: crud(),
			EndpointQuotas: crud(), EndpointAllocations: crud(), EndpointRoles: {Read},
			// Cloud credential federation (issue 5): configuration only,
			// never an organization's workload tokens or cloud credentials.
			EndpointCloudIdentities: crud(), EndpointCredentials: crud(), EndpointCloudConnections: crud(),
			// Sessions (issue 13): every session of every person.
			EndpointSessions: {Read, Delete},
			// OAuth2 clients (issue 13): the platform's and every organization's.
			EndpointOAuth2Clients: crud(),
		},
	},
	{
		ID:          roleID(RoleAdministrator),
		Name:        RoleAdministrator,
		Description: "Administers one organization: its groups, users, service accounts, projects, identity providers, OAuth2 clients, allocations, cloud identities, credential store and cloud connections; obtains cloud credentials in any project. Reads, but cannot raise, its quotas.",
		Assignable:  true,
		Organization: Permissions{
			EndpointOrganizations: {Read, Update}, EndpointGroups: crud(), EndpointProjects: crud(),
			EndpointUsers: crud(), EndpointServiceAccounts: crud(), EndpointOAuth2Providers: crud(),
			EndpointQuotas: {Read}, EndpointAllocations: crud(), EndpointRoles: {Read},
			// Cloud credential federation (issue 5).
			EndpointCloudIdentities: crud(), EndpointCloudIdentityTokens: {Create},
			EndpointCredentials: crud(), EndpointCloudConnections: crud(),
			// Sessions (issue 13): its users' sessions that its own
			// identity providers vouched for.
			EndpointSessions: {Read, Delete},
			// The organization's own OAuth2 clients (issue 13).
			EndpointOAuth2Clients: crud(),
		},
	},
	{
		ID:          roleID(RoleUser),
		Name:        RoleUser,
		Description: "Works inside the projects its groups are members of: reads and updates those projects, manages their allocations, reads their cloud identities and obtains cloud credentials from them. Reads the organization, its roles and quotas.",
		Assignable:  true,
		Organization: Permissions{
			EndpointOrganizations: {Read}, EndpointRoles: {Read}, EndpointQuotas: {Read},
		},
		Project: Permissions{
			EndpointProjects: {Read, Update}, EndpointAllocations: crud(),
			// Cloud credential federation (issue 5): members of a project
			// read its cloud identities and obtain credentials from them.
			EndpointCloudIdentities: {Read}, EndpointCloudIdentityTokens: {Create},
		},
	},
	{
		ID:          roleID(RoleReader),
		Name:        RoleReader,
		Description: "Reads everything in the organization and changes nothing (the credential store and cloud connections are administrators' only).",
		Assignable:  true,
		Organization: Permissions{
			EndpointOrganizations: {Read}, EndpointGroups: {Read}, EndpointProjects: {Read},
			EndpointUsers: {Read}, EndpointServiceAccounts: {Read}, EndpointOAuth2Providers: {Read},
			EndpointQuotas: {Read}, EndpointAllocations: {Read}, EndpointRoles: {Read},
			// Cloud credential federation (issue 5): the configuration of
			// cloud identities, not the credential store or connections.
			EndpointCloudIdentities: {Read},
			// The organization's OAuth2 clients, never their secrets.
			EndpointOAuth2Clients: {Read},
		},
	},
	{
		ID:          roleID(RoleSCIMProvisioner),
		Name:        RoleSCIMProvisioner,
		Description: "The role of a directory's SCIM API key (Okta, Microsoft Entra ID): provisions the organization's users of its verified domain and the groups the directory made, through /scim/v2; nothing of /api/v1.",
		Assignable:  true,
		Organization: Permissions{
			EndpointSCIM: crud(),
		},
	},
}

var rolesByID = func() map[string]*Role {
	m := make(map[string]*Role, len(SystemRoles))
	for _, r := range SystemRoles {
		m[r.ID] = r
	}
	return m
}()

// RoleByID finds a system role.
func RoleByID(id string) (*Role, bool) {
	r, ok := rolesByID[id]
	return r, ok
}

// RoleByName finds a system role by name.
func RoleByName(name string) (*Role, bool) {
	for _, r := range SystemRoles {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// AssignableRoles are the roles an organization may grant through groups,
// sorted by name.
func AssignableRoles() []*Role {
	var out []*Role
	for _, r := range SystemRoles {
		if r.Assignable {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// --- IAM (issue 4): what the system roles may do with custom roles, the
// organization guardrail policy (and its simulator, a read), API keys and the
// audit log. Kept in one block, merged into SystemRoles at package init.
// Administrators manage all of it; readers read roles, the guardrail and API
// keys (not the audit log); users read roles (as before).

var iamPermissions = []struct {
	role                 string
	global, organization Permissions
}{
	{role: RolePlatformAdministrator, global: Permissions{
		EndpointRoles: crud(), EndpointPolicies: {Read, Update}, EndpointAPIKeys: crud(), EndpointAuditEvents: {Read},
	}},
	{role: RoleAdministrator, organization: Permissions{
		EndpointRoles: crud(), EndpointPolicies: {Read, Update}, EndpointAPIKeys: crud(), EndpointAuditEvents: {Read},
	}},
	{role: RoleReader, organization: Permissions{
		EndpointRoles: {Read}, EndpointPolicies: {Read}, EndpointAPIKeys: {Read},
	}},
}

// --- Permission sets and account assignments (issue 6): administrators
// manage both; readers and users read them (who may reach which project is
// no secret inside an organization). Merged into SystemRoles at init.

var assignmentPermissions = []struct {
	role                 string
	global, organization Permissions
}{
	{role: RolePlatformAdministrator, global: Permissions{EndpointPermissionSets: crud(), EndpointAccountAssignments: crud()}},
	{role: RoleAdministrator, organization: Permissions{EndpointPermissionSets: crud(), EndpointAccountAssignments: crud()}},
	{role: RoleReader, organization: Permissions{EndpointPermissionSets: {Read}, EndpointAccountAssignments: {Read}}},
	{role: RoleUser, organization: Permissions{EndpointPermissionSets: {Read}, EndpointAccountAssignments: {Read}}},
}

// --- Signing keys (issues 13 and 17): platform administrators only; no
// organization role reads or rotates them. Merged into SystemRoles at init.

var signingKeyPermissions = []struct {
	role                 string
	global, organization Permissions
}{
	{role: RolePlatformAdministrator, global: Permissions{EndpointSigningKeys: {Read, Update}}},
}

// --- SCIM provisioning (issue 18): the organization's administrators may
// use it themselves (to look at what the directory provisioned, or to
// repair it); the directory's API key is bound to scim-provisioner.
// Merged into SystemRoles at init.

var scimPermissions = []struct {
	role                 string
	global, organization Permissions
}{
	{role: RoleAdministrator, organization: Permissions{EndpointSCIM: crud()}},
}

func init() {
	for _, p := range append(append(append(iamPermissions, assignmentPermissions...), signingKeyPermissions...), scimPermissions...) {
		r, ok := RoleByName(p.role)
		if !ok {
			panic("authz: IAM permissions for unknown role " + p.role)
		}
		r.Global = mergePermissions(r.Global, p.global)
		r.Organization = mergePermissions(r.Organization, p.organization)
	}
}

// mergePermissions adds the operations of extra to perms (a new map when
// perms is nil and extra is not empty), each operation once.
func mergePermissions(perms, extra Permissions) Permissions {
	if len(extra) == 0 {
		return perms
	}
	if perms == nil {
		perms = Permissions{}
	}
	for ep, ops := range extra {
		for _, op := range ops {
			if !slices.Contains(perms[ep], op) {
				perms[ep] = append(perms[ep], op)
			}
		}
	}
	return perms
}
