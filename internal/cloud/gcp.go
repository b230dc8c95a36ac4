package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"
)

// JWTTokenType is the subject token type of our workload tokens at GCP STS.
const JWTTokenType = "urn:ietf:params:oauth:token-type:jwt"

// subjectToken hands the already minted workload token to the externalaccount
// client.
type subjectToken string

// SubjectToken implements externalaccount.SubjectTokenSupplier.
func (t subjectToken) SubjectToken(context.Context, externalaccount.SupplierOptions) (string, error) {
	return string(t), nil
}

// gcpToken exchanges a workload token at GCP STS, and, when the identity
// names a service account, trades the federated token for the service
// account's with IAM Credentials generateAccessToken: both through
// x/oauth2's externalaccount client, over a transport that applies the
// retry policy.
func (s *Service) gcpToken(ctx context.Context, g *GCPIdentity, audience, token string, p RetryPolicy) (*GCPToken, error) {
	hc := s.httpClient()
	if g.STSEndpoint != "" || g.IAMCredentialsEndpoint != "" {
		hc = s.tenantClient() // the organization chose them
	}
	rt := &retryTransport{base: hc.Transport, policy: p, jitter: s.jitter(), sleep: s.sleeper()}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: rt})
	stsBase, iamBase := DefaultGCPSTSEndpoint, DefaultGCPIAMEndpoint
	if g.STSEndpoint != "" {
		stsBase = g.STSEndpoint
	}
	if g.IAMCredentialsEndpoint != "" {
		iamBase = g.IAMCredentialsEndpoint
	}
	conf := externalaccount.Config{
		Audience:             audience,
		SubjectTokenType:     JWTTokenType,
		TokenURL:             strings.TrimRight(stsBase, "/") + "/v1/token",
		Scopes:               g.Scopes,
		SubjectTokenSupplier: subjectToken(token),
	}
	kind := GCPTokenFederated
	if g.ServiceAccountEmail != "" {
		kind = GCPTokenServiceAccount
		conf.ServiceAccountImpersonationURL = strings.TrimRight(iamBase, "/") + "/v1/projects/-/serviceAccounts/" +
			url.PathEscape(g.ServiceAccountEmail) + ":generateAccessToken"
		conf.ServiceAccountImpersonationLifetimeSeconds = g.Lifetime
	}
	ts, err := externalaccount.NewTokenSource(ctx, conf)
	if err != nil {
		return nil, newError(ErrInvalidRequest, err, "GCP token exchange: %v", err)
	}
	tok, err := ts.Token()
	if err != nil {
		return nil, classifyGCP(rt.lastFailure(), g, err)
	}
	tokenType := tok.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	return &GCPToken{AccessToken: tok.AccessToken, TokenType: tokenType, Expiration: tok.Expiry.UTC(), Kind: kind}, nil
}

// gcpErrorBody is what GCP's endpoints answer on failure: OAuth2 errors from
// STS, the Google API error envelope from IAM Credentials.
type gcpErrorBody struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

type googleAPIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// describe reads the error code and message of a failed GCP response.
func (f *httpFailure) describe() (code, message string) {
	var body gcpErrorBody
	if json.Unmarshal(f.Body, &body) != nil {
		return http.StatusText(f.Status), ""
	}
	var oauth string
	if json.Unmarshal(body.Error, &oauth) == nil {
		return oauth, body.ErrorDescription
	}
	var g googleAPIError
	if json.Unmarshal(body.Error, &g) == nil && g.Status != "" {
		return g.Status, g.Message
	}
	return http.StatusText(f.Status), ""
}

// classifyGCP types a failed exchange from the last failed response the
// transport saw (err, from x/oauth2, embeds whole response bodies and is
// only the fallback).
func classifyGCP(f *httpFailure, g *GCPIdentity, err error) *Error {
	if f == nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return newError(ErrServiceEndpointNotReachable, err, "GCP token exchange: no answer within the timeout")
		}
		return newError(ErrUnknown, err, "GCP token exchange failed")
	}
	what := "GCP STS token exchange"
	if strings.Contains(f.URL, ":generateAccessToken") {
		what = "GCP IAM Credentials generateAccessToken for " + g.ServiceAccountEmail
	}
	if f.Status == 0 {
		return newError(ErrServiceEndpointNotReachable, err, "%s: the endpoint did not answer: %s", what, transportReason(f.Err))
	}
	code, msg := f.describe()
	text := fmt.Sprintf("%s: HTTP %d %s", what, f.Status, code)
	if msg != "" {
		text += ": " + clip(msg)
	}
	isIAM := what != "GCP STS token exchange"
	switch {
	case f.Status == http.StatusTooManyRequests || f.Status >= 500:
		return newError(ErrUnknown, err, "%s", text)
	case f.Status == http.StatusUnauthorized:
		return newError(ErrCredentialInvalid, err, "%s", text)
	case isIAM && f.Status == http.StatusForbidden:
		return newError(ErrNotEnoughPermissions, err, "%s", text)
	case isIAM && (f.Status == http.StatusBadRequest || f.Status == http.StatusNotFound):
		return newError(ErrInvalidRequest, err, "%s", text)
	case !isIAM && code == "invalid_request":
		return newError(ErrInvalidRequest, err, "%s", text)
	case !isIAM && f.Status < 500:
		// invalid_grant (token refused: issuer, audience, expiry, attribute
		// condition), invalid_target (no such provider), unauthorized_client.
		return newError(ErrCredentialInvalid, err, "%s", text)
	}
	return newError(ErrUnknown, err, "%s", text)
}
