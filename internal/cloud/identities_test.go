package cloud_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestCloudIdentities: create fills the defaults and the trust status,
// writes are validated (nothing stored on failure), names are unique per
// project, and an identity that a connection uses cannot be deleted or turned
// into another provider.
func TestCloudIdentities(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		tok := a.admin.Token

		id := w.createIdentity(a, "ci", map[string]any{"provider": "aws", "aws": map[string]any{"roleARN": ciRole}})
		got := w.e.Must(http.StatusOK, "GET", a.identities()+"/"+id, a.member.Token, nil).Map(t)
		spec, status := got["spec"].(map[string]any), got["status"].(map[string]any)
		aws := spec["aws"].(map[string]any)
		if aws["sessionDuration"] != float64(3600) || aws["region"] != "us-east-1" || aws["sessionTags"] != false {
			t.Errorf("AWS defaults not filled: %v", aws)
		}
		if status["issuer"] != a.issuer || status["audience"] != "sts.amazonaws.com" ||
			status["subjectPrefix"] != "org:"+a.admin.OrgID+":project:"+a.project+":" {
			t.Errorf("status %v", status)
		}
		if md := got["metadata"].(map[string]any); md["projectId"] != a.project || md["organizationId"] != a.admin.OrgID {
			t.Errorf("metadata %v", md)
		}
		g := w.createIdentity(a, "gcp", map[string]any{"provider": "gcp", "gcp": map[string]any{"projectNumber": gcpProject,
			"workloadIdentityPoolID": gcpPool, "providerID": gcpProvider}})
		got = w.e.Must(http.StatusOK, "GET", a.identities()+"/"+g, tok, nil).Map(t)
		wantAud := "//iam.googleapis.com/projects/" + gcpProject + "/locations/global/workloadIdentityPools/" + gcpPool + "/providers/" + gcpProvider
		if got["status"].(map[string]any)["audience"] != wantAud {
			t.Errorf("GCP audience %v, want %s", got["status"], wantAud)
		}
		if sc := got["spec"].(map[string]any)["gcp"].(map[string]any)["scopes"].([]any); len(sc) != 1 || sc[0] != "https://www.googleapis.com/auth/cloud-platform" {
			t.Errorf("GCP default scopes %v", sc)
		}

		count := func() int {
			var n int
			if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_identities").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		awsSpec := func(kv ...any) map[string]any {
			m := map[string]any{"roleARN": ciRole}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return map[string]any{"provider": "aws", "aws": m}
		}
		gcpSpec := func(kv ...any) map[string]any {
			m := map[string]any{"projectNumber": gcpProject, "workloadIdentityPoolID": gcpPool, "providerID": gcpProvider}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return map[string]any{"provider": "gcp", "gcp": m}
		}
		for name, spec := range map[string]map[string]any{
			"no provider member":           {"provider": "aws"},
			"both members":                 {"provider": "aws", "aws": map[string]any{"roleARN": ciRole}, "gcp": gcpSpec()["gcp"]},
			"unknown provider":             {"provider": "azure"},
			"malformed role ARN":           awsSpec("roleARN", "arn:aws:iam::123:role/x"),
			"a user ARN":                   awsSpec("roleARN", "arn:aws:iam::123456789012:user/x"),
			"session too short":            awsSpec("sessionDuration", 899),
			"session too long":             awsSpec("sessionDuration", 43201),
			"bad region":                   awsSpec("region", "Mars"),
			"http endpoint":                awsSpec("stsEndpoint", "http://sts.amazonaws.com"),
			"endpoint with a query":        awsSpec("stsEndpoint", "https://sts.amazonaws.com/?x=1"),
			"unknown AWS field":            awsSpec("externalID", "x"),
			"project ID, not number":       gcpSpec("projectNumber", "acme-prod"),
			"bad pool":                     gcpSpec("workloadIdentityPoolID", "Pool!"),
			"bad provider":                 gcpSpec("providerID", "p"),
			"not a service account":        gcpSpec("serviceAccountEmail", "jo@gmail.com"),
			"http scope":                   gcpSpec("scopes", []any{"http://www.googleapis.com/auth/cloud-platform"}),
			"lifetime too long":            gcpSpec("serviceAccountEmail", gcpSA, "lifetime", 43201),
			"lifetime without SA":          gcpSpec("lifetime", 600),
			"http IAM endpoint":            gcpSpec("iamCredentialsEndpoint", "http://iamcredentials.googleapis.com"),
			"audience with a space":        {"provider": "aws", "aws": map[string]any{"roleARN": ciRole}, "audience": "a b"},
			"retry policy of unknown type": {"provider": "aws", "aws": map[string]any{"roleARN": ciRole}, "retryPolicy": policy("Exponential", map[string]any{"retryCount": 1})},
			"retry policy missing param":   {"provider": "aws", "aws": map[string]any{"roleARN": ciRole}, "retryPolicy": policy("EqualJitterBackoffStrategy", map[string]any{"baseDelay": 1, "retryCount": 1})},
		} {
			r := w.e.Do("POST", a.identities(), tok, map[string]any{"metadata": map[string]any{"name": "bad"}, "spec": spec})
			if r.Status != http.StatusBadRequest || r.Map(t)["error"] != "invalid_request" {
				t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
			}
			r = w.e.Do("PUT", a.identities()+"/"+id, tok, map[string]any{"metadata": map[string]any{"name": "ci"}, "spec": spec})
			if r.Status != http.StatusBadRequest {
				t.Errorf("update with %s: %d %s, want 400", name, r.Status, r.Body)
			}
		}
		if n := count(); n != before {
			t.Errorf("invalid writes stored %d identities", n-before)
		}
		if after := w.e.Must(http.StatusOK, "GET", a.identities()+"/"+id, tok, nil); !strings.Contains(string(after.Body), `"roleARN":"`+ciRole+`"`) {
			t.Errorf("an invalid update changed the identity: %s", after.Body)
		}

		// Names are unique per project; another project may reuse one.
		w.e.Must(http.StatusConflict, "POST", a.identities(), tok, map[string]any{"metadata": map[string]any{"name": "ci"}, "spec": awsSpec()})
		other := w.otherProject(a)
		w.createIdentity(orgWorld{admin: a.admin, project: other}, "ci", awsSpec())
		w.e.Must(http.StatusNotFound, "POST", a.base()+"/projects/no-such-project/cloudidentities", tok, map[string]any{"metadata": map[string]any{"name": "x"}, "spec": awsSpec()})
		w.e.Must(http.StatusNotFound, "GET", a.base()+"/projects/no-such-project/cloudidentities", tok, nil)
		// The identity of one project is not found through another.
		w.e.Must(http.StatusNotFound, "GET", a.base()+"/projects/"+other+"/cloudidentities/"+id, tok, nil)

		// Update, list with paging.
		upd := w.e.Must(http.StatusOK, "PUT", a.identities()+"/"+id, tok, map[string]any{"metadata": map[string]any{"name": "ci-renamed", "description": "deploys"},
			"spec": awsSpec("sessionDuration", 1800)}).Map(t)
		if upd["metadata"].(map[string]any)["name"] != "ci-renamed" || upd["spec"].(map[string]any)["aws"].(map[string]any)["sessionDuration"] != float64(1800) {
			t.Errorf("update: %v", upd)
		}
		page := w.e.Must(http.StatusOK, "GET", a.identities()+"?limit=1", tok, nil)
		if next := page.Header.Get("X-Next-Page-Token"); next == "" {
			t.Error("no next page token with two identities and limit 1")
		} else if rest := w.e.Must(http.StatusOK, "GET", a.identities()+"?limit=1&pageToken="+next, tok, nil); !strings.Contains(string(rest.Body), g) {
			t.Errorf("second page %s", rest.Body)
		}

		// In use by a connection: no delete, no change of provider.
		fed := w.awsIdentity(a, "org-reader", fedOrgRole, nil)
		w.e.Must(http.StatusCreated, "POST", a.base()+"/cloudconnections", tok, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": map[string]any{"credential": map[string]any{"type": "federated", "projectID": a.project, "cloudIdentityID": fed}}})
		w.e.Must(http.StatusBadRequest, "DELETE", a.identities()+"/"+fed, tok, nil)
		w.e.Must(http.StatusBadRequest, "PUT", a.identities()+"/"+fed, tok, map[string]any{"metadata": map[string]any{"name": "org-reader"}, "spec": gcpSpec()})
		w.e.Must(http.StatusOK, "DELETE", a.identities()+"/"+g, tok, nil)
		w.e.Must(http.StatusNotFound, "GET", a.identities()+"/"+g, tok, nil)

		// Deleting a project deletes its identities.
		w.e.Must(http.StatusAccepted, "DELETE", a.base()+"/projects/"+other, tok, nil)
		var n int
		if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_identities WHERE project_id = $1", other).Scan(&n); err != nil || n != 0 {
			t.Errorf("identities of a deleted project: %d (%v)", n, err)
		}
	})
}
