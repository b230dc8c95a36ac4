package iam_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRoleGrantChange: changing what a custom role allows, its permissions
// or who may assume it needs the right to grant; its name, labels or
// session length do not.
func TestRoleGrantChange(t *testing.T) {
	t.Parallel()
	role := func(policy, assume string, perms ...string) *store.IAMRole {
		return &store.IAMRole{Policy: policy, AssumeRolePolicy: assume, Permissions: perms}
	}
	base := role("p", "a", "x")
	renamed := *base
	renamed.Name, renamed.MaxSessionTTL = "other", 60
	cases := []struct {
		name  string
		after *store.IAMRole
		want  bool
	}{
		{"renamed", &renamed, false},
		{"permissions repeated", role("p", "a", "x", "x"), false},
		{"policy", role("P", "a", "x"), true},
		{"assume-role policy", role("p", "", "x"), true},
		{"permission added", role("p", "a", "x", "resetOrganizationPolicy"), true},
	}
	for _, c := range cases {
		if got := iam.RoleGrantChange(base, c.after) != ""; got != c.want {
			t.Errorf("%s: needs the right to grant = %v, want %v", c.name, got, c.want)
		}
	}
}
