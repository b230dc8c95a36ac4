package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// FuzzAPIWrite sends arbitrary bodies to the /api/v1 operations that decode
// JSON, through the whole server (guard: authentication, authorization,
// schema validation; then the handler's decoding and the tenancy rules), as
// an organization administrator and as the platform administrator. The
// answer must never be a 5xx; a 4xx must be exactly the error shape
// {"error", "error_description"}; a 2xx must be JSON (or empty).
//
//	go test ./internal/server/ -run '^$' -fuzz FuzzAPIWrite -fuzztime 1m
func FuzzAPIWrite(f *testing.F) {
	env := testenv.NewEnv(f, fuzzStore(f))
	acme := env.NewTenant("acme", "administrator")
	org := "/api/v1/organizations/" + acme.OrgID
	project := env.Must(http.StatusAccepted, "POST", org+"/projects", acme.Token, projectWrite("p", nil)).Map(f)
	projectID := project["metadata"].(map[string]any)["id"].(string)
	group := acme.GroupID
	ops := []struct {
		method, path string
		admin        bool
		seed         any
	}{
		{"POST", "/api/v1/organizations", true, orgWrite("fuzz-org")},
		{"PUT", org, false, orgWrite("acme")},
		{"POST", org + "/groups", false, groupWrite("g", nil, nil, nil)},
		{"PUT", org + "/groups/" + group, false, groupWrite("acme-administrator", nil, nil, []string{acme.ServiceAccountID})},
		{"POST", org + "/serviceaccounts", false, saWrite("sa", []string{group})},
		{"POST", org + "/users", false, userWrite("u", "u@acme.example", "active", nil)},
		{"POST", org + "/projects", false, projectWrite("p2", []string{group})},
		{"PUT", org + "/quotas", true, quotasWrite("servers", 30)},
		{"POST", org + "/projects/" + projectID + "/allocations", false, allocWrite("a", item{"servers", 1, 0})},
		{"POST", org + "/oauth2providers", false, providerWrite("idp", "gatehouse-idp", nil)},
		{"POST", "/api/v1/oauth2providers", true, providerWrite("sys", "gatehouse-sys", nil)},
	}
	for i, op := range ops {
		seed, err := json.Marshal(op.seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), seed)
		f.Add(uint8(i), []byte(`{"metadata":{"name":""},"spec":{}}`))
	}
	for _, raw := range []string{`{`, `[]`, `null`, `"x"`, `{"metadata":{"name":"x","tags":[{"name":1}]}}`,
		`{"metadata":{"name":"` + strings.Repeat("x", 300) + `"},"spec":{"organizationType":"adhoc"}}`,
		`{"spec":{"allocations":[{"kind":"servers","committed":9223372036854775807,"reserved":9223372036854775807}]}}`,
		`{"metadata":{"name":"x"},"spec":{"groupIDs":["../../etc"]}}`, "{\"metadata\":{\"name\":\"\u0000\"}}"} {
		f.Add(uint8(0), []byte(raw))
		f.Add(uint8(8), []byte(raw))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		op := ops[int(which)%len(ops)]
		token := acme.Token
		if op.admin {
			token = env.AdminToken
		}
		req := httptest.NewRequest(op.method, env.URL+op.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		checkAnswer(t, fmt.Sprintf("%s %s with %q", op.method, op.path, body), rec)
	})
}

// fuzzStore is the database a fuzz target runs on: PostgreSQL (a fresh
// schema for the whole run, not per input) when GATEHOUSE_TEST_DATABASE_URL
// is set, else SQLite. The engines differ in what they refuse (PostgreSQL:
// NUL and invalid UTF-8 in text), so CI fuzzes on both (.ci/run).
func fuzzStore(f *testing.F) *store.Store {
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		return testenv.Postgres(f)
	}
	return testenv.SQLite(f)
}

