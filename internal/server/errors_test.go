package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/store"
)

// fixture is an organization with one of every resource and a member of
// every assignable role, for the tests that walk every operation.
type fixture struct {
	org, orgName        string
	admin, reader, user *member
	ids                 map[string]string // path parameter → a real ID
	// project is the user role's project, otherProject one it cannot reach.
	project, otherProject       string
	allocation, otherAllocation string
	systemProvider, otherOrg    string
	roleID                      string
	// cloud is the AWS stand-in; firstCredential a stored credential of
	// another AWS organization than the fixture's connection.
	cloud           *cloudStand
	firstCredential string
	// platformClient is a platform OAuth2 client (issue 13), the clientID
	// of the platform paths; ids["clientID"] is the organization's own.
	platformClient string
	// assignedSet is a permission set with an assignment (the fixture's
	// accountAssignmentID: user jo on project mine); ids[permissionSetID]
	// is one without.
	assignedSet string
	// personToken is person pat's own OpenID Connect access token (a
	// platform password login), for the account operations;
	// ids[accountSessionID] is a session of pat's and ids[sessionID] one of
	// user jo's that the organization's identity provider vouched for, and
	// ids[clientID] a client both consented to.
	personToken, personSubject string
}

func newFixture(t testing.TB, a *apiEnv) *fixture {
	t.Helper()
	return newFixtureNamed(t, a, "acme")
}

