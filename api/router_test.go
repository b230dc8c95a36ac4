package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// routerStub implements only the methods the router test calls; the embedded
// nil interface would panic on any other.
type routerStub struct {
	ServerInterface

	called string
	args   []string
	limit  *int
}

func (s *routerStub) GetGroup(w http.ResponseWriter, _ *http.Request, organizationID OrganizationIDParameter, groupid GroupidParameter) {
	s.called, s.args = "GetGroup", []string{organizationID, groupid}
	w.WriteHeader(http.StatusOK)
}

func (s *routerStub) ListUsers(w http.ResponseWriter, _ *http.Request, organizationID OrganizationIDParameter, params ListUsersParams) {
	s.called, s.args, s.limit = "ListUsers", []string{organizationID}, params.Limit
	w.WriteHeader(http.StatusOK)
}

func (s *routerStub) GetAllocation(w http.ResponseWriter, _ *http.Request, organizationID OrganizationIDParameter, projectID ProjectIDParameter, allocationID AllocationIDParameter) {
	s.called, s.args = "GetAllocation", []string{organizationID, projectID, allocationID}
	w.WriteHeader(http.StatusOK)
}

// TestGeneratedRouter checks that the generated net/http router binds the
// seed's path parameter names and query parameters.
func TestGeneratedRouter(t *testing.T) {
	cases := []struct {
		target string
		called string
		args   []string
		limit  int
		status int
	}{
		{"/api/v1/organizations/o1/groups/g1", "GetGroup", []string{"o1", "g1"}, 0, http.StatusOK},
		{"/api/v1/organizations/o1/projects/p1/allocations/a1", "GetAllocation", []string{"o1", "p1", "a1"}, 0, http.StatusOK},
		{"/api/v1/organizations/o1/users?limit=5&pageToken=abc", "ListUsers", []string{"o1"}, 5, http.StatusOK},
		{"/api/v1/organizations/o1/users?limit=notanumber", "", nil, 0, http.StatusBadRequest},
	}

	for _, c := range cases {
		stub := &routerStub{}
		rec := httptest.NewRecorder()

		Handler(stub).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.target, nil))

		if rec.Code != c.status {
			t.Errorf("GET %s: status %d, want %d", c.target, rec.Code, c.status)
		}

		if stub.called != c.called {
			t.Errorf("GET %s: called %q, want %q", c.target, stub.called, c.called)
		}

		for i, want := range c.args {
			if i >= len(stub.args) || stub.args[i] != want {
				t.Errorf("GET %s: args %v, want %v", c.target, stub.args, c.args)
				break
			}
		}

		if c.limit != 0 && (stub.limit == nil || *stub.limit != c.limit) {
			t.Errorf("GET %s: limit %v, want %d", c.target, stub.limit, c.limit)
		}
	}
}
