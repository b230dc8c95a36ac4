// Package api holds the Gatehouse REST API contract and the Go code generated
// from it.
//
// openapi.yaml in this directory is the source of truth: it describes every
// /api/v1 operation (wire-compatible with Identity API 1.4.0, plus the
// Gatehouse additions marked x-gatehouse-addition). api.gen.go is generated
// from it by oapi-codegen (config: oapi-codegen.yaml) and must never be edited
// by hand: change openapi.yaml, then run `go generate ./api/` from the module
// root and commit both files.
//
// The generated code provides the models (one Go type per schema, e.g.
// OrganizationRead, GroupWrite, QuotasWrite), the ServerInterface that the
// handlers implement (one method per operationId), a net/http router
// (HandlerFromMux, HandlerWithOptions) and the embedded spec (GetSwagger),
// which can be used for request validation. ROUTES.md summarises the
// contract.
package api

//go:generate sh -c "cd .. && go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config api/oapi-codegen.yaml api/openapi.yaml"
