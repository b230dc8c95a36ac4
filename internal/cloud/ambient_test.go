package cloud_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// The roles of the access node's ambient identity, in A's management
// account.
const (
	instanceRole     = "arn:aws:iam::" + accountA + ":role/gatehouse-instance"
	weakInstanceRole = "arn:aws:iam::" + accountA + ":role/gatehouse-instance-no-permissions"
	irsaRole         = "arn:aws:iam::" + accountA + ":role/gatehouse-irsa"
	containerToken   = "pod-identity-token-0123456789"
)

func ambient() map[string]any {
	return map[string]any{"credential": map[string]any{"type": "ambientRole"}}
}

// setAmbient configures the access node's ambient identity (subtests that
// call it run one after another: they share the world's Service).
func (w *world) setAmbient(enabled bool, src cloud.AmbientSources) {
	w.e.Cloud.AWS.AmbientCredentials, w.e.Cloud.AWS.Ambient = enabled, src
}

// TestAmbientRole: the ambientRole credential type uses the access node's
// own AWS identity, found the way the AWS SDKs find it (web identity, then
// the container endpoint, then IMDSv2), only where the operator enabled it,
// and fails with the seed's error types.
func TestAmbientRole(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		orgPerms := []string{"organizations:DescribeOrganization", "organizations:ListAccounts"}
		w.aws.AddRole(cloudtest.Role{ARN: instanceRole, Allowed: orgPerms})
		w.aws.AddRole(cloudtest.Role{ARN: weakInstanceRole})
		provA := cloudtest.OIDCProvider{Account: accountA, URL: a.issuer}
		w.aws.AddRole(cloudtest.Role{ARN: irsaRole, TrustedProvider: provA.ARN(), AudEquals: "sts.amazonaws.com",
			SubLike: cloud.SubjectPrefix(a.admin.OrgID, a.project) + "*", Allowed: orgPerms})
		imds := cloudtest.NewIMDS(t, w.aws, instanceRole)
		wantOrg := map[string]any{"organizationID": "o-aaaaaaaaaa", "organizationARN": "arn:aws:organizations::" + accountA + ":organization/o-aaaaaaaaaa",
			"managementAccountID": accountA, "managementAccountARN": "arn:aws:organizations::" + accountA + ":account/o-aaaaaaaaaa/" + accountA,
			"managementAccountEmail": "aws-root@acme.example"}
		count := func() int {
			var n int
			if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_connections").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		wantValid := func(t *testing.T) {
			t.Helper()
			r := w.validate(a, ambient())
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := r.Map(t)["organization"].(map[string]any); !equalMaps(got, wantOrg) {
				t.Errorf("organization %v, want %v", got, wantOrg)
			}
		}
		onIMDS := cloud.AmbientSources{IMDSEndpoint: imds.URL}

		t.Run("off by default: refused, nothing called or stored", func(t *testing.T) {
			w.setAmbient(false, onIMDS)
			before := imds.CredentialCalls() + w.aws.Calls("GetCallerIdentity")
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrInvalidRequest, "--cloud-aws-ambient-credentials")
			r := w.e.Do("POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "ambient"}, "spec": ambient()})
			wantCloudError(t, r, http.StatusBadRequest, cloud.ErrInvalidRequest, "single-tenant")
			if n := count(); n != 0 {
				t.Errorf("a refused connection was stored (%d rows)", n)
			}
			if imds.CredentialCalls()+w.aws.Calls("GetCallerIdentity") != before {
				t.Error("a refused ambientRole reached the instance metadata or STS")
			}
		})

		t.Run("EC2 instance role over IMDSv2: validate, then a connection discovers accounts", func(t *testing.T) {
			w.setAmbient(true, onIMDS)
			before := w.aws.Calls("GetCallerIdentity")
			wantValid(t)
			if w.aws.Calls("GetCallerIdentity") != before+1 {
				t.Error("the ambient identity was not proven with sts:GetCallerIdentity")
			}
			w.discoveryRole(memberOne)
			spec := ambient()
			spec["accountDiscovery"] = map[string]any{"roleNameWithPath": "/gatehouse/discovery"}
			created := w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "ambient"},
				"spec": spec}).Map(t)
			id := created["metadata"].(map[string]any)["id"].(string)
			got := w.e.Must(http.StatusOK, "GET", a.connections()+"/"+id, a.admin.Token, nil).Map(t)
			if typ := got["spec"].(map[string]any)["credential"].(map[string]any)["type"]; typ != "ambientRole" {
				t.Errorf("stored credential type %v", typ)
			}
			discovery := map[string]string{}
			for _, acc := range got["status"].(map[string]any)["accounts"].([]any) {
				m := acc.(map[string]any)
				discovery[m["accountID"].(string)] = m["discovery"].(string)
			}
			want := map[string]string{accountA: "failed", memberOne: "succeeded", memberTwo: "failed", memberSuspend: "notAttempted"}
			if !equalStrings(discovery, want) {
				t.Errorf("discovery %v, want %v", discovery, want)
			}
			w.e.Must(http.StatusOK, "DELETE", a.connections()+"/"+id, a.admin.Token, nil)
		})

		t.Run("credentials STS refuses", func(t *testing.T) {
			forged := cloudtest.NewIMDS(t, w.aws, instanceRole)
			forged.ForgeCredentials()
			w.setAmbient(true, cloud.AmbientSources{IMDSEndpoint: forged.URL})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "InvalidClientTokenId")
		})
		t.Run("instance role without organizations permissions", func(t *testing.T) {
			weak := cloudtest.NewIMDS(t, w.aws, weakInstanceRole)
			w.setAmbient(true, cloud.AmbientSources{IMDSEndpoint: weak.URL})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "AccessDeniedException")
		})
		t.Run("instance without a role", func(t *testing.T) {
			none := cloudtest.NewIMDS(t, w.aws, "")
			w.setAmbient(true, cloud.AmbientSources{IMDSEndpoint: none.URL})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "no instance role")
		})
		t.Run("no instance metadata service", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{IMDSEndpoint: "http://" + testenv.ClosedAddr(t)})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "no instance role")
		})
		t.Run("no ambient source at all", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{IMDSDisabled: true})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "no instance role")
		})

		// The container endpoint comes before IMDS: with both configured,
		// the instance's forged credentials are never used.
		forgedIMDS := cloudtest.NewIMDS(t, w.aws, instanceRole)
		forgedIMDS.ForgeCredentials()
		container := cloudtest.NewContainerCredentials(t, w.aws, instanceRole, containerToken)
		tokenFile := filepath.Join(t.TempDir(), "pod-identity-token")
		if err := os.WriteFile(tokenFile, []byte(containerToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Run("container credentials endpoint, token from a file", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{ContainerCredentialsURI: container.URL + "/v1/credentials",
				ContainerAuthorizationTokenFile: tokenFile, IMDSEndpoint: forgedIMDS.URL})
			wantValid(t)
			if forgedIMDS.CredentialCalls() != 0 {
				t.Error("IMDS was asked although the container endpoint is configured")
			}
		})
		t.Run("container credentials endpoint, wrong authorization", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{ContainerCredentialsURI: container.URL + "/v1/credentials", ContainerAuthorizationToken: "wrong"})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "no container credentials")
		})

		// Web identity (EKS IRSA) comes first: a projected token of an
		// issuer the role trusts, here organization A's workload issuer.
		ci := w.awsIdentity(a, "irsa-token", irsaRole, nil)
		tok := w.e.Must(http.StatusOK, "POST", a.identities()+"/"+ci+"/token", a.member.Token, map[string]any{}).Map(t)["token"].(string)
		webToken := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(webToken, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Run("web identity before the container endpoint and IMDS", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{RoleARN: irsaRole, WebIdentityTokenFile: webToken,
				ContainerCredentialsURI: container.URL, ContainerAuthorizationToken: "wrong", IMDSEndpoint: forgedIMDS.URL})
			wantValid(t)
		})
		t.Run("web identity the role does not trust", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{RoleARN: instanceRole, WebIdentityTokenFile: webToken})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "AccessDenied")
		})
		t.Run("web identity token file missing", func(t *testing.T) {
			w.setAmbient(true, cloud.AmbientSources{RoleARN: irsaRole, WebIdentityTokenFile: filepath.Join(t.TempDir(), "absent")})
			wantCloudError(t, w.validate(a, ambient()), http.StatusBadRequest, cloud.ErrCredentialInvalid, "token file")
		})

		// Field validation: ambientRole takes no other field.
		w.setAmbient(true, onIMDS)
		calls := w.aws.Calls("GetCallerIdentity") + imds.CredentialCalls()
		for _, c := range []struct{ field, value string }{
			{"credentialID", "some-credential"}, {"roleARN", orgRole}, {"projectID", a.project}, {"cloudIdentityID", ci},
		} {
			t.Run("bad request: ambientRole with "+c.field, func(t *testing.T) {
				body := map[string]any{"credential": map[string]any{"type": "ambientRole", c.field: c.value}}
				wantCloudError(t, w.validate(a, body), http.StatusBadRequest, cloud.ErrInvalidRequest, c.field+" does not apply")
			})
		}
		if now := w.aws.Calls("GetCallerIdentity") + imds.CredentialCalls(); now != calls {
			t.Errorf("bad requests made %d calls", now-calls)
		}

		t.Run("assumeRole with the ambient identity when no access key is configured", func(t *testing.T) {
			keyID, secret := w.e.Cloud.AWS.AccessKeyID, w.e.Cloud.AWS.SecretAccessKey
			w.e.Cloud.AWS.AccessKeyID, w.e.Cloud.AWS.SecretAccessKey = "", ""
			defer func() { w.e.Cloud.AWS.AccessKeyID, w.e.Cloud.AWS.SecretAccessKey = keyID, secret }()
			ext, err := w.e.Cloud.ExternalID(t.Context(), a.admin.OrgID)
			if err != nil {
				t.Fatal(err)
			}
			// The customer's role trusts the account the instance role is in,
			// with this organization's external ID.
			w.aws.AddRole(cloudtest.Role{ARN: orgRole, TrustedPrincipals: []string{"arn:aws:iam::" + accountA + ":root"}, ExternalID: ext,
				Allowed: orgPerms})
			body := map[string]any{"credential": map[string]any{"type": "assumeRole", "roleARN": orgRole}}
			w.setAmbient(false, onIMDS)
			wantCloudError(t, w.validate(a, body), http.StatusBadRequest, cloud.ErrCredentialInvalid, "--cloud-aws-ambient-credentials")
			w.setAmbient(true, onIMDS)
			before := imds.CredentialCalls()
			if r := w.validate(a, body); r.Status != http.StatusOK {
				t.Fatalf("assumeRole through the instance role: %d %s", r.Status, r.Body)
			}
			if imds.CredentialCalls() == before {
				t.Error("the instance role was not used")
			}
		})
	})
}

