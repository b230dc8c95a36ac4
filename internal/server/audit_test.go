package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/mfa"
)

// The audit log over HTTP (issue 4).

// auditCase is, for one write operation, what makes it fail on a fresh
// fixture (over: path parameters to replace; body: the body, nil for the
// fixture's) and the status of that failure.
type auditCase struct {
	over   map[string]string
	body   any
	status int
	// okOver overrides path parameters of the successful request.
	okOver map[string]string
	// okBody, when set, is the body of the successful request; prepare,
	// when set, runs before it (what it needs that the fixture lacks).
	okBody  any
	prepare func(t *testing.T, a *apiEnv, f *fixture)
	// okID is the resource ID of the event when the path does not end in it.
	okID string
}

// withDomainUser makes the fixture's user one an invitation may be for: an
// organization owns local accounts only in its verified domain, so the
// organization proves its domain and the user is ann there (jo's address,
// jo@acme.example, is acme's).
func withDomainUser(t *testing.T, a *apiEnv, f *fixture) {
	t.Helper()
	a.VerifyDomain(f.org)
	f.ids["userID"] = id(a.must(t, http.StatusCreated, "POST", orgPath(f.org, "users"), a.AdminToken,
		userWrite("ann", "ann@"+f.orgName+".example", "active", nil)).obj(t))
}

// withLocalAccount gives the fixture's user (withDomainUser) a local account
// the organization owns (invited, the link followed).
func withLocalAccount(t *testing.T, a *apiEnv, f *fixture) {
	t.Helper()
	withDomainUser(t, a, f)
	link := a.must(t, http.StatusCreated, "POST", orgPath(f.org, "users", f.ids["userID"], "invitation"), a.AdminToken, nil).obj(t)
	completeLink(t, a.Env, link, "jo's long password")
}

// auditedElsewhere are writes this walk cannot make, with the test that
// checks their audit event: changing one's own password needs a person's
// OpenID Connect token, which only a login gives.
var auditedElsewhere = map[string]string{
	"changeAccountPassword": "oidc.TestAccountSelfService",
	// A person's second factors (issue 14): confirming, removing and
	// replacing recovery codes need codes of the person's authenticator.
	"startAccountTotpEnrolment":      "oidc.TestAccountFactorsAPI",
	"confirmAccountFactor":           "oidc.TestAccountFactorsAPI",
	"removeAccountFactor":            "oidc.TestAccountFactorsAPI",
	"regenerateAccountRecoveryCodes": "oidc.TestAccountFactorsAPI",
}

