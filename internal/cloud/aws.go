package cloud

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// organizationsRegion is where AWS Organizations, a global service, signs.
const organizationsRegion = "us-east-1"

// httpClient is the client of every outbound cloud call: one transport, so
// that connections to an endpoint are reused across calls; each attempt is
// a client span when tracing is on.
func (s *Service) httpClient() *http.Client {
	s.clientOnce.Do(func() { s.client = &http.Client{Transport: telemetry.Transport(s.transport())} })
	return s.client
}

// stsClient builds an STS client for one operation (each gets its own
// retryer: see awsRetryer). endpoint ” means AWS's regional endpoint.
func (s *Service) stsClient(ctx context.Context, region, endpoint string, creds aws.CredentialsProvider, p RetryPolicy) *sts.Client {
	return s.stsClientWith(ctx, s.httpClient(), region, endpoint, creds, p)
}

// stsClientWith is stsClient over hc.
func (s *Service) stsClientWith(ctx context.Context, hc *http.Client, region, endpoint string, creds aws.CredentialsProvider, p RetryPolicy) *sts.Client {
	o := sts.Options{Region: region, Credentials: creds, HTTPClient: hc, Retryer: awsRetryer(ctx, p, s.jitter(), s.sleeper())}
	if endpoint != "" {
		o.BaseEndpoint = aws.String(endpoint)
	}
	return sts.New(o)
}

// organizationsClient builds an Organizations client for one operation.
func (s *Service) organizationsClient(ctx context.Context, creds aws.CredentialsProvider, p RetryPolicy) *organizations.Client {
	o := organizations.Options{Region: organizationsRegion, Credentials: creds, HTTPClient: s.httpClient(),
		Retryer: awsRetryer(ctx, p, s.jitter(), s.sleeper())}
	if s.AWS.OrganizationsEndpoint != "" {
		o.BaseEndpoint = aws.String(s.AWS.OrganizationsEndpoint)
	}
	return organizations.New(o)
}

func staticCredentials(c *AWSCredentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// assumeRoleWithWebIdentity exchanges a workload token for the role's
// temporary credentials. The call is unsigned: the token is the credential.
func (s *Service) assumeRoleWithWebIdentity(ctx context.Context, a *AWSIdentity, token, session string, p RetryPolicy) (*AWSCredentials, error) {
	hc := s.httpClient()
	if a.STSEndpoint != "" {
		hc = s.tenantClient() // the organization chose it
	}
	c := s.stsClientWith(ctx, hc, a.Region, a.STSEndpoint, aws.AnonymousCredentials{}, p)
	out, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(a.RoleARN), RoleSessionName: aws.String(session), WebIdentityToken: aws.String(token),
		DurationSeconds: aws.Int32(int32(a.SessionDuration)),
	})
	if err != nil {
		return nil, classifyAWS("AWS STS AssumeRoleWithWebIdentity", err)
	}
	return credentialsFromSTS("AWS STS AssumeRoleWithWebIdentity", out.Credentials, out.AssumedRoleUser)
}

// credentialsFromSTS reads the temporary credentials of an assumed role.
func credentialsFromSTS(what string, c *ststypes.Credentials, u *ststypes.AssumedRoleUser) (*AWSCredentials, error) {
	if c == nil {
		return nil, newError(ErrUnknown, nil, "%s returned no credentials", what)
	}
	creds := &AWSCredentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), Expiration: aws.ToTime(c.Expiration).UTC(),
	}
	if u != nil {
		creds.AssumedRoleARN = aws.ToString(u.Arn)
	}
	return creds, nil
}

// assumeRole assumes roleARN with base, passing externalID (if not ”).
func (s *Service) assumeRole(ctx context.Context, region, endpoint string, base aws.CredentialsProvider, roleARN, externalID, session string, p RetryPolicy) (*AWSCredentials, error) {
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(int32((15 * time.Minute).Seconds()))}
	if externalID != "" {
		in.ExternalId = aws.String(externalID)
	}
	out, err := s.stsClient(ctx, region, endpoint, base, p).AssumeRole(ctx, in)
	if err != nil {
		return nil, classifyAWS("AWS STS AssumeRole", err)
	}
	return credentialsFromSTS("AWS STS AssumeRole", out.Credentials, out.AssumedRoleUser)
}

// callerIdentity proves a long-lived credential (any valid key may call
// sts:GetCallerIdentity, no permission needed) and returns its ARN.
func (s *Service) callerIdentity(ctx context.Context, creds aws.CredentialsProvider, p RetryPolicy) (string, error) {
	region := s.AWS.Region
	if region == "" {
		region = DefaultAWSRegion
	}
	out, err := s.stsClient(ctx, region, s.AWS.STSEndpoint, creds, p).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", classifyAWS("AWS STS GetCallerIdentity", err)
	}
	return aws.ToString(out.Arn), nil
}

// describeOrganization reads the organization the credential's account
// belongs to.
func (s *Service) describeOrganization(ctx context.Context, creds aws.CredentialsProvider, p RetryPolicy) (*Organization, error) {
	out, err := s.organizationsClient(ctx, creds, p).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return nil, classifyAWS("AWS Organizations DescribeOrganization", err)
	}
	o := out.Organization
	if o == nil {
		return nil, newError(ErrUnknown, nil, "AWS Organizations DescribeOrganization returned no organization")
	}
	return &Organization{
		OrganizationID: aws.ToString(o.Id), OrganizationARN: aws.ToString(o.Arn),
		ManagementAccountID: aws.ToString(o.MasterAccountId), ManagementAccountARN: aws.ToString(o.MasterAccountArn),
		ManagementAccountEmail: aws.ToString(o.MasterAccountEmail),
	}, nil
}

// maxAccounts bounds account discovery: an organization may hold thousands
// of accounts, but a connection's status is one row.
const maxAccounts = 1000

// listAccounts lists the organization's accounts (management account or
// delegated administrator only), at most maxAccounts.
func (s *Service) listAccounts(ctx context.Context, creds aws.CredentialsProvider, p RetryPolicy) ([]Account, error) {
	var out []Account
	var next *string
	for {
		page, err := s.organizationsClient(ctx, creds, p).ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: next, MaxResults: aws.Int32(20)})
		if err != nil {
			return nil, classifyAWS("AWS Organizations ListAccounts", err)
		}
		for _, a := range page.Accounts {
			out = append(out, accountFromAWS(a))
		}
		next = page.NextToken
		if next == nil || *next == "" || len(out) >= maxAccounts {
			return out, nil
		}
	}
}

// accountFromAWS reads an account; its State, or the older Status field
// that AWS still sends beside it.
func accountFromAWS(a orgtypes.Account) Account {
	state := string(a.State)
	if state == "" {
		state = string(a.Status)
	}
	return Account{AccountID: aws.ToString(a.Id), ARN: aws.ToString(a.Arn), Name: aws.ToString(a.Name),
		Email: aws.ToString(a.Email), State: state}
}
