package authz

// Scope says where an operation's permission is looked up.
type Scope int

// The scopes.
const (
	// ScopeAuthenticated: any authenticated principal; the handler narrows
	// what it returns to what the principal may see.
	ScopeAuthenticated Scope = iota + 1
	// ScopeGlobal: needs a platform-wide permission.
	ScopeGlobal
	// ScopeOrganization: needs the permission in the path's organization.
	ScopeOrganization
	// ScopeOrganizationMember: the principal must belong to the path's
	// organization (any role), e.g. to read its own ACL.
	ScopeOrganizationMember
	// ScopeProject: needs the permission in the organization, or in the
	// path's project through one of the project's groups.
	ScopeProject
	// ScopeAnyProject: any member of the path's organization (or a holder of
	// the permission there); the handler returns only the projects the
	// principal's grants cover, possibly none.
	ScopeAnyProject
)

// Entry declares one API operation for authorization.
type Entry struct {
	OperationID string
	Endpoint    string
	Operation   Operation
	Scope       Scope
}

// Catalogue is every /api/v1 operation, keyed by OpenAPI operationId. The
// enforcement middleware refuses any operation missing here (fail closed), and
// a test checks it against api/openapi.yaml in both directions.
var Catalogue = indexCatalogue([]Entry{
	{"getGlobalAcl", "", "", ScopeAuthenticated},
	{"listSystemOauth2Providers", EndpointOAuth2Providers, Read, ScopeAuthenticated},
	{"createSystemOauth2Provider", EndpointOAuth2Providers, Create, ScopeGlobal},
	{"updateSystemOauth2Provider", EndpointOAuth2Providers, Update, ScopeGlobal},
	{"deleteSystemOauth2Provider", EndpointOAuth2Providers, Delete, ScopeGlobal},

	{"listOrganizations", EndpointOrganizations, Read, ScopeAuthenticated},
	{"createOrganization", EndpointOrganizations, Create, ScopeGlobal},
	{"getOrganization", EndpointOrganizations, Read, ScopeOrganization},
	{"updateOrganization", EndpointOrganizations, Update, ScopeOrganization},
	{"deleteOrganization", EndpointOrganizations, Delete, ScopeOrganization},
	{"getOrganizationAcl", "", "", ScopeOrganizationMember},
	// Verified domains (issue 12): proving the organization's domain is
	// changing the organization; marking it verified without DNS is the
	// platform administrator's only (checked in the handler).
	{"verifyOrganizationDomain", EndpointOrganizations, Update, ScopeOrganization},
	// Branding (issue 14): the organization's look is part of the
	// organization; reading it is reading the organization.
	{"getOrganizationBranding", EndpointOrganizations, Read, ScopeOrganization},
	{"updateOrganizationBranding", EndpointOrganizations, Update, ScopeOrganization},
	{"deleteOrganizationBranding", EndpointOrganizations, Update, ScopeOrganization},

	{"listGroups", EndpointGroups, Read, ScopeOrganization},
	{"createGroup", EndpointGroups, Create, ScopeOrganization},
	{"getGroup", EndpointGroups, Read, ScopeOrganization},
	{"updateGroup", EndpointGroups, Update, ScopeOrganization},
	{"deleteGroup", EndpointGroups, Delete, ScopeOrganization},

	{"listOrganizationOauth2Providers", EndpointOAuth2Providers, Read, ScopeOrganization},
	{"createOrganizationOauth2Provider", EndpointOAuth2Providers, Create, ScopeOrganization},
	{"getOrganizationOauth2Provider", EndpointOAuth2Providers, Read, ScopeOrganization},
	{"updateOrganizationOauth2Provider", EndpointOAuth2Providers, Update, ScopeOrganization},
	{"deleteOrganizationOauth2Provider", EndpointOAuth2Providers, Delete, ScopeOrganization},

	{"listProjects", EndpointProjects, Read, ScopeAnyProject},
	{"createProject", EndpointProjects, Create, ScopeOrganization},
	{"getProject", EndpointProjects, Read, ScopeProject},
	{"updateProject", EndpointProjects, Update, ScopeProject},
	{"deleteProject", EndpointProjects, Delete, ScopeProject},

	{"listOrganizationAllocations", EndpointAllocations, Read, ScopeOrganization},
	{"createAllocation", EndpointAllocations, Create, ScopeProject},
	{"getAllocation", EndpointAllocations, Read, ScopeProject},
	{"updateAllocation", EndpointAllocations, Update, ScopeProject},
	{"deleteAllocation", EndpointAllocations, Delete, ScopeProject},

	{"getQuotas", EndpointQuotas, Read, ScopeOrganization},
	{"updateQuotas", EndpointQuotas, Update, ScopeOrganization},

	{"listRoles", EndpointRoles, Read, ScopeOrganization},

	{"listServiceAccounts", EndpointServiceAccounts, Read, ScopeOrganization},
	{"createServiceAccount", EndpointServiceAccounts, Create, ScopeOrganization},
	{"getServiceAccount", EndpointServiceAccounts, Read, ScopeOrganization},
	{"updateServiceAccount", EndpointServiceAccounts, Update, ScopeOrganization},
	{"deleteServiceAccount", EndpointServiceAccounts, Delete, ScopeOrganization},
	{"rotateServiceAccount", EndpointServiceAccounts, Update, ScopeOrganization},

	{"listUsers", EndpointUsers, Read, ScopeOrganization},
	{"createUser", EndpointUsers, Create, ScopeOrganization},
	{"getUser", EndpointUsers, Read, ScopeOrganization},
	{"updateUser", EndpointUsers, Update, ScopeOrganization},
	{"deleteUser", EndpointUsers, Delete, ScopeOrganization},

	// --- IAM (issue 4): the operation catalogue, custom roles, the
	// organization guardrail policy and its simulator, API keys, role
	// assumption and the audit log. assumeRole is open to every member: the
	// role's assume-role policy decides (in the handler), so it grants no
	// permission and is not in the ACL.
	{"listOperations", "", "", ScopeAuthenticated},
	{"createRole", EndpointRoles, Create, ScopeOrganization},
	{"getRole", EndpointRoles, Read, ScopeOrganization},
	{"updateRole", EndpointRoles, Update, ScopeOrganization},
	{"deleteRole", EndpointRoles, Delete, ScopeOrganization},
	{"updateRolePolicy", EndpointRoles, Update, ScopeOrganization},
	{"updateRoleAssumeRolePolicy", EndpointRoles, Update, ScopeOrganization},
	{"assumeRole", EndpointRoles, Create, ScopeOrganizationMember},
	{"getOrganizationPolicy", EndpointPolicies, Read, ScopeOrganization},
	{"updateOrganizationPolicy", EndpointPolicies, Update, ScopeOrganization},
	{"resetOrganizationPolicy", EndpointOrganizations, Update, ScopeOrganization},
	{"evaluateOrganizationPolicy", EndpointPolicies, Read, ScopeOrganization},
	{"listApiKeys", EndpointAPIKeys, Read, ScopeOrganization},
	{"createApiKey", EndpointAPIKeys, Create, ScopeOrganization},
	{"getApiKey", EndpointAPIKeys, Read, ScopeOrganization},
	{"deleteApiKey", EndpointAPIKeys, Delete, ScopeOrganization},
	{"listOrganizationAuditEvents", EndpointAuditEvents, Read, ScopeOrganization},
	{"listAuditEvents", EndpointAuditEvents, Read, ScopeGlobal},
	// Cloud credential federation (issue 5).
	{"listCloudIdentities", EndpointCloudIdentities, Read, ScopeProject},
	{"createCloudIdentity", EndpointCloudIdentities, Create, ScopeProject},
	{"getCloudIdentity", EndpointCloudIdentities, Read, ScopeProject},
	{"updateCloudIdentity", EndpointCloudIdentities, Update, ScopeProject},
	{"deleteCloudIdentity", EndpointCloudIdentities, Delete, ScopeProject},
	{"issueCloudIdentityToken", EndpointCloudIdentityTokens, Create, ScopeProject},
	{"issueCloudIdentityCredentials", EndpointCloudIdentityTokens, Create, ScopeProject},
	{"listCredentials", EndpointCredentials, Read, ScopeOrganization},
	{"createCredential", EndpointCredentials, Create, ScopeOrganization},
	{"getCredential", EndpointCredentials, Read, ScopeOrganization},
	{"updateCredential", EndpointCredentials, Update, ScopeOrganization},
	{"deleteCredential", EndpointCredentials, Delete, ScopeOrganization},
	{"listCloudConnections", EndpointCloudConnections, Read, ScopeOrganization},
	{"createCloudConnection", EndpointCloudConnections, Create, ScopeOrganization},
	{"validateCloudConnection", EndpointCloudConnections, Create, ScopeOrganization},
	{"getCloudConnection", EndpointCloudConnections, Read, ScopeOrganization},
	{"updateCloudConnection", EndpointCloudConnections, Update, ScopeOrganization},
	{"deleteCloudConnection", EndpointCloudConnections, Delete, ScopeOrganization},

	// --- Permission sets and account assignments (issue 6). The effective
	// assignments of a user or service account (its own and its groups')
	// are reads of account assignments.
	{"listPermissionSets", EndpointPermissionSets, Read, ScopeOrganization},
	{"createPermissionSet", EndpointPermissionSets, Create, ScopeOrganization},
	{"getPermissionSet", EndpointPermissionSets, Read, ScopeOrganization},
	{"updatePermissionSet", EndpointPermissionSets, Update, ScopeOrganization},
	{"deletePermissionSet", EndpointPermissionSets, Delete, ScopeOrganization},
	{"listAccountAssignments", EndpointAccountAssignments, Read, ScopeOrganization},
	{"createAccountAssignments", EndpointAccountAssignments, Create, ScopeOrganization},
	{"getAccountAssignment", EndpointAccountAssignments, Read, ScopeOrganization},
	{"deleteAccountAssignment", EndpointAccountAssignments, Delete, ScopeOrganization},
	{"listUserAccountAssignments", EndpointAccountAssignments, Read, ScopeOrganization},
	{"listServiceAccountAccountAssignments", EndpointAccountAssignments, Read, ScopeOrganization},
	// Any member may ask; the handler gives credentials only to the holders
	// of an assignment of the permission set on the account (like
	// assumeRole and its assume-role policy).
	{"issueCloudAccountCredentials", EndpointCloudAccountCredentials, Create, ScopeOrganizationMember},

	// --- Sessions (issue 13). The account operations are any signed-in
	// person's, for themselves (the handler refuses machine principals with
	// 403 and narrows a login an organization's own provider vouched for to
	// what that provider vouched); revokes are audited like every write.
	{"listAccountSessions", EndpointSessions, Read, ScopeAuthenticated},
	{"deleteAccountSession", EndpointSessions, Delete, ScopeAuthenticated},
	{"listAccountConsents", EndpointSessions, Read, ScopeAuthenticated},
	{"deleteAccountConsent", EndpointSessions, Delete, ScopeAuthenticated},
	{"listUserSessions", EndpointSessions, Read, ScopeOrganization},
	{"deleteUserSession", EndpointSessions, Delete, ScopeOrganization},
	{"deleteUserSessions", EndpointSessions, Delete, ScopeOrganization},
	{"listSubjectSessions", EndpointSessions, Read, ScopeGlobal},
	{"deleteSubjectSession", EndpointSessions, Delete, ScopeGlobal},
	{"deleteSubjectSessions", EndpointSessions, Delete, ScopeGlobal},
	// --- Local password accounts (issue 13). An organization's users'
	// accounts are changes of its users: an invitation creates one, a
	// reset updates it; the platform's own accounts need the platform
	// role. The person's own account is every signed-in person's (the
	// handler refuses machine principals); changing one's password is a
	// write, audited.
	{"getUserPassword", EndpointUsers, Read, ScopeOrganization},
	{"deleteUserPassword", EndpointUsers, Delete, ScopeOrganization},
	{"inviteUser", EndpointUsers, Create, ScopeOrganization},
	{"resetUserPassword", EndpointUsers, Update, ScopeOrganization},
	{"listLocalAccounts", EndpointUsers, Read, ScopeGlobal},
	{"inviteLocalAccount", EndpointUsers, Create, ScopeGlobal},
	{"resetLocalAccountPassword", EndpointUsers, Update, ScopeGlobal},
	{"deleteLocalAccount", EndpointUsers, Delete, ScopeGlobal},
	{"getAccount", "", "", ScopeAuthenticated},
	{"changeAccountPassword", "", Update, ScopeAuthenticated},
	// --- Second factors (issue 14). The person's own are every signed-in
	// person's (the handler refuses machine principals; removing a factor
	// and replacing recovery codes need a password or code besides the
	// token). An organization's administrators reset the factors of the
	// local accounts it owns (a change of its users) and set its policy (a
	// change of the organization); platform administrators reset anyone's.
	{"getAccountFactors", "", "", ScopeAuthenticated},
	{"startAccountTotpEnrolment", "", Create, ScopeAuthenticated},
	{"confirmAccountFactor", "", Update, ScopeAuthenticated},
	{"removeAccountFactor", "", Delete, ScopeAuthenticated},
	{"regenerateAccountRecoveryCodes", "", Update, ScopeAuthenticated},
	{"resetUserFactors", EndpointUsers, Update, ScopeOrganization},
	{"resetSubjectFactors", EndpointUsers, Delete, ScopeGlobal},
	{"getOrganizationMfaPolicy", EndpointOrganizations, Read, ScopeOrganization},
	{"setOrganizationMfaPolicy", EndpointOrganizations, Update, ScopeOrganization},
	// --- Signing keys (issues 13 and 17): platform administrators list the
	// token signing keys and rotate the platform's.
	{"listSigningKeys", EndpointSigningKeys, Read, ScopeGlobal},
	{"rotateSigningKeys", EndpointSigningKeys, Update, ScopeGlobal},
	// OAuth2 clients (issue 13): the platform's, for platform
	// administrators only (a global permission); an organization's, for
	// whoever holds the permission there (its administrators). Rotating a
	// secret changes the client.
	{"listOauth2Clients", EndpointOAuth2Clients, Read, ScopeGlobal},
	{"createOauth2Client", EndpointOAuth2Clients, Create, ScopeGlobal},
	{"getOauth2Client", EndpointOAuth2Clients, Read, ScopeGlobal},
	{"updateOauth2Client", EndpointOAuth2Clients, Update, ScopeGlobal},
	{"deleteOauth2Client", EndpointOAuth2Clients, Delete, ScopeGlobal},
	{"rotateOauth2ClientSecret", EndpointOAuth2Clients, Update, ScopeGlobal},
	{"listOrganizationOauth2Clients", EndpointOAuth2Clients, Read, ScopeOrganization},
	{"createOrganizationOauth2Client", EndpointOAuth2Clients, Create, ScopeOrganization},
	{"getOrganizationOauth2Client", EndpointOAuth2Clients, Read, ScopeOrganization},
	{"updateOrganizationOauth2Client", EndpointOAuth2Clients, Update, ScopeOrganization},
	{"deleteOrganizationOauth2Client", EndpointOAuth2Clients, Delete, ScopeOrganization},
	{"rotateOrganizationOauth2ClientSecret", EndpointOAuth2Clients, Update, ScopeOrganization},

	// --- SCIM 2.0 provisioning (issue 18), served at /scim/v2/ (SCIMRoutes),
	// not in api/openapi.yaml: SCIM describes itself (ServiceProviderConfig,
	// ResourceTypes, Schemas). In the catalogue all the same, so that RBAC,
	// the ACL, policies, the simulator and the audit log know them.
	{"scimGetServiceProviderConfig", EndpointSCIM, Read, ScopeOrganization},
	{"scimListResourceTypes", EndpointSCIM, Read, ScopeOrganization},
	{"scimGetResourceType", EndpointSCIM, Read, ScopeOrganization},
	{"scimListSchemas", EndpointSCIM, Read, ScopeOrganization},
	{"scimGetSchema", EndpointSCIM, Read, ScopeOrganization},
	{"scimListUsers", EndpointSCIM, Read, ScopeOrganization},
	{"scimCreateUser", EndpointSCIM, Create, ScopeOrganization},
	{"scimGetUser", EndpointSCIM, Read, ScopeOrganization},
	{"scimReplaceUser", EndpointSCIM, Update, ScopeOrganization},
	{"scimPatchUser", EndpointSCIM, Update, ScopeOrganization},
	{"scimDeleteUser", EndpointSCIM, Delete, ScopeOrganization},
	{"scimListGroups", EndpointSCIM, Read, ScopeOrganization},
	{"scimCreateGroup", EndpointSCIM, Create, ScopeOrganization},
	{"scimGetGroup", EndpointSCIM, Read, ScopeOrganization},
	{"scimReplaceGroup", EndpointSCIM, Update, ScopeOrganization},
	{"scimPatchGroup", EndpointSCIM, Update, ScopeOrganization},
	{"scimDeleteGroup", EndpointSCIM, Delete, ScopeOrganization},
})

