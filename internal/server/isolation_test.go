package server_test

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// world is two organizations, each with one of every resource.
type world struct {
	e    *testenv.Env
	a, b *orgFixture
	// systemProviderID is a platform-wide provider.
	systemProviderID string
}

type orgFixture struct {
	admin *testenv.Tenant
	ids   map[string]string // path parameter name → an ID of this org's resource
}

func mdID(t *testing.T, m map[string]any) string {
	t.Helper()
	return m["metadata"].(map[string]any)["id"].(string)
}

func newOrgFixture(t *testing.T, e *testenv.Env, stand *cloudStand, name string) *orgFixture {
	admin := e.NewTenant(name, "administrator")
	base := "/api/v1/organizations/" + admin.OrgID
	tok := admin.Token
	project := e.Must(http.StatusAccepted, "POST", base+"/projects", tok, map[string]any{
		"metadata": map[string]any{"name": "proj"}, "spec": map[string]any{"groupIDs": []string{admin.GroupID}}}).Map(t)
	projectID := mdID(t, project)
	alloc := e.Must(http.StatusCreated, "POST", base+"/projects/"+projectID+"/allocations", tok, allocationBody("alloc", 1)).Map(t)
	user := e.Must(http.StatusCreated, "POST", base+"/users", tok, map[string]any{
		"metadata": map[string]any{"name": "jo"}, "spec": map[string]any{"subject": "jo@" + name + ".example", "state": "active", "groupIDs": []string{}}}).Map(t)
	// Issue 13: jo has a local account the organization owns, which
	// needs its domain verified.
	joEmail := "jo@" + name + ".example"
	e.OwnDomain(admin.OrgID, name+".example")
	completeLink(t, e, e.Must(http.StatusCreated, "POST", base+"/users/"+mdID(t, user)+"/invitation", tok, nil).Map(t), "jo's password 1234")
	prov := e.Must(http.StatusCreated, "POST", base+"/oauth2providers", tok, providerBody("idp")).Map(t)
	// IAM: a custom role anyone may assume, an API key, a guardrail.
	role := e.Must(http.StatusCreated, "POST", base+"/roles", tok, roleWrite("custom", allowAll(), allowAll())).Map(t)
	key := e.Must(http.StatusCreated, "POST", base+"/apikeys", tok, apiKeyWrite("key", mdID(t, role))).Map(t)
	e.Must(http.StatusOK, "PUT", base+"/policy", tok, rules("allow", "projects", "allow", "true"))
	// Issue 6: a permission set assigned to the user on the project.
	set := e.Must(http.StatusCreated, "POST", base+"/permissionsets", tok, permissionSetWrite("ops", []string{mdID(t, role)}, nil)).Map(t)
	created := e.Must(http.StatusCreated, "POST", base+"/accountassignments", tok,
		assign([]map[string]any{ref("user", mdID(t, user))}, []string{mdID(t, set)}, []map[string]any{ref("project", projectID)})).Map(t)
	assignment := created["items"].([]any)[0].(map[string]any)
	cloudIDs, _ := stand.cloudIDs(t, admin.OrgID, projectID, admin.GroupID, tok)
	// Issue 13: an OAuth2 client of the organization.
	cl := e.Must(http.StatusCreated, "POST", base+"/oauth2clients", tok, clientBody("app")).Map(t)
	o := &orgFixture{admin: admin, ids: map[string]string{
		"organizationID":      admin.OrgID,
		"groupid":             admin.GroupID,
		"projectID":           projectID,
		"allocationID":        mdID(t, alloc),
		"userID":              mdID(t, user),
		"serviceAccountID":    admin.ServiceAccountID,
		"providerID":          mdID(t, prov),
		"roleID":              mdID(t, role),
		"apiKeyID":            mdID(t, key),
		"permissionSetID":     mdID(t, set),
		"accountAssignmentID": mdID(t, assignment),
		"email":               joEmail,
		"clientID":            mdID(t, cl),
	}}
	for k, v := range cloudIDs {
		o.ids[k] = v
	}
	// Sessions (issue 13): a session of jo that the organization's
	// provider vouched for, and a client.
	subject := "jo@" + name + ".example"
	_, o.ids["sessionID"] = vouchedSessions(t, e, subject, admin.OrgID, mdID(t, prov))
	o.ids["subject"], o.ids["consentClientID"] = subject, sessionClient(t, e, name+"-web").ClientID
	// Second factors (issue 14): jo's pending authenticator app.
	enrol, err := e.Accounts.MFA.StartTOTP(context.Background(), mfa.Account{Subject: subject}, "")
	if err != nil {
		t.Fatal(err)
	}
	o.ids["factorID"] = enrol.FactorID
	return o
}