// newFixtureNamed is newFixture with an organization of that name (names of
// organizations and system providers are unique platform-wide).
func newFixtureNamed(t testing.TB, a *apiEnv, name string) *fixture {
	t.Helper()
	f := &fixture{orgName: name}
	f.admin = a.tenant(t, name, "administrator")
	f.org = f.admin.org
	// The organization claims a domain (pending), so that it has something
	// to verify (verifyOrganizationDomain).
	a.admin(t, http.StatusOK, "PUT", orgPath(f.org), f.orgWrite())
	f.reader = a.addMember(t, f.org, "readers", "reader")
	f.user = a.addMember(t, f.org, "users", "user")
	tok := f.admin.token
	f.project = id(a.must(t, http.StatusAccepted, "POST", orgPath(f.org, "projects"), tok, projectWrite("mine", []string{f.user.group, f.admin.group})).obj(t))
	f.otherProject = id(a.must(t, http.StatusAccepted, "POST", orgPath(f.org, "projects"), tok, projectWrite("theirs", nil)).obj(t))
	f.allocation = id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "projects", f.project, "allocations"), tok, allocWrite("alloc", item{"gpus", 1, 0})).obj(t))
	f.otherAllocation = id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "projects", f.otherProject, "allocations"), tok, allocWrite("alloc", item{"gpus", 1, 0})).obj(t))
	user := id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
	provider := id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "oauth2providers"), tok, providerWrite("idp", "c", ptrTo("s"))).obj(t))
	systemName, otherName := "google", "other"
	if name != "acme" {
		systemName, otherName = name+"-google", name+"-other"
	}
	f.systemProvider = id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite(systemName, "g", nil)).obj(t))
	f.otherOrg = a.newOrg(t, otherName)
	f.roleID = a.role(t, "reader")
	// A custom role anyone may assume, and an API key of the reader role.
	customRole := id(a.admin(t, http.StatusCreated, "POST", orgPath(f.org, "roles"), roleWrite("custom", allowAll(), allowAll())).obj(t))
	apiKey := id(a.admin(t, http.StatusCreated, "POST", orgPath(f.org, "apikeys"), apiKeyWrite("key", f.roleID)).obj(t))
	// Permission sets, one of them assigned to jo on the user role's project.
	set := id(a.admin(t, http.StatusCreated, "POST", orgPath(f.org, "permissionsets"), permissionSetWrite("ops", []string{a.role(t, "user")}, nil)).obj(t))
	f.assignedSet = id(a.admin(t, http.StatusCreated, "POST", orgPath(f.org, "permissionsets"), permissionSetWrite("assigned", []string{f.roleID}, nil)).obj(t))
	assignment := id(items(t, a.admin(t, http.StatusCreated, "POST", orgPath(f.org, "accountassignments"),
		assign([]map[string]any{ref("user", user)}, []string{f.assignedSet}, []map[string]any{ref("project", f.project)})))[0])
	f.ids = map[string]string{
		"organizationID":      f.org,
		"groupid":             f.admin.group,
		"projectID":           f.project,
		"allocationID":        f.allocation,
		"userID":              user,
		"serviceAccountID":    f.reader.sa,
		"providerID":          provider,
		"roleID":              customRole,
		"apiKeyID":            apiKey,
		"permissionSetID":     set,
		"accountAssignmentID": assignment,
		// Issue 13: a confidential client of the organization.
		"clientID": id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "oauth2clients"), tok, clientWrite("app")).obj(t)),
	}
	// In acme (the one fixture of most tests), jo has a local account the
	// organization owns (invited, the link followed): an address has one
	// local account, so the other fixtures' jo cannot. The platform owns
	// one too (issue 13). An organization may own local accounts only in
	// its verified domain: acme proves acme.example first.
	if name == "acme" {
		a.VerifyDomain(f.org)
		completeLink(t, a.Env, a.must(t, http.StatusCreated, "POST", orgPath(f.org, "users", user, "invitation"), tok, nil).obj(t), "jo's long password")
	}
	f.ids["email"] = "root@" + name + ".platform.example"
	if err := a.Password.SetPassword(context.Background(), f.ids["email"], "the root's password"); err != nil {
		t.Fatal(err)
	}
	f.platformClient = id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2clients", clientWrite(name+"-platform-app")).obj(t))
	f.cloud = newCloudStand(t, a.Env)
	cloudIDs, first := f.cloud.cloudIDs(t, f.org, f.project, f.admin.group, tok)
	for k, v := range cloudIDs {
		f.ids[k] = v
	}
	f.firstCredential = first
	// Sessions (issue 13): jo consented to the client, and holds a session
	// the organization's provider vouched for.
	rp := sessionClient(t, a.Env, name+"-web")
	ctx := context.Background()
	if err := a.Store.Tx(ctx, func(q *store.Q) error {
		return q.GrantConsent(ctx, fixtureSubject, rp.ClientID, []string{"openid"}, a.OIDCClock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	_, f.ids["sessionID"] = vouchedSessions(t, a.Env, fixtureSubject, f.org, provider)
	// The account operations' person (issue 13): pat, a platform password
	// login (jo's address has acme's own local account), who consented to
	// the client too and holds a session acme's provider vouched for.
	f.personSubject = "pat@" + name + ".platform.example"
	f.personToken = signIn(t, a.Env, rp, f.personSubject).AccessToken
	if err := a.Store.Tx(ctx, func(q *store.Q) error {
		return q.GrantConsent(ctx, f.personSubject, rp.ClientID, []string{"openid"}, a.OIDCClock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	_, f.ids["accountSessionID"] = vouchedSessions(t, a.Env, f.personSubject, f.org, provider)
	// Second factors (issue 14): pat's pending authenticator app.
	enrol, err := a.Env.Accounts.MFA.StartTOTP(ctx, mfa.Account{Subject: f.personSubject}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.ids["factorID"] = enrol.FactorID
	f.ids["subject"], f.ids["consentClientID"] = fixtureSubject, rp.ClientID
	return f
}

// fixtureSubject is the fixture user jo's subject.
const fixtureSubject = "jo@acme.example"

// selfService are the account operations: a person's own sessions and
// consents, which only their own access token may call.
var selfService = map[string]bool{"listAccountSessions": true, "deleteAccountSession": true, "listAccountConsents": true,
	"deleteAccountConsent": true, "getAccountFactors": true, "startAccountTotpEnrolment": true, "confirmAccountFactor": true,
	"removeAccountFactor": true, "regenerateAccountRecoveryCodes": true}

// clientWrite is an OAuth2 client write (issue 13): a confidential client
// with one redirect URI, everything else defaulted.
func clientWrite(name string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name},
		"spec": map[string]any{"redirectURIs": []string{"https://app.example.com/callback"}}}
}

// issuing are the operations that mint tokens or cloud credentials: only
// members of the organization hold them, never the platform administrator
// (see authz.EndpointCloudIdentityTokens).
var issuing = map[string]bool{"issueCloudIdentityToken": true, "issueCloudIdentityCredentials": true, "issueCloudAccountCredentials": true}

// plainBodies are the operations whose body is not {metadata, spec}.
var plainBodies = map[string]bool{"issueCloudIdentityToken": true, "issueCloudIdentityCredentials": true, "validateCloudConnection": true,
	"issueCloudAccountCredentials": true, "inviteLocalAccount": true, "resetLocalAccountPassword": true, "changeAccountPassword": true,
	"startAccountTotpEnrolment": true, "confirmAccountFactor": true, "removeAccountFactor": true, "regenerateAccountRecoveryCodes": true,
	"setOrganizationMfaPolicy": true}

// orgWrite is the fixture organization's body: its name, claiming the
// domain <name>.example.
func (f *fixture) orgWrite() map[string]any {
	return map[string]any{"metadata": md(f.orgName), "spec": map[string]any{"organizationType": "domain", "domain": f.orgName + ".example"}}
}

// tokenFor is who exercises op in the walkers: the platform administrator,
// except for the issuing operations, which need the organization's
// administrator.
func (f *fixture) tokenFor(a *apiEnv, op specOp) string {
	if issuing[op.id] {
		return f.admin.token
	}
	if selfService[op.id] {
		return f.personToken
	}
	return a.AdminToken
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// path fills an operation's path with the fixture's IDs (param), overridden
// by over.
func (f *fixture) path(op specOp, over map[string]string) string {
	return pathParam.ReplaceAllStringFunc(op.path, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := over[name]; ok {
			return v
		}
		return f.param(op, name)
	})
}

// param is the fixture's value of op's path parameter name: system
// provider paths get the system provider, the account operations the
// person's own session.
func (f *fixture) param(op specOp, name string) string {
	switch {
	case name == "providerID" && !strings.Contains(op.path, "{organizationID}"):
		return f.systemProvider
	case name == "sessionID" && selfService[op.id]:
		return f.ids["accountSessionID"]
	case name == "clientID" && selfService[op.id]:
		return f.ids["consentClientID"]
	case name == "clientID" && !strings.Contains(op.path, "{organizationID}"):
		return f.platformClient
	}
	return f.ids[name]
}

// body is a schema-valid request body for op that succeeds on the fixture
// (fresh names, distinct for creates and updates).
func (f *fixture) body(op specOp) map[string]any {
	prefix := "new"
	if strings.HasPrefix(op.id, "update") {
		prefix = "upd"
	}
	switch op.id {
	case "createOrganization":
		return orgWrite("new-org")
	case "updateOrganization":
		return f.orgWrite()
	case "createGroup", "updateGroup":
		return groupWrite(prefix+"-group", []string{f.roleID}, nil, nil)
	case "createUser", "updateUser":
		return userWrite(prefix+"-user", prefix+"@acme.example", "active", nil)
	case "createServiceAccount", "updateServiceAccount":
		return saWrite(prefix+"-sa", nil)
	case "createProject", "updateProject":
		return projectWrite(prefix+"-project", nil)
	case "createOrganizationOauth2Provider", "updateOrganizationOauth2Provider", "createSystemOauth2Provider", "updateSystemOauth2Provider":
		return providerWrite(prefix+"-provider", "c", ptrTo("s"))
	case "createAllocation", "updateAllocation":
		return allocWrite(prefix+"-alloc", item{"gpus", 1, 0})
	case "updateQuotas":
		return quotasWrite("gpus", 100)
	case "createRole", "updateRole":
		return roleWrite(prefix+"-role", allowAll(), allowAll())
	case "updateRolePolicy", "updateRoleAssumeRolePolicy", "updateOrganizationPolicy":
		return allowAll()
	case "assumeRole":
		return map[string]any{"ttl": 60}
	case "verifyOrganizationDomain":
		return map[string]any{"markVerified": true}
	case "updateOrganizationBranding":
		return map[string]any{"displayName": prefix + " branding", "primaryColor": "#123456"}
	case "evaluateOrganizationPolicy":
		return map[string]any{"service": "projects", "operation": "get-project", "roles": []any{map[string]any{"name": "r", "policy": allowAll()}}}
	case "createApiKey":
		return apiKeyWrite(prefix+"-key", f.roleID)
	case "createCloudIdentity", "updateCloudIdentity":
		return f.cloud.identityWrite(prefix + "-identity")
	case "issueCloudIdentityToken", "issueCloudIdentityCredentials":
		return map[string]any{"context": "walker"}
	case "issueCloudAccountCredentials":
		return map[string]any{"permissionSetID": f.ids["accountPermissionSetID"]}
	case "createCredential":
		return credentialWrite(prefix+"-credential", 1)
	case "updateCredential":
		return credentialWrite(prefix+"-credential", 2) // the connection's credential keeps its AWS organization
	case "createCloudConnection":
		return connectionWrite(prefix+"-connection", f.firstCredential)
	case "updateCloudConnection":
		return connectionWrite(prefix+"-connection", f.ids["credentialID"])
	case "validateCloudConnection":
		return map[string]any{"credential": map[string]any{"type": "storedCredential", "credentialID": f.firstCredential}}
	case "createPermissionSet", "updatePermissionSet":
		return permissionSetWrite(prefix+"-set", []string{f.roleID}, allowAll())
	case "createOauth2Client", "updateOauth2Client", "createOrganizationOauth2Client", "updateOrganizationOauth2Client":
		return clientWrite(prefix + "-client")
	case "createAccountAssignments":
		return assign([]map[string]any{ref("user", f.ids["userID"])}, []string{f.ids["permissionSetID"]}, []map[string]any{ref("project", f.otherProject)})
	case "inviteLocalAccount":
		return map[string]any{"email": "new-" + f.ids["email"]}
	case "resetLocalAccountPassword":
		return map[string]any{"email": f.ids["email"]}
	case "changeAccountPassword":
		return map[string]any{"currentPassword": "the current password", "newPassword": "the next password"}
	case "rotateSigningKeys":
		return map[string]any{"algorithm": "ES512"}
	// Second factors (issue 14).
	case "startAccountTotpEnrolment":
		return map[string]any{"name": "phone"}
	case "confirmAccountFactor":
		return map[string]any{"code": "000000"}
	case "removeAccountFactor", "regenerateAccountRecoveryCodes":
		return map[string]any{"password": "the current password"}
	case "setOrganizationMfaPolicy":
		return map[string]any{"mode": "optional"}
	}
	return nil
}

// resourceBody reports whether op's body is a {metadata, spec} resource
// (the generic malformed-body cases apply to it).
func resourceBody(op specOp) bool {
	if plainBodies[op.id] {
		return false
	}
	switch op.id {
	case "updateQuotas", "updateRolePolicy", "updateRoleAssumeRolePolicy", "updateOrganizationPolicy", "assumeRole", "evaluateOrganizationPolicy",
		"createAccountAssignments", "verifyOrganizationDomain", "rotateSigningKeys", "updateOrganizationBranding":
		return false
	}
	return true
}

// malformedBodies are refused bodies of the operations whose body is not a
// resource, by what is wrong with them.
var malformedBodies = map[string]map[string]any{
	"updateQuotas": {
		"malformed JSON": `{"quotas": [`, "empty object": map[string]any{}, "quotas an object": map[string]any{"quotas": map[string]any{}},
		"quantity a string": quotasWrite("gpus", "many"), "kind a number": quotasWrite(3, 1), "no kind": map[string]any{"quotas": []any{map[string]any{"quantity": 1}}},
	},
	"policy": {
		"malformed JSON": `{"defaultServiceStrategy": "allow", `, "empty object": map[string]any{}, "no services": map[string]any{"defaultServiceStrategy": "allow"},
		"unknown strategy":  map[string]any{"defaultServiceStrategy": "maybe", "services": map[string]any{}},
		"services a list":   map[string]any{"defaultServiceStrategy": "allow", "services": []any{}},
		"unknown field":     map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{}, "version": 2},
		"unknown type":      map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"projects": map[string]any{"type": "sometimes"}}},
		"unknown service":   map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"computers": map[string]any{"type": "allow"}}},
		"rule without expr": map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"projects": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow"}}}}},
		"bad CEL":           map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"projects": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "operation ==="}}}}},
		"a string":          `"allow"`,
	},
	"assumeRole": {
		"malformed JSON": `{"ttl": `, "empty object": map[string]any{}, "ttl a string": map[string]any{"ttl": "1h"},
		"ttl zero": map[string]any{"ttl": 0}, "ttl negative": map[string]any{"ttl": -5}, "ttl a fraction": map[string]any{"ttl": 1.5},
		"ttl over the role's maximum": map[string]any{"ttl": 3601}, "a list": "[]",
	},
	"verifyOrganizationDomain": {
		"malformed JSON": `{"markVerified": `, "markVerified a string": map[string]any{"markVerified": "yes"},
		"unknown field": map[string]any{"skipDNS": true}, "a list": "[]", "a string": `"verify"`,
	},
	"updateOrganizationBranding": {
		"malformed JSON": `{"displayName": `, "colour by name": map[string]any{"primaryColor": "red"},
		"CSS in a colour": map[string]any{"primaryColor": "#000000;}*{display:none"}, "unknown field": map[string]any{"css": "body{}"},
		"logo not an image": map[string]any{"logo": "aGVsbG8="}, "a list": "[]",
	},
	"evaluateOrganizationPolicy": {
		"malformed JSON": `{"service": `, "empty object": map[string]any{}, "no operation": map[string]any{"service": "projects", "roles": []any{}},
		"roles an object":     map[string]any{"service": "projects", "operation": "get-project", "roles": map[string]any{}},
		"role without policy": map[string]any{"service": "projects", "operation": "get-project", "roles": []any{map[string]any{"name": "r"}}},
		"bad role policy": map[string]any{"service": "projects", "operation": "get-project", "roles": []any{map[string]any{"name": "r",
			"policy": map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{"projects": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "1 + 1"}}}}}}}},
		"now not a time":         map[string]any{"service": "projects", "operation": "get-project", "roles": []any{}, "now": "yesterday"},
		"unknown principal type": map[string]any{"service": "projects", "operation": "get-project", "principal": map[string]any{"type": "robot", "id": "x"}},
		"unknown operation":      map[string]any{"service": "projects", "operation": "fly", "principal": map[string]any{"type": "serviceAccount", "id": "x"}},
	},
	"createAccountAssignments": {
		"malformed JSON": `{"principals": [`, "empty object": map[string]any{}, "a list": "[]",
		"no targets":             map[string]any{"principals": []any{ref("user", "u")}, "permissionSetIDs": []string{"s"}},
		"no principals":          assign([]map[string]any{}, []string{"s"}, []map[string]any{ref("project", "p")}),
		"no permission sets":     assign([]map[string]any{ref("user", "u")}, []string{}, []map[string]any{ref("project", "p")}),
		"principals an object":   map[string]any{"principals": ref("user", "u"), "permissionSetIDs": []string{"s"}, "targets": []any{ref("project", "p")}},
		"unknown principal type": assign([]map[string]any{ref("robot", "u")}, []string{"s"}, []map[string]any{ref("project", "p")}),
		"undiscovered account":   assign([]map[string]any{ref("user", "u")}, []string{"s"}, []map[string]any{ref("cloudAccount", "123456789012")}),
		"unknown target type":    assign([]map[string]any{ref("user", "u")}, []string{"s"}, []map[string]any{ref("planet", "p")}),
		"principal without id":   assign([]map[string]any{{"type": "user"}}, []string{"s"}, []map[string]any{ref("project", "p")}),
		"empty target id":        assign([]map[string]any{ref("user", "u")}, []string{"s"}, []map[string]any{ref("project", "")}),
		"set ID a number":        map[string]any{"principals": []any{ref("user", "u")}, "permissionSetIDs": []any{7}, "targets": []any{ref("project", "p")}},
		"101 principals": assign(func() []map[string]any {
			var ps []map[string]any
			for range 101 {
				ps = append(ps, ref("user", "u"))
			}
			return ps
		}(), []string{"s"}, []map[string]any{ref("project", "p")}),
	},
}

