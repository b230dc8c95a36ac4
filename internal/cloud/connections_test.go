package cloud_test

import (
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func (o orgWorld) credentialsPath() string { return o.base() + "/credentials" }
func (o orgWorld) connections() string     { return o.base() + "/cloudconnections" }

// storeAccessKey stores an access key credential and returns its ID.
func (w *world) storeAccessKey(o orgWorld, name, keyID, secret string) string {
	w.t.Helper()
	r := w.e.Must(http.StatusCreated, "POST", o.credentialsPath(), o.admin.Token, map[string]any{"metadata": map[string]any{"name": name},
		"spec": map[string]any{"type": "awsAccessKey", "awsAccessKey": map[string]any{"accessKeyID": keyID, "secretAccessKey": secret}}}).Map(w.t)
	return r["metadata"].(map[string]any)["id"].(string)
}

func (w *world) validate(o orgWorld, body map[string]any) *testenv.Response {
	w.t.Helper()
	return w.e.Do("POST", o.connections()+"/validate", o.admin.Token, body)
}

func stored(id string) map[string]any {
	return map[string]any{"credential": map[string]any{"type": "storedCredential", "credentialID": id}}
}

// TestCredentialStore: secrets are write-only and sealed, the external ID
// is Gatehouse's, one per organization, and a credential in use cannot go.
func TestCredentialStore(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		id := w.storeAccessKey(a, "management", orgKeyID, orgKeySecret)
		get := w.e.Must(http.StatusOK, "GET", a.credentialsPath()+"/"+id, a.admin.Token, nil)
		list := w.e.Must(http.StatusOK, "GET", a.credentialsPath(), a.admin.Token, nil)
		for _, r := range []*testenv.Response{get, list} {
			if strings.Contains(string(r.Body), orgKeySecret) || strings.Contains(string(r.Body), "secretAccessKey") {
				t.Errorf("a read returned the secret: %s", r.Body)
			}
			if !strings.Contains(string(r.Body), `"hasSecret":true`) || !strings.Contains(string(r.Body), orgKeyID) {
				t.Errorf("a read lacks the key ID or hasSecret: %s", r.Body)
			}
		}
		var sealed string
		if err := w.e.Store.DB().QueryRow("SELECT secret FROM cloud_credentials WHERE id = $1", id).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if sealed == "" || strings.Contains(sealed, orgKeySecret) || !strings.HasPrefix(sealed, "v1:") {
			t.Errorf("the stored secret is not sealed: %q", sealed)
		}

		// An update without the secret keeps it (same key ID only).
		upd := func(keyID string, secret *string) *testenv.Response {
			k := map[string]any{"accessKeyID": keyID}
			if secret != nil {
				k["secretAccessKey"] = *secret
			}
			return w.e.Do("PUT", a.credentialsPath()+"/"+id, a.admin.Token, map[string]any{"metadata": map[string]any{"name": "management"},
				"spec": map[string]any{"type": "awsAccessKey", "awsAccessKey": k}})
		}
		if r := upd(orgKeyID, nil); r.Status != http.StatusOK {
			t.Fatalf("update keeping the secret: %d %s", r.Status, r.Body)
		}
		if r := w.validate(a, stored(id)); r.Status != http.StatusOK {
			t.Fatalf("the kept secret no longer works: %d %s", r.Status, r.Body)
		}
		wantCloudError(t, upd("AKIANEWKEYWITHOUTSEC", nil), http.StatusBadRequest, cloud.ErrInvalidRequest, "secretAccessKey is required")

		for name, spec := range map[string]map[string]any{
			"malformed key ID":            {"type": "awsAccessKey", "awsAccessKey": map[string]any{"accessKeyID": "lowercase", "secretAccessKey": "x"}},
			"access key without a secret": {"type": "awsAccessKey", "awsAccessKey": map[string]any{"accessKeyID": "AKIAABCDEFGHIJKLMNOP"}},
			"secret with whitespace":      {"type": "awsAccessKey", "awsAccessKey": map[string]any{"accessKeyID": "AKIAABCDEFGHIJKLMNOP", "secretAccessKey": "a b"}},
			"both members":                {"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole}, "awsAccessKey": map[string]any{"accessKeyID": "AKIAABCDEFGHIJKLMNOP"}},
			"missing member":              {"type": "awsAssumeRole"},
			"malformed role ARN":          {"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": "arn:aws:iam::12:user/x"}},
			"external ID chosen":          {"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole, "externalID": "mine"}},
		} {
			r := w.e.Do("POST", a.credentialsPath(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "bad"}, "spec": spec})
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
			}
		}

		// The external ID: generated, shown, stable, one per organization.
		role := w.e.Must(http.StatusCreated, "POST", a.credentialsPath(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "role"},
			"spec": map[string]any{"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole}}}).Map(t)
		ext := role["status"].(map[string]any)["externalID"].(string)
		if !strings.HasPrefix(ext, "gatehouse-") || len(ext) != len("gatehouse-")+32 {
			t.Errorf("external ID %q", ext)
		}
		again := w.e.Must(http.StatusCreated, "POST", a.credentialsPath(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "role2"},
			"spec": map[string]any{"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole}}}).Map(t)
		bRole := w.e.Must(http.StatusCreated, "POST", w.b.credentialsPath(), w.b.admin.Token, map[string]any{"metadata": map[string]any{"name": "role"},
			"spec": map[string]any{"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole}}}).Map(t)
		if again["status"].(map[string]any)["externalID"] != ext || bRole["status"].(map[string]any)["externalID"] == ext {
			t.Errorf("external IDs: A %s and %v, B %v; want one per organization", ext, again["status"], bRole["status"])
		}

		// Deleting a credential a connection uses is refused.
		w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": stored(id)})
		r := w.e.Do("DELETE", a.credentialsPath()+"/"+id, a.admin.Token, nil)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "acme") {
			t.Errorf("deleting a credential in use: %d %s", r.Status, r.Body)
		}
		w.e.Must(http.StatusOK, "DELETE", a.credentialsPath()+"/"+again["metadata"].(map[string]any)["id"].(string), a.admin.Token, nil)

		// Deleting an organization deletes its credentials, external ID and
		// workload issuer keys; its issuer is gone.
		b := w.b
		w.e.Must(http.StatusOK, "GET", "/oidc/organizations/"+b.admin.OrgID+"/jwks", "", nil)
		w.e.Must(http.StatusAccepted, "DELETE", b.base(), w.e.AdminToken, nil)
		for table, column := range map[string]string{"cloud_credentials": "organization_id", "cloud_external_ids": "organization_id", "signing_keys": "scope"} {
			var n int
			if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM "+table+" WHERE "+column+" = $1", b.admin.OrgID).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s of the deleted organization: %d rows (%v)", table, n, err)
			}
		}
		w.e.Must(http.StatusNotFound, "GET", "/oidc/organizations/"+b.admin.OrgID+"/jwks", "", nil)
	})
}

// TestValidate: the seed's validate, with every errorType produced by the
// fault that causes it.
func TestValidate(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		key := w.storeAccessKey(a, "management", orgKeyID, orgKeySecret)
		ext, err := w.e.Cloud.ExternalID(t.Context(), a.admin.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		w.externalIDRole(ext)
		fedID := w.awsIdentity(a, "org-reader", fedOrgRole, nil)
		wantOrg := map[string]any{"organizationID": "o-aaaaaaaaaa", "organizationARN": "arn:aws:organizations::" + accountA + ":organization/o-aaaaaaaaaa",
			"managementAccountID": accountA, "managementAccountARN": "arn:aws:organizations::" + accountA + ":account/o-aaaaaaaaaa/" + accountA,
			"managementAccountEmail": "aws-root@acme.example"}
		roleCred := w.e.Must(http.StatusCreated, "POST", a.credentialsPath(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "role"},
			"spec": map[string]any{"type": "awsAssumeRole", "awsAssumeRole": map[string]any{"roleARN": orgRole}}}).Map(t)["metadata"].(map[string]any)["id"].(string)

		for name, body := range map[string]map[string]any{
			"stored access key":          stored(key),
			"stored role":                stored(roleCred),
			"role ARN and external ID":   {"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}},
			"federated cloud identity":   {"credential": map[string]any{"type": "federated", "projectID": a.project, "cloudIdentityID": fedID}},
			"built-in access node named": {"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "accessNodes": []any{map[string]any{"id": 1, "name": "local", "accessNodeType": "SERVER"}}},
		} {
			t.Run("valid: "+name, func(t *testing.T) {
				r := w.validate(a, body)
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				if got := r.Map(t)["organization"].(map[string]any); !equalMaps(got, wantOrg) {
					t.Errorf("organization %v, want %v", got, wantOrg)
				}
			})
		}

		t.Run("wrong external ID", func(t *testing.T) {
			w.externalIDRole("gatehouse-someone-else")
			defer w.externalIDRole(ext)
			wantCloudError(t, w.validate(a, map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}}),
				http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
		})
		t.Run("organization B cannot use A's role", func(t *testing.T) {
			// B's external ID differs, so the role trusting A's refuses B.
			wantCloudError(t, w.validate(w.b, map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}}),
				http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
		})
		t.Run("bad secret", func(t *testing.T) {
			bad := w.storeAccessKey(a, "bad-secret", orgKeyID, "not-the-secret-0123456789")
			wantCloudError(t, w.validate(a, stored(bad)), http.StatusBadRequest, cloud.ErrCredentialInvalid, "SignatureDoesNotMatch")
		})
		t.Run("unknown access key", func(t *testing.T) {
			bad := w.storeAccessKey(a, "unknown-key", "AKIADOESNOTEXIST0000", "whatever-secret")
			wantCloudError(t, w.validate(a, stored(bad)), http.StatusBadRequest, cloud.ErrCredentialInvalid, "InvalidClientTokenId")
		})
		t.Run("no platform identity", func(t *testing.T) {
			saved := w.e.Cloud.AWS
			w.e.Cloud.AWS.AccessKeyID, w.e.Cloud.AWS.SecretAccessKey = "", ""
			defer func() { w.e.Cloud.AWS = saved }()
			wantCloudError(t, w.validate(a, stored(roleCred)), http.StatusBadRequest, cloud.ErrCredentialInvalid, "no AWS identity")
		})
		t.Run("missing permission", func(t *testing.T) {
			weak := w.storeAccessKey(a, "weak", weakKeyID, weakKeySecret)
			wantCloudError(t, w.validate(a, stored(weak)), http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "AccessDeniedException")
		})
		t.Run("account in no organization", func(t *testing.T) {
			lone := w.storeAccessKey(a, "lone", loneKeyID, loneKeySecret)
			wantCloudError(t, w.validate(a, stored(lone)), http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "AWSOrganizationsNotInUseException")
		})
		t.Run("closed port", func(t *testing.T) {
			saved := w.e.Cloud.AWS.OrganizationsEndpoint
			w.e.Cloud.AWS.OrganizationsEndpoint = closedPort(t)
			defer func() { w.e.Cloud.AWS.OrganizationsEndpoint = saved }()
			wantCloudError(t, w.validate(a, stored(key)), http.StatusBadRequest, cloud.ErrServiceEndpointNotReachable, "connection refused")
		})
		t.Run("endpoint that never answers", func(t *testing.T) {
			saved := w.e.Cloud.AWS.STSEndpoint
			w.e.Cloud.AWS.STSEndpoint = silentListener(t)
			defer func() { w.e.Cloud.AWS.STSEndpoint = saved }()
			start := time.Now()
			body := stored(key)
			body["retryPolicy"] = policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 1})
			wantCloudError(t, w.validate(a, body), http.StatusBadRequest, cloud.ErrServiceEndpointNotReachable, "did not answer")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("gave up after %v", d)
			}
		})
		t.Run("throttled, then success", func(t *testing.T) {
			w.sleeps.take()
			w.aws.Fail("DescribeOrganization", 2, cloudtest.OrganizationsThrottling)
			before := w.aws.Calls("DescribeOrganization")
			body := stored(key)
			body["retryPolicy"] = policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 120, "retryCount": 2})
			if r := w.validate(a, body); r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if n := w.aws.Calls("DescribeOrganization") - before; n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			if got := w.sleeps.take(); !sameDurations(got, ms(120, 120)) {
				t.Errorf("delays %v", got)
			}
		})
		t.Run("throttled beyond the retries", func(t *testing.T) {
			w.aws.Fail("DescribeOrganization", 2, cloudtest.OrganizationsThrottling)
			body := stored(key)
			body["retryPolicy"] = policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 1})
			wantCloudError(t, w.validate(a, body), http.StatusBadRequest, cloud.ErrUnknown, "TooManyRequestsException")
		})
		t.Run("server error beyond the retries", func(t *testing.T) {
			w.aws.Fail("GetCallerIdentity", 1, cloudtest.AWSServerError)
			body := stored(key)
			body["retryPolicy"] = policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 0})
			wantCloudError(t, w.validate(a, body), http.StatusBadRequest, cloud.ErrUnknown, "InternalFailure")
		})
		t.Run("access node disabled", func(t *testing.T) {
			w.e.Cloud.AccessNodeDisabled = true
			defer func() { w.e.Cloud.AccessNodeDisabled = false }()
			before := w.aws.Calls("GetCallerIdentity")
			wantCloudError(t, w.validate(a, stored(key)), http.StatusBadRequest, cloud.ErrAccessNodeCommunicationFailed, "disabled")
			if w.aws.Calls("GetCallerIdentity") != before {
				t.Error("a disabled access node called AWS")
			}
		})

		// Bad requests: INVALID_REQUEST, whether the schema or the rules
		// refuse them, and no cloud call.
		calls := w.aws.Calls("GetCallerIdentity") + w.aws.Calls("AssumeRole") + w.aws.Calls("DescribeOrganization")
		for name, body := range map[string]any{
			"malformed role ARN":        map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": "arn:aws:iam::1:role/x"}},
			"missing credentialID":      map[string]any{"credential": map[string]any{"type": "storedCredential"}},
			"unknown credentialID":      stored("no-such-credential"),
			"another org's credential":  stored(w.storeAccessKey(w.b, "b-key", orgKeyID, orgKeySecret)),
			"field of another type":     map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole, "credentialID": key}},
			"unknown cloud identity":    map[string]any{"credential": map[string]any{"type": "federated", "projectID": a.project, "cloudIdentityID": "nope"}},
			"unknown credential type":   map[string]any{"credential": map[string]any{"type": "password"}},
			"unknown field":             map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "extra": true},
			"unknown access node":       map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "accessNodes": []any{map[string]any{"id": 7, "name": "edge"}}},
			"anonymous access node":     map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "accessNodes": []any{map[string]any{}}},
			"server group access node":  map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "accessNodes": []any{map[string]any{"name": "local", "accessNodeType": "SERVER_GROUP"}}},
			"retry policy out of range": map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "retryPolicy": policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 10, "retryCount": 11})},
			"retry policy mixed params": map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}, "retryPolicy": policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 10, "baseDelay": 5, "retryCount": 1})},
			"provider gcp":              map[string]any{"provider": "gcp", "credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}},
			"malformed JSON":            `{"credential": {`,
		} {
			t.Run("bad request: "+name, func(t *testing.T) {
				wantCloudError(t, w.e.Do("POST", a.connections()+"/validate", a.admin.Token, body), http.StatusBadRequest, cloud.ErrInvalidRequest, "")
			})
		}
		if now := w.aws.Calls("GetCallerIdentity") + w.aws.Calls("AssumeRole") + w.aws.Calls("DescribeOrganization"); now != calls {
			t.Errorf("bad requests made %d AWS calls", now-calls)
		}
	})
}

