package cloud_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestTenantEndpointsPublicOnly (review of issue 13): the STS and IAM
// Credentials endpoints an organization names in its cloud identities are
// called at public addresses only, so that its administrators cannot make
// Gatehouse post workload tokens into its own network (and read the answer
// in the error). The stand-ins listen on loopback: without
// AllowPrivateTenantEndpoints the exchange fails before any request, as an
// unreachable endpoint, for AWS and GCP alike.
func TestTenantEndpointsPublicOnly(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		w := newWorld(t, open(t))
		w.e.Cloud.AllowPrivateTenantEndpoints = false // before any exchange builds the client
		a := w.a
		noRetry := map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 0})}
		for name, id := range map[string]string{
			"aws": w.awsIdentity(a, "inside-aws", ciRole, nil),
			"gcp": w.gcpIdentity(a, "inside-gcp", nil, nil),
		} {
			t.Run(name, func(t *testing.T) {
				r := w.credentials(a, id, a.member.Token, noRetry)
				wantCloudError(t, r, http.StatusBadGateway, cloud.ErrServiceEndpointNotReachable, "not a public address")
			})
		}
	})
}