func init() {
	malformedBodies["rotateSigningKeys"] = map[string]any{
		"malformed JSON": `{"algorithm": `, "trailing garbage": `{}}`, "empty body": "", "JSON null": "null", "an array": "[]",
		"a string": `"RS256"`, "unknown field": map[string]any{"alg": "RS256"}, "algorithm a number": map[string]any{"algorithm": 256},
		"a MAC": map[string]any{"algorithm": "HS256"}, "unsigned": map[string]any{"algorithm": "none"},
		"lower case": map[string]any{"algorithm": "rs256"}, "algorithm null": map[string]any{"algorithm": nil},
	}
	for _, op := range []string{"updateRolePolicy", "updateRoleAssumeRolePolicy", "updateOrganizationPolicy"} {
		malformedBodies[op] = malformedBodies["policy"]
	}
	// The cloud operations' plain bodies: every field optional for the
	// issuing operations, credential required for validate.
	for op := range plainBodies {
		malformedBodies[op] = map[string]any{
			"malformed JSON": `{"context": `, "trailing garbage": `{}}`, "empty body": "", "JSON null": "null", "an array": "[]",
			"a string": `"context"`, "unknown field": map[string]any{"contxt": "x"}, "context a number": map[string]any{"context": 5},
			"context with a space": map[string]any{"context": "a b"}, "retry policy a string": map[string]any{"retryPolicy": "fast"},
			"credential a string": map[string]any{"credential": "stored"},
		}
	}
}

