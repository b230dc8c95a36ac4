package authz_test

import (
	"reflect"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// notSources are the fields of Membership that give no rights by
// themselves: which organization, whether a member at all (a bare
// membership is what creating a user gives, which needs no right to grant),
// and how an API key's one role applies.
var notSources = map[string]bool{"OrganizationID": true, "Member": true, "AllProjects": true}

// TestHeldCountsEverySource: Grants.Held, which the writes that hand a
// record's rights to someone else ask (tenancy.UserGrantChange,
// RotationGrantChange), reports each source of rights, and nothing for a
// bare membership. Every field of Membership is walked by reflection: a
// source of rights added to it later and forgotten by Held fails here.
func TestHeldCountsEverySource(t *testing.T) {
	t.Parallel()
	admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
	bare := func() *authz.Membership { return &authz.Membership{OrganizationID: "org", Member: true} }
	if got := authz.Compute(nil, bare()).Held(); got != nil {
		t.Errorf("a bare membership holds %q, want nothing", got)
	}
	if got := authz.Compute([]string{"no-such-role"}, bare()).Held(); got != nil {
		t.Errorf("an unknown platform role (which grants nothing) is held: %q", got)
	}
	if got := authz.Compute([]string{admin.ID}, nil).Held(); len(got) != 1 {
		t.Errorf("platform administrator: Held = %q, want the platform role", got)
	}
	values := map[string]any{
		"GroupRoles":    map[string][]string{"g": {"role"}},
		"GroupProjects": map[string][]string{"g": {"p"}},
		"Groups":        []string{"g"},
		"Assigned":      []store.AssignedSet{{TargetType: store.TargetProject, TargetID: "p", PermissionSetID: "s", Name: "ops"}},
	}
	typ := reflect.TypeOf(authz.Membership{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		if notSources[f.Name] {
			continue
		}
		v, ok := values[f.Name]
		if !ok {
			t.Errorf("Membership.%s is new: give it a value here, and make Grants.Held report it if it gives rights (or list it in notSources)", f.Name)
			continue
		}
		m := bare()
		reflect.ValueOf(m).Elem().Field(i).Set(reflect.ValueOf(v))
		if got := authz.Compute(nil, m).Held(); len(got) == 0 {
			t.Errorf("a membership with only %s set holds nothing, per Held", f.Name)
		}
	}
}
