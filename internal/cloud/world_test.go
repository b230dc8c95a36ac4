package cloud_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// The AWS accounts of the stand-in world.
const (
	accountA       = "111111111111" // organization A's AWS account (management of o-aaaaaaaaaa)
	accountB       = "222222222222" // organization B's
	accountLone    = "333333333333" // an account in no organization
	gatehouseAcct  = "999999999999" // this Gatehouse's own AWS identity
	memberOne      = "111111111101"
	memberTwo      = "111111111102"
	memberSuspend  = "111111111103"
	platformKeyID  = "AKIAGATEHOUSEPLATFORM"
	platformSecret = "platform-secret-0123456789abcdefghijklmnopqrstuv"
	orgKeyID       = "AKIAACMEMANAGEMENT01"
	orgKeySecret   = "stored-secret-QWERTYUIOPASDFGHJKLZXCVBNM0123456"
	loneKeyID      = "AKIALONEACCOUNTKEY01"
	loneKeySecret  = "lone-secret-0123456789abcdefghijklmnopqrstuvwx"
	weakKeyID      = "AKIAWEAKPERMISSIONS1"
	weakKeySecret  = "weak-secret-0123456789abcdefghijklmnopqrstuvwx"
	ciRole         = "arn:aws:iam::" + accountA + ":role/gatehouse-ci"
	orgRole        = "arn:aws:iam::" + accountA + ":role/gatehouse-organization"
	fedOrgRole     = "arn:aws:iam::" + accountA + ":role/gatehouse-federated-organization"
	gcpProject     = "123456789012"
	gcpPool        = "gatehouse-pool"
	gcpProvider    = "gatehouse-oidc"
	gcpSA          = "deployer@acme-prod.iam.gserviceaccount.com"
)

// sleeps records the retry delays the cloud service asked for, without
// waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

// take returns the delays so far and forgets them.
func (s *sleeps) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.d
	s.d = nil
	return out
}

// jitter is a settable random source: Int64N returns pick(n).
type jitter struct {
	pick atomic.Pointer[func(int64) int64]
}

func (j *jitter) set(f func(n int64) int64) { j.pick.Store(&f) }
func (j *jitter) Int64N(n int64) int64 {
	if f := j.pick.Load(); f != nil {
		return (*f)(n)
	}
	return 0
}

// skewClock is the stand-ins' clock: real time plus a settable offset.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) now() time.Time      { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewClock) set(d time.Duration) { c.offset.Store(int64(d)) }
func (c *skewClock) reset()              { c.set(0) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// world is a running Gatehouse over TLS (cloud issuers must be https), the
// AWS and GCP stand-ins trusting its organizations' issuers, and two
// organizations, each with a project reached by a member service account of
// the user role.
type world struct {
	t      *testing.T
	e      *testenv.Env
	aws    *cloudtest.AWS
	gcp    *cloudtest.GCP
	sleeps *sleeps
	jitter *jitter
	clock  *skewClock
	log    *syncBuffer
	// jwksDown makes every workload issuer's JWKS answer 503.
	jwksDown atomic.Bool

	a, b orgWorld
}

type orgWorld struct {
	admin   *testenv.Tenant // administrator service account
	member  *testenv.Tenant // user-role service account whose group reaches project
	project string
	issuer  string
}

func newWorld(t *testing.T, st *store.Store) *world {
	t.Helper()
	w := &world{t: t, sleeps: &sleeps{}, jitter: &jitter{}, clock: &skewClock{}, log: &syncBuffer{}}
	w.e = testenv.NewEnvWith(t, st, testenv.Options{TLS: true, Log: w.log, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if w.jwksDown.Load() && strings.HasSuffix(r.URL.Path, "/jwks") {
				http.Error(rw, "unavailable", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(rw, r)
		})
	}})
	// The stand-ins reach Gatehouse with its test client (it trusts
	// httptest's certificate, which every httptest TLS server shares).
	w.aws = cloudtest.NewAWS(t, w.e.Client, w.clock.now)
	w.gcp = cloudtest.NewGCP(t, w.e.Client, w.clock.now)
	roots := x509.NewCertPool()
	roots.AddCert(w.aws.STS.Certificate())
	c := w.e.Cloud
	c.RootCAs, c.Jitter, c.Sleep = roots, w.jitter, w.sleeps.sleep
	c.AttemptTimeout, c.RequestTimeout = 2*time.Second, 20*time.Second
	// The stand-ins, which identities name as their stsEndpoint, listen
	// on loopback (TestTenantEndpointsPublicOnly turns this off).
	c.AllowPrivateTenantEndpoints = true
	c.AWS = cloud.AWSPlatform{AccessKeyID: platformKeyID, SecretAccessKey: platformSecret,
		STSEndpoint: w.aws.STS.URL, OrganizationsEndpoint: w.aws.Organizations.URL}

	w.a = w.newOrg("org-a")
	w.b = w.newOrg("org-b")
	w.setupAWS()
	w.setupGCP()
	return w
}