// success is the status of op when it succeeds.
func success(op specOp) int {
	switch {
	case op.id == "createOrganization" || op.id == "createProject":
		return http.StatusAccepted
	case strings.HasPrefix(op.id, "create"):
		return http.StatusCreated
	case linkOperations[op.id], op.id == "startAccountTotpEnrolment", op.id == "regenerateAccountRecoveryCodes":
		// A link, a pending factor or a set of codes handed out: 201.
		return http.StatusCreated
	}
	return http.StatusOK
}

// linkOperations hand out a password link (issue 13): 201, like a creation.
var linkOperations = map[string]bool{"inviteUser": true, "resetUserPassword": true, "inviteLocalAccount": true, "resetLocalAccountPassword": true}

// clone deep-copies a JSON body through encoding/json.
func clone(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(v)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// send sends a request for op to path.
func (a *apiEnv) send(t testing.TB, op specOp, path, token string, body any, hdrs ...header) *resp {
	t.Helper()
	return a.call(t, op.method, path, token, body, hdrs...)
}

// TestUnknownRoutes: paths outside the API are 404, known paths with an
// unsupported method are 405, both as JSON errors and before authentication.
func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		for _, p := range []string{"/", "/nope", "/api", "/api/v1", "/api/v1/", "/api/v1/nope", "/api/v2/organizations",
			"/api/v1/organizations/" + f.org + "/nope", "/api/v1/organizations/" + f.org + "/groups/" + f.admin.group + "/members",
			"/api/v1/organizations/" + f.org + "/projects/" + f.project + "/allocations/" + f.allocation + "/x",
			"/api/v1/acl/extra", "/api/v1/oauth2providers/" + f.systemProvider + "/rotate"} {
			for _, tok := range []string{"", a.AdminToken} {
				wantError(t, a.call(t, "GET", p, tok, nil), http.StatusNotFound, "not_found")
				wantError(t, a.call(t, "POST", p, tok, "{}"), http.StatusNotFound, "not_found")
			}
		}

		before := a.snapshot(t, f.org)
		byPath := map[string]map[string]bool{}
		for _, op := range specOperations(t) {
			if byPath[op.path] == nil {
				byPath[op.path] = map[string]bool{}
			}
			byPath[op.path][op.method] = true
		}
		router, err := specRouter()
		if err != nil {
			t.Fatal(err)
		}
		// routes reports whether some operation serves method on the URL
		// path p: a literal segment may also match another operation's
		// template (…/cloudconnections/validate is also
		// …/cloudconnections/{cloudConnectionID}).
		routes := func(method, p string) bool {
			_, _, err := router.FindRoute(httptest.NewRequest(method, p, nil))
			return err == nil
		}
		checked := 0
		for path, methods := range byPath {
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
				p := f.path(specOp{path: path}, nil)
				if methods[m] || routes(m, p) {
					continue
				}
				var allow []string
				for _, am := range []string{"GET", "POST", "PUT", "DELETE"} {
					if routes(am, p) {
						allow = append(allow, am)
					}
				}
				for _, tok := range []string{"", a.AdminToken} {
					r := a.call(t, m, p, tok, "{}")
					wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
					// RFC 9110 §15.5.6: a 405 lists the allowed methods.
					if got := strings.Split(r.Header.Get("Allow"), ", "); !sameSet(got, allow) {
						t.Errorf("%s: Allow %q, want %v", r, r.Header.Get("Allow"), allow)
					}
				}
				checked++
			}
		}
		if checked < 40 {
			t.Errorf("only %d wrong-method cases", checked)
		}
		a.unchanged(t, before, "wrong methods", f.org)
	})
}

