package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/policy/policytest"
)

// The cases live in testdata/conformance.json and are loaded through
// policytest, which the HTTP policy simulator test uses as well: both must
// reproduce every case.

func loadSuite(t testing.TB) *policytest.Suite {
	t.Helper()
	s, err := policytest.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	suite := loadSuite(t)
	if len(suite.Cases) < 60 {
		t.Fatalf("%d conformance cases, want at least 60", len(suite.Cases))
	}
	env, err := policy.NewEnv(suite.Services, policy.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			guard, roles, err := policytest.Compile(env, c)
			if err != nil {
				t.Fatal(err)
			}
			req, err := suite.Request(c)
			if err != nil {
				t.Fatal(err)
			}
			got := policy.Evaluate(context.Background(), guard, roles, req)
			if msg := c.Want.Check(got); msg != "" {
				t.Error(msg)
			}
			// Explicit marks exactly the denies a policy states: a deny
			// rule that matched or a service of type deny.
			stated := strings.Contains(got.Reason, "(deny) matched") || strings.Contains(got.Reason, "has type deny")
			if want := !got.Allowed && stated && !strings.Contains(got.Reason, "no role allows"); got.Explicit != want {
				t.Errorf("Explicit = %v, want %v; reason: %s", got.Explicit, want, got.Reason)
			}
			// The same request through the cache decides the same.
			cache := policy.NewCache(env, 4)
			cachedRoles := make([]policy.NamedPolicy, len(c.Roles))
			for i, r := range c.Roles {
				compiled, err := cache.Get(policy.CacheKey{ID: r.Name, Version: "1"}, r.Policy)
				if err != nil {
					t.Fatalf("cache: %v", err)
				}
				cachedRoles[i] = policy.NamedPolicy{Name: r.Name, Policy: compiled}
			}
			if again := policy.Evaluate(context.Background(), guard, cachedRoles, req); again != got {
				t.Errorf("through the cache: %+v, directly: %+v", again, got)
			}
		})
	}
}

// TestConformanceCoversEveryOutcome keeps the suite honest: each way a
// decision can be reached appears in it.
func TestConformanceCoversEveryOutcome(t *testing.T) {
	suite := loadSuite(t)
	need := map[string]func(policytest.Case) bool{
		"allowed by default": func(c policytest.Case) bool { return c.Want.Allowed && c.Want.Service == "" },
		"denied by default": func(c policytest.Case) bool {
			return !c.Want.Allowed && c.Want.Service == "" && c.Want.Policy != ""
		},
		"allowed by a rule":       func(c policytest.Case) bool { return c.Want.Allowed && c.Want.RuleIndex >= 0 },
		"denied by a rule":        func(c policytest.Case) bool { return !c.Want.Allowed && c.Want.RuleIndex >= 0 },
		"denied by the guardrail": func(c policytest.Case) bool { return !c.Want.Allowed && c.Want.Policy == policy.GuardrailPolicy },
		"several roles":           func(c policytest.Case) bool { return len(c.Roles) > 1 },
		"no roles":                func(c policytest.Case) bool { return len(c.Roles) == 0 },
		"skipped rule":            func(c policytest.Case) bool { return strings.Contains(c.Want.ReasonContains, "skipped") },
		"no rule matched":         func(c policytest.Case) bool { return c.Want.ReasonContains == "no rule matched" },
		"rule after the first":    func(c policytest.Case) bool { return c.Want.RuleIndex > 0 },
		"rule deny beats a role allow": func(c policytest.Case) bool {
			return len(c.Roles) > 1 && !c.Want.Allowed && c.Want.RuleIndex >= 0
		},
	}
	for what, match := range need {
		found := false
		for _, c := range suite.Cases {
			if match(c) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no conformance case is %s", what)
		}
	}
}
