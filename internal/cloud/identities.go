package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The cloud providers.
const (
	ProviderAWS = "aws"
	ProviderGCP = "gcp"
)

// Defaults and limits of cloud identities.
const (
	DefaultAWSAudience        = "sts.amazonaws.com"
	DefaultAWSSessionDuration = 3600  // seconds
	MinAWSSessionDuration     = 900   // AWS's minimum DurationSeconds
	MaxAWSSessionDuration     = 43200 // AWS's maximum role MaxSessionDuration
	DefaultGCPLifetime        = 3600  // seconds
	MinGCPLifetime            = 60
	MaxGCPLifetime            = 43200 // with the org policy constraint; 3600 without
	DefaultGCPScope           = "https://www.googleapis.com/auth/cloud-platform"
	DefaultGCPSTSEndpoint     = "https://sts.googleapis.com"
	DefaultGCPIAMEndpoint     = "https://iamcredentials.googleapis.com"
	maxGCPScopes              = 20
	maxAudience               = 512
)

// IdentitySpec is a cloud identity's configuration. Exactly one of AWS and
// GCP is set, as Provider says.
type IdentitySpec struct {
	Provider string       `json:"provider"`
	AWS      *AWSIdentity `json:"aws,omitempty"`
	GCP      *GCPIdentity `json:"gcp,omitempty"`
	// Audience overrides the token's aud (default: sts.amazonaws.com for
	// AWS, the provider's full resource name for GCP).
	Audience string `json:"audience,omitempty"`
	// RetryPolicy governs the exchange's calls (DefaultRetryPolicy if nil).
	RetryPolicy *RetryPolicy `json:"retryPolicy,omitempty"`
}

// AWSIdentity: assume RoleARN with AssumeRoleWithWebIdentity.
type AWSIdentity struct {
	RoleARN string `json:"roleARN"`
	// SessionDuration is DurationSeconds (900–43200; the role's
	// MaxSessionDuration must allow it).
	SessionDuration int    `json:"sessionDuration,omitempty"`
	Region          string `json:"region,omitempty"`
	// STSEndpoint overrides the regional STS endpoint.
	STSEndpoint string `json:"stsEndpoint,omitempty"`
	// SessionTags adds the AWSSessionTagsClaim (organization_id,
	// project_id, principal_type, principal_id); the role's trust policy
	// must then allow sts:TagSession.
	SessionTags bool `json:"sessionTags,omitempty"`
}

// GCPIdentity: exchange at GCP STS with a workload identity pool provider,
// then, if ServiceAccountEmail is set, impersonate that service account with
// IAM Credentials generateAccessToken.
type GCPIdentity struct {
	ProjectNumber          string   `json:"projectNumber"`
	WorkloadIdentityPoolID string   `json:"workloadIdentityPoolID"`
	ProviderID             string   `json:"providerID"`
	ServiceAccountEmail    string   `json:"serviceAccountEmail,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	// Lifetime of the service account token, seconds.
	Lifetime               int    `json:"lifetime,omitempty"`
	STSEndpoint            string `json:"stsEndpoint,omitempty"`
	IAMCredentialsEndpoint string `json:"iamCredentialsEndpoint,omitempty"`
}

// ProviderResourceName is the full resource name of the workload identity
// pool provider: GCP's default audience.
func (g *GCPIdentity) ProviderResourceName() string {
	return "//iam.googleapis.com/projects/" + g.ProjectNumber + "/locations/global/workloadIdentityPools/" +
		g.WorkloadIdentityPoolID + "/providers/" + g.ProviderID
}

// IdentityStatus is what a caller needs to set up the cloud's trust.
type IdentityStatus struct {
	// Issuer is the organization's workload issuer URL.
	Issuer string `json:"issuer"`
	// Audience is the aud of the identity's tokens.
	Audience string `json:"audience"`
	// SubjectPrefix starts the sub of every token of the project's
	// principals.
	SubjectPrefix string `json:"subjectPrefix"`
}

// Identity is a stored cloud identity.
type Identity struct {
	Meta      store.Meta
	ProjectID string
	Spec      IdentitySpec
	Status    IdentityStatus
}

var (
	roleARNPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	awsRegionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	gcpNumberPattern  = regexp.MustCompile(`^\d{1,20}$`)
	gcpIDPattern      = regexp.MustCompile(`^[a-z0-9-]{4,32}$`)
	gcpServiceAccount = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*@[a-z0-9.-]+\.gserviceaccount\.com$`)
)