// TestAuthentication: every operation refuses a missing, malformed,
// unknown, deleted or expired bearer token with 401 before anything else.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		gone := a.addMember(t, f.org, "gone", "administrator")
		a.admin(t, http.StatusOK, "DELETE", orgPath(f.org, "serviceaccounts", gone.sa), nil)
		rotated := a.addMember(t, f.org, "rotated", "administrator")
		a.admin(t, http.StatusOK, "POST", orgPath(f.org, "serviceaccounts", rotated.sa, "rotate"), nil)

		credentials := map[string]string{
			"no header":                       "",
			"basic scheme":                    "Basic YWRtaW46YWRtaW4=",
			"scheme only":                     "Bearer",
			"blank token":                     "Bearer    ",
			"valid token, no scheme":          a.AdminToken,
			"valid token, other scheme":       "Token " + a.AdminToken,
			"unknown service account token":   "Bearer ghsa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"not a Gatehouse token":           "Bearer eyJhbGciOiJub25lIn0.e30.",
			"token with trailing garbage":     "Bearer " + a.AdminToken + "x",
			"deleted service account's token": "Bearer " + gone.token,
			"token replaced by a rotation":    "Bearer " + rotated.token,
		}
		before := a.snapshot(t, f.org)
		for _, op := range specOperations(t) {
			path := f.path(op, nil)
			for name, cred := range credentials {
				r := a.send(t, op, path, "", f.body(op), header{"Authorization", cred})
				if r.Status != http.StatusUnauthorized {
					t.Errorf("%s with %s: %s, want 401", op.id, name, r)
					continue
				}
				wantError(t, r, http.StatusUnauthorized, "access_denied")
				// RFC 9110 §15.5.2: a 401 names the scheme to use.
				if c := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer") {
					t.Errorf("%s with %s: WWW-Authenticate %q, want a Bearer challenge", op.id, name, c)
				}
			}
		}
		a.unchanged(t, before, "unauthenticated requests", f.org)

		// The scheme is case-insensitive (RFC 9110).
		a.must(t, http.StatusOK, "GET", "/api/v1/acl", "", nil, header{"Authorization", "bearer " + a.AdminToken})

		// Expired tokens: the platform administrator's and a tenant's, on
		// every operation.
		a.Clock.Advance(tokenTTL)
		for _, op := range specOperations(t) {
			path := f.path(op, nil)
			for _, tok := range []string{a.AdminToken, f.admin.token} {
				wantError(t, a.send(t, op, path, tok, f.body(op)), http.StatusUnauthorized, "access_denied")
			}
		}
		a.Clock.Advance(-time.Second)
		a.must(t, http.StatusOK, "GET", orgPath(f.org), a.AdminToken, nil)
		diffState(t, before, a.snapshot(t, f.org), "requests with expired tokens")
	})
}

