package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The defaults of AmbientSources, as the AWS SDKs use them.
const (
	// DefaultIMDSEndpoint is the EC2 instance metadata service.
	DefaultIMDSEndpoint = "http://169.254.169.254"
	// ecsCredentialsHost serves AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
	ecsCredentialsHost = "http://169.254.170.2"
	// defaultAmbientSessionName names the access node's web identity
	// session in CloudTrail.
	defaultAmbientSessionName = "gatehouse-access-node"
)

// AmbientSources says where the built-in access node finds its ambient AWS
// identity (the ambientRole credential type): the credentials of the
// environment Gatehouse runs in. The first configured source is the source,
// as in the AWS SDKs' default chain: web identity, then the container
// credentials endpoint, then the EC2 instance metadata service. A configured
// source that fails is reported, not skipped, so that a broken IRSA setup
// does not silently fall back to the node's instance role.
//
// AmbientSourcesFromEnv reads them from the SDKs' environment variables;
// tests set them directly, so nothing depends on the process environment.
type AmbientSources struct {
	// RoleARN and WebIdentityTokenFile are EKS IRSA's web identity
	// (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE): the token file is read at
	// every use, since the kubelet rotates it. RoleSessionName
	// (AWS_ROLE_SESSION_NAME) is optional.
	RoleARN              string
	WebIdentityTokenFile string
	RoleSessionName      string
	// ContainerCredentialsURI is the ECS task role's or EKS Pod Identity's
	// credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI, or
	// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI under http://169.254.170.2).
	// ContainerAuthorizationTokenFile (read at every use) or
	// ContainerAuthorizationToken is its Authorization header
	// (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, AWS_CONTAINER_AUTHORIZATION_TOKEN).
	ContainerCredentialsURI         string
	ContainerAuthorizationToken     string
	ContainerAuthorizationTokenFile string
	// IMDSEndpoint is the EC2 instance metadata service
	// (AWS_EC2_METADATA_SERVICE_ENDPOINT; DefaultIMDSEndpoint if empty),
	// reached with IMDSv2 session tokens only. IMDSDisabled
	// (AWS_EC2_METADATA_DISABLED=true) leaves it out.
	IMDSEndpoint string
	IMDSDisabled bool
}

// AmbientSourcesFromEnv reads the AWS SDKs' environment variables with
// getenv (os.Getenv).
func AmbientSourcesFromEnv(getenv func(string) string) AmbientSources {
	a := AmbientSources{
		RoleARN: getenv("AWS_ROLE_ARN"), WebIdentityTokenFile: getenv("AWS_WEB_IDENTITY_TOKEN_FILE"),
		RoleSessionName:                 getenv("AWS_ROLE_SESSION_NAME"),
		ContainerCredentialsURI:         getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
		ContainerAuthorizationToken:     getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
		ContainerAuthorizationTokenFile: getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
		IMDSEndpoint:                    getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
		IMDSDisabled:                    strings.EqualFold(getenv("AWS_EC2_METADATA_DISABLED"), "true"),
	}
	// The relative URI wins over the full one, as in the SDKs.
	if rel := getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		a.ContainerCredentialsURI = ecsCredentialsHost + rel
	}
	return a
}

// The ambient sources, as Source names them.
const (
	AmbientWebIdentity = "web identity"
	AmbientContainer   = "container credentials endpoint"
	AmbientIMDS        = "EC2 instance metadata"
)

// Source names the source in use: AmbientWebIdentity, AmbientContainer,
// AmbientIMDS, or "" when none is configured.
func (a AmbientSources) Source() string {
	switch {
	case a.WebIdentityTokenFile != "":
		return AmbientWebIdentity
	case a.ContainerCredentialsURI != "":
		return AmbientContainer
	case !a.IMDSDisabled:
		return AmbientIMDS
	}
	return ""
}