// CheckRoleARN validates an IAM role ARN.
func CheckRoleARN(field, arn string) error {
	if !roleARNPattern.MatchString(arn) {
		return invalid("%s must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", field)
	}
	return nil
}

// normalize checks spec and fills its defaults; the result is what is stored.
func (spec *IdentitySpec) normalize() error {
	if spec.RetryPolicy != nil {
		if err := spec.RetryPolicy.Validate("spec.retryPolicy"); err != nil {
			return err
		}
	}
	if len(spec.Audience) > maxAudience || strings.ContainsAny(spec.Audience, " \t\r\n") {
		return invalid("spec.audience must be at most %d characters without whitespace", maxAudience)
	}
	switch spec.Provider {
	case ProviderAWS:
		if spec.AWS == nil || spec.GCP != nil {
			return invalid("spec.aws (and not spec.gcp) is required for provider aws")
		}
		return spec.AWS.normalize()
	case ProviderGCP:
		if spec.GCP == nil || spec.AWS != nil {
			return invalid("spec.gcp (and not spec.aws) is required for provider gcp")
		}
		return spec.GCP.normalize()
	}
	return invalid("spec.provider must be aws or gcp")
}

func (a *AWSIdentity) normalize() error {
	if err := CheckRoleARN("spec.aws.roleARN", a.RoleARN); err != nil {
		return err
	}
	if a.SessionDuration == 0 {
		a.SessionDuration = DefaultAWSSessionDuration
	}
	if a.SessionDuration < MinAWSSessionDuration || a.SessionDuration > MaxAWSSessionDuration {
		return invalid("spec.aws.sessionDuration must be between %d and %d seconds", MinAWSSessionDuration, MaxAWSSessionDuration)
	}
	if a.Region == "" {
		a.Region = DefaultAWSRegion
	}
	if !awsRegionPattern.MatchString(a.Region) {
		return invalid("spec.aws.region must be an AWS region such as eu-west-1")
	}
	if a.STSEndpoint != "" {
		return CheckEndpoint("spec.aws.stsEndpoint", a.STSEndpoint)
	}
	return nil
}

func (g *GCPIdentity) normalize() error {
	switch {
	case !gcpNumberPattern.MatchString(g.ProjectNumber):
		return invalid("spec.gcp.projectNumber must be the project number (digits), not the project ID")
	case !gcpIDPattern.MatchString(g.WorkloadIdentityPoolID):
		return invalid("spec.gcp.workloadIdentityPoolID must be 4 to 32 of a-z 0-9 -")
	case !gcpIDPattern.MatchString(g.ProviderID):
		return invalid("spec.gcp.providerID must be 4 to 32 of a-z 0-9 -")
	}
	if g.ServiceAccountEmail != "" {
		if a, err := mail.ParseAddress(g.ServiceAccountEmail); err != nil || a.Address != g.ServiceAccountEmail || !gcpServiceAccount.MatchString(g.ServiceAccountEmail) {
			return invalid("spec.gcp.serviceAccountEmail must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)")
		}
	}
	if len(g.Scopes) == 0 {
		g.Scopes = []string{DefaultGCPScope}
	}
	if len(g.Scopes) > maxGCPScopes {
		return invalid("spec.gcp.scopes: at most %d scopes", maxGCPScopes)
	}
	for i, sc := range g.Scopes {
		if u, err := url.Parse(sc); err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(sc, " \t\r\n") {
			return invalid("spec.gcp.scopes[%d] must be an https OAuth scope URL", i)
		}
	}
	if g.Lifetime == 0 {
		g.Lifetime = DefaultGCPLifetime
	}
	if g.Lifetime < MinGCPLifetime || g.Lifetime > MaxGCPLifetime {
		return invalid("spec.gcp.lifetime must be between %d and %d seconds", MinGCPLifetime, MaxGCPLifetime)
	}
	if g.ServiceAccountEmail == "" && g.Lifetime != DefaultGCPLifetime {
		return invalid("spec.gcp.lifetime applies only with a serviceAccountEmail (a federated token's lifetime is GCP's)")
	}
	if g.STSEndpoint != "" {
		if err := CheckEndpoint("spec.gcp.stsEndpoint", g.STSEndpoint); err != nil {
			return err
		}
	}
	if g.IAMCredentialsEndpoint != "" {
		return CheckEndpoint("spec.gcp.iamCredentialsEndpoint", g.IAMCredentialsEndpoint)
	}
	return nil
}