// TestConnections: persisted connections are validated on every write,
// list the organization's accounts with the discovery outcome, and are not
// stored when validation fails.
func TestConnections(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		key := w.storeAccessKey(a, "management", orgKeyID, orgKeySecret)
		spec := func(discovery string) map[string]any {
			s := stored(key)
			if discovery != "" {
				s["accountDiscovery"] = map[string]any{"roleNameWithPath": discovery}
			}
			return s
		}
		count := func() int {
			var n int
			if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_connections").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// No member account has the role yet: discovery fails everywhere.
		r := w.e.Do("POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"}, "spec": spec("/gatehouse/discovery")})
		wantCloudError(t, r, http.StatusBadRequest, cloud.ErrAllAccountsFailedDiscovery, "/gatehouse/discovery")
		if n := count(); n != 0 {
			t.Fatalf("a connection that failed validation was stored (%d rows)", n)
		}

		w.discoveryRole(memberOne)
		created := w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": spec("/gatehouse/discovery")}).Map(t)
		id := created["metadata"].(map[string]any)["id"].(string)
		got := w.e.Must(http.StatusOK, "GET", a.connections()+"/"+id, a.admin.Token, nil).Map(t)
		status := got["status"].(map[string]any)
		if status["organization"].(map[string]any)["organizationID"] != "o-aaaaaaaaaa" {
			t.Errorf("status %v", status)
		}
		discovery := map[string]string{}
		for _, acc := range status["accounts"].([]any) {
			m := acc.(map[string]any)
			discovery[m["accountID"].(string)] = m["discovery"].(string)
		}
		want := map[string]string{accountA: "failed", memberOne: "succeeded", memberTwo: "failed", memberSuspend: "notAttempted"}
		if !equalStrings(discovery, want) {
			t.Errorf("discovery %v, want %v", discovery, want)
		}

		// A second connection to the same AWS organization is a conflict.
		r = w.e.Do("POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "again"}, "spec": spec("")})
		if r.Status != http.StatusConflict {
			t.Errorf("a second connection to o-aaaaaaaaaa: %d %s", r.Status, r.Body)
		}
		// An update is validated again; a failing one changes nothing.
		weak := w.storeAccessKey(a, "weak", weakKeyID, weakKeySecret)
		r = w.e.Do("PUT", a.connections()+"/"+id, a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"}, "spec": stored(weak)})
		wantCloudError(t, r, http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "AccessDeniedException")
		if after := w.e.Must(http.StatusOK, "GET", a.connections()+"/"+id, a.admin.Token, nil).Map(t); !equalMaps(after, got) {
			t.Errorf("a failed update changed the connection:\n%v\n%v", after, got)
		}
		upd := w.e.Must(http.StatusOK, "PUT", a.connections()+"/"+id, a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": spec("")}).Map(t)
		for _, acc := range upd["status"].(map[string]any)["accounts"].([]any) {
			if d := acc.(map[string]any)["discovery"]; d != "notAttempted" {
				t.Errorf("without accountDiscovery an account is %v", d)
			}
		}
		list := w.e.Must(http.StatusOK, "GET", a.connections(), a.admin.Token, nil)
		if !strings.Contains(string(list.Body), id) || strings.Contains(string(list.Body), orgKeySecret) {
			t.Errorf("list: %s", list.Body)
		}
		w.e.Must(http.StatusOK, "DELETE", a.connections()+"/"+id, a.admin.Token, nil)
		w.e.Must(http.StatusNotFound, "GET", a.connections()+"/"+id, a.admin.Token, nil)
		w.e.Must(http.StatusOK, "DELETE", a.credentialsPath()+"/"+key, a.admin.Token, nil)
	})
}

func equalMaps(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

func equalStrings(a, b map[string]string) bool { return maps.Equal(a, b) }
