package access_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
)

// TestGrantCheck: the right to grant is access.GrantOperation decided by
// Decide, so system roles, custom roles (an explicit deny too), the
// guardrail and platform roles apply; a refusal is a 403 naming the change
// and the missing permission; a missing caller or check refuses.
func TestGrantCheck(t *testing.T) {
	t.Parallel()
	e := env(t)
	engine := access.NewEngine(nil, e, 0)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name  string
		who   who
		allow bool
	}{
		{"administrator", who{member: true, system: []string{authz.RoleAdministrator}}, true},
		{"user, even in its projects", who{member: true, system: []string{authz.RoleUser}, projects: []string{proj}}, false},
		{"reader", who{member: true, system: []string{authz.RoleReader}}, false},
		{"custom role managing groups", who{member: true, custom: []policy.Policy{groupsAdmin}}, true},
		{"administrator whose custom role denies groups", who{member: true, system: []string{authz.RoleAdministrator}, custom: []policy.Policy{denyGroups}}, false},
		{"administrator under a guardrail denying groups", who{member: true, system: []string{authz.RoleAdministrator}, guardrail: &denyGroups}, false},
		{"custom role managing projects only", who{member: true, custom: []policy.Policy{doc("deny", map[string][]string{"projects": {"allow"}})}}, false},
		{"platform administrator", who{platform: true}, true},
		{"non-member", who{system: []string{authz.RoleAdministrator}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := engine.GrantCheck(c.who.caller(t, e), now, "10.1.2.3").Check(context.Background(), org, "changing a project's spec.groupIDs (adding g)")
			if c.allow {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantGrantRefusal(t, err, "changing a project's spec.groupIDs (adding g)")
		})
	}
	t.Run("another organization", func(t *testing.T) {
		t.Parallel()
		c := who{member: true, system: []string{authz.RoleAdministrator}}.caller(t, e)
		wantGrantRefusal(t, engine.GrantCheck(c, now, "").Check(context.Background(), "org-2", "x"), "x")
	})
	t.Run("no caller", func(t *testing.T) {
		t.Parallel()
		wantGrantRefusal(t, engine.GrantCheck(nil, now, "").Check(context.Background(), org, "x"), "x")
	})
	t.Run("no check", func(t *testing.T) {
		t.Parallel()
		var none access.GrantCheck
		wantGrantRefusal(t, none.Check(context.Background(), org, "x"), "x")
		if err := access.GrantCheck(access.TrustedGrant).Check(context.Background(), org, "x"); err != nil {
			t.Errorf("TrustedGrant refused: %v", err)
		}
	})
}

func wantGrantRefusal(t *testing.T, err error, change string) {
	t.Helper()
	ae, ok := apierror.As(err)
	if !ok || ae.Status != http.StatusForbidden || ae.Code != apierror.Forbidden || !strings.HasPrefix(ae.Description, change) {
		t.Fatalf("got %v, want a 403 forbidden starting with %q", err, change)
	}
}