// TestRequestValidation: every operation with a body refuses malformed
// JSON, wrong types, missing required fields and invalid names (400), other
// content types (415) and bodies over 1 MiB (413), and changes nothing.
func TestRequestValidation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		type mutation struct {
			name string
			// mutate returns the body to send, or nil to skip the case.
			mutate func(b map[string]any) any
		}
		bad := []mutation{
			{"malformed JSON", func(map[string]any) any { return `{"metadata": {"name": "x"}, "spec": {` }},
			{"trailing garbage", func(b map[string]any) any { j, _ := json.Marshal(b); return string(j) + "}" }},
			{"empty body", func(map[string]any) any { return "" }},
			{"JSON null", func(map[string]any) any { return "null" }},
			{"an array", func(map[string]any) any { return "[]" }},
			{"a string", func(map[string]any) any { return `"metadata"` }},
			{"empty object", func(map[string]any) any { return map[string]any{} }},
			{"metadata a string", func(b map[string]any) any { b["metadata"] = "acme"; return b }},
			{"spec a string", func(b map[string]any) any { b["spec"] = "acme"; return b }},
			{"no spec", func(b map[string]any) any { delete(b, "spec"); return b }},
			{"no metadata", func(b map[string]any) any {
				if _, ok := b["spec"].(map[string]any)["subject"]; ok {
					return nil // a user's metadata is optional
				}
				delete(b, "metadata")
				return b
			}},
			{"spec fields of the wrong type", func(b map[string]any) any {
				spec := b["spec"].(map[string]any)
				for k, v := range spec {
					if _, ok := v.(string); ok {
						spec[k] = 12
					} else {
						spec[k] = "text"
					}
				}
				return b
			}},
		}
		meta := func(name string, f func(m map[string]any)) mutation {
			return mutation{name, func(b map[string]any) any { f(b["metadata"].(map[string]any)); return b }}
		}
		for n, v := range map[string]any{"a number": 42, "empty": "", "with a space": "two words", "with a leading dash": "-acme",
			"with a trailing dot": "acme.", "with a slash": "a/b", "non-ASCII": "ac\u00e9me", "of 64 characters": strings.Repeat("a", 64),
			"of 100 characters": strings.Repeat("Ab", 50)} {
			bad = append(bad, meta("name "+n, func(m map[string]any) { m["name"] = v }))
		}
		bad = append(bad,
			meta("no name", func(m map[string]any) { delete(m, "name") }),
			meta("description over 1024", func(m map[string]any) { m["description"] = strings.Repeat("d", 1025) }),
			meta("description a number", func(m map[string]any) { m["description"] = 7 }),
			meta("65 tags", func(m map[string]any) { m["tags"] = tags(65, "v") }),
			meta("tag value over 255", func(m map[string]any) { m["tags"] = tags(1, strings.Repeat("v", 256)) }),
			meta("tag without value", func(m map[string]any) { m["tags"] = []any{map[string]any{"name": "n"}} }),
			meta("tags an object", func(m map[string]any) { m["tags"] = map[string]any{"n": "v"} }),
		)

		before := a.snapshot(t, f.org, f.otherOrg)
		cases := 0
		for _, op := range specOperations(t) {
			if !op.hasBody {
				continue
			}
			path := f.path(op, nil)
			valid := f.body(op)
			if valid == nil {
				t.Fatalf("no body for %s", op.id)
			}
			try := func(body any, hdrs ...header) *resp {
				t.Helper()
				cases++
				return a.send(t, op, path, f.tokenFor(a, op), body, hdrs...)
			}
			if !resourceBody(op) {
				for what, body := range malformedBodies[op.id] {
					r := try(body)
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s with %s: %s, want 400", op.id, what, r)
						continue
					}
					wantError(t, r, http.StatusBadRequest, "invalid_request")
				}
			} else {
				for _, c := range bad {
					body := c.mutate(clone(t, valid))
					if body == nil {
						continue
					}
					r := try(body)
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s with %s: %s, want 400", op.id, c.name, r)
						continue
					}
					wantError(t, r, http.StatusBadRequest, "invalid_request")
				}
			}
			for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", ""} {
				j, _ := json.Marshal(valid)
				r := try(j, header{"Content-Type", ct})
				if r.Status != http.StatusUnsupportedMediaType {
					t.Errorf("%s with Content-Type %q: %s, want 415", op.id, ct, r)
					continue
				}
				wantError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
			}
			// Just over 1 MiB, in an otherwise valid body.
			huge := clone(t, valid)
			if !resourceBody(op) {
				huge["padding"] = strings.Repeat("x", 1<<20)
			} else {
				huge["metadata"].(map[string]any)["description"] = strings.Repeat("x", 1<<20)
			}
			wantError(t, try(huge), http.StatusRequestEntityTooLarge, "invalid_request")
		}
		if cases < 25*30 {
			t.Errorf("only %d validation cases", cases)
		}
		a.unchanged(t, before, "invalid request bodies", f.org, f.otherOrg)

		// Controls: the valid bodies go through; JSON with a charset is
		// JSON; a 63-character name is a name; unknown fields are ignored.
		for _, op := range specOperations(t) {
			switch op.id {
			case "changeAccountPassword":
				continue // a person's own: oidc.TestAccountSelfService
			case "confirmAccountFactor", "removeAccountFactor", "regenerateAccountRecoveryCodes":
				continue // need a code of the person's app: oidc.TestAccountFactorsAPI
			}
			if op.hasBody {
				a.must(t, success(op), op.method, f.path(op, nil), f.tokenFor(a, op), f.body(op))
			}
		}
		long := strings.Repeat("a", 61) + "-z"
		b := groupWrite(long, nil, nil, nil)
		b["metadata"].(map[string]any)["tags"] = tags(64, strings.Repeat("v", 255))
		b["metadata"].(map[string]any)["description"] = strings.Repeat("d", 1024)
		b["unknown"] = map[string]any{"nested": []any{1, "two"}}
		b["spec"].(map[string]any)["futureField"] = true
		j, _ := json.Marshal(b)
		g := a.must(t, http.StatusCreated, "POST", orgPath(f.org, "groups"), a.AdminToken, j, header{"Content-Type", "Application/JSON; charset=utf-8"}).obj(t)
		if str(g, "metadata", "name") != long || len(get(g, "metadata", "tags").([]any)) != 64 || has(g, "unknown") {
			t.Errorf("group created with edge-case metadata reads back %v", g["metadata"])
		}
		// A body of exactly 1 MiB is not too large.
		padded := groupWrite("padded", nil, nil, nil)
		padded["padding"] = ""
		j, _ = json.Marshal(padded)
		padded["padding"] = strings.Repeat("p", 1<<20-len(j))
		if j, _ = json.Marshal(padded); len(j) != 1<<20 {
			t.Fatalf("padded body is %d bytes", len(j))
		}
		a.must(t, http.StatusCreated, "POST", orgPath(f.org, "groups"), a.AdminToken, j)
	})
}

