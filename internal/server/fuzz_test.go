package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	env := testenv.NewEnv(f, testenv.SQLite(f))
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
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s with %q: status %d: %s", op.method, op.path, body, rec.Code, rec.Body)
		case rec.Code >= 400:
			var e map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e) != 2 {
				t.Fatalf("%s %s with %q: %d body %s is not the error shape", op.method, op.path, body, rec.Code, rec.Body)
			}
			code, _ := e["error"].(string)
			desc, _ := e["error_description"].(string)
			if code == "" || desc == "" {
				t.Fatalf("%s %s with %q: %d body %s is not the error shape", op.method, op.path, body, rec.Code, rec.Body)
			}
		case rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()):
			t.Fatalf("%s %s with %q: %d body %q is not JSON", op.method, op.path, body, rec.Code, rec.Body)
		}
	})
}