func allocationBody(name string, gpus int) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{
		"kind": "cluster", "id": "c-1", "allocations": []map[string]any{{"kind": "gpus", "committed": gpus, "reserved": 0}}}}
}

func providerBody(name string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{
		"type": "oidc", "issuer": "https://idp.example.com", "clientID": "client", "clientSecret": "s3cret"}}
}

// clientBody is a valid OAuth2 client write (issue 13).
func clientBody(name string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{
		"redirectURIs": []string{"https://app.example.com/callback"}}}
}

// bodies holds a schema-valid request body for every operation that takes
// one, so that requests get past validation and reach the handler. The
// bodies name B's resources (its stored credential and cloud identity, user,
// permission set, project): another organization's IDs must be as unknown as
// made-up ones.
func bodies(roleID string, stand *cloudStand, b *orgFixture) map[string]any {
	meta := map[string]any{"name": "intruder"}
	return map[string]any{
		"createOrganization":               map[string]any{"metadata": meta, "spec": map[string]any{"organizationType": "adhoc"}},
		"rotateSigningKeys":                map[string]any{"algorithm": "RS256"},
		"updateOrganization":               map[string]any{"metadata": meta, "spec": map[string]any{"organizationType": "adhoc"}},
		"createGroup":                      map[string]any{"metadata": meta, "spec": map[string]any{"roleIDs": []string{roleID}, "userIDs": []string{}, "serviceAccountIDs": []string{}}},
		"updateGroup":                      map[string]any{"metadata": meta, "spec": map[string]any{"roleIDs": []string{roleID}, "userIDs": []string{}, "serviceAccountIDs": []string{}}},
		"createProject":                    map[string]any{"metadata": meta, "spec": map[string]any{"groupIDs": []string{}}},
		"updateProject":                    map[string]any{"metadata": meta, "spec": map[string]any{"groupIDs": []string{}}},
		"createUser":                       map[string]any{"metadata": meta, "spec": map[string]any{"subject": "intruder@example.com", "state": "active", "groupIDs": []string{}}},
		"updateUser":                       map[string]any{"metadata": meta, "spec": map[string]any{"subject": "intruder@example.com", "state": "active", "groupIDs": []string{}}},
		"createServiceAccount":             map[string]any{"metadata": meta, "spec": map[string]any{}},
		"updateServiceAccount":             map[string]any{"metadata": meta, "spec": map[string]any{}},
		"createOrganizationOauth2Provider": providerBody("intruder"),
		"updateOrganizationOauth2Provider": providerBody("intruder"),
		"createSystemOauth2Provider":       providerBody("intruder"),
		"updateSystemOauth2Provider":       providerBody("intruder"),
		"createAllocation":                 allocationBody("intruder", 1),
		"updateAllocation":                 allocationBody("intruder", 1),
		"updateQuotas":                     map[string]any{"quotas": []map[string]any{{"kind": "gpus", "quantity": 1000}}},
		"createRole":                       roleWrite("intruder", allowAll(), allowAll()),
		"updateRole":                       roleWrite("intruder", map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{}}, allowAll()),
		"updateRolePolicy":                 map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{}},
		"updateRoleAssumeRolePolicy":       allowAll(),
		"assumeRole":                       map[string]any{"ttl": 60},
		"verifyOrganizationDomain":         map[string]any{},
		"updateOrganizationBranding":       map[string]any{"displayName": "intruder"},
		"updateOrganizationPolicy":         allowAll(),
		"evaluateOrganizationPolicy":       map[string]any{"service": "projects", "operation": "get-project", "roles": []any{map[string]any{"name": "r", "policy": allowAll()}}},
		"createApiKey":                     apiKeyWrite("intruder", roleID),
		// OAuth2 clients (issue 13).
		"createOauth2Client":             clientBody("intruder"),
		"updateOauth2Client":             clientBody("intruder"),
		"createOrganizationOauth2Client": clientBody("intruder"),
		"updateOrganizationOauth2Client": clientBody("intruder"),
		// Cloud credential federation (issue 5).
		"createCloudIdentity":           stand.identityWrite("intruder"),
		"updateCloudIdentity":           stand.identityWrite("intruder"),
		"issueCloudIdentityToken":       map[string]any{},
		"issueCloudIdentityCredentials": map[string]any{},
		"issueCloudAccountCredentials":  map[string]any{"permissionSetID": b.ids["accountPermissionSetID"]},
		"createCredential":              credentialWrite("intruder", 1),
		"updateCredential":              credentialWrite("intruder", 1),
		"createCloudConnection":         connectionWrite("intruder", b.ids["credentialID"]),
		"updateCloudConnection":         connectionWrite("intruder", b.ids["credentialID"]),
		"validateCloudConnection": map[string]any{"credential": map[string]any{"type": "federated", "projectID": b.ids["projectID"],
			"cloudIdentityID": b.ids["cloudIdentityID"]}},
		"createPermissionSet": permissionSetWrite("intruder", []string{roleID}, nil),
		"updatePermissionSet": permissionSetWrite("intruder", []string{roleID}, allowAll()),
		// Local accounts (issue 13): B's person's address.
		"inviteLocalAccount":        map[string]any{"email": b.ids["email"]},
		"resetLocalAccountPassword": map[string]any{"email": b.ids["email"]},
		"changeAccountPassword":     map[string]any{"currentPassword": "jo's password 1234", "newPassword": "intruder's password"},
		// Second factors (issue 14).
		"startAccountTotpEnrolment":      map[string]any{},
		"confirmAccountFactor":           map[string]any{"code": "000000"},
		"removeAccountFactor":            map[string]any{"password": "jo's password 1234"},
		"regenerateAccountRecoveryCodes": map[string]any{"password": "jo's password 1234"},
		"setOrganizationMfaPolicy":       map[string]any{"mode": "optional"},
		"createAccountAssignments": assign([]map[string]any{ref("user", b.ids["userID"])}, []string{b.ids["permissionSetID"]},
			[]map[string]any{ref("project", b.ids["projectID"])}),
	}
}