func tags(n int, value string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"name": "t" + strings.Repeat("x", i%3), "value": value}
	}
	return out
}

// TestNotFound: with every path parameter of every operation in turn set to
// an unknown ID, the platform administrator gets 404 and nothing changes.
func TestNotFound(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		before := a.snapshot(t, f.org, f.otherOrg)
		cases := 0
		for _, op := range specOperations(t) {
			for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
				param := m[1]
				if issuing[op.id] && param == "organizationID" {
					// Only the organization's members may issue: in an
					// unknown organization nobody is one (403, see
					// TestPermissions), so there is nothing to find.
					continue
				}
				for _, unknown := range []string{"no-such-id", "00000000-0000-7000-8000-999999999999"} {
					path := f.path(op, map[string]string{param: unknown})
					r := a.send(t, op, path, f.tokenFor(a, op), f.body(op))
					cases++
					if r.Status != http.StatusNotFound {
						t.Errorf("%s with an unknown %s: %s, want 404", op.id, param, r)
						continue
					}
					wantError(t, r, http.StatusNotFound, "not_found")
				}
			}
		}
		// An allocation of another project of the organization is not in
		// this one.
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			var body any
			if method == "PUT" {
				body = allocWrite("alloc", item{"gpus", 1, 0})
			}
			wantError(t, a.call(t, method, orgPath(f.org, "projects", f.project, "allocations", f.otherAllocation), a.AdminToken, body), http.StatusNotFound, "not_found")
		}
		if cases < 60 {
			t.Errorf("only %d not-found cases", cases)
		}
		a.unchanged(t, before, "requests for unknown resources", f.org, f.otherOrg)
		for _, table := range []string{"service_accounts", "oauth2_providers", "groups", "users", "projects", "allocations", "quotas",
			"cloud_identities", "cloud_credentials", "cloud_connections", "cloud_external_ids"} {
			var n int
			if err := a.Store.DB().QueryRow("SELECT COUNT(*) FROM " + table + " WHERE organization_id IN ('no-such-id', '00000000-0000-7000-8000-999999999999')").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows written into %s of an unknown organization", n, table)
			}
		}
	})
}