func (w *world) newOrg(name string) orgWorld {
	w.t.Helper()
	admin := w.e.NewTenant(name, "administrator")
	member := w.e.AddMember(admin.OrgID, name+"-ci", "user")
	p := w.e.Must(http.StatusAccepted, "POST", "/api/v1/organizations/"+admin.OrgID+"/projects", admin.Token, map[string]any{
		"metadata": map[string]any{"name": "prod"}, "spec": map[string]any{"groupIDs": []string{member.GroupID}}}).Map(w.t)
	return orgWorld{admin: admin, member: member, project: p["metadata"].(map[string]any)["id"].(string),
		issuer: w.e.URL + "/oidc/organizations/" + admin.OrgID}
}

func (w *world) setupAWS() {
	a := w.aws
	provA := a.AddOIDCProvider(accountA, w.a.issuer, "sts.amazonaws.com")
	// B's issuer is registered in A's account too, but no role of A trusts it.
	a.AddOIDCProvider(accountA, w.b.issuer, "sts.amazonaws.com")
	provB := a.AddOIDCProvider(accountB, w.b.issuer, "sts.amazonaws.com")
	a.AddRole(cloudtest.Role{ARN: ciRole, TrustedProvider: provA.ARN(), AudEquals: "sts.amazonaws.com",
		SubLike: cloud.SubjectPrefix(w.a.admin.OrgID, w.a.project) + "*", MaxSessionDuration: 3600})
	a.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + accountB + ":role/gatehouse-ci", TrustedProvider: provB.ARN(),
		AudEquals: "sts.amazonaws.com", SubLike: cloud.SubjectPrefix(w.b.admin.OrgID, w.b.project) + "*"})
	a.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + accountA + ":role/gatehouse-tagged", TrustedProvider: provA.ARN(),
		AudEquals: "sts.amazonaws.com", SubLike: cloud.SubjectPrefix(w.a.admin.OrgID, "*") + "*", AllowTagSession: true})
	// The management role of A's organization, for this Gatehouse's own
	// identity with A's external ID, and for A's federated identity.
	a.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + gatehouseAcct + ":user/gatehouse", AccessKeyID: platformKeyID, SecretAccessKey: platformSecret})
	a.AddRole(cloudtest.Role{ARN: fedOrgRole, TrustedProvider: provA.ARN(), AudEquals: "sts.amazonaws.com",
		SubLike: cloud.SubjectPrefix(w.a.admin.OrgID, "*") + "*", Allowed: []string{"organizations:DescribeOrganization", "organizations:ListAccounts"}})
	a.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + accountA + ":user/gatehouse-validator", AccessKeyID: orgKeyID, SecretAccessKey: orgKeySecret,
		Allowed: []string{"organizations:DescribeOrganization", "organizations:ListAccounts"}})
	a.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + accountA + ":user/no-permissions", AccessKeyID: weakKeyID, SecretAccessKey: weakKeySecret})
	a.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + accountLone + ":user/lonely", AccessKeyID: loneKeyID, SecretAccessKey: loneKeySecret,
		Allowed: []string{"organizations:DescribeOrganization"}})
	// Tags and organizational units, for tag filters: prod is tagged
	// env=prod; staging is in ou-aaaa-staging, below ou-aaaa-workloads
	// (tier=workloads); old is in ou-aaaa-workloads itself.
	a.AddOrganization(cloudtest.Organization{ID: "o-aaaaaaaaaa", ManagementAccountID: accountA, ManagementAccountEmail: "aws-root@acme.example",
		Accounts: []cloudtest.Account{
			{ID: accountA, Name: "management", Email: "aws-root@acme.example", State: "ACTIVE", Tags: map[string]string{"env": "management"}},
			{ID: memberOne, Name: "prod", Email: "prod@acme.example", State: "ACTIVE", Tags: map[string]string{"env": "prod", "cost-center": "42"}},
			{ID: memberTwo, Name: "staging", Email: "staging@acme.example", State: "ACTIVE", Parent: "ou-aaaa-staging",
				Tags: map[string]string{"env": "staging"}},
			{ID: memberSuspend, Name: "old", Email: "old@acme.example", State: "SUSPENDED", Parent: "ou-aaaa-workloads"},
		},
		Units: []cloudtest.Unit{
			{ID: "ou-aaaa-workloads", Tags: map[string]string{"tier": "workloads"}},
			{ID: "ou-aaaa-staging", Parent: "ou-aaaa-workloads", Tags: map[string]string{"team": "platform"}},
		},
		RootTags: map[string]string{"tier": "root"}})
}

