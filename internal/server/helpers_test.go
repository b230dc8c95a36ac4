package server_test

// Shared machinery of the API conformance tests (organizations_test.go,
// groups_test.go, ... errors_test.go): one running Gatehouse per backend, an
// HTTP helper bound to the calling (sub)test, and an oracle that checks every
// response of a spec operation against api/openapi.yaml (declared status,
// body schema, headers).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// t0 is the time testenv's clock starts at: creation times are exact.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// adminSubject is how the bootstrap platform administrator appears in
// createdBy/modifiedBy.
const adminSubject = "serviceaccount:platform-administrator"

// apiEnv is a running Gatehouse on one backend.
type apiEnv struct {
	*testenv.Env
	roles map[string]string // role name → ID, from listRoles
}

// eachBackend runs f against a fresh Gatehouse on every backend, in
// parallel subtests.
func eachBackend(t *testing.T, f func(t *testing.T, a *apiEnv)) {
	t.Helper()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			a := &apiEnv{Env: testenv.NewEnv(t, b.Open(t))}
			f(t, a)
		})
	}
}

// --- HTTP ---

// resp is one HTTP exchange.
type resp struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r *resp) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// obj decodes the body as a JSON object.
func (r *resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
		t.Fatalf("%s: body is not a JSON object: %v", r, err)
	}
	return m
}

// arr decodes the body as a bare JSON array of objects.
func (r *resp) arr(t testing.TB) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(r.Body, &a); err != nil || a == nil {
		t.Fatalf("%s: body is not a JSON array: %v", r, err)
	}
	return a
}

// header is an extra or overriding request header; a value of "" removes it.
type header struct{ name, value string }

// call sends one request. body is JSON-encoded unless it is a string or
// []byte (sent as is, still labelled application/json unless a header says
// otherwise). Every response to a spec operation is checked against the spec.
func (a *apiEnv) call(t testing.TB, method, path, token string, body any, hdrs ...header) *resp {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range hdrs {
		if h.value == "" {
			req.Header.Del(h.name)
		} else {
			req.Header.Set(h.name, h.value)
		}
	}
	res, err := a.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := &resp{Method: method, Path: path, Status: res.StatusCode, Header: res.Header, Body: b}
	conformsToSpec(t, req, r)
	return r
}

// must sends a request and fails the test unless the status is want.
func (a *apiEnv) must(t testing.TB, want int, method, path, token string, body any, hdrs ...header) *resp {
	t.Helper()
	r := a.call(t, method, path, token, body, hdrs...)
	if r.Status != want {
		t.Fatalf("%s: want status %d", r, want)
	}
	return r
}

// admin sends as the platform administrator.
func (a *apiEnv) admin(t testing.TB, want int, method, path string, body any) *resp {
	t.Helper()
	return a.must(t, want, method, path, a.AdminToken, body)
}

// wantError checks an error response: status, JSON content type, and a body
// of exactly {"error": code, "error_description": non-empty}.
func wantError(t testing.TB, r *resp, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: want status %d (%s)", r, status, code)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error Content-Type %q, want application/json", r, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Errorf("%s: error body is not JSON: %v", r, err)
		return
	}
	desc, _ := m["error_description"].(string)
	fields := 2
	if t, ok := m["errorType"].(string); ok && slices.Contains(cloudErrorTypes, t) && strings.Contains(r.Path, "/cloudconnections") {
		fields = 3 // the cloud connection operations type their 400s
	}
	if m["error"] != code || desc == "" || len(m) != fields {
		t.Errorf("%s: want {error: %q, error_description: <text>} and nothing else", r, code)
	}
}

// cloudErrorTypes are the values of errorType (cloud.ErrorTypes).
var cloudErrorTypes = []string{"UNKNOWN", "INVALID_REQUEST", "ACCESS_NODE_COMMUNICATION_FAILED", "SERVICE_ENDPOINT_NOT_REACHABLE",
	"CREDENTIAL_INVALID", "NOT_ENOUGH_PERMISSIONS", "ALL_ACCOUNTS_FAILED_DISCOVERY"}

// wantEmpty checks a body-less success (the seed's PUTs and DELETEs).
func wantEmpty(t testing.TB, r *resp) {
	t.Helper()
	if len(bytes.TrimSpace(r.Body)) != 0 {
		t.Errorf("%s: want no body", r)
	}
}

