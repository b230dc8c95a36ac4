package cloud_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// stsClient is a real aws-sdk-go-v2 STS client for the stand-in.
func (w *world) stsClient(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.aws.STS.URL), HTTPClient: w.aws.STS.Client(), Credentials: creds})
}

// TestAWSCredentials: a project's service account obtains AWS credentials
// through AssumeRoleWithWebIdentity, and they work for a SigV4-signed call;
// then every fault the exchange can meet, each with the errorType it
// causes.
func TestAWSCredentials(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		ci := w.awsIdentity(a, "ci", ciRole, nil)

		t.Run("service account gets working credentials", func(t *testing.T) {
			r := w.credentials(a, ci, a.member.Token, map[string]any{"context": "pipeline/42"})
			if r.Status != http.StatusOK {
				t.Fatalf("credentials: %d %s", r.Status, r.Body)
			}
			var got struct {
				Provider string
				AWS      struct {
					AccessKeyID, SecretAccessKey, SessionToken, AssumedRoleARN string
					Expiration                                                 time.Time
				} `json:"aws"`
			}
			r.JSON(t, &got)
			wantARN := "arn:aws:sts::" + accountA + ":assumed-role/gatehouse-ci/gh-serviceAccount-" + a.member.ServiceAccountID
			if got.Provider != "aws" || got.AWS.AssumedRoleARN != wantARN || got.AWS.SessionToken == "" {
				t.Fatalf("credentials %s; want assumed role %s", r.Body, wantARN)
			}
			if d := time.Until(got.AWS.Expiration); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expiration in %v, want the role's hour", d)
			}
			// The credentials round-trip: a SigV4-signed GetCallerIdentity
			// with them is accepted by STS, which checks the signature with
			// the secret it issued.
			out, err := w.stsClient(credentials.NewStaticCredentialsProvider(got.AWS.AccessKeyID, got.AWS.SecretAccessKey, got.AWS.SessionToken)).
				GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil || aws.ToString(out.Arn) != wantARN {
				t.Fatalf("GetCallerIdentity with the issued credentials: %v %v", out, err)
			}
			// And a wrong secret is refused by the same check.
			_, err = w.stsClient(credentials.NewStaticCredentialsProvider(got.AWS.AccessKeyID, "not-the-secret", got.AWS.SessionToken)).
				GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
				t.Fatalf("GetCallerIdentity with a wrong secret: %v", err)
			}
		})

		t.Run("organization B's token refused by A's trust", func(t *testing.T) {
			// B's identity names A's role: B's tokens carry B's issuer. A's
			// account knows B's issuer as a provider, but A's role trusts only
			// A's provider.
			bID := w.awsIdentity(w.b, "into-a", ciRole, nil)
			r := w.credentials(w.b, bID, w.b.member.Token, nil)
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
			// A token claiming A's issuer but signed with B's key: A's JWKS
			// does not have B's key, so it never verifies.
			keyB, err := w.e.Keys.Organization(w.b.admin.OrgID).SigningKey(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			forged := signClaims(t, keyB, map[string]any{"iss": a.issuer, "sub": cloud.SubjectPrefix(a.admin.OrgID, a.project) + "serviceAccount:x",
				"aud": "sts.amazonaws.com", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()})
			_, err = w.stsClient(aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(t.Context(), &sts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(ciRole), RoleSessionName: aws.String("forged"), WebIdentityToken: aws.String(forged)})
			if err == nil || !strings.Contains(err.Error(), "InvalidIdentityToken") {
				t.Fatalf("a token signed with B's key under A's issuer: %v", err)
			}
			// An account that trusts only A's issuer knows no provider for B.
			cID := w.awsIdentity(w.b, "into-c", "arn:aws:iam::"+accountLone+":role/x", nil)
			w.aws.AddOIDCProvider(accountLone, a.issuer, "sts.amazonaws.com")
			r = w.credentials(w.b, cID, w.b.member.Token, nil)
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrCredentialInvalid, "No OpenIDConnect provider found")
		})

		t.Run("wrong audience", func(t *testing.T) {
			id := w.awsIdentity(a, "wrong-aud", ciRole, map[string]any{"audience": "api://not-sts"})
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "Incorrect token audience")
		})

		t.Run("subject outside the trust policy", func(t *testing.T) {
			// The role trusts the subjects of A's prod project only: a token
			// about another project of A (the administrator may obtain one
			// anywhere in A) does not pass its sub condition.
			other := w.e.Must(http.StatusAccepted, "POST", a.base()+"/projects", a.admin.Token, map[string]any{
				"metadata": map[string]any{"name": "other"}, "spec": map[string]any{"groupIDs": []string{}}}).Map(t)["metadata"].(map[string]any)["id"].(string)
			id := w.createIdentity(orgWorld{admin: a.admin, project: other}, "other-ci",
				map[string]any{"provider": "aws", "aws": map[string]any{"roleARN": ciRole, "stsEndpoint": w.aws.STS.URL}})
			r := w.e.Do("POST", a.base()+"/projects/"+other+"/cloudidentities/"+id+"/credentials", a.admin.Token, map[string]any{})
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
		})

		t.Run("expired token", func(t *testing.T) {
			w.clock.set(time.Hour) // STS's clock is an hour past the token's 5-minute life
			defer w.clock.reset()
			wantCloudError(t, w.credentials(a, ci, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "ExpiredTokenException")
		})

		t.Run("session tags need sts:TagSession", func(t *testing.T) {
			tagged := w.awsIdentity(a, "tagged-denied", ciRole, map[string]any{"aws": map[string]any{"sessionTags": true}})
			wantCloudError(t, w.credentials(a, tagged, a.member.Token, nil), http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
			ok := w.awsIdentity(a, "tagged", "arn:aws:iam::"+accountA+":role/gatehouse-tagged", map[string]any{"aws": map[string]any{"sessionTags": true}})
			if r := w.credentials(a, ok, a.member.Token, nil); r.Status != http.StatusOK {
				t.Fatalf("tagged session: %d %s", r.Status, r.Body)
			}
		})

		t.Run("session longer than the role allows", func(t *testing.T) {
			id := w.awsIdentity(a, "too-long", ciRole, map[string]any{"aws": map[string]any{"sessionDuration": 7200}})
			wantCloudError(t, w.credentials(a, id, a.member.Token, nil), http.StatusBadRequest, cloud.ErrInvalidRequest, "MaxSessionDuration")
		})

		t.Run("unknown kid after an emergency rotation", func(t *testing.T) {
			tok := w.e.Must(http.StatusOK, "POST", a.identities()+"/"+ci+"/token", a.member.Token, map[string]any{}).Map(t)["token"].(string)
			org := w.e.Keys.Organization(a.admin.OrgID)
			for range 2 {
				if err := org.Rotate(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := org.DropRetired(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err := w.stsClient(aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(t.Context(), &sts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(ciRole), RoleSessionName: aws.String("old-token"), WebIdentityToken: aws.String(tok)})
			if err == nil || !strings.Contains(err.Error(), "InvalidIdentityToken") {
				t.Fatalf("a token of a dropped key: %v", err)
			}
			// New tokens are signed with the new active key and verify.
			if r := w.credentials(a, ci, a.member.Token, nil); r.Status != http.StatusOK {
				t.Fatalf("after the rotation: %d %s", r.Status, r.Body)
			}
		})

		t.Run("JWKS endpoint down is retried, then UNKNOWN", func(t *testing.T) {
			w.jwksDown.Store(true)
			defer w.jwksDown.Store(false)
			before := w.aws.Calls("AssumeRoleWithWebIdentity")
			w.sleeps.take()
			r := w.credentials(a, ci, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 40, "retryCount": 2})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrUnknown, "IDPCommunicationError")
			if n := w.aws.Calls("AssumeRoleWithWebIdentity") - before; n != 3 {
				t.Errorf("%d attempts, want 3 (IDPCommunicationError is retryable)", n)
			}
			if got := w.sleeps.take(); !sameDurations(got, ms(40, 40)) {
				t.Errorf("delays %v, want [40ms 40ms]", got)
			}
		})

		t.Run("access denied is never retried", func(t *testing.T) {
			id := w.awsIdentity(a, "denied", "arn:aws:iam::"+accountA+":role/does-not-exist", nil)
			before := w.aws.Calls("AssumeRoleWithWebIdentity")
			w.sleeps.take()
			r := w.credentials(a, id, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 10, "retryCount": 5})})
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
			if n := w.aws.Calls("AssumeRoleWithWebIdentity") - before; n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
			if got := w.sleeps.take(); len(got) != 0 {
				t.Errorf("slept %v before giving up on a 403", got)
			}
		})

		// Throttling N times, then success, per strategy: the attempts and
		// the exact delays (the jitter source is fixed per case).
		for _, tc := range []struct {
			name     string
			policy   map[string]any
			pick     func(n int64) int64
			failures int
			fault    cloudtest.Fault
			want     []time.Duration
		}{
			{"fixed delay", policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 250, "retryCount": 3}),
				nil, 2, cloudtest.STSThrottling, ms(250, 250)},
			{"equal jitter, highest draws", policy(cloud.EqualJitterBackoffStrategy, map[string]any{"baseDelay": 100, "maxBackoffTime": 300, "retryCount": 4}),
				func(n int64) int64 { return n - 1 }, 4, cloudtest.STSThrottling, ms(100, 200, 300, 300)},
			{"equal jitter, lowest draws", policy(cloud.EqualJitterBackoffStrategy, map[string]any{"baseDelay": 100, "maxBackoffTime": 20000, "retryCount": 3}),
				func(int64) int64 { return 0 }, 3, cloudtest.STSThrottling, ms(50, 100, 200)},
			{"full jitter", policy(cloud.FullJitterBackoffStrategy, map[string]any{"baseDelay": 100, "maxBackoffTime": 1000, "retryCount": 5}),
				func(n int64) int64 { return n / 2 }, 5, cloudtest.STSThrottling, ms(50, 100, 200, 400, 500)},
			{"server errors", policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 2}),
				nil, 1, cloudtest.AWSServerError, ms(0)},
			{"unavailable", policy(cloud.FullJitterBackoffStrategy, map[string]any{"baseDelay": 8, "maxBackoffTime": 8, "retryCount": 1}),
				func(n int64) int64 { return n - 1 }, 1, cloudtest.AWSUnavailable, ms(8)},
		} {
			t.Run("retries: "+tc.name, func(t *testing.T) {
				w.jitter.set(tc.pick)
				w.sleeps.take()
				w.aws.Fail("AssumeRoleWithWebIdentity", tc.failures, tc.fault)
				before := w.aws.Calls("AssumeRoleWithWebIdentity")
				r := w.credentials(a, ci, a.member.Token, map[string]any{"retryPolicy": tc.policy})
				if r.Status != http.StatusOK {
					t.Fatalf("after %d failures: %d %s", tc.failures, r.Status, r.Body)
				}
				if n := w.aws.Calls("AssumeRoleWithWebIdentity") - before; n != tc.failures+1 {
					t.Errorf("%d attempts, want %d", n, tc.failures+1)
				}
				if got := w.sleeps.take(); !sameDurations(got, tc.want) {
					t.Errorf("delays %v, want %v", got, tc.want)
				}
			})
		}

		t.Run("throttled beyond the retry count", func(t *testing.T) {
			w.sleeps.take()
			w.aws.Fail("AssumeRoleWithWebIdentity", 5, cloudtest.STSThrottling)
			before := w.aws.Calls("AssumeRoleWithWebIdentity")
			r := w.credentials(a, ci, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 5, "retryCount": 2})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrUnknown, "Throttling")
			if n := w.aws.Calls("AssumeRoleWithWebIdentity") - before; n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			// The two faults left fail the next two single attempts.
			for i, want := range []int{http.StatusBadGateway, http.StatusBadGateway, http.StatusOK} {
				r := w.credentials(a, ci, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
					map[string]any{"fixedBackoff": 0, "retryCount": 0})})
				if r.Status != want {
					t.Fatalf("attempt %d after the burst: %d %s, want %d", i, r.Status, r.Body, want)
				}
			}
		})

		t.Run("closed port", func(t *testing.T) {
			id := w.createIdentity(a, "closed", map[string]any{"provider": "aws", "aws": map[string]any{"roleARN": ciRole, "stsEndpoint": closedPort(t)}})
			w.sleeps.take()
			r := w.credentials(a, id, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 7, "retryCount": 2})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrServiceEndpointNotReachable, "connection refused")
			if got := w.sleeps.take(); !sameDurations(got, ms(7, 7)) {
				t.Errorf("a refused connection is retried: delays %v, want [7ms 7ms]", got)
			}
		})

		t.Run("endpoint that never answers", func(t *testing.T) {
			id := w.createIdentity(a, "silent", map[string]any{"provider": "aws", "aws": map[string]any{"roleARN": ciRole, "stsEndpoint": silentListener(t)}})
			start := time.Now()
			r := w.credentials(a, id, a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
				map[string]any{"fixedBackoff": 0, "retryCount": 1})})
			wantCloudError(t, r, http.StatusBadGateway, cloud.ErrServiceEndpointNotReachable, "did not answer")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("gave up after %v; two attempts of at most 2 s each were allowed", d)
			}
		})
	})
}

// signClaims signs arbitrary claims with a Gatehouse key, as a forger
// holding that key would.
func signClaims(t *testing.T, k *keys.SigningKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(k.JOSE(), (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