// snapshot reads everything the platform administrator can see of an
// organization, so a test can prove a refused request changed nothing.
func snapshot(t *testing.T, e *testenv.Env, o *orgFixture) string {
	t.Helper()
	base := "/api/v1/organizations/" + o.admin.OrgID
	var b strings.Builder
	for _, p := range []string{"", "/groups", "/projects", "/users", "/serviceaccounts", "/oauth2providers", "/quotas", "/allocations",
		"/projects/" + o.ids["projectID"] + "/allocations/" + o.ids["allocationID"], "/roles", "/policy", "/apikeys", "/auditevents",
		"/credentials", "/cloudconnections", "/projects/" + o.ids["projectID"] + "/cloudidentities",
		"/permissionsets", "/accountassignments", "/users/" + o.ids["userID"] + "/accountassignments", "/users/" + o.ids["userID"] + "/sessions",
		"/users/" + o.ids["userID"] + "/password", "/oauth2clients", "/branding"} {
		r := e.Do("GET", base+p, e.AdminToken, nil)
		b.WriteString(p + " " + http.StatusText(r.Status) + " " + string(r.Body) + "\n")
	}
	r := e.Do("GET", "/api/v1/oauth2providers", e.AdminToken, nil)
	b.WriteString("system providers " + string(r.Body) + "\n")
	r = e.Do("GET", "/api/v1/oauth2clients", e.AdminToken, nil)
	b.WriteString("platform clients " + string(r.Body) + "\n")
	return b.String()
}

type operation struct {
	method, path, id string
}

// operations lists every /api/v1 guard operation of api/openapi.yaml (the
// Gatehouse/OIDC ones, which no bearer token of a tenant reaches through
// the guard, are left out).
func operations(t *testing.T) []operation {
	t.Helper()
	spec, err := api.GuardSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{method, path, op.OperationID})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	if len(ops) < 40 {
		t.Fatalf("only %d operations in the spec", len(ops))
	}
	return ops
}

