package cloud_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestAccountAssignmentCredentials: an account assignment of a permission
// set on an AWS account that a cloud connection discovered lets the
// principal (here through its group) obtain credentials of the account's
// role gatehouse/<set name> for the set's session duration, through the
// real aws-sdk-go-v2 STS client and a stand-in STS that checks the token
// against the role's trust policy; nobody else gets them, and deleting the
// assignment, the account or the connection takes the right away.
func TestAccountAssignmentCredentials(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a, b := w.a, w.b
		key := w.storeAccessKey(a, "management", orgKeyID, orgKeySecret)
		conn := w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": stored(key)}).Map(t)["metadata"].(map[string]any)["id"].(string)
		outsider := w.e.AddMember(a.admin.OrgID, "org-a-outsider", "user")

		newSet := func(name string, seconds int) string {
			return w.e.Must(http.StatusCreated, "POST", a.base()+"/permissionsets", a.admin.Token, map[string]any{
				"metadata": map[string]any{"name": name}, "spec": map[string]any{"roleIDs": []string{}, "sessionDuration": seconds}}).
				Map(t)["metadata"].(map[string]any)["id"].(string)
		}
		deployer, auditor := newSet("Deployer", 7200), newSet("Auditor", 3600)
		// The role the prod account's administrators created for Deployer:
		// it trusts organization A's issuer for Deployer's assignments on
		// this account only.
		prov := w.aws.AddOIDCProvider(memberOne, a.issuer, "sts.amazonaws.com")
		w.aws.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + memberOne + ":role/gatehouse/Deployer", TrustedProvider: prov.ARN(),
			AudEquals: "sts.amazonaws.com", SubLike: cloud.AccountSubjectPrefix(a.admin.OrgID, memberOne, deployer) + "*", MaxSessionDuration: 43200})
		// Auditor's role on prod trusts Deployer's subjects only (a
		// misconfiguration): the token's sub binds the permission set.
		w.aws.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + memberOne + ":role/gatehouse/Auditor", TrustedProvider: prov.ARN(),
			AudEquals: "sts.amazonaws.com", SubLike: cloud.AccountSubjectPrefix(a.admin.OrgID, memberOne, deployer) + "*"})

		creds := func(o orgWorld, token, account, set string) *testenv.Response {
			t.Helper()
			return w.e.Do("POST", o.base()+"/cloudaccounts/"+account+"/credentials", token, map[string]any{"permissionSetID": set})
		}
		assignGroup := func(set, account string) string {
			t.Helper()
			r := w.e.Must(http.StatusCreated, "POST", a.base()+"/accountassignments", a.admin.Token, map[string]any{
				"principals": []any{map[string]any{"type": "group", "id": a.member.GroupID}}, "permissionSetIDs": []string{set},
				"targets": []any{map[string]any{"type": "cloudAccount", "id": account}}})
			var items []map[string]any
			r.JSON(t, &struct{ Items *[]map[string]any }{&items})
			if len(items) != 1 {
				t.Fatalf("assignment create: %s", r.Body)
			}
			if st := items[0]["status"].(map[string]any); st["targetName"] != "prod" && account == memberOne {
				t.Errorf("target name %v, want the account's name", st["targetName"])
			}
			return items[0]["metadata"].(map[string]any)["id"].(string)
		}

		// No assignment yet.
		if r := creds(a, a.member.Token, memberOne, deployer); r.Status != http.StatusForbidden {
			t.Fatalf("without an assignment: %d %s", r.Status, r.Body)
		}
		assignment := assignGroup(deployer, memberOne)

		start := time.Now()
		r := creds(a, a.member.Token, memberOne, deployer)
		if r.Status != http.StatusOK {
			t.Fatalf("credentials through the group's assignment: %d %s", r.Status, r.Body)
		}
		got := r.Map(t)["aws"].(map[string]any)
		if arn, _ := got["assumedRoleARN"].(string); !strings.Contains(arn, memberOne) || !strings.Contains(arn, "Deployer") {
			t.Errorf("assumed role %q, want gatehouse/Deployer in %s", arn, memberOne)
		}
		exp, err := time.Parse(time.RFC3339, got["expiration"].(string))
		if err != nil {
			t.Fatal(err)
		}
		// The session lasts the permission set's 7200 s (AWS's default
		// would be 3600).
		if d := exp.Sub(start); d < 7200*time.Second-time.Minute || d > 7200*time.Second+time.Minute {
			t.Errorf("session of %v, want the permission set's 2h", d)
		}
		if got["secretAccessKey"] == "" || got["sessionToken"] == "" {
			t.Errorf("credentials incomplete: %v", got)
		}

		for _, c := range []struct {
			name   string
			r      *testenv.Response
			status int
		}{
			{"a member without the assignment", creds(a, outsider.Token, memberOne, deployer), http.StatusForbidden},
			{"a set not assigned on the account", creds(a, a.member.Token, memberOne, auditor), http.StatusForbidden},
			{"the assigned set on another account", creds(a, a.member.Token, memberTwo, deployer), http.StatusForbidden},
			{"an unknown permission set", creds(a, a.member.Token, memberOne, "no-such-set"), http.StatusBadRequest},
			{"an account no connection discovered", creds(a, a.member.Token, accountLone, deployer), http.StatusNotFound},
			{"not an account ID", creds(a, a.member.Token, "prod", deployer), http.StatusNotFound},
			{"another organization's member", creds(a, b.member.Token, memberOne, deployer), http.StatusForbidden},
			{"through another organization", creds(b, b.member.Token, memberOne, deployer), http.StatusNotFound},
			{"no permission set", w.e.Do("POST", a.base()+"/cloudaccounts/"+memberOne+"/credentials", a.member.Token, map[string]any{}), http.StatusBadRequest},
		} {
			if c.r.Status != c.status {
				t.Errorf("%s: %d, want %d; %s", c.name, c.r.Status, c.status, c.r.Body)
			}
		}
		// Organization B cannot assign organization A's account.
		if r := w.e.Do("POST", b.base()+"/accountassignments", b.admin.Token, map[string]any{
			"principals": []any{map[string]any{"type": "group", "id": b.member.GroupID}}, "permissionSetIDs": []string{deployer},
			"targets": []any{map[string]any{"type": "cloudAccount", "id": memberOne}}}); r.Status != http.StatusBadRequest {
			t.Errorf("B assigning A's account: %d %s", r.Status, r.Body)
		}

		// An assignment whose role does not trust it: the trust policy
		// refuses the token (its sub names Auditor), a typed cloud error.
		assignGroup(auditor, memberOne)
		wantCloudError(t, creds(a, a.member.Token, memberOne, auditor), http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")

		// What the member can reach lists the account.
		reach := w.e.Must(http.StatusOK, "GET", a.base()+"/serviceaccounts/"+a.member.ServiceAccountID+"/accountassignments?targetType=cloudAccount",
			a.admin.Token, nil).Map(t)
		if reach["count"] != float64(2) {
			t.Errorf("effective cloud account assignments: %v", reach)
		}

		// The audit log has the issue, not the keys.
		events := w.e.Must(http.StatusOK, "GET", a.base()+"/auditevents?resourceType=cloudaccountcredentials", a.admin.Token, nil)
		if !strings.Contains(string(events.Body), memberOne) || strings.Contains(string(events.Body), got["secretAccessKey"].(string)) ||
			strings.Contains(string(events.Body), got["sessionToken"].(string)) {
			t.Errorf("audit events: %s", events.Body)
		}

		// Deleting the assignment takes the right away at once.
		w.e.Must(http.StatusOK, "DELETE", a.base()+"/accountassignments/"+assignment, a.admin.Token, nil)
		if r := creds(a, a.member.Token, memberOne, deployer); r.Status != http.StatusForbidden {
			t.Errorf("after the assignment was deleted: %d %s", r.Status, r.Body)
		}

		// An account that left the AWS organization goes, with its
		// assignments, when the connection is next updated.
		again := assignGroup(deployer, memberOne)
		staging := assignGroup(deployer, memberTwo)
		w.aws.RemoveAccount(memberOne)
		w.e.Must(http.StatusOK, "PUT", a.connections()+"/"+conn, a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": stored(key)})
		w.e.Must(http.StatusNotFound, "GET", a.base()+"/accountassignments/"+again, a.admin.Token, nil)
		w.e.Must(http.StatusOK, "GET", a.base()+"/accountassignments/"+staging, a.admin.Token, nil)
		if r := creds(a, a.member.Token, memberOne, deployer); r.Status != http.StatusNotFound {
			t.Errorf("credentials for an account that left: %d %s", r.Status, r.Body)
		}

		// Deleting the connection deletes its accounts' assignments.
		w.e.Must(http.StatusOK, "DELETE", a.connections()+"/"+conn, a.admin.Token, nil)
		w.e.Must(http.StatusNotFound, "GET", a.base()+"/accountassignments/"+staging, a.admin.Token, nil)
		left := w.e.Must(http.StatusOK, "GET", a.base()+"/accountassignments", a.admin.Token, nil).Map(t)
		if left["count"] != float64(0) {
			t.Errorf("assignments after the connection was deleted: %v", left)
		}
		var accounts int
		if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_accounts").Scan(&accounts); err != nil {
			t.Fatal(err)
		}
		if accounts != 0 {
			t.Errorf("%d cloud accounts left after the connection was deleted", accounts)
		}
	})
}