// audience is the aud of the identity's tokens.
func (spec *IdentitySpec) audience() string {
	switch {
	case spec.Audience != "":
		return spec.Audience
	case spec.GCP != nil:
		return spec.GCP.ProviderResourceName()
	}
	return DefaultAWSAudience
}

func (spec *IdentitySpec) retryPolicy() RetryPolicy {
	if spec.RetryPolicy != nil {
		return *spec.RetryPolicy
	}
	return DefaultRetryPolicy()
}

func (s *Service) identityFromStore(c *store.CloudIdentity) (*Identity, error) {
	var spec IdentitySpec
	if err := json.Unmarshal([]byte(c.Spec), &spec); err != nil {
		return nil, fmt.Errorf("cloud identity %s: decode spec: %w", c.ID, err)
	}
	return &Identity{Meta: c.Meta, ProjectID: c.ProjectID, Spec: spec, Status: IdentityStatus{
		Issuer: s.IssuerURL(c.OrganizationID), Audience: spec.audience(), SubjectPrefix: SubjectPrefix(c.OrganizationID, c.ProjectID),
	}}, nil
}

func identityToStore(id *Identity) (*store.CloudIdentity, error) {
	b, err := json.Marshal(id.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode cloud identity spec: %w", err)
	}
	return &store.CloudIdentity{Meta: id.Meta, ProjectID: id.ProjectID, Provider: id.Spec.Provider, Spec: string(b)}, nil
}

// project checks that projectID is a project of orgID (404 otherwise).
func project(ctx context.Context, q *store.Q, orgID, projectID string) error {
	_, err := q.GetProject(ctx, orgID, projectID)
	return storeError(err, "project", projectID)
}

// CreateIdentity stores a new cloud identity in a project.
func (s *Service) CreateIdentity(ctx context.Context, actor *authn.Principal, orgID, projectID string, meta store.Meta, spec IdentitySpec) (*Identity, error) {
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	id := &Identity{Meta: meta, ProjectID: projectID, Spec: spec}
	s.newMeta(&id.Meta, actor, orgID)
	row, err := identityToStore(id)
	if err != nil {
		return nil, err
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := project(ctx, q, orgID, projectID); err != nil {
			return err
		}
		audit.Describe(ctx, "cloudidentities", row.ID, nil, id)
		return storeError(q.CreateCloudIdentity(ctx, row), "cloud identity", meta.Name)
	})
	if err != nil {
		return nil, err
	}
	return s.identityFromStore(row)
}

// GetIdentity reads a cloud identity of a project.
func (s *Service) GetIdentity(ctx context.Context, orgID, projectID, id string) (*Identity, error) {
	row, err := s.Store.Read().GetCloudIdentity(ctx, orgID, projectID, id)
	if err != nil {
		return nil, storeError(err, "cloud identity", id)
	}
	return s.identityFromStore(row)
}

// ListIdentities pages through a project's cloud identities.
func (s *Service) ListIdentities(ctx context.Context, orgID, projectID string, page store.Page) ([]*Identity, error) {
	q := s.Store.Read()
	if err := project(ctx, q, orgID, projectID); err != nil {
		return nil, err
	}
	rows, err := q.ListCloudIdentities(ctx, orgID, projectID, page)
	if err != nil {
		return nil, err
	}
	out := make([]*Identity, 0, len(rows))
	for _, r := range rows {
		id, err := s.identityFromStore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// UpdateIdentity replaces a cloud identity's metadata and spec.
func (s *Service) UpdateIdentity(ctx context.Context, actor *authn.Principal, orgID, projectID, id string, meta store.Meta, spec IdentitySpec) (*Identity, error) {
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	var row *store.CloudIdentity
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudIdentity(ctx, orgID, projectID, id)
		if err != nil {
			return storeError(err, "cloud identity", id)
		}
		upd := &Identity{Meta: meta, ProjectID: projectID, Spec: spec}
		s.carryMeta(&upd.Meta, old.Meta, actor)
		if row, err = identityToStore(upd); err != nil {
			return err
		}
		if spec.Provider != ProviderAWS {
			if err := s.refuseIfUsed(ctx, q, orgID, "", id, "change the provider of"); err != nil {
				return err
			}
		}
		before, err := s.identityFromStore(old)
		if err != nil {
			return err
		}
		audit.Describe(ctx, "cloudidentities", id, before, upd)
		return storeError(q.UpdateCloudIdentity(ctx, row), "cloud identity", meta.Name)
	})
	if err != nil {
		return nil, err
	}
	return s.identityFromStore(row)
}