// auditFailures says how each write operation of the catalogue fails. Most
// fail inside their transaction (a duplicate name, a dangling reference, a
// quota, an unknown ID), after part of the work was done: nothing of it, and
// no event, may remain.
func auditFailures(f *fixture) map[string]auditCase {
	unknown := "00000000-0000-7000-8000-999999999999"
	badRef := func(b map[string]any) map[string]any {
		b["spec"].(map[string]any)["groupIDs"] = []string{unknown}
		return b
	}
	return map[string]auditCase{
		"createOrganization":               {body: orgWrite(f.orgName), status: http.StatusConflict},
		"updateOrganization":               {body: map[string]any{"metadata": md(f.orgName), "spec": map[string]any{"organizationType": "domain"}}, status: http.StatusBadRequest},
		"deleteOrganization":               {over: map[string]string{"organizationID": unknown}, status: http.StatusNotFound},
		"createGroup":                      {body: groupWrite(f.orgName+"-administrator", nil, nil, nil), status: http.StatusConflict},
		"updateGroup":                      {body: groupWrite("g", nil, []string{unknown}, nil), status: http.StatusBadRequest},
		"deleteGroup":                      {over: map[string]string{"groupid": unknown}, status: http.StatusNotFound},
		"createSystemOauth2Provider":       {body: providerWrite(f.orgName+"-google", "g", nil), status: http.StatusConflict},
		"updateSystemOauth2Provider":       {over: map[string]string{"providerID": unknown}, status: http.StatusNotFound},
		"deleteSystemOauth2Provider":       {over: map[string]string{"providerID": unknown}, status: http.StatusNotFound},
		"createOrganizationOauth2Provider": {body: providerWrite("idp", "c", nil), status: http.StatusConflict},
		"updateOrganizationOauth2Provider": {over: map[string]string{"providerID": unknown}, status: http.StatusNotFound},
		"deleteOrganizationOauth2Provider": {over: map[string]string{"providerID": unknown}, status: http.StatusNotFound},
		"createProject":                    {body: projectWrite("mine", nil), status: http.StatusConflict},
		"updateProject":                    {body: badRef(projectWrite("mine", nil)), status: http.StatusBadRequest},
		"deleteProject":                    {over: map[string]string{"projectID": unknown}, status: http.StatusNotFound},
		"createAllocation":                 {body: allocWrite("big", item{"gpus", 1000, 0}), status: http.StatusBadRequest},
		"updateAllocation":                 {body: allocWrite("alloc", item{"gpus", 1000, 0}), status: http.StatusBadRequest},
		"deleteAllocation":                 {over: map[string]string{"allocationID": unknown}, status: http.StatusNotFound},
		"updateQuotas":                     {body: quotasWrite("gpus", 0), status: http.StatusBadRequest},
		"createServiceAccount":             {body: saWrite("readers", nil), status: http.StatusConflict},
		"updateServiceAccount":             {body: badRef(saWrite("readers", nil)), status: http.StatusBadRequest},
		"deleteServiceAccount":             {over: map[string]string{"serviceAccountID": unknown}, status: http.StatusNotFound},
		"rotateServiceAccount":             {over: map[string]string{"serviceAccountID": unknown}, status: http.StatusNotFound},
		"createUser":                       {body: userWrite("jo2", "jo@acme.example", "active", nil), status: http.StatusConflict},
		"updateUser":                       {body: userWrite("jo", "jo@acme.example", "active", []string{unknown}), status: http.StatusBadRequest},
		"deleteUser":                       {over: map[string]string{"userID": unknown}, status: http.StatusNotFound},
		"createRole":                       {body: roleWrite("custom", allowAll(), nil), status: http.StatusConflict},
		"updateRole":                       {over: map[string]string{"roleID": unknown}, status: http.StatusNotFound},
		"deleteRole":                       {over: map[string]string{"roleID": unknown}, status: http.StatusNotFound},
		"updateRolePolicy":                 {over: map[string]string{"roleID": unknown}, status: http.StatusNotFound},
		"updateRoleAssumeRolePolicy":       {over: map[string]string{"roleID": unknown}, status: http.StatusNotFound},
		"assumeRole":                       {body: map[string]any{"ttl": 4000}, status: http.StatusBadRequest},
		"updateOrganizationPolicy":         {body: rules("deny", "projects", "allow", "1"), status: http.StatusBadRequest},
		"resetOrganizationPolicy":          {over: map[string]string{"organizationID": unknown}, status: http.StatusNotFound},
		"verifyOrganizationDomain":         {over: map[string]string{"organizationID": unknown}, status: http.StatusNotFound},
		// Branding (issue 14): a colour that is not #rrggbb; removing needs
		// a branding to remove.
		"updateOrganizationBranding": {body: map[string]any{"primaryColor": "red"}, status: http.StatusBadRequest},
		"deleteOrganizationBranding": {status: http.StatusNotFound, prepare: func(t *testing.T, a *apiEnv, f *fixture) {
			a.admin(t, http.StatusOK, "PUT", orgPath(f.org, "branding"), map[string]any{"displayName": "Branded"})
		}},
		"createApiKey": {body: apiKeyWrite("key", f.roleID), status: http.StatusConflict},
		"deleteApiKey": {over: map[string]string{"apiKeyID": unknown}, status: http.StatusNotFound},
		// Cloud credential federation (issue 5). Issuing tokens and
		// credentials and validating a connection store nothing but are
		// recorded like writes; deleting a credential succeeds on the one
		// no connection uses.
		"createCloudIdentity":           {body: f.cloud.identityWrite("walker"), status: http.StatusConflict},
		"updateCloudIdentity":           {over: map[string]string{"cloudIdentityID": unknown}, status: http.StatusNotFound},
		"deleteCloudIdentity":           {over: map[string]string{"cloudIdentityID": unknown}, status: http.StatusNotFound},
		"issueCloudIdentityToken":       {over: map[string]string{"cloudIdentityID": unknown}, status: http.StatusNotFound},
		"issueCloudIdentityCredentials": {over: map[string]string{"cloudIdentityID": unknown}, status: http.StatusNotFound},
		"createCredential":              {body: credentialWrite("first", 1), status: http.StatusConflict},
		"updateCredential":              {over: map[string]string{"credentialID": unknown}, status: http.StatusNotFound},
		"deleteCredential": {over: map[string]string{"credentialID": f.ids["credentialID"]}, status: http.StatusBadRequest,
			okOver: map[string]string{"credentialID": f.firstCredential}},
		"createCloudConnection": {body: connectionWrite("walkers", f.ids["credentialID"]), status: http.StatusConflict},
		"updateCloudConnection": {over: map[string]string{"cloudConnectionID": unknown}, status: http.StatusNotFound},
		"deleteCloudConnection": {over: map[string]string{"cloudConnectionID": unknown}, status: http.StatusNotFound},
		"validateCloudConnection": {body: map[string]any{"credential": map[string]any{"type": "storedCredential", "credentialID": unknown}},
			status: http.StatusBadRequest},
		"createPermissionSet": {body: permissionSetWrite("ops", nil, nil), status: http.StatusConflict},
		"updatePermissionSet": {over: map[string]string{"permissionSetID": unknown}, status: http.StatusNotFound},
		"deletePermissionSet": {over: map[string]string{"permissionSetID": f.assignedSet}, status: http.StatusConflict},
		"createAccountAssignments": {body: assign([]map[string]any{ref("user", f.ids["userID"])}, []string{f.assignedSet},
			[]map[string]any{ref("project", f.project)}), status: http.StatusConflict},
		"deleteAccountAssignment":      {over: map[string]string{"accountAssignmentID": unknown}, status: http.StatusNotFound},
		"issueCloudAccountCredentials": {over: map[string]string{"accountID": "999999999999"}, status: http.StatusNotFound},
		// Sessions (issue 13): an unknown session, client or user.
		"deleteAccountSession":  {over: map[string]string{"sessionID": unknownSession}, status: http.StatusNotFound},
		"deleteAccountConsent":  {over: map[string]string{"clientID": "no-such-client"}, status: http.StatusNotFound},
		"deleteUserSession":     {over: map[string]string{"sessionID": unknownSession}, status: http.StatusNotFound},
		"deleteUserSessions":    {over: map[string]string{"userID": unknown}, status: http.StatusNotFound},
		"deleteSubjectSession":  {over: map[string]string{"sessionID": unknownSession}, status: http.StatusNotFound},
		"deleteSubjectSessions": {over: map[string]string{"subject": "nobody"}, status: http.StatusNotFound},
		// Local accounts (issue 13). jo has none until prepare (jo's address
		// is every fixture's: the account blocks later fixtures' invitations); the
		// platform's account is f.ids["email"].
		"inviteUser":         {over: map[string]string{"userID": unknown}, status: http.StatusNotFound, prepare: withDomainUser},
		"resetUserPassword":  {status: http.StatusNotFound, prepare: withLocalAccount},
		"deleteUserPassword": {status: http.StatusNotFound, prepare: withLocalAccount},
		"inviteLocalAccount": {body: map[string]any{"email": f.ids["email"]}, status: http.StatusConflict,
			okBody: map[string]any{"email": "new-" + f.ids["email"]}, okID: "new-" + f.ids["email"]},
		"resetLocalAccountPassword": {body: map[string]any{"email": "nobody@platform.example"}, status: http.StatusNotFound,
			okBody: map[string]any{"email": f.ids["email"]}, okID: f.ids["email"]},
		"deleteLocalAccount": {over: map[string]string{"email": "nobody@platform.example"}, status: http.StatusNotFound},
		// Second factors (issue 14): a user without a local account of the
		// organization, a person without factors; a mode that is none.
		"resetUserFactors": {status: http.StatusNotFound, prepare: withLocalAccount},
		"resetSubjectFactors": {over: map[string]string{"subject": "nobody@platform.example"}, status: http.StatusNotFound,
			prepare: func(t *testing.T, a *apiEnv, f *fixture) {
				if _, err := a.Env.Accounts.MFA.StartTOTP(context.Background(), mfa.Account{Subject: fixtureSubject}, ""); err != nil {
					t.Fatal(err)
				}
			}},
		"setOrganizationMfaPolicy": {body: map[string]any{"mode": "sometimes"}, status: http.StatusBadRequest,
			okBody: map[string]any{"mode": "required"}},
		// Signing keys (issues 13 and 17).
		"rotateSigningKeys": {body: map[string]any{"algorithm": "PS256"}, status: http.StatusBadRequest},
		// OAuth2 clients (issue 13): a taken client_id; another owner's
		// client is not found (the platform's from an organization path).
		"createOauth2Client": {body: map[string]any{"metadata": map[string]any{"name": "dup", "id": f.platformClient},
			"spec": map[string]any{"redirectURIs": []string{"https://app.example.com/cb"}}}, status: http.StatusConflict},
		"updateOauth2Client":                   {over: map[string]string{"clientID": f.ids["clientID"]}, status: http.StatusNotFound},
		"deleteOauth2Client":                   {over: map[string]string{"clientID": f.ids["clientID"]}, status: http.StatusNotFound},
		"rotateOauth2ClientSecret":             {over: map[string]string{"clientID": unknown}, status: http.StatusNotFound},
		"createOrganizationOauth2Client":       {body: map[string]any{"metadata": map[string]any{"name": "bad"}, "spec": map[string]any{"redirectURIs": []string{"http://app.example.com/cb"}}}, status: http.StatusBadRequest},
		"updateOrganizationOauth2Client":       {over: map[string]string{"clientID": f.platformClient}, status: http.StatusNotFound},
		"deleteOrganizationOauth2Client":       {over: map[string]string{"clientID": f.platformClient}, status: http.StatusNotFound},
		"rotateOrganizationOauth2ClientSecret": {over: map[string]string{"clientID": unknown}, status: http.StatusNotFound},
	}
}

