package tenancy

import (
	"context"
	"math"
	"sort"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// QuotaKind describes one kind of resource that organizations get a quota of.
type QuotaKind struct {
	Kind        string
	DisplayName string
	Description string
	Default     int64
}

// QuotaKinds is the quota catalogue, in display order.
var QuotaKinds = []QuotaKind{
	{"clusters", "Kubernetes Clusters", "The number of Kubernetes clusters the organization may run.", 5},
	{"servers", "Servers", "The number of servers (virtual or bare metal) the organization may run.", 20},
	{"gpus", "GPUs", "The number of GPUs the organization may use across all its servers and clusters.", 8},
	{"storage", "Storage (GiB)", "The amount of block and file storage, in GiB, the organization may provision.", 1024},
}

func quotaKind(kind string) (QuotaKind, bool) {
	for _, k := range QuotaKinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return QuotaKind{}, false
}

// Quota is one quota with its current use.
type Quota struct {
	QuotaKind
	Quantity  int64
	Committed int64
	Reserved  int64
}

// Used is committed plus reserved.
func (q Quota) Used() int64 { return q.Committed + q.Reserved }

// Free is what remains (never negative).
func (q Quota) Free() int64 { return max(q.Quantity-q.Used(), 0) }

func quotas(ctx context.Context, q *store.Q, orgID string) ([]Quota, error) {
	set, err := q.Quotas(ctx, orgID)
	if err != nil {
		return nil, err
	}
	usage, err := q.Usage(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	out := make([]Quota, 0, len(QuotaKinds))
	for _, k := range QuotaKinds {
		qt := Quota{QuotaKind: k, Quantity: k.Default}
		if n, ok := set[k.Kind]; ok {
			qt.Quantity = n
		}
		u := usage[k.Kind]
		qt.Committed, qt.Reserved = u.Committed, u.Reserved
		out = append(out, qt)
	}
	return out, nil
}

// GetQuotas returns every quota kind of the organization with its use.
func (s *Service) GetQuotas(ctx context.Context, orgID string) ([]Quota, error) {
	q := s.Store.Read()
	if _, err := q.GetOrganization(ctx, orgID); err != nil {
		return nil, storeError(err, "organization", orgID)
	}
	return quotas(ctx, q, orgID)
}

// SetQuotas sets the given quantities. A quantity below what is already
// allocated is refused: lowering a quota must not strand allocations.
func (s *Service) SetQuotas(ctx context.Context, _ *authn.Principal, orgID string, set map[string]int64) ([]Quota, error) {
	kinds := make([]string, 0, len(set))
	for k, n := range set {
		if _, ok := quotaKind(k); !ok {
			return nil, apierror.BadRequest("unknown quota kind %q", k)
		}
		if n < 0 {
			return nil, apierror.BadRequest("quota %q: quantity must not be negative", k)
		}
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []Quota
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.LockOrganization(ctx, orgID); err != nil {
			return storeError(err, "organization", orgID)
		}
		before, err := quotas(ctx, q, orgID)
		if err != nil {
			return err
		}
		usage, err := q.Usage(ctx, orgID, "")
		if err != nil {
			return err
		}
		for _, k := range kinds {
			u := usage[k]
			if used := u.Committed + u.Reserved; set[k] < used {
				return apierror.BadRequest("quota %q: quantity %d is below the %d already allocated", k, set[k], used)
			}
			if err := q.SetQuota(ctx, orgID, k, set[k]); err != nil {
				return err
			}
		}
		if out, err = quotas(ctx, q, orgID); err != nil {
			return err
		}
		audit.Describe(ctx, "quotas", orgID, before, out)
		return nil
	})
	return out, err
}

// checkAllocation validates a's items and that, with every other allocation
// of the organization, they stay within quota.
func checkAllocation(ctx context.Context, q *store.Q, a *store.Allocation) error {
	seen := map[string]bool{}
	for _, it := range a.Items {
		if _, ok := quotaKind(it.Kind); !ok {
			return apierror.BadRequest("spec.allocations: unknown quota kind %q", it.Kind)
		}
		if seen[it.Kind] {
			return apierror.BadRequest("spec.allocations: kind %q given twice", it.Kind)
		}
		seen[it.Kind] = true
		if it.Committed < 0 || it.Reserved < 0 {
			return apierror.BadRequest("spec.allocations: %q amounts must not be negative", it.Kind)
		}
	}
	if err := q.LockOrganization(ctx, a.OrganizationID); err != nil {
		return storeError(err, "organization", a.OrganizationID)
	}
	limits, err := quotas(ctx, q, a.OrganizationID)
	if err != nil {
		return err
	}
	others, err := q.Usage(ctx, a.OrganizationID, a.ID)
	if err != nil {
		return err
	}
	for _, it := range a.Items {
		for _, l := range limits {
			if l.Kind != it.Kind {
				continue
			}
			o := others[it.Kind]
			if total, ok := sum(o.Committed, o.Reserved, it.Committed, it.Reserved); !ok || total > l.Quantity {
				return apierror.BadRequest("allocation exceeds the %q quota: %d committed and %d reserved requested, %d of %d free",
					it.Kind, it.Committed, it.Reserved, max(l.Quantity-o.Committed-o.Reserved, 0), l.Quantity)
			}
		}
	}
	return nil
}

// sum adds non-negative amounts; ok is false when the total overflows int64,
// which no quota can hold.
func sum(amounts ...int64) (total int64, ok bool) {
	for _, n := range amounts {
		if total > math.MaxInt64-n {
			return 0, false
		}
		total += n
	}
	return total, true
}

// CreateAllocation creates an allocation in a project, within quota.
func (s *Service) CreateAllocation(ctx context.Context, actor *authn.Principal, orgID, projectID string, a *store.Allocation) error {
	s.newMeta(&a.Meta, actor, orgID)
	a.ProjectID = projectID
	return s.Store.Tx(ctx, func(q *store.Q) error {
		if _, err := q.GetProject(ctx, orgID, projectID); err != nil {
			return storeError(err, "project", projectID)
		}
		if err := checkAllocation(ctx, q, a); err != nil {
			return err
		}
		if err := q.CreateAllocation(ctx, a); err != nil {
			return storeError(err, "allocation", a.Name)
		}
		audit.Describe(ctx, "allocations", a.ID, nil, a)
		return nil
	})
}

// UpdateAllocation replaces an allocation, within quota.
func (s *Service) UpdateAllocation(ctx context.Context, actor *authn.Principal, orgID, projectID, id string, a *store.Allocation) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetAllocation(ctx, orgID, projectID, id)
		if err != nil {
			return storeError(err, "allocation", id)
		}
		s.carryMeta(&a.Meta, old.Meta, actor)
		a.ProjectID = projectID
		if err := checkAllocation(ctx, q, a); err != nil {
			return err
		}
		if err := q.UpdateAllocation(ctx, a); err != nil {
			return storeError(err, "allocation", a.Name)
		}
		audit.Describe(ctx, "allocations", a.ID, old, a)
		return nil
	})
}

// GetAllocation reads an allocation of a project.
func (s *Service) GetAllocation(ctx context.Context, orgID, projectID, id string) (*store.Allocation, error) {
	a, err := s.Store.Read().GetAllocation(ctx, orgID, projectID, id)
	return a, storeError(err, "allocation", id)
}

// ListAllocations returns the organization's allocations.
func (s *Service) ListAllocations(ctx context.Context, orgID string, page store.Page) ([]*store.Allocation, error) {
	return s.Store.Read().ListAllocations(ctx, orgID, page)
}

// DeleteAllocation frees an allocation.
func (s *Service) DeleteAllocation(ctx context.Context, orgID, projectID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetAllocation(ctx, orgID, projectID, id)
		if err != nil {
			return storeError(err, "allocation", id)
		}
		if err := q.DeleteAllocation(ctx, orgID, projectID, id); err != nil {
			return storeError(err, "allocation", id)
		}
		audit.Describe(ctx, "allocations", id, old, nil)
		return nil
	})
}