// DeleteIdentity deletes a cloud identity, unless a cloud connection
// federates with it.
func (s *Service) DeleteIdentity(ctx context.Context, orgID, projectID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudIdentity(ctx, orgID, projectID, id)
		if err != nil {
			return storeError(err, "cloud identity", id)
		}
		if err := s.refuseIfUsed(ctx, q, orgID, "", id, "delete"); err != nil {
			return err
		}
		before, err := s.identityFromStore(old)
		if err != nil {
			return err
		}
		audit.Describe(ctx, "cloudidentities", id, before, nil)
		return storeError(q.DeleteCloudIdentity(ctx, orgID, projectID, id), "cloud identity", id)
	})
}

// refuseIfUsed refuses (400) to act on a credential or cloud identity that a
// cloud connection uses.
func (s *Service) refuseIfUsed(ctx context.Context, q *store.Q, orgID, credentialID, cloudIdentityID, action string) error {
	names, err := q.CloudConnectionsUsing(ctx, orgID, credentialID, cloudIdentityID)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		what, id := "credential", credentialID
		if credentialID == "" {
			what, id = "cloud identity", cloudIdentityID
		}
		return apierror.BadRequest("cannot %s %s %q: cloud connection(s) %s use it; change them first", action, what, id, strings.Join(names, ", "))
	}
	return nil
}

// TokenRequest is what a caller may choose about a token.
type TokenRequest struct {
	// Context is an optional label for the token's context claim.
	Context string
	// Lifetime of the token (DefaultTokenLifetime if zero).
	Lifetime time.Duration
}

// IssuedToken is a workload identity token and what it says.
type IssuedToken struct {
	Token  string
	Claims *WorkloadClaims
}

// Expiration is when the token expires.
func (t *IssuedToken) Expiration() time.Time { return time.Unix(t.Claims.ExpiresAt, 0).UTC() }

// IssueToken mints a workload identity token of a cloud identity for the
// authenticated caller, for use by external tooling (for example as an
// AWS_WEB_IDENTITY_TOKEN_FILE).
func (s *Service) IssueToken(ctx context.Context, p *authn.Principal, orgID, projectID, id string, req TokenRequest) (*IssuedToken, error) {
	if req.Lifetime == 0 {
		req.Lifetime = DefaultTokenLifetime
	}
	if req.Lifetime < MinTokenLifetime || req.Lifetime > MaxTokenLifetime || req.Lifetime%time.Second != 0 {
		return nil, invalid("lifetime must be whole seconds between %d and %d", int(MinTokenLifetime.Seconds()), int(MaxTokenLifetime.Seconds()))
	}
	if err := CheckContext("context", req.Context); err != nil {
		return nil, err
	}
	ident, caller, err := s.identityForCaller(ctx, p, orgID, projectID, id)
	if err != nil {
		return nil, err
	}
	raw, claims, err := s.mint(ctx, ident, caller, ident.Spec.audience(), req.Context, req.Lifetime)
	if err != nil {
		return nil, err
	}
	tok := &IssuedToken{Token: raw, Claims: claims}
	if err := s.auditIssue(ctx, ident, "workloadToken", claims.Subject, tok.Expiration(), ""); err != nil {
		return nil, err
	}
	return tok, nil
}

func (s *Service) identityForCaller(ctx context.Context, p *authn.Principal, orgID, projectID, id string) (*Identity, Caller, error) {
	ident, err := s.GetIdentity(ctx, orgID, projectID, id)
	if err != nil {
		return nil, Caller{}, err
	}
	caller, err := s.caller(ctx, p, orgID)
	if err != nil {
		return nil, Caller{}, err
	}
	return ident, caller, nil
}

// CredentialsRequest is what a caller may choose about an exchange.
type CredentialsRequest struct {
	Context     string
	RetryPolicy *RetryPolicy // overrides the identity's
}

