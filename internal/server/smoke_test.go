package server_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

func TestSmokeTenant(t *testing.T) {
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := testenv.NewEnv(t, b.Open(t))
			ten := e.NewTenant("acme", "administrator")
			e.Must(http.StatusOK, "GET", "/api/v1/organizations/"+ten.OrgID+"/groups", ten.Token, nil)
			var orgs []map[string]any
			e.Must(http.StatusOK, "GET", "/api/v1/organizations", ten.Token, nil).JSON(t, &orgs)
			if len(orgs) != 1 || orgs[0]["metadata"].(map[string]any)["id"] != ten.OrgID {
				t.Fatalf("tenant sees %v, want only its own organization", orgs)
			}
		})
	}
}
