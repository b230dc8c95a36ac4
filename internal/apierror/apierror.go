// Package apierror is the one error type the API returns, in the seed's
// OAuth2-compatible shape {"error": "...", "error_description": "..."}.
// Domain code returns these for anything the caller did wrong; everything else
// becomes a 500 whose details are logged, never sent.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The error codes of the seed's error model.
const (
	InvalidRequest       = "invalid_request"
	UnauthorizedClient   = "unauthorized_client"
	AccessDenied         = "access_denied"
	ServerError          = "server_error"
	NotFound             = "not_found"
	Conflict             = "conflict"
	MethodNotAllowed     = "method_not_allowed"
	UnsupportedMediaType = "unsupported_media_type"
	Forbidden            = "forbidden"
	// TemporarilyUnavailable (503): the database or another dependency is
	// down; Retry-After says when to try again.
	TemporarilyUnavailable = "temporarily_unavailable"
	// TooManyRequests (429): a rate limit refused the request; Retry-After
	// says when the next one will be accepted.
	TooManyRequests = "too_many_requests"
)

// Error is an API error: an HTTP status plus the body fields.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	// ErrorType is the domain detail of an error, beside the generic code:
	// the cloud operations put the seed's AWSOrganizationErrorType here
	// (UNKNOWN, INVALID_REQUEST, CREDENTIAL_INVALID, ...). Omitted when empty,
	// so every other error keeps the seed's two fields.
	ErrorType string `json:"errorType,omitempty"`
	// RetryAfter, when positive, is sent as the Retry-After header (whole
	// seconds, rounded up).
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description) }

func newf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

// BadRequest: the request is malformed or refers to things that do not exist.
func BadRequest(format string, args ...any) *Error {
	return newf(http.StatusBadRequest, InvalidRequest, format, args...)
}

// Unauthorized: no credentials, or credentials that are invalid or expired.
func Unauthorized(format string, args ...any) *Error {
	return newf(http.StatusUnauthorized, AccessDenied, format, args...)
}

// ForbiddenError: authenticated, but not allowed.
func ForbiddenError(format string, args ...any) *Error {
	return newf(http.StatusForbidden, Forbidden, format, args...)
}

// NotFoundError: no such resource (in the caller's scope).
func NotFoundError(format string, args ...any) *Error {
	return newf(http.StatusNotFound, NotFound, format, args...)
}

// ConflictError: the change collides with existing state (duplicate name, ...).
func ConflictError(format string, args ...any) *Error {
	return newf(http.StatusConflict, Conflict, format, args...)
}

// Internal hides err behind a generic 500.
func Internal() *Error {
	return newf(http.StatusInternalServerError, ServerError, "an internal error occurred; it has been logged")
}

// UnavailableRetry is the Retry-After of a 503: long enough for a database
// restart or failover to be noticed, short enough not to stall clients.
const UnavailableRetry = 5 * time.Second

// Unavailable: the service cannot answer for now (database down).
func Unavailable(format string, args ...any) *Error {
	e := newf(http.StatusServiceUnavailable, TemporarilyUnavailable, format, args...)
	e.RetryAfter = UnavailableRetry
	return e
}

// RateLimited: too many requests; the next is accepted after retryAfter.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	e := newf(http.StatusTooManyRequests, TooManyRequests, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// RetryAfterSeconds renders d for the Retry-After header: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// As extracts an *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Write sends e as the response.
func Write(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", RetryAfterSeconds(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}