// auditResourceType is the resource type an operation's events carry: its
// policy service, except the guardrail reset (an organizations:update that
// changes the policies).
func auditResourceType(opID string) string {
	switch opID {
	case "resetOrganizationPolicy":
		return "policies"
	case "deleteAccountConsent": // a sessions operation on a consent
		return "consents"
	case "updateOrganizationBranding", "deleteOrganizationBranding": // an organizations operation on its branding
		return "branding"
	}
	return authz.Catalogue[opID].Service()
}

// eventsOf reads the audit events a request left, from the table itself.
func (a *apiEnv) eventsOf(t testing.TB, r *resp) []map[string]any {
	t.Helper()
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Fatalf("%s: no X-Request-Id", r)
	}
	rows, err := a.Store.DB().Query(`SELECT organization_id, actor, operation_id, resource_type, resource_id, before_state, after_state
		FROM audit_events WHERE request_id = $1`, reqID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var org, actor, op, typ, id, before, after string
		if err := rows.Scan(&org, &actor, &op, &typ, &id, &before, &after); err != nil {
			t.Fatal(err)
		}
		var act, b, af any
		_ = json.Unmarshal([]byte(actor), &act)
		_ = json.Unmarshal([]byte(before), &b)
		_ = json.Unmarshal([]byte(after), &af)
		out = append(out, map[string]any{"org": org, "actor": act, "op": op, "type": typ, "id": id, "before": b, "after": af})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryWriteIsAudited walks every write operation of the catalogue
// (create, update, delete) on a fresh fixture: a successful request leaves
// exactly one event (who, what, which resource, before and after), a failed
// one leaves none. A write operation without a case here fails the test.
func TestEveryWriteIsAudited(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		walked := 0
		for _, op := range specOperations(t) {
			if !authz.Catalogue[op.id].Writes() {
				continue
			}
			walked++
			// (The name must not end in "secret", which the scan below
			// looks for: rotate...Secret.)
			f := newFixtureNamed(t, a, "org-"+strings.TrimSuffix(strings.ToLower(op.id), "secret"))
			if by, ok := auditedElsewhere[op.id]; ok {
				t.Logf("%s: audited in %s", op.id, by)
				continue
			}
			fail, ok := auditFailures(f)[op.id]
			if !ok {
				t.Errorf("%s writes but has no audit case: add one to auditFailures", op.id)
				continue
			}
			body := fail.body
			if body == nil {
				if b := f.body(op); b != nil {
					body = b
				}
			}
			token := f.tokenFor(a, op)
			r := a.send(t, op, f.path(op, fail.over), token, body)
			if r.Status != fail.status {
				t.Errorf("%s, failing: %s, want %d", op.id, r, fail.status)
			}
			if evs := a.eventsOf(t, r); len(evs) != 0 {
				t.Errorf("%s failed (%d) but left %d audit events: %v", op.id, r.Status, len(evs), evs)
			}

			var okBody any
			if b := f.body(op); b != nil {
				okBody = b
			}
			if fail.okBody != nil {
				okBody = fail.okBody
			}
			if fail.prepare != nil {
				fail.prepare(t, a, f)
			}
			r = a.send(t, op, f.path(op, fail.okOver), token, okBody)
			if r.Status/100 != 2 {
				t.Errorf("%s: %s, want success", op.id, r)
				continue
			}
			evs := a.eventsOf(t, r)
			if len(evs) != 1 {
				t.Errorf("%s succeeded and left %d audit events, want exactly 1: %v", op.id, len(evs), evs)
				continue
			}
			ev := evs[0]
			wantOrg := f.org
			if !strings.Contains(op.path, "{organizationID}") {
				wantOrg = ""
			}
			wantID := lastParam(f, op)
			if v, ok := fail.okOver[lastParamName(op)]; ok {
				wantID = v
			}
			if fail.okID != "" {
				wantID = fail.okID
			}
			switch {
			case op.id == "createAccountAssignments": // the first of those it made
				wantID = id(items(t, r)[0])
			case strings.HasPrefix(op.id, "create"):
				wantID = id(r.obj(t))
			}
			if ev["op"] != op.id || ev["type"] != auditResourceType(op.id) || ev["id"] != wantID || ev["org"] != wantOrg {
				t.Errorf("%s: event {op:%v type:%v id:%v org:%v}, want {op:%s type:%s id:%s org:%q}",
					op.id, ev["op"], ev["type"], ev["id"], ev["org"], op.id, auditResourceType(op.id), wantID, wantOrg)
			}
			wantActor := map[string]any{"kind": "serviceaccount", "id": a.adminID(t), "subject": adminSubject}
			switch {
			case token == f.personToken:
				// The account operations, as the person.
				wantActor = map[string]any{"kind": "user", "id": f.personSubject, "subject": f.personSubject}
			case token != a.AdminToken:
				// The issuing operations, as the organization's administrator.
				wantActor = map[string]any{"kind": "serviceaccount", "id": f.admin.sa,
					"subject": "serviceaccount:" + f.orgName + "-administrator"}
			}
			if !reflect.DeepEqual(ev["actor"], wantActor) {
				t.Errorf("%s: actor %v, want %v", op.id, ev["actor"], wantActor)
			}
			creates, deletes := op.method == "POST" && strings.HasPrefix(op.id, "create"), op.method == "DELETE"
			switch {
			case auditedActions[op.id] && (ev["before"] != nil || ev["after"] == nil):
				t.Errorf("%s: an action has before %v, after %v", op.id, ev["before"], ev["after"])
			case auditedActions[op.id]:
			case creates && (ev["before"] != nil || ev["after"] == nil):
				t.Errorf("%s: a creation has before %v, after %v", op.id, ev["before"], ev["after"])
			case deletes && (ev["before"] == nil || ev["after"] != nil):
				t.Errorf("%s: a deletion has before %v, after %v", op.id, ev["before"], ev["after"])
			case !creates && !deletes && op.id != "assumeRole" && (ev["before"] == nil || ev["after"] == nil):
				t.Errorf("%s: an update has before %v, after %v", op.id, ev["before"], ev["after"])
			}
		}
		if walked < 41 {
			t.Errorf("only %d write operations walked", walked)
		}
		// No event holds a secret: no token, no hash, no sealed secret.
		rows, err := a.Store.DB().Query("SELECT before_state || after_state || actor FROM audit_events")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"ghsa_", "ghak_", "ghcs_", "Hash", "hash\"", "Secret", "secret\"", "v1:", "accessToken", a.AdminToken} {
				if strings.Contains(s, bad) {
					t.Errorf("an audit event holds %q: %s", bad, s)
				}
			}
		}
	})
}