// TestPermissions walks every operation as an administrator, a reader and
// a user-role member of the organization. Refused operations get 403 and
// change nothing; permitted ones get past authorization (a read succeeds, a
// write with an empty body fails validation, a delete of an unknown ID is
// not found).
func TestPermissions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		denied := map[string]map[string]bool{
			// A person's sessions across organizations are the platform's;
			// the account operations a person's own (service accounts have
			// no sessions).
			"administrator": set("createOrganization", "deleteOrganization", "updateQuotas",
				"createSystemOauth2Provider", "updateSystemOauth2Provider", "deleteSystemOauth2Provider", "listAuditEvents",
				"listSubjectSessions", "deleteSubjectSession", "deleteSubjectSessions",
				"listAccountSessions", "deleteAccountSession", "listAccountConsents", "deleteAccountConsent",
				// The platform's local accounts; the account operations are
				// people's, and the members here are service accounts.
				"listLocalAccounts", "inviteLocalAccount", "resetLocalAccountPassword", "deleteLocalAccount",
				"getAccount", "changeAccountPassword", "listSigningKeys", "rotateSigningKeys",
				// Second factors (issue 14): a person's own; anyone's, the platform's.
				"getAccountFactors", "startAccountTotpEnrolment", "confirmAccountFactor", "removeAccountFactor",
				"regenerateAccountRecoveryCodes", "resetSubjectFactors",
				// Platform OAuth2 clients (issue 13).
				"listOauth2Clients", "createOauth2Client", "getOauth2Client", "updateOauth2Client", "deleteOauth2Client",
				"rotateOauth2ClientSecret"),
			// The audit log, the credential store, cloud connections and
			// users' sessions are administrators'.
			"reader": set("listOrganizationAuditEvents", "listAuditEvents",
				"listCredentials", "getCredential", "listCloudConnections", "getCloudConnection",
				"listUserSessions", "listSubjectSessions", "listAccountSessions", "listAccountConsents",
				"listLocalAccounts", "getAccount", "listSigningKeys", "listOauth2Clients", "getOauth2Client", "getAccountFactors"),
			"user": {},
		}
		userMay := set("getGlobalAcl", "listSystemOauth2Providers", "listOrganizations", "getOrganization", "getOrganizationAcl", "getOrganizationBranding",
			"listRoles", "getQuotas", "listProjects", "getProject", "updateProject",
			"createAllocation", "getAllocation", "updateAllocation", "deleteAllocation",
			"listOperations", "getRole", "assumeRole",
			"listCloudIdentities", "getCloudIdentity", "issueCloudIdentityToken", "issueCloudIdentityCredentials",
			"listPermissionSets", "getPermissionSet", "listAccountAssignments", "getAccountAssignment",
			"listUserAccountAssignments", "listServiceAccountAccountAssignments", "getOrganizationMfaPolicy")
		// A reader's POSTs that change nothing: the simulator (a read of
		// the policies) and assuming a role (every member may ask; the
		// role's assume-role policy decides).
		readerMay := set("evaluateOrganizationPolicy", "assumeRole")
		ops := specOperations(t)
		for _, op := range ops {
			if op.method != "GET" && !readerMay[op.id] {
				denied["reader"][op.id] = true
			}
			if !userMay[op.id] {
				denied["user"][op.id] = true
			}
		}
		members := map[string]*member{"administrator": f.admin, "reader": f.reader, "user": f.user}

		before := a.snapshot(t, f.org, f.otherOrg)
		for role, m := range members {
			for _, op := range ops {
				if denied[role][op.id] {
					r := a.send(t, op, f.path(op, nil), m.token, f.body(op))
					if r.Status != http.StatusForbidden {
						t.Errorf("%s may not %s: %s, want 403", role, op.id, r)
						continue
					}
					wantError(t, r, http.StatusForbidden, "forbidden")
					continue
				}
				switch {
				case op.method == "GET":
					a.must(t, http.StatusOK, op.method, f.path(op, nil), m.token, nil)
				case op.id == "resetOrganizationPolicy":
					// No body and no resource ID: resetting no guardrail
					// changes nothing.
					a.must(t, http.StatusOK, op.method, f.path(op, nil), m.token, nil)
				case op.hasBody:
					// An invalid body: empty is valid for the issuing ones.
					invalid := map[string]any{}
					if issuing[op.id] {
						invalid["context"] = 5
					}
					if op.id == "verifyOrganizationDomain" {
						// acme's domain is verified (jo's local
						// account needs it): an empty body returns it.
						invalid["markVerified"] = "yes"
					}
					if op.id == "updateOrganizationBranding" {
						// Every field is optional: {} is valid.
						invalid["primaryColor"] = "red"
					}
					wantError(t, a.send(t, op, f.path(op, nil), m.token, invalid), http.StatusBadRequest, "invalid_request")
				default:
					// delete and rotate: the last path parameter unknown.
					params := pathParam.FindAllStringSubmatch(op.path, -1)
					last := params[len(params)-1][1]
					wantError(t, a.send(t, op, f.path(op, map[string]string{last: "no-such-id"}), m.token, nil), http.StatusNotFound, "not_found")
				}
			}
		}
		// The user role reaches only its own projects.
		for _, op := range ops {
			if !strings.Contains(op.path, "{projectID}") {
				continue
			}
			path := f.path(op, map[string]string{"projectID": f.otherProject, "allocationID": f.otherAllocation})
			wantError(t, a.send(t, op, path, f.user.token, f.body(op)), http.StatusForbidden, "forbidden")
		}
		a.unchanged(t, before, "refused and invalid requests of organization members", f.org, f.otherOrg)
	})
}

func set(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, it := range items {
		m[it] = true
	}
	return m
}
