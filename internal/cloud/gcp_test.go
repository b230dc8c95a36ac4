package cloud_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

type gcpCredentials struct {
	Provider string
	GCP      struct {
		AccessToken, TokenType, Kind string
		Expiration                   time.Time
	} `json:"gcp"`
}

// TestGCPCredentials: a project's service account obtains a federated GCP
// token (STS) and a service account token (STS, then IAM Credentials), with
// x/oauth2's externalaccount client against the stand-ins; then the faults.
func TestGCPCredentials(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		impersonate := w.gcpIdentity(a, "deployer", map[string]any{"serviceAccountEmail": gcpSA, "lifetime": 1800}, nil)
		federated := w.gcpIdentity(a, "federated", nil, nil)

		t.Run("service account token through impersonation", func(t *testing.T) {
			stsBefore, iamBefore := w.gcp.Calls("sts"), w.gcp.Calls("iam")
			r := w.credentials(a, impersonate, a.member.Token, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("credentials: %d %s", r.Status, r.Body)
			}
			var got gcpCredentials
			r.JSON(t, &got)
			if got.Provider != "gcp" || got.GCP.Kind != cloud.GCPTokenServiceAccount || got.GCP.TokenType != "Bearer" || len(got.GCP.AccessToken) < 20 {
				t.Fatalf("credentials %s", r.Body)
			}
			if d := time.Until(got.GCP.Expiration); d < 29*time.Minute || d > 30*time.Minute {
				t.Errorf("expires in %v, want the identity's 1800 s", d)
			}
			if w.gcp.Calls("sts")-stsBefore != 1 || w.gcp.Calls("iam")-iamBefore != 1 {
				t.Errorf("calls: sts %d, iam %d; want one each", w.gcp.Calls("sts")-stsBefore, w.gcp.Calls("iam")-iamBefore)
			}
		})

		t.Run("federated token", func(t *testing.T) {
			r := w.credentials(a, federated, a.member.Token, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("credentials: %d %s", r.Status, r.Body)
			}
			var got gcpCredentials
			r.JSON(t, &got)
			sub, ok := w.gcp.FederatedSubject(got.GCP.AccessToken)
			want := cloud.Subject(a.admin.OrgID, a.project, cloud.Caller{Type: cloud.PrincipalServiceAccount, ID: a.member.ServiceAccountID})
			if got.GCP.Kind != cloud.GCPTokenFederated || !ok || sub != want {
				t.Fatalf("federated token of subject %q (live %v), want %q; %s", sub, ok, want, r.Body)
			}
		})

		t.Run("organization B's token refused by A's provider", func(t *testing.T) {
			id := w.gcpIdentity(w.b, "into-a", nil, nil)
			wantCloudError(t, w.credentials(w.b, id, w.b.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "invalid_grant")
		})

		t.Run("wrong audience", func(t *testing.T) {
			id := w.gcpIdentity(a, "wrong-aud", nil, map[string]any{"audience": "//iam.googleapis.com/projects/" + gcpProject +
				"/locations/global/workloadIdentityPools/" + gcpPool + "/providers/other"})
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "invalid_target")
			id = w.gcpIdentity(a, "other-aud", nil, map[string]any{"audience": "https://example.com/not-gcp"})
			// The audience names no provider at all.
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "invalid_target")
		})

		t.Run("audience the provider does not allow", func(t *testing.T) {
			w.gcp.AddProvider(cloudtest.WorkloadProvider{ProjectNumber: gcpProject, Pool: gcpPool, Provider: "strict", IssuerURI: a.issuer,
				AllowedAudiences: []string{"gatehouse-only"}, AttributeMapping: map[string]string{"google.subject": "assertion.sub"}})
			id := w.gcpIdentity(a, "strict", map[string]any{"providerID": "strict"}, nil)
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "audience")
		})

		t.Run("attribute condition", func(t *testing.T) {
			w.gcp.AddProvider(cloudtest.WorkloadProvider{ProjectNumber: gcpProject, Pool: gcpPool, Provider: "ci-only", IssuerURI: a.issuer,
				AttributeMapping:   map[string]string{"google.subject": "assertion.sub"},
				AttributeCondition: "assertion.context == 'ci'"})
			id := w.gcpIdentity(a, "ci-only", map[string]any{"providerID": "ci-only"}, nil)
			wantCloudError(t, w.credentials(a, id, a.member.Token, map[string]any{"context": "laptop"}), http.StatusBadRequest,
				cloud.ErrCredentialInvalid, "attribute condition")
			if r := w.credentials(a, id, a.member.Token, map[string]any{"context": "ci"}); r.Status != http.StatusOK {
				t.Fatalf("the condition holds: %d %s", r.Status, r.Body)
			}
		})

		t.Run("expired token", func(t *testing.T) {
			w.clock.set(time.Hour)
			defer w.clock.reset()
			wantCloudError(t, w.credentials(a, federated, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "expired")
		})

		t.Run("missing permission on the service account", func(t *testing.T) {
			id := w.gcpIdentity(a, "other-sa", map[string]any{"serviceAccountEmail": "other@acme-prod.iam.gserviceaccount.com"}, nil)
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "iam.serviceAccounts.getAccessToken")
		})

		t.Run("lifetime beyond the organization policy", func(t *testing.T) {
			id := w.gcpIdentity(a, "long", map[string]any{"serviceAccountEmail": gcpSA, "lifetime": 7200}, nil)
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrInvalidRequest, "INVALID_ARGUMENT")
		})

		for _, tc := range []struct {
			name     string
			service  string
			fault    cloudtest.Fault
			failures int
			policy   map[string]any
			pick     func(int64) int64
			want     []time.Duration
		}{
			{"STS throttled twice, fixed delay", "sts", cloudtest.GCPThrottling, 2,
				policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 300, "retryCount": 2}), nil, ms(300, 300)},
			{"IAM unavailable, equal jitter", "iam", cloudtest.GCPServerError, 3,
				policy(cloud.EqualJitterBackoffStrategy, map[string]any{"baseDelay": 20, "maxBackoffTime": 60, "retryCount": 3}),
				func(n int64) int64 { return n - 1 }, ms(20, 40, 60)},
			{"STS unavailable, full jitter", "sts", cloudtest.GCPServerError, 2,
				policy(cloud.FullJitterBackoffStrategy, map[string]any{"baseDelay": 100, "maxBackoffTime": 150, "retryCount": 2}),
				func(n int64) int64 { return n - 1 }, ms(100, 150)},
		} {
			t.Run("retries: "+tc.name, func(t *testing.T) {
				w.jitter.set(tc.pick)
				w.sleeps.take()
				w.gcp.Fail(tc.service, tc.failures, tc.fault)
				before := w.gcp.Calls(tc.service)
				r := w.credentials(a, impersonate, a.member.Token, map[string]any{"retryPolicy": tc.policy})
				if r.Status != http.StatusOK {
					t.Fatalf("after %d failures: %d %s", tc.failures, r.Status, r.Body)
				}
				if n := w.gcp.Calls(tc.service) - before; n != tc.failures+1 {
					t.Errorf("%d %s calls, want %d", n, tc.service, tc.failures+1)
				}
				if got := w.sleeps.take(); !sameDurations(got, tc.want) {
					t.Errorf("delays %v, want %v", got, tc.want)
				}
			})
		}

		t.Run("throttled beyond the retry count", func(t *testing.T) {
			w.gcp.Fail("sts", 2, cloudtest.GCPThrottling)
			before := w.gcp.Calls("sts")
			r := w.credentials(a, federated, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 1, "retryCount": 1})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrUnknown, "429")
			if n := w.gcp.Calls("sts") - before; n != 2 {
				t.Errorf("%d attempts, want 2", n)
			}
		})

		t.Run("invalid_grant is never retried", func(t *testing.T) {
			id := w.gcpIdentity(w.b, "into-a-again", nil, nil)
			before := w.gcp.Calls("sts")
			w.sleeps.take()
			r := w.credentials(w.b, id, w.b.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 1, "retryCount": 4})})
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrCredentialInvalid, "invalid_grant")
			if n := w.gcp.Calls("sts") - before; n != 1 || len(w.sleeps.take()) != 0 {
				t.Errorf("%d attempts, want 1 and no delay", n)
			}
		})

		t.Run("closed port", func(t *testing.T) {
			id := w.gcpIdentity(a, "closed", map[string]any{"stsEndpoint": closedPort(t)}, nil)
			w.sleeps.take()
			r := w.credentials(a, id, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 3, "retryCount": 1})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrServiceEndpointNotReachable, "connection refused")
			if got := w.sleeps.take(); !sameDurations(got, ms(3)) {
				t.Errorf("delays %v, want [3ms]", got)
			}
		})

		t.Run("endpoint that never answers", func(t *testing.T) {
			id := w.gcpIdentity(a, "silent", map[string]any{"serviceAccountEmail": gcpSA, "iamCredentialsEndpoint": silentListener(t)}, nil)
			start := time.Now()
			r := w.credentials(a, id, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 0, "retryCount": 0})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrServiceEndpointNotReachable, "IAM Credentials")
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("gave up after %v; one attempt of at most 2 s was allowed", d)
			}
		})
	})
}
