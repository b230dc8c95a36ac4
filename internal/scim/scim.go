// Package scim is Gatehouse's SCIM 2.0 service provider (RFC 7643 and 7644,
// issue 18): an organization's directory (Okta, Microsoft Entra ID, ...)
// provisions the organization's users and groups through it. It maps SCIM's
// User and Group onto the tenancy service's users and groups, so every
// write runs tenancy's rules (uniqueness, object limits, grants, sessions
// ended on suspension) in one transaction with its audit event, and keeps
// what Gatehouse does not model (externalId, name, emails, the enterprise
// extension) in the directory's records (store.SCIMRecord).
//
// Who may call is decided before this package runs (internal/server's SCIM
// gate: the bearer token, the operation catalogue, the organization); the
// Caller it puts in the request's context says who it was. Errors are
// SCIM's (urn:ietf:params:scim:api:messages:2.0:Error), never the /api/v1
// shape.
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
)

// The schema URNs of RFC 7643 and 7644 that Gatehouse speaks.
const (
	SchemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaSPConfig   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResType    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// ContentType is the media type of SCIM messages (RFC 7644, section 8.1).
const ContentType = "application/scim+json"

// The scimType values of RFC 7644, section 3.12, that Gatehouse answers.
const (
	InvalidFilter = "invalidFilter"
	TooMany       = "tooMany"
	Uniqueness    = "uniqueness"
	Mutability    = "mutability"
	InvalidSyntax = "invalidSyntax"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidVers   = "invalidVers"
)

// Error is a SCIM error answer: an HTTP status, for a 400 (and some 409s)
// the scimType, and a detail for the person reading the client's log.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

// Errorf is an Error of status and scimType (may be empty).
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 of scimType.
func badRequest(scimType, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, scimType, format, args...)
}

// AsError turns err into a SCIM error when it is a caller's mistake: a SCIM
// Error as it is, an API error (tenancy's rules) by its status (a conflict
// is a uniqueness error, any other 400 an invalid value). Anything else is
// not the caller's: ok is false, and the caller answers 500.
func AsError(err error) (*Error, bool) {
	var se *Error
	if errors.As(err, &se) {
		return se, true
	}
	ae, ok := apierror.As(err)
	if !ok {
		return nil, false
	}
	out := &Error{Status: ae.Status, Detail: ae.Description}
	switch ae.Status {
	case http.StatusConflict:
		out.ScimType = Uniqueness
	case http.StatusBadRequest:
		out.ScimType = InvalidValue
	}
	return out, true
}

// WriteError answers e in SCIM's error shape (RFC 7644, section 3.12): the
// status is a string there.
func WriteError(w http.ResponseWriter, e *Error) {
	body := map[string]any{"schemas": []string{SchemaError}, "status": strconv.Itoa(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Caller is who a SCIM request comes from, as the server's gate decided:
// the principal (the directory's API key, or an administrator) and its
// right to grant access (tenancy's grant checks).
type Caller struct {
	Principal *authn.Principal
	May       access.GrantCheck
	// OrganizationID is the organization of the request's path.
	OrganizationID string
}

type callerKey struct{}

// WithCaller puts c in ctx for the handlers.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerFrom is the request's Caller; nil outside the gate.
func callerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// asErr is errors.As, named for the switch statements that use it.
func asErr(err error, target any) bool { return errors.As(err, target) }
