package server_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// cloudStand is an AWS stand-in wired to a running Gatehouse, so that the
// operation walkers can create and use cloud identities, stored credentials
// and cloud connections like any other resource. Two AWS organizations
// exist, each managed by an account with an access key that may read it.
type cloudStand struct {
	aws *cloudtest.AWS
	e   *testenv.Env
}

const (
	standRole = "arn:aws:iam::111111111111:role/gatehouse-walkers"
)

// standKey is the access key (ID, secret) of the management account of
// AWS organization n (1 or 2).
func standKey(n int) (string, string) {
	return fmt.Sprintf("AKIASTANDIN%09d", n), fmt.Sprintf("stand-in-secret-%d-0123456789abcdefghijklmn", n)
}

// newCloudStand starts the stand-in and points e's cloud service at it; it
// must run before the first cloud call.
func newCloudStand(t testing.TB, e *testenv.Env) *cloudStand {
	t.Helper()
	s := &cloudStand{aws: cloudtest.NewAWS(t, e.Client, nil), e: e}
	roots := x509.NewCertPool()
	roots.AddCert(s.aws.STS.Certificate())
	e.Cloud.RootCAs = roots
	e.Cloud.AllowPrivateTenantEndpoints = true // the stand-ins listen on loopback
	e.Cloud.AWS = cloud.AWSPlatform{STSEndpoint: s.aws.STS.URL, OrganizationsEndpoint: s.aws.Organizations.URL}
	for n := 1; n <= 2; n++ {
		s.addOrganization(n, fmt.Sprintf("%d%d%d%d%d%d%d%d%d%d%d%d", n, n, n, n, n, n, n, n, n, n, n, n))
	}
	return s
}

// addOrganization adds AWS organization n, managed by account (12 digits),
// whose management account's access key (standKey(n)) may read it.
func (s *cloudStand) addOrganization(n int, account string) {
	keyID, secret := standKey(n)
	s.aws.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + account + ":user/validator", AccessKeyID: keyID, SecretAccessKey: secret,
		Allowed: []string{"organizations:DescribeOrganization", "organizations:ListAccounts"}})
	s.aws.AddOrganization(cloudtest.Organization{ID: fmt.Sprintf("o-walkers%04d", n), ManagementAccountID: account,
		ManagementAccountEmail: "root@example.com", Accounts: []cloudtest.Account{{ID: account, Name: "management", Email: "root@example.com", State: "ACTIVE"}}})
}

// trust makes the walkers' role trust organization org's issuer.
func (s *cloudStand) trust(org string) {
	p := s.aws.AddOIDCProvider("111111111111", s.e.URL+"/oidc/organizations/"+org, "sts.amazonaws.com")
	s.aws.AddRole(cloudtest.Role{ARN: standRole, TrustedProvider: p.ARN(), AudEquals: "sts.amazonaws.com"})
}

// identityWrite is a cloud identity body for the walkers' role.
func (s *cloudStand) identityWrite(name string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{"provider": "aws",
		"aws": map[string]any{"roleARN": standRole, "stsEndpoint": s.aws.STS.URL}}}
}

// credentialWrite is a stored access key body for AWS organization n.
func credentialWrite(name string, n int) map[string]any {
	keyID, secret := standKey(n)
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{"type": "awsAccessKey",
		"awsAccessKey": map[string]any{"accessKeyID": keyID, "secretAccessKey": secret}}}
}

// connectionWrite is a cloud connection body using a stored credential.
func connectionWrite(name, credentialID string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{
		"credential": map[string]any{"type": "storedCredential", "credentialID": credentialID}}}
}

// standAccount is the AWS account the walkers' connection discovers (the
// management account of AWS organization 2).
const standAccount = "222222222222"

// cloudIDs creates, as token in org, a cloud identity in project, a stored
// credential of each AWS organization and a connection through the second,
// and a permission set assigned to group on the connection's account,
// whose role there trusts the assignment; it returns the path parameters
// naming them (and the set, as accountPermissionSetID) plus the first
// credential.
func (s *cloudStand) cloudIDs(t testing.TB, org, project, group, token string) (ids map[string]string, firstCredential string) {
	t.Helper()
	s.trust(org)
	do := func(path string, body map[string]any) string {
		r := s.e.Must(http.StatusCreated, "POST", path, token, body).Map(t)
		return r["metadata"].(map[string]any)["id"].(string)
	}
	base := "/api/v1/organizations/" + org
	identity := do(base+"/projects/"+project+"/cloudidentities", s.identityWrite("walker"))
	first := do(base+"/credentials", credentialWrite("first", 1))
	second := do(base+"/credentials", credentialWrite("second", 2))
	conn := do(base+"/cloudconnections", connectionWrite("walkers", second))
	set := do(base+"/permissionsets", permissionSetWrite("walkers-account", nil, nil))
	s.e.Must(http.StatusCreated, "POST", base+"/accountassignments", token,
		assign([]map[string]any{ref("group", group)}, []string{set}, []map[string]any{ref("cloudAccount", standAccount)}))
	p := s.aws.AddOIDCProvider(standAccount, s.e.URL+"/oidc/organizations/"+org, "sts.amazonaws.com")
	s.aws.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + standAccount + ":role/gatehouse/walkers-account", TrustedProvider: p.ARN(),
		AudEquals: "sts.amazonaws.com", SubLike: cloud.AccountSubjectPrefix(org, standAccount, set) + "*"})
	return map[string]string{"cloudIdentityID": identity, "credentialID": second, "cloudConnectionID": conn,
		"accountID": standAccount, "accountPermissionSetID": set}, first
}