// externalIDRole (re)creates the management role trusting this Gatehouse's
// identity with externalID.
func (w *world) externalIDRole(externalID string) {
	w.aws.AddRole(cloudtest.Role{ARN: orgRole, TrustedPrincipals: []string{"arn:aws:iam::" + gatehouseAcct + ":root"}, ExternalID: externalID,
		Allowed: []string{"organizations:DescribeOrganization", "organizations:ListAccounts"}})
}

// discoveryRole creates the discovery role in a member account, trusting the
// management account's roles.
func (w *world) discoveryRole(account string) {
	w.aws.AddRole(cloudtest.Role{ARN: "arn:aws:iam::" + account + ":role/gatehouse/discovery",
		TrustedPrincipals: []string{"arn:aws:iam::" + accountA + ":root"}})
}

func (w *world) setupGCP() {
	w.gcp.AddProvider(cloudtest.WorkloadProvider{ProjectNumber: gcpProject, Pool: gcpPool, Provider: gcpProvider, IssuerURI: w.a.issuer,
		AttributeMapping: map[string]string{"google.subject": "assertion.sub", "attribute.project_id": "assertion.project_id",
			"attribute.organization_id": "assertion.organization_id"},
		AttributeCondition: "assertion.organization_id == '" + w.a.admin.OrgID + "'"})
	w.gcp.Bind(gcpSA, "principalSet://iam.googleapis.com/projects/"+gcpProject+"/locations/global/workloadIdentityPools/"+gcpPool+
		"/attribute.project_id/"+w.a.project)
}

func (o orgWorld) base() string { return "/api/v1/organizations/" + o.admin.OrgID }

func (o orgWorld) identities() string {
	return o.base() + "/projects/" + o.project + "/cloudidentities"
}

// createIdentity creates a cloud identity in o's project as o's admin.
func (w *world) createIdentity(o orgWorld, name string, spec map[string]any) string {
	w.t.Helper()
	r := w.e.Must(http.StatusCreated, "POST", o.identities(), o.admin.Token, map[string]any{"metadata": map[string]any{"name": name}, "spec": spec}).Map(w.t)
	return r["metadata"].(map[string]any)["id"].(string)
}

func (w *world) awsIdentity(o orgWorld, name, role string, extra map[string]any) string {
	aws := map[string]any{"roleARN": role, "stsEndpoint": w.aws.STS.URL}
	spec := map[string]any{"provider": "aws", "aws": aws}
	for k, v := range extra {
		if k == "aws" {
			for ak, av := range v.(map[string]any) {
				aws[ak] = av
			}
			continue
		}
		spec[k] = v
	}
	return w.createIdentity(o, name, spec)
}

func (w *world) gcpIdentity(o orgWorld, name string, gcp map[string]any, extra map[string]any) string {
	g := map[string]any{"projectNumber": gcpProject, "workloadIdentityPoolID": gcpPool, "providerID": gcpProvider,
		"stsEndpoint": w.gcp.STS.URL, "iamCredentialsEndpoint": w.gcp.IAMCredentials.URL}
	for k, v := range gcp {
		g[k] = v
	}
	spec := map[string]any{"provider": "gcp", "gcp": g}
	for k, v := range extra {
		spec[k] = v
	}
	return w.createIdentity(o, name, spec)
}

// credentials asks for credentials of identity id as token.
func (w *world) credentials(o orgWorld, id, token string, body map[string]any) *testenv.Response {
	w.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return w.e.Do("POST", o.identities()+"/"+id+"/credentials", token, body)
}

// wantCloudError checks a typed cloud error.
func wantCloudError(t *testing.T, r *testenv.Response, status int, errorType cloud.ErrorType, contains string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	m := r.Map(t)
	if m["errorType"] != string(errorType) {
		t.Fatalf("errorType %v, want %s; body %s", m["errorType"], errorType, r.Body)
	}
	code := "invalid_request"
	if status == http.StatusBadGateway {
		code = "server_error"
	}
	if m["error"] != code {
		t.Errorf("error %v, want %s", m["error"], code)
	}
	if d, _ := m["error_description"].(string); !strings.Contains(d, contains) {
		t.Errorf("error_description %q does not mention %q", d, contains)
	}
}

// policy builds a retry policy body.
func policy(kind string, params map[string]any) map[string]any {
	return map[string]any{"backOffStrategyType": kind, "backOffStrategy": params}
}

// closedPort returns a loopback https URL nothing listens on.
func closedPort(t *testing.T) string { return "https://" + testenv.ClosedAddr(t) }

// silentListener accepts connections and never answers; it returns its
// https URL.
func silentListener(t *testing.T) string { return "https://" + testenv.SilentAddr(t) }

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func sameDurations(a, b []time.Duration) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