// --- the spec oracle ---

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	spec, err := api.GuardSpec()
	if err != nil {
		return nil, err
	}
	spec.Servers = nil
	return gorillamux.NewRouter(spec)
})

// specOperations lists every /api/v1 guard operation of api/openapi.yaml
// (the Gatehouse/OIDC ones left out), sorted by id, and checks that they
// are exactly the operations of api/ROUTES.md's table, whose rows it
// reads rather than pinning a count that every new operation must bump.
func specOperations(t testing.TB) []specOp {
	t.Helper()
	spec, err := api.GuardSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ops []specOp
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, specOp{id: op.OperationID, method: method, path: path, hasBody: op.RequestBody != nil})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	routes := routesTable(t)
	if len(ops) != len(routes) || len(ops) < 40 {
		t.Fatalf("the spec has %d operations; api/ROUTES.md lists %d", len(ops), len(routes))
	}
	for _, op := range ops {
		if !routes[op.id] {
			t.Fatalf("%s (%s %s) is in the spec but not in api/ROUTES.md", op.id, op.method, op.path)
		}
	}
	return ops
}

// routesTable reads the operationIds of the tables of api/ROUTES.md headed
// "| Method | Path | operationId | ...", a † or ‡ mark removed (the
// Gatehouse/OIDC table is headed otherwise).
func routesTable(t testing.TB) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("../../api/ROUTES.md")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "| Method | Path | operationId |"):
			in = true
		case in && strings.HasPrefix(line, "|---"):
		case in && strings.HasPrefix(line, "| "):
			cells := strings.Split(line, "|")
			if len(cells) < 4 {
				t.Fatalf("api/ROUTES.md: malformed row %q", line)
			}
			id := strings.TrimSpace(strings.Trim(strings.TrimSpace(cells[3]), "†‡"))
			if id == "" || ids[id] {
				t.Fatalf("api/ROUTES.md: empty or repeated operationId in %q", line)
			}
			ids[id] = true
		default:
			in = false
		}
	}
	return ids
}

type specOp struct {
	id, method, path string
	hasBody          bool
}

// undeclared are statuses Gatehouse answers on operations whose responses do
// not list them. 413 and 415 come from the guard for every operation with a
// body (api/ROUTES.md: "guard.go ... 415 wrong content type, 413 body > 1
// MiB") but no operation of api/openapi.yaml declares them.
// getOrganizationAcl refuses non-members with 403, which neither the spec
// nor the seed declares for it.
var undeclared = map[string][]int{
	"*":                  {http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType},
	"getOrganizationAcl": {http.StatusForbidden},
}