// Check validates the configuration of the source in use, so that a broken
// setup fails at startup rather than at the first validation.
func (a AmbientSources) Check() error {
	switch a.Source() {
	case AmbientWebIdentity:
		if a.RoleARN == "" {
			return errors.New("AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN")
		}
		if err := CheckRoleARN("AWS_ROLE_ARN", a.RoleARN); err != nil {
			return err
		}
		if n := a.RoleSessionName; n != "" && (len(n) < 2 || len(n) > 64 || sessionNameUnsafe.MatchString(n)) {
			return errors.New("AWS_ROLE_SESSION_NAME must be 2-64 of A-Z a-z 0-9 + = , . @ _ -")
		}
	case AmbientContainer:
		return checkContainerURI(a.ContainerCredentialsURI)
	case AmbientIMDS:
		if a.IMDSEndpoint != "" {
			u, err := url.Parse(a.IMDSEndpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL")
			}
		}
	}
	return nil
}

// checkContainerURI applies the SDKs' rule: the credentials endpoint is
// https, or http on a loopback address or on one of the addresses ECS and
// EKS Pod Identity serve credentials on, so that credentials never travel
// in the clear across a network.
func checkContainerURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); isLoopback(host) || (ip != nil && (ip.Equal(net.ParseIP("169.254.170.2")) ||
			ip.Equal(net.ParseIP("169.254.170.23")) || ip.Equal(net.ParseIP("fd00:ec2::23")))) {
			return nil
		}
	}
	return errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http on a loopback address or the ECS/EKS credentials addresses")
}

// ambientDisabled refuses ambientRole on a Gatehouse that did not enable
// it. It is INVALID_REQUEST, not ACCESS_NODE_COMMUNICATION_FAILED: the
// access node is up and answering; this deployment deliberately does not
// offer the credential type (in a multi-tenant deployment, letting tenants
// drive Gatehouse's own AWS identity would make it a confused deputy), so
// the request cannot be carried out as written and retrying will not help.
func ambientDisabled() *Error {
	return invalid("credential type ambientRole is not enabled on this Gatehouse: the built-in access node's own AWS identity is only offered with --cloud-aws-ambient-credentials, for self-hosted, single-tenant deployments")
}

// metadataHTTPClient reaches link-local credential endpoints (IMDS, the
// container endpoint). It never goes through a proxy: those endpoints are
// only reachable from the host, and a proxy would see the credentials.
func (s *Service) metadataHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.Proxy = nil
		if s.RootCAs != nil && t.TLSClientConfig != nil {
			t.TLSClientConfig = t.TLSClientConfig.Clone()
			t.TLSClientConfig.RootCAs = s.RootCAs
		}
	})
}

// webIdentitySTS is stscreds' STS client for the access node's web identity:
// a client per call, so that each call follows the retry policy of the
// operation it serves.
type webIdentitySTS struct {
	s      *Service
	policy RetryPolicy
}

func (c webIdentitySTS) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return c.s.stsClient(ctx, c.s.stsRegion(), c.s.AWS.STSEndpoint, aws.AnonymousCredentials{}, c.policy).AssumeRoleWithWebIdentity(ctx, in, optFns...)
}

