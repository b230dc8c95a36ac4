package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gatehouse/gatehouse/internal/netguard"
)

// ErrorType says why a cloud call failed, in the seed's
// AWSOrganizationErrorType vocabulary. Credential exchanges use the same
// values, so a client handles both the same way.
type ErrorType string

// The error types, as the seed names them.
const (
	// ErrUnknown: anything not classified below, including throttling and
	// server errors that outlasted the retry policy.
	ErrUnknown ErrorType = "UNKNOWN"
	// ErrInvalidRequest: the request cannot be carried out as written
	// (malformed ARN, unknown credential, unknown access node, a parameter
	// the cloud refused as invalid).
	ErrInvalidRequest ErrorType = "INVALID_REQUEST"
	// ErrAccessNodeCommunicationFailed: the access node that runs the cloud
	// calls cannot be used. Only the built-in node exists; it fails this way
	// when disabled by --cloud-access-node-enabled=false.
	ErrAccessNodeCommunicationFailed ErrorType = "ACCESS_NODE_COMMUNICATION_FAILED"
	// ErrServiceEndpointNotReachable: no answer from the cloud endpoint
	// (refused connection, DNS, TLS, timeout), after retries.
	ErrServiceEndpointNotReachable ErrorType = "SERVICE_ENDPOINT_NOT_REACHABLE"
	// ErrCredentialInvalid: the cloud refused the credential or the role
	// assumption (bad signature, unknown key, wrong external ID, untrusted
	// issuer, wrong audience, expired token, trust policy).
	ErrCredentialInvalid ErrorType = "CREDENTIAL_INVALID"
	// ErrNotEnoughPermissions: the credential works but may not do what was
	// asked (Organizations AccessDeniedException, IAM Credentials 403).
	ErrNotEnoughPermissions ErrorType = "NOT_ENOUGH_PERMISSIONS"
	// ErrAllAccountsFailedDiscovery: every member account of the
	// organization refused the discovery role.
	ErrAllAccountsFailedDiscovery ErrorType = "ALL_ACCOUNTS_FAILED_DISCOVERY"
)

// ErrorTypes lists every ErrorType, in the seed's order.
var ErrorTypes = []ErrorType{ErrUnknown, ErrInvalidRequest, ErrAccessNodeCommunicationFailed,
	ErrServiceEndpointNotReachable, ErrCredentialInvalid, ErrNotEnoughPermissions, ErrAllAccountsFailedDiscovery}

// Error is a failed cloud operation: its type and a message fit for the
// caller (it names the cloud call and the cloud's own error code and
// message, never a secret). Err is the cause, for logs.
type Error struct {
	Type    ErrorType
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Type, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Type, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// AsError extracts a *Error from err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func newError(t ErrorType, cause error, format string, args ...any) *Error {
	return &Error{Type: t, Message: fmt.Sprintf(format, args...), Err: cause}
}

func invalid(format string, args ...any) *Error {
	return newError(ErrInvalidRequest, nil, format, args...)
}

// maxCloudMessage bounds how much of a cloud's error message is passed on.
const maxCloudMessage = 400

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxCloudMessage {
		return s[:maxCloudMessage] + "…"
	}
	return s
}

// AWS error codes by what they mean for the caller. Codes are those of the
// STS and Organizations API models.
var (
	awsCredentialCodes = map[string]bool{
		// The web identity was refused.
		"InvalidIdentityToken": true, "ExpiredTokenException": true, "IDPRejectedClaim": true,
		// The signing credential was refused.
		"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "IncompleteSignature": true,
		"MissingAuthenticationToken": true, "ExpiredToken": true, "UnrecognizedClientException": true,
		"InvalidSignatureException": true, "AuthFailure": true,
		// sts:AssumeRole / AssumeRoleWithWebIdentity refused by the trust
		// policy (wrong external ID, untrusted principal or issuer).
		"AccessDenied": true,
	}
	awsPermissionCodes = map[string]bool{
		// The credential works, the action is denied, or the account is not
		// (the management account of) an organization.
		"AccessDeniedException": true, "AWSOrganizationsNotInUseException": true,
	}
	awsInvalidCodes = map[string]bool{
		"ValidationError": true, "ValidationException": true, "InvalidParameterValue": true,
		"InvalidParameterCombination": true, "MalformedPolicyDocument": true, "PackedPolicyTooLarge": true,
		"RegionDisabledException": true, "InvalidInputException": true,
	}
)

// classifyAWS turns an aws-sdk-go-v2 operation error into an *Error. what
// names the call ("AWS STS AssumeRole").
func classifyAWS(what string, err error) *Error {
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		msg := fmt.Sprintf("%s: %s: %s", what, code, clip(apiErr.ErrorMessage()))
		switch {
		case awsCredentialCodes[code]:
			return newError(ErrCredentialInvalid, err, "%s", msg)
		case awsPermissionCodes[code]:
			return newError(ErrNotEnoughPermissions, err, "%s", msg)
		case awsInvalidCodes[code]:
			return newError(ErrInvalidRequest, err, "%s", msg)
		case code == "IDPCommunicationError":
			return newError(ErrUnknown, err, "%s (AWS could not read the issuer's discovery document or keys: it must be reachable from the internet over HTTPS)", msg)
		}
		return newError(ErrUnknown, err, "%s", msg)
	}
	if unreachable(err) {
		return newError(ErrServiceEndpointNotReachable, err, "%s: the endpoint did not answer: %s", what, transportReason(err))
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		return newError(ErrUnknown, err, "%s: HTTP %d", what, respErr.HTTPStatusCode())
	}
	return newError(ErrUnknown, err, "%s failed", what)
}

// unreachable reports whether err means the endpoint gave no HTTP answer:
// a transport failure (refused, reset, DNS, TLS) or the request's deadline.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return true
	}
	var tErr *transportError
	return errors.As(err, &tErr)
}

// transportReason describes a transport failure without the request's URL
// query or body.
func transportReason(err error) string {
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within the timeout"
	case errors.Is(err, netguard.ErrNotPublic) || strings.Contains(err.Error(), netguard.ErrNotPublic.Error()):
		// The SDKs do not all keep the chain: the text says it as well.
		return "not a public address (an organization's endpoints must be)"
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostErr):
		return "its TLS certificate is not trusted"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "timeout"):
		return "no answer within the timeout"
	case strings.Contains(err.Error(), "no such host"):
		return "unknown host"
	}
	return "connection failed"
}

// transportError marks a request that got no HTTP answer, as seen by the
// retrying transport of the GCP client.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }
