package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// MaxBodyBytes caps request bodies; larger ones get 413 before any parsing.
const MaxBodyBytes = 1 << 20

// kin-openapi validates only the string formats registered with it; the
// spec's email (the ?email= membership query) and hostname (organization
// domains) must be checked too. Registration is process-wide, hence init.
func init() {
	openapi3.DefineStringFormatCallback("email", func(s string) error {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return fmt.Errorf("not an email address")
		}
		return nil
	})
	openapi3.DefineStringFormatCallback("hostname", func(s string) error {
		if !tenancy.IsHostname(strings.ToLower(s)) {
			return fmt.Errorf("not a DNS hostname")
		}
		return nil
	})
}

type callerKey struct{}

// decided is what the guard learned about a request, for the handlers.
type decided struct {
	caller   *access.Caller
	now      time.Time
	sourceIP string
}

// decidedFrom returns what the guard decided the request on.
func decidedFrom(ctx context.Context) *decided {
	d, _ := ctx.Value(callerKey{}).(*decided)
	return d
}

// grantsFrom returns the caller's system grants computed by the guard.
func grantsFrom(ctx context.Context) *authz.Grants { return decidedFrom(ctx).caller.Grants }

// guard fronts every /api/v1 operation, in this order:
//
//  1. find the operation in the OpenAPI spec (404 / 405 otherwise); refuse
//     parameters that are not text (400) or IDs of a shape nothing has (404);
//  2. authenticate the bearer token (401), unless the client's address
//     failed too often lately (429, see authThrottle);
//  3. authorize: access.Decide on the operation's catalogue entry, with the
//     caller's system grants, custom roles and the organization guardrail
//     (403); an operation missing from the catalogue is refused (fail
//     closed). Parameters and target resources are read only for callers
//     whose decisions in the path's project involve a policy;
//  4. check that the path's organization exists (404), so that lists do
//     not answer for, and creates do not write into, a missing one;
//  5. validate parameters and body against the spec (413, 415, 400);
//  6. for a write, start its audit log entry (package audit), which the
//     write's transaction records when it commits.
//
// Authorization runs before validation so that a caller of another
// organization learns nothing about a request's shape from the error.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ri := info(ctx)
		route, pathParams, err := s.router.FindRoute(r)
		if err != nil {
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				w.Header().Set("Allow", s.allowedMethods(r))
				apierror.Write(w, &apierror.Error{Status: http.StatusMethodNotAllowed, Code: apierror.MethodNotAllowed,
					Description: fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)})
				return
			}
			apierror.Write(w, apierror.NotFoundError("no API operation at %s", r.URL.Path))
			return
		}
		ri.operation = route.Operation.OperationID
		if err := checkParameters(route, pathParams, r.URL); err != nil {
			s.writeError(w, r, err) // not text (400), or an ID nothing can have (404): see input.go
			return
		}
		entry, ok := authz.Catalogue[route.Operation.OperationID]
		if !ok {
			s.log.Error("operation missing from the authorization catalogue", "operation", route.Operation.OperationID)
			apierror.Write(w, apierror.Internal())
			return
		}

		if s.authFailures.refuse(w, r) {
			return
		}
		principal, err := s.authenticate(r)
		if err != nil {
			if e, ok := apierror.As(err); ok && e.Status == http.StatusUnauthorized {
				s.authFailures.failed(r)
				// RFC 9110, section 15.5.2: a 401 names the scheme to use.
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			}
			s.writeError(w, r, err)
			return
		}
		ri.subject = principal.Subject
		orgID, projectID := pathParams["organizationID"], pathParams["projectID"]
		q := s.store.Read()
		caller, err := s.access.Load(ctx, q, principal, orgID)
		if errors.Is(err, authn.ErrInvalid) {
			s.authFailures.failed(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			apierror.Write(w, apierror.Unauthorized("%s", strings.TrimPrefix(err.Error(), authn.ErrInvalid.Error()+": ")))
			return
		}
		if err != nil {
			s.writeError(w, r, fmt.Errorf("load caller: %w", err))
			return
		}
		dec := &decided{caller: caller, now: s.now(), sourceIP: s.clientIP(r)}
		req := access.Request{Entry: entry, Organization: orgID, Project: projectID, Now: dec.now, SourceIP: dec.sourceIP}
		if caller.HasPoliciesIn(projectID) {
			req.Parameters = parameters(r, pathParams)
			if req.Resources, err = access.Resources(ctx, q, orgID, pathParams); err != nil {
				s.writeError(w, r, fmt.Errorf("load resources: %w", err))
				return
			}
		}
		if d := s.access.Decide(ctx, caller, req); !d.Allowed {
			apierror.Write(w, apierror.ForbiddenError("%s is not allowed to %s: %s", principal.Subject, route.Operation.OperationID, d.Reason))
			return
		}
		if caller.OrganizationMissing {
			apierror.Write(w, apierror.NotFoundError("organization %q not found", orgID))
			return
		}

		if err := validate(r, route, pathParams); err != nil {
			// Operations whose errors carry a domain errorType (the cloud
			// connection ones) declare the type of a malformed request.
			if t, ok := route.Operation.Extensions["x-gatehouse-error-type"].(string); ok {
				if e, ok := apierror.As(err); ok && e.Status == http.StatusBadRequest {
					e.ErrorType = t
				}
			}
			s.writeError(w, r, err)
			return
		}
		ctx = authn.WithPrincipal(ctx, principal)
		ctx = context.WithValue(ctx, callerKey{}, dec)
		if entry.Writes() {
			ctx = audit.Begin(ctx, &audit.Entry{NewID: s.tenancy.NewID, Now: s.now, OrganizationID: orgID,
				OperationID: entry.OperationID, RequestID: ri.id, Actor: auditActor(principal)},
				entry.Service(), lastPathParam(route.Path, pathParams))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// auditActor is how the audit log records p.
func auditActor(p *authn.Principal) audit.Actor {
	a := audit.Actor{Kind: string(p.Kind), ID: p.ID, Subject: p.Subject, RoleID: p.RoleID}
	if p.Source != nil {
		a.Source = &audit.Source{Kind: string(p.Source.Kind), ID: p.Source.ID, Subject: p.Source.Subject}
	}
	return a
}

// lastPathParam is the value of the last parameter of a route's path
// template (/organizations/{organizationID}/groups/{groupid} → the group
// ID): the resource a write is about, until its service says otherwise.
func lastPathParam(template string, params map[string]string) string {
	i := strings.LastIndex(template, "{")
	j := strings.LastIndex(template, "}")
	if i < 0 || j < i {
		return ""
	}
	return params[template[i+1:j]]
}

// parameters is what policies see as parameters: the path parameters, the
// query parameters (first value each) and the top-level fields of a JSON
// object body, path first, then query, then body, a name taken once. The body
// is read (at most MaxBodyBytes; a larger one is left for validation to
// refuse) and put back for the handler.
func parameters(r *http.Request, pathParams map[string]string) map[string]any {
	out := make(map[string]any, len(pathParams))
	for k, v := range pathParams {
		out[k] = v
	}
	for k, vs := range r.URL.Query() {
		if _, taken := out[k]; !taken && len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return out
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > MaxBodyBytes {
		return out
	}
	var body map[string]any
	if json.Unmarshal(buf, &body) != nil {
		return out
	}
	for k, v := range body {
		if _, taken := out[k]; !taken {
			out[k] = v
		}
	}
	return out
}

// clientIP is the request's source address for policies: the connection's
// peer, or, when the peer is a trusted proxy, the nearest address of
// X-Forwarded-For that is not one (the same address rate limits key on).
func (s *Server) clientIP(r *http.Request) string {
	a, _ := s.ips.Addr(r)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// allowedMethods lists the methods the spec defines on r's path, for the
// Allow header that a 405 must carry (RFC 9110, section 15.5.6).
func (s *Server) allowedMethods(r *http.Request) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := s.router.FindRoute(probe); err == nil {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// authenticate reads "Authorization: Bearer <token>".
func (s *Server) authenticate(r *http.Request) (*authn.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, apierror.Unauthorized("an Authorization: Bearer token is required")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, apierror.Unauthorized("the Authorization header must be \"Bearer <token>\"")
	}
	p, err := s.authn.Authenticate(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, authn.ErrInvalid) {
		return nil, apierror.Unauthorized("the access token is invalid or has expired")
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks the request against the OpenAPI operation: parameters,
// content type, body size, body text (readBody) and body schema.
func validate(r *http.Request, route *routers.Route, pathParams map[string]string) error {
	if route.Operation.RequestBody != nil {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return &apierror.Error{Status: http.StatusUnsupportedMediaType, Code: apierror.UnsupportedMediaType,
				Description: "request bodies must be application/json"}
		}
		if err := readBody(r); err != nil {
			return err
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			// Authentication is the guard's job, done before validation.
			AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		},
	}
	err := openapi3filter.ValidateRequest(r.Context(), in)
	if err == nil {
		return nil
	}
	return apierror.BadRequest("%s", describeValidation(err))
}

// describeValidation turns a kin-openapi error into one readable sentence
// without the schema dump kin appends.
func describeValidation(err error) string {
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) {
			where := "request body"
			if re.Parameter != nil {
				where = fmt.Sprintf("%s parameter %q", re.Parameter.In, re.Parameter.Name)
			}
			if field := strings.Join(se.JSONPointer(), "."); field != "" {
				where += ": field " + field
			}
			return fmt.Sprintf("%s: %s", where, se.Reason)
		}
		if re.Parameter != nil {
			return fmt.Sprintf("%s parameter %q: %s", re.Parameter.In, re.Parameter.Name, firstLine(re.Err))
		}
		if re.RequestBody != nil {
			return "request body: " + firstLine(re.Err)
		}
		return firstLine(re)
	}
	return firstLine(err)
}

func firstLine(err error) string {
	if err == nil {
		return "invalid request"
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