// checkAnswer is what every answer of the API must be, whatever the
// request: never a 5xx; a 4xx exactly the error shape {"error",
// "error_description"}; a redirect (the mux cleaning a path of "..")
// with a Location; anything else JSON (or empty).
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case rec.Code >= 500:
		t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body)
	case rec.Code >= 400:
		var e map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e) != 2 {
			t.Fatalf("%s: %d body %s is not the error shape", what, rec.Code, rec.Body)
		}
		code, _ := e["error"].(string)
		desc, _ := e["error_description"].(string)
		if code == "" || desc == "" {
			t.Fatalf("%s: %d body %s is not the error shape", what, rec.Code, rec.Body)
		}
	case rec.Code >= 300:
		if rec.Header().Get("Location") == "" {
			t.Fatalf("%s: %d without a Location", what, rec.Code)
		}
	case rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()):
		t.Fatalf("%s: %d body %q is not JSON", what, rec.Code, rec.Body)
	}
}

// FuzzAPIParameters sends arbitrary values in one path or query parameter
// of the /api/v1 operations (every operation but the deletes, which would
// eat the fixture), the others being real IDs of an organization, as the
// platform administrator, through the whole server. Answers must be as
// checkAnswer says: in particular no value (NUL, invalid UTF-8, huge,
// malformed IDs, "..") may make the database fail.
//
//	go test ./internal/server/ -run '^$' -fuzz FuzzAPIParameters -fuzztime 1m
func FuzzAPIParameters(f *testing.F) {
	env := testenv.NewEnv(f, fuzzStore(f))
	acme := env.NewTenant("acme", "administrator")
	org := "/api/v1/organizations/" + acme.OrgID
	project := env.Must(http.StatusAccepted, "POST", org+"/projects", acme.Token, projectWrite("p", []string{acme.GroupID})).Map(f)
	user := env.Must(http.StatusCreated, "POST", org+"/users", acme.Token, userWrite("u", "u@acme.example", "active", nil)).Map(f)
	ids := map[string]string{"organizationID": acme.OrgID, "groupid": acme.GroupID, "serviceAccountID": acme.ServiceAccountID,
		"projectID": project["metadata"].(map[string]any)["id"].(string), "userID": user["metadata"].(map[string]any)["id"].(string),
		"accountID": "123456789012"}
	const unknown = "00000000-0000-7000-8000-999999999999"
	type target struct {
		method, path string
		params       []*openapi3.Parameter
	}
	var targets []target
	params := specParameters(f)
	for _, op := range specOperations(f) {
		if op.method != http.MethodDelete && len(params[op.id]) > 0 {
			targets = append(targets, target{op.method, op.path, params[op.id]})
		}
	}
	// A seed per operation, and each kind of value somewhere: the baseline
	// coverage of every seed is computed before fuzzing starts, so a seed
	// per operation, parameter and value would eat the CI budget.
	for i := range targets {
		f.Add(uint8(i), uint8(0), "\x00")
	}
	for k, v := range []string{"a\x00b", "\xff", "\xc3", "no-such-id", unknown, "123456789012", "..", "a/b", "%00", "\u2603",
		strings.Repeat("a", 3000), "00000000-0000-7000-8000-00000000000Z"} {
		f.Add(uint8(k*7), uint8(k), v)
	}
	f.Fuzz(func(t *testing.T, which, param uint8, value string) {
		tg := targets[int(which)%len(targets)]
		p := tg.params[int(param)%len(tg.params)]
		path := pathParam.ReplaceAllStringFunc(tg.path, func(m string) string {
			name := m[1 : len(m)-1]
			switch {
			case p.In == openapi3.ParameterInPath && name == p.Name:
				return url.PathEscape(value)
			case ids[name] != "":
				return ids[name]
			}
			return unknown
		})
		if p.In == openapi3.ParameterInQuery {
			path += "?" + url.QueryEscape(p.Name) + "=" + url.QueryEscape(value)
		}
		req := httptest.NewRequest(tg.method, env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+env.AdminToken)
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		checkAnswer(t, fmt.Sprintf("%s %s (%s %s = %q)", tg.method, path, p.In, p.Name, value), rec)
	})
}