// Credentials are what a cloud issued for a workload token: one of AWS and
// GCP is set. They are returned once and never stored or logged.
type Credentials struct {
	Provider string
	AWS      *AWSCredentials
	GCP      *GCPToken
}

// AWSCredentials are temporary AWS credentials of an assumed role.
type AWSCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string
}

// The kinds of GCP token.
const (
	GCPTokenServiceAccount = "serviceAccount"
	GCPTokenFederated      = "federated"
)

// GCPToken is a GCP OAuth2 access token: a service account's (Kind
// serviceAccount) or the federated principal's own (Kind federated).
type GCPToken struct {
	AccessToken string
	TokenType   string
	Expiration  time.Time
	Kind        string
}

// IssueCredentials mints a workload token for the caller and exchanges it
// with the cloud: AWS STS AssumeRoleWithWebIdentity, or GCP STS (then IAM
// Credentials generateAccessToken when the identity names a service
// account). Cloud failures are *Error values.
func (s *Service) IssueCredentials(ctx context.Context, p *authn.Principal, orgID, projectID, id string, req CredentialsRequest) (*Credentials, error) {
	if err := CheckContext("context", req.Context); err != nil {
		return nil, err
	}
	if req.RetryPolicy != nil {
		if err := req.RetryPolicy.Validate("retryPolicy"); err != nil {
			return nil, err
		}
	}
	ident, caller, err := s.identityForCaller(ctx, p, orgID, projectID, id)
	if err != nil {
		return nil, err
	}
	policy := ident.Spec.retryPolicy()
	if req.RetryPolicy != nil {
		policy = *req.RetryPolicy
	}
	raw, claims, err := s.mint(ctx, ident, caller, ident.Spec.audience(), req.Context, ExchangeTokenLifetime)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.outbound(ctx)
	defer cancel()
	switch ident.Spec.Provider {
	case ProviderAWS:
		creds, err := s.assumeRoleWithWebIdentity(ctx, ident.Spec.AWS, raw, sessionName(caller), policy)
		if err != nil {
			return nil, err
		}
		if err := s.auditIssue(ctx, ident, "awsCredentials", claims.Subject, creds.Expiration, creds.AssumedRoleARN); err != nil {
			return nil, err
		}
		return &Credentials{Provider: ProviderAWS, AWS: creds}, nil
	case ProviderGCP:
		tok, err := s.gcpToken(ctx, ident.Spec.GCP, ident.Spec.audience(), raw, policy)
		if err != nil {
			return nil, err
		}
		as := ""
		if tok.Kind == GCPTokenServiceAccount {
			as = ident.Spec.GCP.ServiceAccountEmail
		}
		if err := s.auditIssue(ctx, ident, "gcpAccessToken", claims.Subject, tok.Expiration, as); err != nil {
			return nil, err
		}
		return &Credentials{Provider: ProviderGCP, GCP: tok}, nil
	}
	return nil, errors.New("cloud identity of unknown provider " + ident.Spec.Provider)
}

// issued is what the audit log keeps of credentials handed out: never the
// token or keys themselves.
type issued struct {
	Kind            string    `json:"kind"`
	CloudIdentityID string    `json:"cloudIdentityId"`
	Provider        string    `json:"provider"`
	Subject         string    `json:"subject"`
	Expiration      time.Time `json:"expiration"`
	// As is the AWS role assumed or the GCP service account impersonated.
	As string `json:"as,omitempty"`
}

// auditIssue records that the caller obtained credentials of kind from
// ident, once the cloud has issued them (the commit of the event is the last
// step: without it nothing is handed out).
func (s *Service) auditIssue(ctx context.Context, ident *Identity, kind, subject string, exp time.Time, as string) error {
	return audit.Action(ctx, s.Store, "cloudidentitytokens", ident.Meta.ID,
		issued{Kind: kind, CloudIdentityID: ident.Meta.ID, Provider: ident.Spec.Provider, Subject: subject, Expiration: exp, As: as})
}

// sessionNameUnsafe is what AWS's RoleSessionName ([\w+=,.@-]{2,64}) does
// not allow.
var sessionNameUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName names the AWS session after the caller, so CloudTrail shows
// who it was.
func sessionName(c Caller) string {
	n := sessionNameUnsafe.ReplaceAllString("gh-"+c.Type+"-"+c.ID, "-")
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}
