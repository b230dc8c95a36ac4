package assignment

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRoleURN: a role URN reads back into the filter that selects its
// assignment; another organization's selects nothing; anything else is a
// 400.
func TestRoleURN(t *testing.T) {
	t.Parallel()
	a := &store.AccountAssignment{OrganizationID: "org-1", TargetType: store.TargetProject, TargetID: "proj-1", PermissionSetName: "ops.admin"}
	urn := RoleURN(a)
	if urn != "urn:gatehouse:iam::org-1:project/proj-1/permissionset/ops.admin" {
		t.Fatalf("RoleURN = %q", urn)
	}
	f, ours, err := parseRoleURN("org-1", urn)
	if err != nil || !ours || f.TargetType != store.TargetProject || f.TargetID != "proj-1" || f.PermissionSetName != "ops.admin" {
		t.Errorf("parseRoleURN(%q) = %+v, %v, %v", urn, f, ours, err)
	}
	if _, ours, err := parseRoleURN("org-2", urn); ours || err != nil {
		t.Errorf("another organization's URN: ours %v, error %v", ours, err)
	}
	for _, bad := range []string{"", "arn:aws:iam::1:role/x", "urn:gatehouse:iam::", "urn:gatehouse:iam::org-1",
		"urn:gatehouse:iam:::project/p/permissionset/s", "urn:gatehouse:iam::org-1:project/p/role/s",
		"urn:gatehouse:iam::org-1:project//permissionset/s", "urn:gatehouse:iam::org-1:project/p/permissionset/",
		"urn:gatehouse:iam::org-1:project/p/permissionset/s/extra"} {
		_, _, err := parseRoleURN("org-1", bad)
		if e, ok := apierror.As(err); !ok || e.Status != 400 {
			t.Errorf("parseRoleURN(%q): error %v, want a 400", bad, err)
		}
	}
}