// SCIMBase is the path under which an organization's SCIM service answers;
// {organizationID} is the organization.
const SCIMBase = "/scim/v2/organizations/{organizationID}"

// Route is where an operation served outside /api/v1 answers: a method and
// a net/http pattern path.
type Route struct {
	Method, Path string
}

// SCIMRoutes are the catalogue's operations served at /scim/v2/ instead of
// /api/v1 (and so absent from api/openapi.yaml), by operationId. The SCIM
// handler registers exactly these, and the catalogue tests take them for
// the spec's operations.
var SCIMRoutes = map[string]Route{
	"scimGetServiceProviderConfig": {"GET", SCIMBase + "/ServiceProviderConfig"},
	"scimListResourceTypes":        {"GET", SCIMBase + "/ResourceTypes"},
	"scimGetResourceType":          {"GET", SCIMBase + "/ResourceTypes/{id}"},
	"scimListSchemas":              {"GET", SCIMBase + "/Schemas"},
	"scimGetSchema":                {"GET", SCIMBase + "/Schemas/{id}"},
	"scimListUsers":                {"GET", SCIMBase + "/Users"},
	"scimCreateUser":               {"POST", SCIMBase + "/Users"},
	"scimGetUser":                  {"GET", SCIMBase + "/Users/{id}"},
	"scimReplaceUser":              {"PUT", SCIMBase + "/Users/{id}"},
	"scimPatchUser":                {"PATCH", SCIMBase + "/Users/{id}"},
	"scimDeleteUser":               {"DELETE", SCIMBase + "/Users/{id}"},
	"scimListGroups":               {"GET", SCIMBase + "/Groups"},
	"scimCreateGroup":              {"POST", SCIMBase + "/Groups"},
	"scimGetGroup":                 {"GET", SCIMBase + "/Groups/{id}"},
	"scimReplaceGroup":             {"PUT", SCIMBase + "/Groups/{id}"},
	"scimPatchGroup":               {"PATCH", SCIMBase + "/Groups/{id}"},
	"scimDeleteGroup":              {"DELETE", SCIMBase + "/Groups/{id}"},
}

func indexCatalogue(entries []Entry) map[string]Entry {
	m := make(map[string]Entry, len(entries))
	for _, e := range entries {
		if _, dup := m[e.OperationID]; dup {
			panic("authz: operation declared twice: " + e.OperationID)
		}
		m[e.OperationID] = e
	}
	return m
}