// conformsToSpec validates a response to a spec operation against the spec:
// the status must be declared, the body must match its schema, headers too.
func conformsToSpec(t testing.TB, req *http.Request, r *resp) {
	t.Helper()
	router, err := specRouter()
	if err != nil {
		t.Fatalf("spec router: %v", err)
	}
	// FindRoute needs a request whose body is not consumed; only the URL
	// and method matter.
	probe, _ := http.NewRequest(req.Method, req.URL.String(), nil)
	route, params, err := router.FindRoute(probe)
	if err != nil {
		return // not an operation: 404/405 are checked by the tests
	}
	for _, op := range []string{"*", route.Operation.OperationID} {
		for _, s := range undeclared[op] {
			if s == r.Status {
				return
			}
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s (%s): response does not conform to api/openapi.yaml: %v", r, route.Operation.OperationID, firstLines(err, 2))
	}
}

func firstLines(err error, n int) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// --- JSON access ---

// get walks a decoded JSON value by object keys.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func has(v any, keys ...string) bool {
	last := keys[len(keys)-1]
	m, ok := get(v, keys[:len(keys)-1]...).(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[last]
	return ok
}

// strs reads a JSON array of strings (nil if absent).
func strs(v any, keys ...string) []string {
	a, ok := get(v, keys...).([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func id(v any) string { return str(v, "metadata", "id") }

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func names(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = str(it, "metadata", "name")
	}
	return out
}

// sameSet compares string lists ignoring order.
func sameSet(a, b []string) bool {
	x, y := append([]string{}, a...), append([]string{}, b...)
	sort.Strings(x)
	sort.Strings(y)
	if len(x) == 0 && len(y) == 0 {
		return true
	}
	return reflect.DeepEqual(x, y)
}

func wantSet(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !sameSet(got, want) {
		t.Errorf("%s = %v, want %v (any order)", what, got, want)
	}
}

// meta is what a test expects of a resource's metadata.
type meta struct {
	name, description string
	org               *string // organizationId: nil = must be absent
	project           string  // projectId, "" = must be absent
	created           time.Time
	createdBy         string
	modified          time.Time // zero = modifiedTime/modifiedBy absent
	modifiedBy        string
}

func ptrTo(s string) *string { return &s }

// wantMeta checks the metadata of a read resource.
func wantMeta(t testing.TB, what string, v any, w meta) {
	t.Helper()
	m, ok := get(v, "metadata").(map[string]any)
	if !ok {
		t.Errorf("%s: no metadata object in %v", what, v)
		return
	}
	fail := func(f string, args ...any) {
		t.Helper()
		t.Errorf("%s: metadata %s; metadata = %v", what, fmt.Sprintf(f, args...), m)
	}
	if s, _ := m["id"].(string); s == "" {
		fail("has no id")
	}
	if m["name"] != w.name {
		fail("name %v, want %q", m["name"], w.name)
	}
	if w.description == "" && has(m, "description") {
		fail("has a description, want none")
	} else if w.description != "" && m["description"] != w.description {
		fail("description %v, want %q", m["description"], w.description)
	}
	if got := parseTime(m["creationTime"]); !got.Equal(w.created) {
		fail("creationTime %v, want %v", m["creationTime"], w.created.Format(time.RFC3339Nano))
	}
	if m["createdBy"] != w.createdBy {
		fail("createdBy %v, want %q", m["createdBy"], w.createdBy)
	}
	if w.modified.IsZero() {
		if has(m, "modifiedTime") || has(m, "modifiedBy") {
			fail("has modifiedTime/modifiedBy before any update")
		}
	} else {
		if got := parseTime(m["modifiedTime"]); !got.Equal(w.modified) {
			fail("modifiedTime %v, want %v", m["modifiedTime"], w.modified.Format(time.RFC3339Nano))
		}
		if m["modifiedBy"] != w.modifiedBy {
			fail("modifiedBy %v, want %q", m["modifiedBy"], w.modifiedBy)
		}
	}
	if m["provisioningStatus"] != "provisioned" || m["healthStatus"] != "healthy" {
		fail("status %v/%v, want provisioned/healthy", m["provisioningStatus"], m["healthStatus"])
	}
	if has(m, "deletionTime") {
		fail("has a deletionTime")
	}
	switch {
	case w.org == nil && has(m, "organizationId"):
		fail("has an organizationId, want none")
	case w.org != nil && (!has(m, "organizationId") || m["organizationId"] != *w.org):
		fail("organizationId %v, want %q", m["organizationId"], *w.org)
	}
	if w.project == "" && has(m, "projectId") {
		fail("has a projectId, want none")
	} else if w.project != "" && m["projectId"] != w.project {
		fail("projectId %v, want %q", m["projectId"], w.project)
	}
}

func parseTime(v any) time.Time {
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return tm
}

// --- request bodies ---

func md(name string) map[string]any { return map[string]any{"name": name} }

func orgWrite(name string) map[string]any {
	return map[string]any{"metadata": md(name), "spec": map[string]any{"organizationType": "adhoc"}}
}

func groupWrite(name string, roleIDs, userIDs, saIDs []string) map[string]any {
	return map[string]any{"metadata": md(name), "spec": map[string]any{
		"roleIDs": nonNil(roleIDs), "userIDs": nonNil(userIDs), "serviceAccountIDs": nonNil(saIDs)}}
}

func userWrite(name, subject, state string, groupIDs []string) map[string]any {
	b := map[string]any{"spec": map[string]any{"subject": subject, "state": state, "groupIDs": nonNil(groupIDs)}}
	if name != "" {
		b["metadata"] = md(name)
	}
	return b
}

func saWrite(name string, groupIDs []string) map[string]any {
	return map[string]any{"metadata": md(name), "spec": map[string]any{"groupIDs": nonNil(groupIDs)}}
}

func projectWrite(name string, groupIDs []string) map[string]any {
	return map[string]any{"metadata": md(name), "spec": map[string]any{"groupIDs": nonNil(groupIDs)}}
}

// providerWrite is an OIDC provider; secret nil leaves clientSecret out.
func providerWrite(name, clientID string, secret *string) map[string]any {
	spec := map[string]any{"type": "oidc", "issuer": "https://login.example.com", "clientID": clientID}
	if secret != nil {
		spec["clientSecret"] = *secret
	}
	return map[string]any{"metadata": md(name), "spec": spec}
}

// item is one resource allocation line.
type item struct {
	kind                string
	committed, reserved int64
}

func allocWrite(name string, items ...item) map[string]any {
	lines := []map[string]any{}
	for _, it := range items {
		lines = append(lines, map[string]any{"kind": it.kind, "committed": it.committed, "reserved": it.reserved})
	}
	return map[string]any{"metadata": md(name), "spec": map[string]any{"kind": "cluster", "id": "cluster-" + name, "allocations": lines}}
}

func quotasWrite(kv ...any) map[string]any {
	qs := []map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		qs = append(qs, map[string]any{"kind": kv[i], "quantity": kv[i+1]})
	}
	return map[string]any{"quotas": qs}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- fixtures ---

func orgPath(orgID string, rest ...string) string {
	p := "/api/v1/organizations/" + url.PathEscape(orgID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// role returns the ID of an assignable role, read through listRoles.
func (a *apiEnv) role(t testing.TB, name string) string {
	t.Helper()
	if a.roles == nil {
		org := id(a.admin(t, http.StatusAccepted, "POST", "/api/v1/organizations", orgWrite("roles-probe")).obj(t))
		a.roles = map[string]string{}
		for _, r := range a.admin(t, http.StatusOK, "GET", orgPath(org, "roles"), nil).arr(t) {
			a.roles[str(r, "metadata", "name")] = id(r)
		}
		a.admin(t, http.StatusAccepted, "DELETE", orgPath(org), nil)
	}
	rid, ok := a.roles[name]
	if !ok {
		t.Fatalf("no role %q in %v", name, a.roles)
	}
	return rid
}

// member is a group granting one role, with a service account in it.
type member struct {
	org, group, sa, token string
}

// newOrg creates an organization as the platform administrator.
func (a *apiEnv) newOrg(t testing.TB, name string) string {
	t.Helper()
	return id(a.admin(t, http.StatusAccepted, "POST", "/api/v1/organizations", orgWrite(name)).obj(t))
}

// addMember creates group name granting roleName in org, and a service
// account of the same name in it.
func (a *apiEnv) addMember(t testing.TB, org, name, roleName string) *member {
	t.Helper()
	g := a.admin(t, http.StatusCreated, "POST", orgPath(org, "groups"), groupWrite(name, []string{a.role(t, roleName)}, nil, nil)).obj(t)
	sa := a.admin(t, http.StatusCreated, "POST", orgPath(org, "serviceaccounts"), saWrite(name, []string{id(g)})).obj(t)
	return &member{org: org, group: id(g), sa: id(sa), token: str(sa, "status", "accessToken")}
}

// tenant creates an organization with one member of roleName.
func (a *apiEnv) tenant(t testing.TB, name, roleName string) *member {
	t.Helper()
	return a.addMember(t, a.newOrg(t, name), name+"-"+roleName, roleName)
}

// orgState renders everything the platform administrator can read inside
// an organization.
func (a *apiEnv) orgState(t testing.TB, org string) string {
	t.Helper()
	var b strings.Builder
	paths := []string{orgPath(org), orgPath(org, "groups"), orgPath(org, "users"), orgPath(org, "serviceaccounts"),
		orgPath(org, "projects"), orgPath(org, "oauth2providers"), orgPath(org, "quotas"), orgPath(org, "allocations"),
		orgPath(org, "credentials"), orgPath(org, "cloudconnections")}
	if r := a.call(t, "GET", orgPath(org, "projects"), a.AdminToken, nil); r.Status == http.StatusOK {
		for _, p := range r.arr(t) {
			paths = append(paths, orgPath(org, "projects", id(p), "cloudidentities"))
		}
	}
	for _, p := range paths {
		r := a.call(t, "GET", p, a.AdminToken, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, bytes.TrimSpace(r.Body))
	}
	return b.String()
}

// snapshot renders the platform-wide lists and everything inside orgs, so
// that a test can prove that a refused request changed nothing.
func (a *apiEnv) snapshot(t testing.TB, orgs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/api/v1/organizations", "/api/v1/oauth2providers"} {
		r := a.call(t, "GET", p, a.AdminToken, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, bytes.TrimSpace(r.Body))
	}
	for _, o := range orgs {
		b.WriteString(a.orgState(t, o))
	}
	return b.String()
}

// unchanged fails the test if snapshot(orgs...) moved since before.
func (a *apiEnv) unchanged(t testing.TB, before, what string, orgs ...string) {
	t.Helper()
	diffState(t, before, a.snapshot(t, orgs...), what)
}

// diffState reports the lines that differ between two renderings.
func diffState(t testing.TB, before, after, what string) {
	t.Helper()
	if before == after {
		return
	}
	b, c := strings.Split(before, "\n"), strings.Split(after, "\n")
	var d strings.Builder
	for i := 0; i < max(len(b), len(c)); i++ {
		var x, y string
		if i < len(b) {
			x = b[i]
		}
		if i < len(c) {
			y = c[i]
		}
		if x != y {
			// Show where the line starts to differ, not all of it.
			at := 0
			for at < len(x) && at < len(y) && x[at] == y[at] {
				at++
			}
			p, _, _ := strings.Cut(x, " ")
			fmt.Fprintf(&d, "\n  %s at byte %d:\n    before: …%s…\n    after:  …%s…", p, at, excerpt(x, at), excerpt(y, at))
		}
	}
	t.Errorf("%s changed state:%s", what, d.String())
}

func excerpt(s string, at int) string {
	from, to := max(at-60, 0), min(at+140, len(s))
	if from > to {
		return ""
	}
	return s[from:to]
}

// refusal is a request that must be refused with status and error code.
type refusal struct {
	name         string
	method, path string
	body         any
	status       int
	code         string
}

// refuseAll sends each refusal with token, checks its status and error
// shape, and then that nothing in orgs changed.
func (a *apiEnv) refuseAll(t *testing.T, token, what string, refused []refusal, orgs ...string) {
	t.Helper()
	before := a.snapshot(t, orgs...)
	for _, c := range refused {
		r := a.call(t, c.method, c.path, token, c.body)
		if r.Status != c.status {
			t.Errorf("%s: %s, want %d", c.name, r, c.status)
			continue
		}
		wantError(t, r, c.status, c.code)
	}
	a.unchanged(t, before, what, orgs...)
}

// --- IAM request bodies ---

// allowAll is the allow-all policy document.
func allowAll() map[string]any {
	return map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{}}
}

// rules is a policy whose service is decided by rules, given as action,
// expression, action, expression, ...
func rules(defaultStrategy, service string, actionsAndExpressions ...string) map[string]any {
	rs := []any{}
	for i := 0; i+1 < len(actionsAndExpressions); i += 2 {
		rs = append(rs, map[string]any{"action": actionsAndExpressions[i], "expression": actionsAndExpressions[i+1]})
	}
	return map[string]any{"defaultServiceStrategy": defaultStrategy, "services": map[string]any{service: map[string]any{"type": "rules", "rules": rs}}}
}

// roleWrite is a custom role; assume nil leaves assumeRolePolicy out.
func roleWrite(name string, policy, assume map[string]any) map[string]any {
	spec := map[string]any{"policy": policy}
	if assume != nil {
		spec["assumeRolePolicy"] = assume
	}
	return map[string]any{"metadata": md(name), "spec": spec}
}

func apiKeyWrite(name, roleID string) map[string]any {
	return map[string]any{"metadata": md(name), "spec": map[string]any{"roleID": roleID}}
}

// --- permission sets and account assignments (issue 6) ---

// permissionSetWrite is a permission set of roleIDs; inline nil leaves the
// inline policy out.
func permissionSetWrite(name string, roleIDs []string, inline map[string]any) map[string]any {
	spec := map[string]any{"roleIDs": nonNil(roleIDs)}
	if inline != nil {
		spec["inlinePolicy"] = inline
	}
	return map[string]any{"metadata": md(name), "spec": spec}
}

// ref is a principal or target of an assignment.
func ref(typ, id string) map[string]any { return map[string]any{"type": typ, "id": id} }

// assign is a bulk create body: principals × permission sets × targets.
func assign(principals []map[string]any, setIDs []string, targets []map[string]any) map[string]any {
	return map[string]any{"principals": principals, "permissionSetIDs": setIDs, "targets": targets}
}

// items decodes a page or list answer {items: [...], ...}.
func items(t testing.TB, r *resp) []map[string]any {
	t.Helper()
	var body struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Items == nil {
		t.Fatalf("%s: body has no items list: %v", r, err)
	}
	return body.Items
}
