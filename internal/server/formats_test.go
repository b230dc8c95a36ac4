package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestStringFormats: the spec's email and hostname formats are enforced
// (kin-openapi checks only formats registered with it), with a message that
// names the parameter or field.
func TestStringFormats(t *testing.T) {
	t.Parallel()
	e := testenv.NewEnv(t, testenv.SQLite(t))
	org := func(domain string) map[string]any {
		return map[string]any{"metadata": map[string]any{"name": "d" + strings.NewReplacer(".", "-", " ", "-").Replace(domain)},
			"spec": map[string]any{"organizationType": "domain", "domain": domain}}
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		mention            string
	}{
		{"email query accepted", "GET", "/api/v1/organizations?email=jo%40example.com", nil, http.StatusOK, ""},
		{"email query not an address", "GET", "/api/v1/organizations?email=not-an-email", nil, http.StatusBadRequest, `query parameter "email"`},
		{"email query with a display name", "GET", "/api/v1/organizations?email=Jo%20%3Cjo%40example.com%3E", nil, http.StatusBadRequest, `query parameter "email"`},
		{"domain accepted", "POST", "/api/v1/organizations", org("acme.example"), http.StatusAccepted, ""},
		{"domain with a space", "POST", "/api/v1/organizations", org("not a host"), http.StatusBadRequest, "spec.domain"},
		{"domain with a leading hyphen", "POST", "/api/v1/organizations", org("-acme.example"), http.StatusBadRequest, "spec.domain"},
		{"domain without a dot", "POST", "/api/v1/organizations", org("localhost"), http.StatusBadRequest, "spec.domain"},
	} {
		r := e.Do(c.method, c.path, e.AdminToken, c.body)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			continue
		}
		if c.mention == "" {
			continue
		}
		if desc, _ := r.Map(t)["error_description"].(string); !strings.Contains(desc, c.mention) {
			t.Errorf("%s: error %q does not mention %s", c.name, desc, c.mention)
		}
	}
}