// unknownSession is a well-formed session ID no session has.
const unknownSession = "0123456789abcdef0123456789abcdef"

// auditedActions are operations that store nothing but are audited: their
// event has no before state, and its after state says what was done.
var auditedActions = map[string]bool{"issueCloudIdentityToken": true, "issueCloudIdentityCredentials": true, "validateCloudConnection": true,
	"issueCloudAccountCredentials": true,
	// A password link handed out: the event records the link (never its
	// token), nothing before it.
	"inviteUser": true, "resetUserPassword": true, "inviteLocalAccount": true, "resetLocalAccountPassword": true}

// lastParamName is the name of op's last path parameter, "" for none.
func lastParamName(op specOp) string {
	params := pathParam.FindAllStringSubmatch(op.path, -1)
	if len(params) == 0 {
		return ""
	}
	return params[len(params)-1][1]
}

// lastParam is the fixture's ID for the last path parameter of op.
func lastParam(f *fixture, op specOp) string {
	params := pathParam.FindAllStringSubmatch(op.path, -1)
	if len(params) == 0 {
		return ""
	}
	return f.param(op, params[len(params)-1][1])
}

// adminID is the platform administrator service account's ID.
func (a *apiEnv) adminID(t testing.TB) string {
	t.Helper()
	var id string
	if err := a.Store.DB().QueryRow("SELECT id FROM service_accounts WHERE organization_id = '' AND name = 'platform-administrator'").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAuditLogAPI: who reads which events, the filters and paging, and the
// events of a deleted organization.
func TestAuditLogAPI(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		other := a.tenant(t, "other", "administrator")
		list := orgPath(acme.org, "auditevents")

		g := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), acme.token, groupWrite("g1", nil, nil, nil)).obj(t)
		a.Clock.Advance(time.Hour)
		mid := a.Clock.Now()
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "groups", id(g)), acme.token, groupWrite("g1", nil, nil, []string{acme.sa}))
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "groups", id(g)), acme.token, nil)

		events := a.must(t, http.StatusOK, "GET", list, acme.token, nil).arr(t)
		var ops []string
		for _, e := range events {
			ops = append(ops, str(e, "operationId"))
			if str(e, "organizationId") != acme.org {
				t.Errorf("event of another organization listed: %v", e)
			}
		}
		// The fixture's writes (by the platform administrator), then ours.
		wantTail := []string{"createGroup", "updateGroup", "deleteGroup"}
		if len(ops) < 3 || !reflect.DeepEqual(ops[len(ops)-3:], wantTail) {
			t.Errorf("operations %v, want them to end with %v", ops, wantTail)
		}
		byGroup := a.must(t, http.StatusOK, "GET", list+"?resourceType=groups&resourceId="+id(g), acme.token, nil).arr(t)
		if len(byGroup) != 3 {
			t.Fatalf("events of group %s: %v", id(g), byGroup)
		}
		upd := byGroup[1]
		if get(upd, "before", "serviceAccountIDs") != nil || !reflect.DeepEqual(strs(upd, "after", "serviceAccountIDs"), []string{acme.sa}) {
			t.Errorf("update before/after: %v / %v", upd["before"], upd["after"])
		}
		if str(upd, "actor", "subject") != "serviceaccount:acme-administrator" || str(upd, "actor", "id") != acme.sa || str(upd, "requestId") == "" {
			t.Errorf("actor %v", upd["actor"])
		}
		if since := a.must(t, http.StatusOK, "GET", list+"?resourceId="+id(g)+"&since="+mid.Format(time.RFC3339), acme.token, nil).arr(t); len(since) != 2 {
			t.Errorf("events since %v: %d, want 2", mid, len(since))
		}
		if until := a.must(t, http.StatusOK, "GET", list+"?resourceId="+id(g)+"&until="+mid.Format(time.RFC3339), acme.token, nil).arr(t); len(until) != 1 {
			t.Errorf("events until %v: %d, want 1", mid, len(until))
		}
		if mine := a.must(t, http.StatusOK, "GET", list+"?actor="+acme.sa, acme.token, nil).arr(t); len(mine) != 3 {
			t.Errorf("events of the administrator: %d, want 3", len(mine))
		}
		var paged []string
		for token := ""; ; {
			q := "?limit=2"
			if token != "" {
				q += "&pageToken=" + token
			}
			r := a.must(t, http.StatusOK, "GET", list+q, acme.token, nil)
			for _, e := range r.arr(t) {
				paged = append(paged, str(e, "operationId"))
			}
			if token = r.Header.Get("X-Next-Page-Token"); token == "" {
				break
			}
		}
		if !reflect.DeepEqual(paged, ops) {
			t.Errorf("pages %v, want %v", paged, ops)
		}

		// Only administrators read the log; no one reads another
		// organization's; the platform list is the platform's.
		wantError(t, a.call(t, "GET", list, reader.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", list, other.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", "/api/v1/auditevents", acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", list+"?since=yesterday", acme.token, nil), http.StatusBadRequest, "invalid_request")
		platform := a.must(t, http.StatusOK, "GET", "/api/v1/auditevents?resourceType=organizations&resourceId="+acme.org, a.AdminToken, nil).arr(t)
		if len(platform) != 1 || str(platform[0], "operationId") != "createOrganization" || str(platform[0], "organizationId") != "" {
			t.Errorf("platform events %v", platform)
		}

		// Deleting an organization keeps its events; the platform
		// administrator reads them with organizationId.
		a.admin(t, http.StatusAccepted, "DELETE", orgPath(acme.org), nil)
		kept := a.must(t, http.StatusOK, "GET", "/api/v1/auditevents?organizationId="+acme.org, a.AdminToken, nil).arr(t)
		if len(kept) != len(ops)+1 || str(kept[len(kept)-1], "operationId") != "deleteOrganization" {
			t.Errorf("events of the deleted organization: %d, last %v", len(kept), kept[len(kept)-1])
		}
	})
}
