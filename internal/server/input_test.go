package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// notText are values that no text column can hold on PostgreSQL (SQLSTATE
// 22021: a 500 there before the guard refused them) and that SQLite stored
// as they came, percent-encoded for paths and query strings.
var notText = map[string]string{"NUL": "%00", "NUL inside": "ab%00cd", "invalid UTF-8": "x%FFy", "truncated UTF-8": "%C3"}

// specParameters lists the parameters of every operation of the spec, by
// operationId (path-level ones included).
func specParameters(t testing.TB) map[string][]*openapi3.Parameter {
	t.Helper()
	spec, err := api.GuardSpec()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*openapi3.Parameter{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, p := range ps {
					out[op.OperationID] = append(out[op.OperationID], p.Value)
				}
			}
		}
	}
	return out
}

// wantInvalid checks a 400 invalid_request whose description names field.
func wantInvalid(t testing.TB, r *resp, field string) {
	t.Helper()
	wantError(t, r, http.StatusBadRequest, "invalid_request")
	var e map[string]any
	_ = json.Unmarshal(r.Body, &e)
	if d, _ := e["error_description"].(string); !strings.Contains(d, field) {
		t.Errorf("%s: the description does not name %s", r, field)
	}
}

// TestInputText walks every operation of the spec with values that are not
// text (NUL, invalid UTF-8) in each path parameter, in each query parameter
// (the account-assignment and audit-event filters among them), and in each
// string of each request body (metadata.description among them), keys
// included: every one is a 400 invalid_request naming the field, on both
// engines, and nothing changes. Before the guard checked text, PostgreSQL
// answered 500 and SQLite stored NUL.
func TestInputText(t *testing.T) {
	t.Parallel()
	params := specParameters(t)
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newFixture(t, a)
		before := a.snapshot(t, f.org, f.otherOrg)
		cases := map[string]int{}
		for _, op := range specOperations(t) {
			token := f.tokenFor(a, op)
			for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
				for what, v := range notText {
					r := a.send(t, op, f.path(op, map[string]string{m[1]: v}), token, f.body(op))
					cases["path"]++
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s with %s in %s: %s, want 400", op.id, what, m[1], r)
						continue
					}
					wantInvalid(t, r, strconv.Quote(m[1]))
				}
			}
			for _, p := range params[op.id] {
				if p.In != openapi3.ParameterInQuery {
					continue
				}
				for what, v := range notText {
					r := a.send(t, op, f.path(op, nil)+"?"+url.QueryEscape(p.Name)+"="+v, token, f.body(op))
					cases["query"]++
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s with %s in ?%s: %s, want 400", op.id, what, p.Name, r)
						continue
					}
					wantInvalid(t, r, strconv.Quote(p.Name))
				}
			}
			body := f.body(op)
			if body == nil {
				continue
			}
			for _, leaf := range stringLeaves(body, "") {
				for what, mark := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "\xff"} {
					r := a.send(t, op, f.path(op, nil), token, withLeaf(t, body, leaf, mark))
					cases["body"]++
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s with %s in %s: %s, want 400", op.id, what, leaf, r)
						continue
					}
					wantInvalid(t, r, leaf)
				}
			}
			withKey := clone(t, body)
			withKey["a\x00b"] = "x"
			cases["body"]++
			wantInvalid(t, a.send(t, op, f.path(op, nil), token, withKey), `"a\x00b" (a key)`)
		}
		// The examples, by name: an assignment filter, an audit
		// filter, a description and a subject.
		wantInvalid(t, a.call(t, "GET", orgPath(f.org, "accountassignments")+"?principalID=%00", a.AdminToken, nil), `"principalID"`)
		wantInvalid(t, a.call(t, "GET", "/api/v1/auditevents?resourceId=x%FF", a.AdminToken, nil), `"resourceId"`)
		g := groupWrite("g", nil, nil, nil)
		g["metadata"].(map[string]any)["description"] = "a\x00b"
		wantInvalid(t, a.call(t, "POST", orgPath(f.org, "groups"), a.AdminToken, g), "metadata.description")
		wantInvalid(t, a.call(t, "POST", orgPath(f.org, "users"), a.AdminToken, userWrite("u", "u\x00@acme.example", "active", nil)), "spec.subject")
		for _, k := range []string{"path", "query", "body"} {
			if cases[k] < 40 {
				t.Errorf("only %d %s cases", cases[k], k)
			}
		}
		a.unchanged(t, before, "requests with values that are not text", f.org, f.otherOrg)
	})
}

