// Package tenancy is the business logic of the /api/v1 tenancy API:
// organizations, groups, users, service accounts, projects, OAuth2 providers,
// quotas and allocations. It validates what the OpenAPI schema cannot
// (references, uniqueness, quotas, role assignability), runs every write as one
// store transaction, and returns apierror values for caller mistakes. It knows
// nothing of HTTP: handlers translate wire types to store types and back.
package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Service implements the tenancy operations.
type Service struct {
	Store  *store.Store
	Sealer *secret.Sealer
	// Now, NewID and Rand are injected so tests are deterministic.
	Now   func() time.Time
	NewID func() string
	Rand  io.Reader
	// ServiceAccountTTL is how long a service account token lives.
	ServiceAccountTTL time.Duration
	// SessionsEnded, when set, is told of the OIDC sessions a user's
	// suspension or deletion ended, after that write has committed: the
	// OIDC provider notifies their clients (back-channel logout).
	SessionsEnded func(ctx context.Context, ended []*store.OIDCSession)
	// ObjectLimits bound how many objects of each kind an organization
	// holds (nil: the defaults); the server hands them to the IAM and
	// assignment services too.
	ObjectLimits objectlimit.Limits
	// Resolver answers the DNS checks of domain claims (VerifyDomain);
	// nil is the system resolver. DNSTimeout bounds one check
	// (DefaultDNSTimeout when zero).
	Resolver   TXTResolver
	DNSTimeout time.Duration
}

// DefaultServiceAccountTTL is the token lifetime when none is configured.
const DefaultServiceAccountTTL = 365 * 24 * time.Hour

func (s *Service) ttl() time.Duration {
	if s.ServiceAccountTTL > 0 {
		return s.ServiceAccountTTL
	}
	return DefaultServiceAccountTTL
}

// newMeta fills the server-owned creation fields of m.
func (s *Service) newMeta(m *store.Meta, actor *authn.Principal, orgID string) {
	m.Stamp(s.NewID(), orgID, s.Now(), actor.Subject)
}

// carryMeta copies the server-owned fields of the stored row into the update
// m, and stamps the modification.
func (s *Service) carryMeta(m *store.Meta, old store.Meta, actor *authn.Principal) {
	m.Carry(old, s.Now(), actor.Subject)
}

// StoreError maps store errors for a resource of kind named name (or with
// that id) onto API errors: not found 404, a uniqueness conflict 409, a
// reference to a missing resource 400; API errors pass through as they are,
// anything else is wrapped (and becomes a 500). Other services of the API
// (internal/cloud) use it for their own resources.
func StoreError(err error, kind, name string) error { return storeError(err, kind, name) }

// storeError is StoreError.
func storeError(err error, kind, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return apierror.NotFoundError("%s %q not found", kind, name)
	case errors.Is(err, store.ErrConflict):
		return apierror.ConflictError("a %s named %q already exists", kind, name)
	case errors.Is(err, store.ErrReference):
		return apierror.BadRequest("%s %q refers to a resource that does not exist in this organization", kind, name)
	}
	if _, ok := apierror.As(err); ok {
		return err
	}
	return fmt.Errorf("%s %q: %w", kind, name, err)
}

// withRemovedAssignments is the audit log's "before" of a principal or
// project being deleted: the resource, and, when its deletion takes account
// assignments along (the store removes them in the same transaction), how
// many (accountAssignmentsRemoved), read before they go.
func withRemovedAssignments(ctx context.Context, q *store.Q, orgID string, of store.AssignmentFilter, resource any) (any, error) {
	n, err := q.CountAccountAssignments(ctx, orgID, of)
	if err != nil || n == 0 {
		return resource, err
	}
	b, err := json.Marshal(resource)
	if err != nil {
		return nil, fmt.Errorf("audit snapshot: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("audit snapshot: %w", err)
	}
	m["AccountAssignmentsRemoved"] = n
	return m, nil
}
