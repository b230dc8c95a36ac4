package cloud_test

import (
	"bytes"
	"crypto/x509"
	"io"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// benchOrg is an organization with a project, a member service account
// and an AWS cloud identity, on a TLS Gatehouse.
type benchOrg struct {
	e                     *testenv.Env
	org, project, ci, tok string
}

// newBenchOrg starts Gatehouse; setup (if not nil) configures its cloud
// service and returns the STS endpoint of the identity.
func newBenchOrg(b *testing.B, be testenv.Backend, setup func(e *testenv.Env) string) *benchOrg {
	b.Helper()
	e := testenv.NewEnvWith(b, be.Open(b), testenv.Options{TLS: true})
	aws := map[string]any{"roleARN": "arn:aws:iam::111111111111:role/bench"}
	if setup != nil {
		aws["stsEndpoint"] = setup(e)
	}
	admin := e.NewTenant("bench", "administrator")
	member := e.AddMember(admin.OrgID, "bench-ci", "user")
	base := "/api/v1/organizations/" + admin.OrgID
	p := e.Must(http.StatusAccepted, "POST", base+"/projects", admin.Token, map[string]any{
		"metadata": map[string]any{"name": "prod"}, "spec": map[string]any{"groupIDs": []string{member.GroupID}}}).Map(b)
	project := p["metadata"].(map[string]any)["id"].(string)
	ci := e.Must(http.StatusCreated, "POST", base+"/projects/"+project+"/cloudidentities", admin.Token, map[string]any{
		"metadata": map[string]any{"name": "ci"}, "spec": map[string]any{"provider": "aws", "aws": aws}}).Map(b)
	return &benchOrg{e: e, org: admin.OrgID, project: project, ci: ci["metadata"].(map[string]any)["id"].(string), tok: member.Token}
}

func post(b *testing.B, e *testenv.Env, path, token string, body []byte) {
	req, _ := http.NewRequest("POST", e.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
}

// BenchmarkIssueToken is POST …/cloudidentities/{id}/token end to end over
// HTTPS (keep-alive): authentication, authorization, the identity read, the
// caller check and an ES256 signature with the organization's cached key.
func BenchmarkIssueToken(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			o := newBenchOrg(b, be, nil)
			path := "/api/v1/organizations/" + o.org + "/projects/" + o.project + "/cloudidentities/" + o.ci + "/token"
			for b.Loop() {
				post(b, o.e, path, o.tok, []byte(`{}`))
			}
		})
	}
}

// BenchmarkWorkloadJWKS is GET /oidc/organizations/{id}/jwks, what AWS and
// GCP fetch: an organization lookup and the cached key set.
func BenchmarkWorkloadJWKS(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			o := newBenchOrg(b, be, nil)
			url := o.e.URL + "/oidc/organizations/" + o.org + "/jwks"
			for b.Loop() {
				resp, err := o.e.Client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET jwks: %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkAWSCredentials is POST …/cloudidentities/{id}/credentials against
// the AWS stand-in: the above plus an AssumeRoleWithWebIdentity round trip,
// in which the stand-in fetches the discovery document and the JWKS from
// Gatehouse and verifies the token (three HTTPS requests per exchange).
func BenchmarkAWSCredentials(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			var aws *cloudtest.AWS
			o := newBenchOrg(b, be, func(e *testenv.Env) string {
				aws = cloudtest.NewAWS(b, e.Client, nil)
				roots := x509.NewCertPool()
				roots.AddCert(aws.STS.Certificate())
				e.Cloud.RootCAs = roots
				return aws.STS.URL
			})
			prov := aws.AddOIDCProvider("111111111111", o.e.URL+cloud.IssuerPath(o.org), "sts.amazonaws.com")
			aws.AddRole(cloudtest.Role{ARN: "arn:aws:iam::111111111111:role/bench", TrustedProvider: prov.ARN(), AudEquals: "sts.amazonaws.com"})
			path := "/api/v1/organizations/" + o.org + "/projects/" + o.project + "/cloudidentities/" + o.ci + "/credentials"
			for b.Loop() {
				post(b, o.e, path, o.tok, []byte(`{}`))
			}
		})
	}
}
