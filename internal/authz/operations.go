package authz

import (
	"sort"
	"strings"
	"sync"
	"unicode"
)

// The operation catalogue as policies see it (issue 4). Every catalogue entry
// has a policy (service, operation) name derived from the entry itself, so
// that the Catalogue stays the one source: the service is the endpoint name
// without its "identity:" prefix ("projects", "groups", ...), the operation
// is the kebab-case of the operationId ("getProject" → "get-project",
// "listOrganizationOauth2Providers" → "list-organization-oauth2-providers").

// EndpointPrefix starts every endpoint name.
const EndpointPrefix = "identity:"

// unscopedServices names the service of the operations that have no endpoint
// (they need no permission): the ACL reads and the operation catalogue.
var unscopedServices = map[string]string{
	"getGlobalAcl":       "acl",
	"getOrganizationAcl": "acl",
	"listOperations":     "operations",
	// The signed-in person's own account (issue 13).
	"getAccount":            "account",
	"changeAccountPassword": "account",
	// The person's own second factors (issue 14).
	"getAccountFactors":              "account",
	"startAccountTotpEnrolment":      "account",
	"confirmAccountFactor":           "account",
	"removeAccountFactor":            "account",
	"regenerateAccountRecoveryCodes": "account",
}

// Service is the policy service of the operation: its endpoint name without
// the "identity:" prefix, or for the few operations without an endpoint, the
// service unscopedServices gives them ("" if none, which a test forbids).
func (e Entry) Service() string {
	if e.Endpoint != "" {
		return strings.TrimPrefix(e.Endpoint, EndpointPrefix)
	}
	return unscopedServices[e.OperationID]
}

// Name is the policy operation name: the operationId in kebab-case.
func (e Entry) Name() string { return Kebab(e.OperationID) }

// Writes reports whether the operation changes state (create, update or
// delete): those are the ones the audit log records.
func (e Entry) Writes() bool {
	return e.Operation == Create || e.Operation == Update || e.Operation == Delete
}

// Kebab turns a camelCase identifier into kebab-case: a hyphen before every
// upper-case letter that follows a lower-case letter or a digit, or that
// starts a word after a run of capitals ("getACLEntry" → "get-acl-entry");
// digits stay with the word before them ("oauth2Providers" →
// "oauth2-providers").
func Kebab(id string) string {
	rs := []rune(id)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// OperationInfo is one line of GET /api/v1/operations.
type OperationInfo struct {
	Service     string
	Operation   string
	OperationID string
	Endpoint    string
	CRUD        Operation
}

type operationIndex struct {
	list     []OperationInfo
	byName   map[string]Entry // "service/operation" → entry
	services []string
}

// index is derived from Catalogue once: other features add catalogue entries
// in their own blocks, and nothing here lists them again.
var index = sync.OnceValue(func() *operationIndex {
	ix := &operationIndex{byName: make(map[string]Entry, len(Catalogue))}
	services := map[string]bool{}
	for _, e := range Catalogue {
		info := OperationInfo{Service: e.Service(), Operation: e.Name(), OperationID: e.OperationID, Endpoint: e.Endpoint, CRUD: e.Operation}
		ix.list = append(ix.list, info)
		ix.byName[info.Service+"/"+info.Operation] = e
		services[info.Service] = true
	}
	sort.Slice(ix.list, func(i, j int) bool {
		if ix.list[i].Service != ix.list[j].Service {
			return ix.list[i].Service < ix.list[j].Service
		}
		return ix.list[i].Operation < ix.list[j].Operation
	})
	for s := range services {
		ix.services = append(ix.services, s)
	}
	sort.Strings(ix.services)
	return ix
})

// Operations lists every catalogue operation under its policy names, sorted
// by service, then operation.
func Operations() []OperationInfo { return append([]OperationInfo(nil), index().list...) }

// Services lists the policy services of the catalogue, sorted: the services a
// policy may name.
func Services() []string { return append([]string(nil), index().services...) }

// ByName finds the catalogue entry of a policy (service, operation) pair.
func ByName(service, operation string) (Entry, bool) {
	e, ok := index().byName[service+"/"+operation]
	return e, ok
}
