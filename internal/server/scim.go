package server

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/scim"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The SCIM 2.0 endpoints (issue 18) are not /api/v1 operations: SCIM has
// its own paths, media type, error shape and schema discovery, and
// directories (Okta, Entra ID) speak only that. scimGate gives them the
// guard's decisions all the same, in the guard's order, with SCIM's error
// shape: the operation's catalogue entry (fail closed), the bearer token
// (with the failed-authentication throttle), access.Decide in the path's
// organization (system roles, custom roles, the guardrail, policies with
// the request's parameters and the targeted user or group), the
// organization's existence, the body's text and size, and for writes the
// audit entry that the write's transaction records.

// lowerUUID is the shape of every Gatehouse ID in a path.
var lowerUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// scimHandler builds the SCIM handler over the server's services.
func (s *Server) scimHandler(publicURL string) *scim.Handler {
	return &scim.Handler{
		Service: &scim.Service{Store: s.store, Tenancy: s.tenancy},
		BaseURL: func(r *http.Request, orgID string) string {
			base := strings.TrimSuffix(publicURL, "/")
			if base == "" {
				scheme := "http"
				if r.TLS != nil {
					scheme = "https"
				}
				base = scheme + "://" + r.Host
			}
			return base + "/scim/v2/organizations/" + orgID
		},
		Fail: s.scimFail,
	}
}

// scimFail answers err in SCIM's error shape: a caller's mistake as it is;
// otherwise what writeError would say (a client gone, a value the
// database refused, the database unavailable, a logged 500).
func (s *Server) scimFail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := scim.AsError(err); ok {
		if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		scim.WriteError(w, e)
		return
	}
	switch {
	case clientGone(r):
		s.log.Info("client went away", "request_id", info(r.Context()).id, "error", err)
		w.WriteHeader(StatusClientClosedRequest)
	case store.IsInvalidInput(err):
		s.log.Warn("the database refused a value of the request", "request_id", info(r.Context()).id, "error", err)
		scim.WriteError(w, scim.Errorf(http.StatusBadRequest, scim.InvalidValue, "a value of the request cannot be stored (not valid text, too long or out of range)"))
	case store.IsUnavailable(err):
		s.log.Warn("database unavailable", "request_id", info(r.Context()).id, "error", err)
		w.Header().Set("Retry-After", "5")
		scim.WriteError(w, scim.Errorf(http.StatusServiceUnavailable, "", "%s", unavailableDescription))
	default:
		s.log.Error("internal error", "request_id", info(r.Context()).id, "error", err)
		scim.WriteError(w, scim.Errorf(http.StatusInternalServerError, "", "internal error"))
	}
}

// scimGate fronts one SCIM operation (see above).
func (s *Server) scimGate(operationID string, next http.Handler) http.Handler {
	entry, ok := authz.Catalogue[operationID]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ri := info(ctx)
		ri.operation = operationID
		if !ok {
			s.log.Error("operation missing from the authorization catalogue", "operation", operationID)
			s.scimFail(w, r, errors.New("operation missing from the catalogue"))
			return
		}
		orgID, id := r.PathValue("organizationID"), r.PathValue("id")
		// IDs of a shape nothing has are unknown before anything is
		// looked up, as the guard's path patterns make them.
		resourceParam := ""
		switch {
		case strings.Contains(r.Pattern, "/Users/"):
			resourceParam = "userID"
		case strings.Contains(r.Pattern, "/Groups/"):
			resourceParam = "groupID"
		}
		if !lowerUUID.MatchString(orgID) || resourceParam != "" && !lowerUUID.MatchString(id) {
			s.scimFail(w, r, scim.Errorf(http.StatusNotFound, "", "nothing at %s", r.URL.Path))
			return
		}
		if p := scimQueryProblem(r.URL); p != "" {
			s.scimFail(w, r, scim.Errorf(http.StatusBadRequest, scim.InvalidValue, "%s", p))
			return
		}
		if s.authFailures.refuse(w, r) {
			return
		}
		principal, err := s.authenticate(r)
		if err != nil {
			if e, ok := apierror.As(err); ok && e.Status == http.StatusUnauthorized {
				s.authFailures.failed(r)
			}
			s.scimFail(w, r, err)
			return
		}
		ri.subject = principal.Subject
		q := s.store.Read()
		caller, err := s.access.Load(ctx, q, principal, orgID)
		if errors.Is(err, authn.ErrInvalid) {
			s.authFailures.failed(r)
			s.scimFail(w, r, scim.Errorf(http.StatusUnauthorized, "", "%s", strings.TrimPrefix(err.Error(), authn.ErrInvalid.Error()+": ")))
			return
		}
		if err != nil {
			s.scimFail(w, r, fmt.Errorf("load caller: %w", err))
			return
		}
		now, sourceIP := s.now(), s.clientIP(r)
		req := access.Request{Entry: entry, Organization: orgID, Now: now, SourceIP: sourceIP}
		if caller.HasPoliciesIn("") {
			pathParams := map[string]string{"organizationID": orgID}
			if resourceParam != "" {
				pathParams[resourceParam] = id
			}
			req.Parameters = parameters(r, pathParams)
			if req.Resources, err = access.Resources(ctx, q, orgID, pathParams); err != nil {
				s.scimFail(w, r, fmt.Errorf("load resources: %w", err))
				return
			}
		}
		if d := s.access.Decide(ctx, caller, req); !d.Allowed {
			s.scimFail(w, r, scim.Errorf(http.StatusForbidden, "", "%s is not allowed to %s: %s", principal.Subject, operationID, d.Reason))
			return
		}
		if caller.OrganizationMissing {
			s.scimFail(w, r, scim.Errorf(http.StatusNotFound, "", "organization %q not found", orgID))
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != scim.ContentType && mt != "application/json" {
				s.scimFail(w, r, scim.Errorf(http.StatusUnsupportedMediaType, "", "request bodies must be %s (or application/json)", scim.ContentType))
				return
			}
			if err := readBody(r); err != nil {
				if e, ok := apierror.As(err); ok {
					scimType := scim.InvalidSyntax
					if e.Status != http.StatusBadRequest {
						scimType = ""
					}
					err = scim.Errorf(e.Status, scimType, "%s", e.Description)
				}
				s.scimFail(w, r, err)
				return
			}
		}
		ctx = authn.WithPrincipal(ctx, principal)
		ctx = context.WithValue(ctx, callerKey{}, &decided{caller: caller, now: now, sourceIP: sourceIP})
		ctx = scim.WithCaller(ctx, &scim.Caller{Principal: principal, May: s.access.GrantCheck(caller, now, sourceIP), OrganizationID: orgID})
		if entry.Writes() {
			ctx = audit.Begin(ctx, &audit.Entry{NewID: s.tenancy.NewID, Now: s.now, OrganizationID: orgID,
				OperationID: entry.OperationID, RequestID: ri.id, Actor: auditActor(principal)}, entry.Service(), id)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// scimQueryProblem says what in the query string is not text (as for
// /api/v1: valid UTF-8 without NUL), "" if nothing.
func scimQueryProblem(u *url.URL) string {
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "query string: " + firstLine(err)
	}
	if what := valuesProblem(query); what != "" {
		return "query " + what
	}
	return ""
}
