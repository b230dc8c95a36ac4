package authz_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/authz"
)

// rbacDoc is the page whose generated section TestRBACDoc keeps in step with
// SystemRoles and Catalogue.
const rbacDoc = "../../docs/RBAC.md"

// updateDocsEnv names the variable that makes TestRBACDoc rewrite the page
// instead of failing.
const updateDocsEnv = "GATEHOUSE_UPDATE_DOCS"

const (
	beginGenerated = "<!-- BEGIN GENERATED -->"
	endGenerated   = "<!-- END GENERATED -->"
)

// TestRBACDoc: the generated section of docs/RBAC.md is exactly what the
// system roles and the endpoint catalogue say. With GATEHOUSE_UPDATE_DOCS=1
// it rewrites that section instead.
func TestRBACDoc(t *testing.T) {
	want := renderRBAC(t)
	b, err := os.ReadFile(rbacDoc)
	if err != nil {
		t.Fatalf("read %s: %v", rbacDoc, err)
	}
	page := string(b)
	start := strings.Index(page, beginGenerated)
	end := strings.Index(page, endGenerated)
	if start < 0 || end < start {
		t.Fatalf("%s must contain %q followed by %q", rbacDoc, beginGenerated, endGenerated)
	}
	start += len(beginGenerated)
	got := page[start:end]
	if got == want {
		return
	}
	if os.Getenv(updateDocsEnv) == "1" {
		if err := os.WriteFile(rbacDoc, []byte(page[:start]+want+page[end:]), 0o644); err != nil {
			t.Fatalf("update %s: %v", rbacDoc, err)
		}
		t.Logf("rewrote the generated section of %s", rbacDoc)
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	line := 0
	for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
		line++
	}
	at := func(ls []string) string {
		if line < len(ls) {
			return ls[line]
		}
		return "(end of section)"
	}
	t.Errorf("docs/RBAC.md is out of date with internal/authz (first difference at line %d of the generated section):\n  doc:  %s\n  code: %s\n"+
		"regenerate it with: %s=1 go test ./internal/authz -run TestRBACDoc", line+1, at(gl), at(wl), updateDocsEnv)
}

var crudOrder = []authz.Operation{authz.Create, authz.Read, authz.Update, authz.Delete}

// scopeText says, for the table of operations, where each scope looks the
// permission up. A scope missing here fails the test, so that a new scope
// cannot go undocumented.
var scopeText = map[authz.Scope]string{
	authz.ScopeAuthenticated:      "any authenticated caller",
	authz.ScopeGlobal:             "global",
	authz.ScopeOrganization:       "organization",
	authz.ScopeOrganizationMember: "member of the organization",
	authz.ScopeProject:            "organization, or the project in the path",
	authz.ScopeAnyProject:         "member, filtered",
}

type request struct{ method, path string }

// specRequests maps each operationId of api/openapi.yaml to its method and path.
func specRequests(t *testing.T) map[string]request {
	t.Helper()
	spec, err := api.GuardSpec()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]request{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			out[op.OperationID] = request{method, path}
		}
	}
	// The SCIM operations (issue 18) answer at /scim/v2/, outside the spec.
	for id, r := range authz.SCIMRoutes {
		out[id] = request{r.Method, r.Path}
	}
	return out
}

func opsText(ops []authz.Operation) string {
	has := map[authz.Operation]bool{}
	for _, o := range ops {
		has[o] = true
	}
	var out []string
	for _, o := range crudOrder {
		if has[o] {
			out = append(out, string(o))
		}
	}
	if len(out) == 0 {
		return "—"
	}
	return strings.Join(out, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// renderRBAC renders the generated section of docs/RBAC.md.
func renderRBAC(t *testing.T) string {
	t.Helper()
	reqs := specRequests(t)
	endpointSet := map[string]bool{}
	for _, e := range authz.Catalogue {
		if e.Endpoint != "" {
			endpointSet[e.Endpoint] = true
		}
	}
	for _, r := range authz.SystemRoles {
		for _, perms := range []authz.Permissions{r.Global, r.Organization, r.Project} {
			for ep := range perms {
				endpointSet[ep] = true
			}
		}
	}
	endpoints := make([]string, 0, len(endpointSet))
	for ep := range endpointSet {
		endpoints = append(endpoints, ep)
	}
	sort.Strings(endpoints)

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("")
	p("<!-- Generated from internal/authz (SystemRoles and Catalogue) and api/openapi.yaml by TestRBACDoc")
	p("     in internal/authz/rbacdoc_test.go. Do not edit by hand: change the Go data, then run")
	p("     %s=1 go test ./internal/authz -run TestRBACDoc -->", updateDocsEnv)
	p("")
	p("### System roles")
	p("")
	p("| Role | ID | Granted through groups | What it is for |")
	p("|---|---|---|---|")
	for _, r := range authz.SystemRoles {
		p("| `%s` | `%s` | %s | %s |", r.Name, r.ID, yesNo(r.Assignable), r.Description)
	}
	for _, r := range authz.SystemRoles {
		p("")
		p("#### `%s`", r.Name)
		p("")
		p("| Endpoint | Global | Organization | Project |")
		p("|---|---|---|---|")
		for _, ep := range endpoints {
			p("| `%s` | %s | %s | %s |", ep, opsText(r.Global[ep]), opsText(r.Organization[ep]), opsText(r.Project[ep]))
		}
	}

	p("")
	p("### Operations by endpoint")
	byEndpoint := map[string][]authz.Entry{}
	for _, e := range authz.Catalogue {
		byEndpoint[e.Endpoint] = append(byEndpoint[e.Endpoint], e)
	}
	rank := map[authz.Operation]int{}
	for i, o := range crudOrder {
		rank[o] = i
	}
	row := func(e authz.Entry, op string) {
		req, ok := reqs[e.OperationID]
		if !ok {
			t.Errorf("catalogue operation %s is not in api/openapi.yaml", e.OperationID)
		}
		scope, ok := scopeText[e.Scope]
		if !ok {
			t.Errorf("scope %d of %s has no description in rbacdoc_test.go", e.Scope, e.OperationID)
		}
		p("| %s | `%s %s` | `%s` | %s |", op, req.method, req.path, e.OperationID, scope)
	}
	for _, ep := range append(endpoints, "") {
		entries := byEndpoint[ep]
		if len(entries) == 0 {
			continue
		}
		sort.Slice(entries, func(i, j int) bool {
			if rank[entries[i].Operation] != rank[entries[j].Operation] {
				return rank[entries[i].Operation] < rank[entries[j].Operation]
			}
			return entries[i].OperationID < entries[j].OperationID
		})
		p("")
		if ep == "" {
			p("#### No endpoint: allowed without a permission")
			p("")
			p("| Operation | Request | operationId | Who may call it |")
		} else {
			p("#### `%s`", ep)
			p("")
			p("| Operation | Request | operationId | Permission looked up in |")
		}
		p("|---|---|---|---|")
		for _, e := range entries {
			op := string(e.Operation)
			if op == "" {
				op = "—"
			}
			row(e, op)
		}
	}
	p("")
	return b.String()
}