// ambientProvider builds the provider of the source in use. It is built for
// one operation: validations are rare administrative calls, and a fresh
// provider follows the operation's retry policy and deadline and sees a
// rotated token file or a new instance role at once. The cache still matters
// within the operation: discovery signs one call per member account.
func (s *Service) ambientProvider(ctx context.Context, a AmbientSources, policy RetryPolicy) (aws.CredentialsProvider, string) {
	retryer := func() aws.Retryer { return awsRetryer(ctx, policy, s.jitter(), s.sleeper()) }
	switch src := a.Source(); src {
	case AmbientWebIdentity:
		name := a.RoleSessionName
		if name == "" {
			name = defaultAmbientSessionName
		}
		p := stscreds.NewWebIdentityRoleProvider(webIdentitySTS{s: s, policy: policy}, a.RoleARN,
			stscreds.IdentityTokenFile(a.WebIdentityTokenFile), func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = name })
		return aws.NewCredentialsCache(p), src
	case AmbientContainer:
		p := endpointcreds.New(a.ContainerCredentialsURI, func(o *endpointcreds.Options) {
			o.HTTPClient = s.metadataHTTPClient()
			o.Retryer = retryer()
			o.AuthorizationToken = a.ContainerAuthorizationToken
			if f := a.ContainerAuthorizationTokenFile; f != "" {
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					b, err := os.ReadFile(f)
					if err != nil {
						return "", fmt.Errorf("read the container authorization token file: %w", err)
					}
					return strings.TrimSpace(string(b)), nil
				})
			}
		})
		return aws.NewCredentialsCache(p), src
	case AmbientIMDS:
		endpoint := a.IMDSEndpoint
		if endpoint == "" {
			endpoint = DefaultIMDSEndpoint
		}
		// Set explicitly, so the client reads no environment variable, and
		// IMDSv2 only: no fallback to v1's unauthenticated GETs. The
		// operation's retry policy paces the retries (the client's own
		// 1-second cap would replace its delays).
		client := imds.New(imds.Options{Endpoint: endpoint, ClientEnableState: imds.ClientEnabled, EnableFallback: aws.FalseTernary,
			HTTPClient: s.metadataHTTPClient(), Retryer: retryer(), DisableDefaultMaxBackoff: true})
		return aws.NewCredentialsCache(ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client })), src
	}
	return nil, ""
}

// ambientIdentity obtains the built-in access node's ambient AWS identity
// and proves it with sts:GetCallerIdentity, like a stored access key: a
// refused one is CREDENTIAL_INVALID, not a permission error of the
// Organizations call after it.
func (s *Service) ambientIdentity(ctx context.Context, policy RetryPolicy) (aws.CredentialsProvider, error) {
	creds, err := s.ambientCredentials(ctx, policy)
	if err != nil {
		return nil, err
	}
	if _, err := s.callerIdentity(ctx, creds, policy); err != nil {
		return nil, err
	}
	return creds, nil
}

// ambientCredentials obtains the ambient identity's credentials without
// proving them: for assuming a role with them, where STS's answer to the
// AssumeRole itself is the proof.
func (s *Service) ambientCredentials(ctx context.Context, policy RetryPolicy) (aws.CredentialsProvider, error) {
	if !s.AWS.AmbientCredentials {
		return nil, ambientDisabled()
	}
	creds, src := s.ambientProvider(ctx, s.AWS.Ambient, policy)
	if creds == nil {
		return nil, newError(ErrCredentialInvalid, nil,
			"no instance role: the built-in access node has no ambient AWS identity (no web identity, container credentials endpoint or EC2 instance metadata)")
	}
	if _, err := creds.Retrieve(ctx); err != nil {
		return nil, classifyAmbient(src, err)
	}
	return creds, nil
}

// classifyAmbient explains why the source gave no credentials. Web
// identity failures are STS's and typed like any STS call; a local source
// that gives nothing means the node has no usable identity: CREDENTIAL_INVALID,
// as the seed says of an access node without an instance role.
func classifyAmbient(src string, err error) *Error {
	if src == AmbientWebIdentity {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) || unreachable(err) {
			return classifyAWS("AWS STS AssumeRoleWithWebIdentity (the access node's web identity)", err)
		}
		return newError(ErrCredentialInvalid, err, "the access node's web identity token file could not be read")
	}
	what := "no container credentials: the container credentials endpoint gave none"
	if src == AmbientIMDS {
		what = "no instance role: the EC2 instance metadata service gave no credentials"
	}
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	switch {
	case unreachable(err):
		return newError(ErrCredentialInvalid, err, "%s (%s)", what, transportReason(err))
	case errors.As(err, &respErr):
		return newError(ErrCredentialInvalid, err, "%s (HTTP %d)", what, respErr.HTTPStatusCode())
	case errors.As(err, &apiErr):
		return newError(ErrCredentialInvalid, err, "%s (%s: %s)", what, apiErr.ErrorCode(), clip(apiErr.ErrorMessage()))
	}
	return newError(ErrCredentialInvalid, err, "%s", what)
}