// fill puts ids into path's {param}s; a {param} that ids has no value for
// fails the test: sending it as it is would walk a path that names
// nothing (a 404 for any caller), and the operation would pass the walk
// without its isolation being tested.
func fill(t testing.TB, path string, ids map[string]string) string {
	t.Helper()
	for k, v := range ids {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	if i := strings.Index(path, "{"); i >= 0 {
		t.Fatalf("%s: no ID for %s: add it to the walk's fixture", path, path[i:strings.IndexByte(path[i:], '}')+i+1])
	}
	return path
}

// TestTenantIsolation walks every operation of the API as organization A's
// administrator against organization B's resources, in two ways: with B's
// organization in the path (authorization must refuse: 403), and with A's
// organization in the path but B's resource IDs (lookups are scoped to the
// path's organization: 404). Afterwards B must be exactly as before, and no
// response may carry any of B's IDs.
func TestTenantIsolation(t *testing.T) {
	for _, backend := range testenv.Backends(t) {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			e := testenv.NewEnv(t, backend.Open(t))
			stand := newCloudStand(t, e)
			w := &world{e: e, a: newOrgFixture(t, e, stand, "org-a"), b: newOrgFixture(t, e, stand, "org-b")}
			w.systemProviderID = mdID(t, e.Must(http.StatusCreated, "POST", "/api/v1/oauth2providers", e.AdminToken, providerBody("google")).Map(t))

			var roles []map[string]any
			e.Must(http.StatusOK, "GET", "/api/v1/organizations/"+w.a.admin.OrgID+"/roles", w.a.admin.Token, nil).JSON(t, &roles)
			body := bodies(mdID(t, roles[0]), stand, w.b)
			before := snapshot(t, e, w.b)
			secretsOfB := []string{}
			for k, id := range w.b.ids {
				// Both organizations connect the stand-in's same AWS
				// organization: its account ID is A's to see too.
				if k != "accountID" {
					secretsOfB = append(secretsOfB, id)
				}
			}

			for _, op := range operations(t) {
				for _, mode := range []string{"foreign-organization", "own-organization-foreign-ids"} {
					ids := map[string]string{}
					for k, v := range w.b.ids {
						ids[k] = v
					}
					if mode == "own-organization-foreign-ids" {
						if !strings.Contains(op.path, "{organizationID}") {
							continue
						}
						ids["organizationID"] = w.a.admin.OrgID
					}
					if !strings.Contains(op.path, "{organizationID}") {
						ids["providerID"] = w.systemProviderID
					}
					path := fill(t, op.path, ids)
					r := e.Do(op.method, path, w.a.admin.Token, body[op.id])
					for _, s := range secretsOfB {
						if bytes.Contains(r.Body, []byte(s)) && !strings.Contains(path, s) {
							t.Errorf("%s %s %s (%s): response leaks B's ID %s: %s", op.id, op.method, path, mode, s, r.Body)
						}
					}
					want := expectIsolated(op, mode)
					if !want[r.Status] {
						t.Errorf("%s %s %s (%s): status %d, want one of %v; body %s", op.id, op.method, path, mode, r.Status, keys(want), r.Body)
					}
				}
			}
			if after := snapshot(t, e, w.b); after != before {
				t.Errorf("organization B changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// expectIsolated is the statuses an organization administrator may get when
// aiming an operation at another organization.
func expectIsolated(op operation, mode string) map[int]bool {
	switch op.id {
	// Platform-wide reads any authenticated caller may make; they must not
	// reveal B (checked by the leak scan).
	case "getGlobalAcl", "listOrganizations", "listSystemOauth2Providers", "listOperations":
		return map[int]bool{http.StatusOK: true}
	// Platform-only operations.
	case "createOrganization", "createSystemOauth2Provider", "updateSystemOauth2Provider", "deleteSystemOauth2Provider", "listAuditEvents",
		"listSubjectSessions", "deleteSubjectSession", "deleteSubjectSessions",
		"listLocalAccounts", "inviteLocalAccount", "resetLocalAccountPassword", "deleteLocalAccount",
		"listSigningKeys", "rotateSigningKeys", "resetSubjectFactors",
		// Platform OAuth2 clients (issue 13).
		"listOauth2Clients", "createOauth2Client", "getOauth2Client", "updateOauth2Client", "deleteOauth2Client", "rotateOauth2ClientSecret":
		return map[int]bool{http.StatusForbidden: true}
	// A person's own sessions, consents and account: A's administrator is a
	// service account.
	case "listAccountSessions", "deleteAccountSession", "listAccountConsents", "deleteAccountConsent",
		"getAccount", "changeAccountPassword",
		"getAccountFactors", "startAccountTotpEnrolment", "confirmAccountFactor", "removeAccountFactor", "regenerateAccountRecoveryCodes":
		return map[int]bool{http.StatusForbidden: true}
	}
	if mode == "foreign-organization" {
		return map[int]bool{http.StatusForbidden: true}
	}
	// A's own organization, B's resource IDs: not found in A. Operations
	// with no resource ID of their own act on A and are not part of this
	// check (lists and creates succeed or fail on A's terms; organization
	// and quota operations need permissions A's administrator lacks).
	switch op.id {
	case "getGroup", "updateGroup", "deleteGroup", "getProject", "updateProject", "deleteProject",
		"getUser", "updateUser", "deleteUser", "getServiceAccount", "updateServiceAccount", "deleteServiceAccount",
		"rotateServiceAccount", "getOrganizationOauth2Provider", "updateOrganizationOauth2Provider",
		"deleteOrganizationOauth2Provider", "getAllocation", "updateAllocation", "deleteAllocation", "createAllocation",
		"getRole", "updateRole", "deleteRole", "updateRolePolicy", "updateRoleAssumeRolePolicy", "assumeRole", "getApiKey", "deleteApiKey",
		// Cloud credential federation: B's project, identity, credential or
		// connection is not found in A.
		"listCloudIdentities", "createCloudIdentity", "getCloudIdentity", "updateCloudIdentity", "deleteCloudIdentity",
		"issueCloudIdentityToken", "issueCloudIdentityCredentials", "getCredential", "updateCredential", "deleteCredential",
		"getCloudConnection", "updateCloudConnection", "deleteCloudConnection",
		// Permission sets and account assignments.
		"getPermissionSet", "updatePermissionSet", "deletePermissionSet", "getAccountAssignment", "deleteAccountAssignment",
		"listUserAccountAssignments", "listServiceAccountAccountAssignments",
		// Sessions and local accounts of B's user: B's user is not in A.
		"listUserSessions", "deleteUserSession", "deleteUserSessions",
		"getUserPassword", "deleteUserPassword", "inviteUser", "resetUserPassword", "resetUserFactors",
		// OAuth2 clients (issue 13): B's client is not A's.
		"getOrganizationOauth2Client", "updateOrganizationOauth2Client", "deleteOrganizationOauth2Client",
		"rotateOrganizationOauth2ClientSecret":
		return map[int]bool{http.StatusNotFound: true}
	case "createGroup", "createProject", "createUser", "createServiceAccount", "createOrganizationOauth2Provider", "createRole", "createApiKey",
		"createCredential", "createPermissionSet", "createOrganizationOauth2Client":
		return map[int]bool{http.StatusCreated: true, http.StatusAccepted: true}
	// The body names B's credential or cloud identity, or B's user,
	// permission set and project: unknown in A. (The account of
	// issueCloudAccountCredentials is A's too: both connect the same AWS
	// organization; B's permission set is what A does not know.)
	case "createCloudConnection", "validateCloudConnection", "createAccountAssignments", "issueCloudAccountCredentials":
		return map[int]bool{http.StatusBadRequest: true}
	case "deleteOrganization", "updateQuotas":
		return map[int]bool{http.StatusForbidden: true}
	// A's organization claims no domain: nothing to verify.
	case "verifyOrganizationDomain":
		return map[int]bool{http.StatusBadRequest: true}
	// Branding acts on A's own (B's is untouched: the snapshot below);
	// removing it finds none unless A's update ran first.
	case "deleteOrganizationBranding":
		return map[int]bool{http.StatusOK: true, http.StatusNotFound: true}
	}
	return map[int]bool{http.StatusOK: true}
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