// TestAmbientSources: the SDKs' environment variables, their precedence,
// and the configuration refused at startup.
func TestAmbientSources(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name   string
		getenv func(string) string
		source string
		bad    bool
	}{
		{"nothing: IMDS", env(), cloud.AmbientIMDS, false},
		{"IMDS disabled", env("AWS_EC2_METADATA_DISABLED", "TRUE"), "", false},
		{"IMDS endpoint", env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]"), cloud.AmbientIMDS, false},
		{"IMDS endpoint not a URL", env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254"), cloud.AmbientIMDS, true},
		{"ECS relative URI", env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"), cloud.AmbientContainer, false},
		{"EKS Pod Identity", env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"), cloud.AmbientContainer, false},
		{"container endpoint in the clear across a network", env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds"), cloud.AmbientContainer, true},
		{"container endpoint over https", env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.internal/x"), cloud.AmbientContainer, false},
		{"IRSA", env("AWS_ROLE_ARN", irsaRole, "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
			"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x"), cloud.AmbientWebIdentity, false},
		{"IRSA without a role", env("AWS_WEB_IDENTITY_TOKEN_FILE", "/token"), cloud.AmbientWebIdentity, true},
		{"IRSA with a malformed role", env("AWS_ROLE_ARN", "role", "AWS_WEB_IDENTITY_TOKEN_FILE", "/token"), cloud.AmbientWebIdentity, true},
		{"IRSA with a bad session name", env("AWS_ROLE_ARN", irsaRole, "AWS_WEB_IDENTITY_TOKEN_FILE", "/token", "AWS_ROLE_SESSION_NAME", "a b"), cloud.AmbientWebIdentity, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := cloud.AmbientSourcesFromEnv(c.getenv)
			if got := a.Source(); got != c.source {
				t.Errorf("source %q, want %q", got, c.source)
			}
			if err := a.Check(); (err != nil) != c.bad {
				t.Errorf("Check() = %v, want an error: %v", err, c.bad)
			}
		})
	}
}
