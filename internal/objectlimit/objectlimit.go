// Package objectlimit bounds how many objects of each kind one organization
// may hold: what its members can create in bulk (API keys, service
// accounts, users, groups, projects, custom roles, OAuth2 providers,
// permission sets, account assignments, OAuth2 clients). Without a bound a member could fill
// the database, and every list and decision that reads the organization
// would slow down with it (2,000 API keys took 3.7 s to create).
//
// A create checks the limit in its own transaction, after taking the lock
// of its kind in its organization (store.LockObjects: an advisory lock on
// PostgreSQL, the database write lock on SQLite), so concurrent creates take
// turns and cannot pass the limit together; at the limit the create is refused with
// 409 and writes nothing. The operator sets the limits with --object-limits.
package objectlimit

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Flag is the `gatehouse serve` flag that sets the limits.
const Flag = "object-limits"

// The kinds of objects limited, as --object-limits names them.
const (
	APIKeys            = "apikeys"
	ServiceAccounts    = "serviceaccounts"
	Users              = "users"
	Groups             = "groups"
	Projects           = "projects"
	Roles              = "roles"
	OAuth2Providers    = "oauth2providers"
	PermissionSets     = "permissionsets"
	AccountAssignments = "accountassignments"
	// OAuth2Clients are an organization's own OAuth2 clients (issue 13).
	OAuth2Clients = "oauth2clients"
)

// kind is what a limited kind is called in messages and where it is stored.
type kind struct {
	noun, table string
	def         int
}

// kinds are the limited kinds with their default limits: far above what an
// organization uses (the largest known has a few hundred users), far below
// what would hurt the database.
var kinds = map[string]kind{
	APIKeys:            {"API keys", store.ObjectAPIKeys, 1000},
	ServiceAccounts:    {"service accounts", store.ObjectServiceAccounts, 1000},
	Users:              {"users", store.ObjectUsers, 10000},
	Groups:             {"groups", store.ObjectGroups, 1000},
	Projects:           {"projects", store.ObjectProjects, 1000},
	Roles:              {"custom roles", store.ObjectRoles, 500},
	OAuth2Providers:    {"OAuth2 providers", store.ObjectOAuth2Providers, 50},
	PermissionSets:     {"permission sets", store.ObjectPermissionSets, 500},
	AccountAssignments: {"account assignments", store.ObjectAccountAssignments, 50000},
	OAuth2Clients:      {"OAuth2 clients", store.ObjectOAuth2Clients, 100},
}

// Kinds are the limited kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Limits are the per-organization limits by kind. A kind missing from the
// map (a nil Limits included) has its default limit.
type Limits map[string]int

// Of is the limit of kind k.
func (l Limits) Of(k string) int {
	if n, ok := l[k]; ok {
		return n
	}
	return kinds[k].def
}

// Default is the default limit of kind k (0 for an unknown kind).
func Default(k string) int { return kinds[k].def }

// Parse reads a --object-limits value: comma-separated kind=N, N a positive
// integer; kinds not named keep their default. "" is every default.
func Parse(spec string) (Limits, error) {
	l := Limits{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("--%s: %q is not kind=N", Flag, part)
		}
		if _, known := kinds[k]; !known {
			return nil, fmt.Errorf("--%s: unknown kind %q (one of %s)", Flag, k, strings.Join(Kinds(), ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s: %s=%s: the limit must be a positive integer", Flag, k, v)
		}
		if _, dup := l[k]; dup {
			return nil, fmt.Errorf("--%s: %s given twice", Flag, k)
		}
		l[k] = n
	}
	return l, nil
}

// String renders every limit as --object-limits takes it, sorted by kind.
func (l Limits) String() string {
	parts := make([]string, 0, len(kinds))
	for _, k := range Kinds() {
		parts = append(parts, fmt.Sprintf("%s=%d", k, l.Of(k)))
	}
	return strings.Join(parts, ",")
}

// Reserve checks, in q's transaction, that orgID may hold n more objects of
// kind k, before the caller inserts them in the same transaction. It first
// takes the lock of that kind in that organization (store.LockObjects), so
// that concurrent creates of the kind serialize until commit and the count
// each one reads includes what the others committed.
// Past the limit it returns a 409 naming the limit and the flag. Platform
// objects (orgID "") are not limited.
func (l Limits) Reserve(ctx context.Context, q *store.Q, orgID, k string, n int) error {
	kd, ok := kinds[k]
	if !ok {
		return fmt.Errorf("object limit: unknown kind %q", k)
	}
	if orgID == "" || n <= 0 {
		return nil
	}
	if err := q.LockObjects(ctx, kd.table, orgID); err != nil {
		return fmt.Errorf("object limit of %s: %w", k, err)
	}
	have, err := q.CountObjects(ctx, kd.table, orgID)
	if err != nil {
		return err
	}
	if limit := l.Of(k); have+n > limit {
		return apierror.ConflictError("limit_exceeded: the organization has %d %s, and %d more would pass its limit of %d (%s=%d, set by the operator with --%s); nothing was created",
			have, kd.noun, n, limit, k, limit, Flag)
	}
	return nil
}