// stringLeaves lists the paths (metadata.tags[0].name) of the string
// values in a JSON body, as the guard names them.
func stringLeaves(v any, at string) []string {
	var out []string
	switch x := v.(type) {
	case string:
		return []string{at}
	case []string:
		for i := range x {
			out = append(out, at+"["+strconv.Itoa(i)+"]")
		}
	case []any:
		for i, e := range x {
			out = append(out, stringLeaves(e, at+"["+strconv.Itoa(i)+"]")...)
		}
	case []map[string]any:
		for i, e := range x {
			out = append(out, stringLeaves(e, at+"["+strconv.Itoa(i)+"]")...)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if at != "" {
				p = at + "." + k
			}
			out = append(out, stringLeaves(x[k], p)...)
		}
	}
	return out
}

var leafStep = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// withLeaf is body as raw JSON with the string at leaf replaced by value
// (raw bytes: an invalid UTF-8 value is sent as is, not as U+FFFD).
func withLeaf(t testing.TB, body map[string]any, leaf, value string) []byte {
	t.Helper()
	const marker = "\u2603MARKER\u2603"
	var root any = clone(t, body)
	steps := leafStep.FindAllStringSubmatch(leaf, -1)
	cur := root
	for i, s := range steps {
		last := i == len(steps)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[s[1]] = marker
			} else {
				cur = c[s[1]]
			}
		case []any:
			n, _ := strconv.Atoi(s[2])
			if last {
				c[n] = marker
			} else {
				cur = c[n]
			}
		default:
			t.Fatalf("no %s in %v", leaf, body)
		}
	}
	raw, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(value)
	if strings.Contains(value, "\xff") {
		enc = []byte(`"` + value + `"`)
	}
	return bytes.Replace(raw, []byte(`"`+marker+`"`), enc, 1)
}

// TestMalformedIDs: a path parameter of a shape no resource has (every ID
// is a UUID but an AWS account's, which is 12 digits) is a 404 answered
// before any database query, authenticated or not: the test closes the
// database first, so a request that reached it would fail. A request with
// well-formed IDs does reach it (the control).
func TestMalformedIDs(t *testing.T) {
	t.Parallel()
	params := specParameters(t)
	wellFormed := map[string]string{"accountID": "123456789012", "subject": "jo@acme.example"}
	// names are the path parameters that are names people chose rather
	// than IDs (a client_id: "no-such-id" is a well-formed one), with
	// values outside their pattern.
	names := map[string][]string{"clientID": {"-dash-first", ".dot", "a%20b", "x~y%2Fz", strings.Repeat("c", 129)}}
	const someID = "00000000-0000-7000-8000-999999999999"
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			a := &apiEnv{Env: testenv.NewEnv(t, b.Open(t))}
			token := a.AdminToken
			if err := a.Store.Close(); err != nil {
				t.Fatal(err)
			}
			fill := func(op specOp, name, value string) string {
				return pathParam.ReplaceAllStringFunc(op.path, func(m string) string {
					p := m[1 : len(m)-1]
					switch {
					case p == name:
						return value
					case wellFormed[p] != "":
						return wellFormed[p]
					}
					return someID
				})
			}
			cases := 0
			for _, op := range specOperations(t) {
				for _, p := range params[op.id] {
					// A client_id is free-form (a platform client's may be
					// chosen: "grafana", "1"), so any text is a well-formed
					// one: looked up, and unknown is a 404 then
					// (TestOAuth2ClientsAPI).
					if p.In != openapi3.ParameterInPath || p.Name == "clientID" {
						continue
					}
					bads := []string{"no-such-id", "1", "0198F0E2-7C3B-7ABC-8DEF-00000000000A", someID + "0", "{" + someID + "}", "12345678901", "00000000-0000-7000-8000-99999999999%20"}
					if names[p.Name] != nil {
						bads = names[p.Name]
					}
					for _, bad := range bads {
						for _, tok := range []string{token, ""} {
							r := a.send(t, op, fill(op, p.Name, bad), tok, nil)
							cases++
							wantError(t, r, http.StatusNotFound, "not_found")
						}
					}
				}
			}
			if cases < 200 {
				t.Errorf("only %d cases", cases)
			}
			// The control: the database is gone, so a well-formed request
			// fails (the malformed ones above could not have reached it).
			req, _ := http.NewRequest("GET", a.URL+fill(specOp{path: "/api/v1/organizations/{organizationID}/groups/{groupid}"}, "", ""), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := a.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode < 500 {
				t.Errorf("with the database closed, a well-formed request got %d: the control is broken", res.StatusCode)
			}
		})
	}
}

