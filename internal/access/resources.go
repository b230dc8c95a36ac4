package access

import (
	"context"
	"errors"
	"sort"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// resourceKinds maps the path parameters that name a resource to the key
// policies see it under (resources.<key>) and the table it lives in.
var resourceKinds = []struct {
	param, key, table string
}{
	{"projectID", "project", store.AttrProjects},
	{"groupid", "group", store.AttrGroups},
	{"userID", "user", store.AttrUsers},
	{"serviceAccountID", "serviceAccount", store.AttrServiceAccounts},
	{"providerID", "oauth2Provider", store.AttrProviders},
	{"allocationID", "allocation", store.AttrAllocations},
	{"roleID", "role", store.AttrRoles},
	{"apiKeyID", "apiKey", store.AttrAPIKeys},
	{"permissionSetID", "permissionSet", store.AttrPermissionSets},
}

// ResourceParams are the path parameters Resources reads, sorted.
func ResourceParams() []string {
	out := make([]string, 0, len(resourceKinds))
	for _, k := range resourceKinds {
		out = append(out, k.param)
	}
	sort.Strings(out)
	return out
}

// Resources loads what policies see of a request's targets: for every path
// parameter naming a resource of orgID, resources.<kind> = {id, name, tags}
// (tags as a map of name to value), e.g. resources.project.tags.env. System
// roles have no tags. One indexed query per resource; a resource that does
// not exist is left out (the handler answers 404).
func Resources(ctx context.Context, q *store.Q, orgID string, pathParams map[string]string) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range resourceKinds {
		id := pathParams[k.param]
		if id == "" {
			continue
		}
		if k.param == "roleID" {
			if r, ok := authz.RoleByID(id); ok {
				out[k.key] = map[string]any{"id": id, "name": r.Name, "tags": map[string]any{}}
				continue
			}
		}
		name, tags, err := q.ResourceAttributes(ctx, k.table, orgID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k.key] = Attributes(id, name, tags)
	}
	return out, nil
}

// Attributes is how policies see one resource: {id, name, tags} with tags as
// a map of name to value.
func Attributes(id, name string, tags []store.Tag) map[string]any {
	tm := make(map[string]any, len(tags))
	for _, t := range tags {
		tm[t.Name] = t.Value
	}
	return map[string]any{"id": id, "name": name, "tags": tm}
}
