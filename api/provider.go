package api

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// ProviderExtension marks the Gatehouse/OIDC operations of openapi.yaml: the
// OpenID Connect provider, the login, onboarding and signup pages. They
// describe the wire (the seed's operations with the same operationIds) but
// are served by internal/oidc, not by the /api/v1 guard: no catalogue
// entry, no RBAC, no generated handler (oapi-codegen.yaml excludes their
// tag, ProviderTag).
const ProviderExtension = "x-gatehouse-provider"

// ProviderTag is the tag every provider operation carries.
const ProviderTag = "oidc"

// IsProviderOperation reports whether op is a Gatehouse/OIDC operation.
func IsProviderOperation(op *openapi3.Operation) bool {
	v, ok := op.Extensions[ProviderExtension].(bool)
	return ok && v
}

// LoadSpec parses openapi.yaml as written (SpecYAML: the generator's
// embedded copy rewrites operationIds, which key the authorization
// catalogue), every operation included.
func LoadSpec() (*openapi3.T, error) {
	spec, err := openapi3.NewLoader().LoadFromData(SpecYAML)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI spec: %w", err)
	}
	return spec, nil
}

// GuardSpec is openapi.yaml without its provider operations: the /api/v1
// operations the guard routes, authorizes and validates, which the
// catalogue, ROUTES.md and the generated router know. A path left with no
// operation is dropped, so the guard answers it 404 as before.
func GuardSpec() (*openapi3.T, error) {
	spec, err := LoadSpec()
	if err != nil {
		return nil, err
	}
	DropProviderOperations(spec)
	return spec, nil
}

// DropProviderOperations removes the provider operations from spec, and
// the paths left with none.
func DropProviderOperations(spec *openapi3.T) {
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if IsProviderOperation(op) {
				item.SetOperation(method, nil)
			}
		}
		if len(item.Operations()) == 0 {
			spec.Paths.Delete(path)
		}
	}
}