// TestPathParameterPatterns: every path parameter of the spec says which
// IDs can exist (a pattern, compiled by the guard), so that a new one cannot
// be forgotten by the malformed-ID check.
func TestPathParameterPatterns(t *testing.T) {
	t.Parallel()
	for op, ps := range specParameters(t) {
		for _, p := range ps {
			if p.In != openapi3.ParameterInPath {
				continue
			}
			if p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Pattern == "" {
				t.Errorf("%s: path parameter %s has no pattern", op, p.Name)
				continue
			}
			if _, err := regexp.Compile(p.Schema.Value.Pattern); err != nil {
				t.Errorf("%s: path parameter %s: %v", op, p.Name, err)
			}
		}
	}
}

// TestUserSubject: a user's subject is a bare email address of at most 254
// bytes, stored lower-cased (as logins lower-case the email they sign in);
// anything else is a 400 on create and on update, and changes nothing.
func TestUserSubject(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 53) + ".example"
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		users := orgPath(acme.org, "users")
		existing := id(a.must(t, http.StatusCreated, "POST", users, acme.token, userWrite("jo", "jo@acme.example", "active", nil)).obj(t))
		before := a.snapshot(t, acme.org)
		for _, subject := range map[string]string{
			"empty": "", "not an email": "jo", "display name": "Jo <jo@acme.example>", "angle brackets": "<jo@acme.example>",
			"two addresses": "jo@acme.example, al@acme.example", "quoted local part": `"j o"@acme.example`,
			"newline": "jo@acme.example\n", "tab": "jo\t@acme.example", "escape": "jo\x1b[2J@acme.example", "DEL": "jo\x7f@acme.example",
			"leading space": " jo@acme.example", "NUL": "jo\x00@acme.example", "255 bytes": long + "x", "10000 characters": strings.Repeat("x", 9988) + "@acme.example",
		} {
			for _, method := range []string{"POST", "PUT"} {
				path := users
				if method == "PUT" {
					path += "/" + existing
				}
				wantInvalid(t, a.call(t, method, path, acme.token, userWrite("u", subject, "active", nil)), "spec.subject")
			}
		}
		a.unchanged(t, before, "refused subjects", acme.org)
		if len(long) != 254 {
			t.Fatalf("long subject has %d bytes", len(long))
		}
		for _, c := range []struct{ in, want string }{
			{long, long},
			{"Al.Doe@ACME.example", "al.doe@acme.example"},
			{"zoë@acme.example", "zoë@acme.example"},
		} {
			u := a.must(t, http.StatusCreated, "POST", users, acme.token, userWrite("", c.in, "active", nil)).obj(t)
			if got := str(u, "spec", "subject"); got != c.want {
				t.Errorf("subject %q stored as %q, want %q", c.in, got, c.want)
			}
		}
		u := a.must(t, http.StatusOK, "PUT", users+"/"+existing, acme.token, userWrite("jo", "JO@Acme.Example", "active", nil)).obj(t)
		if got := str(u, "spec", "subject"); got != "jo@acme.example" {
			t.Errorf("updated subject stored as %q", got)
		}
	})
}

// TestBearerNotText: a bearer token that is not text (an API key whose ID
// holds invalid UTF-8: header values may carry such bytes) is a 401 like any
// unknown token, on both engines; PostgreSQL's refusal of the lookup was a
// 500 before.
func TestBearerNotText(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		for _, token := range []string{"ghak_\xff_secret", "ghak_a\xc3_secret", "ghak_" + strings.Repeat("a", 5000) + "_secret"} {
			r := a.call(t, "GET", "/api/v1/organizations", "", nil, header{"Authorization", "Bearer " + token})
			wantError(t, r, http.StatusUnauthorized, "access_denied")
		}
	})
}
