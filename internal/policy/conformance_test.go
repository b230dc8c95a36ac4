package policy

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// conformanceFile is shared with the HTTP policy simulator test, which must
// reproduce every case; see its "description" field.
const conformanceFile = "testdata/conformance.json"

type conformanceSuite struct {
	Services    []string          `json:"services"`
	BaseRequest json.RawMessage   `json:"baseRequest"`
	Cases       []conformanceCase `json:"cases"`
}

type conformanceCase struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Guardrail   *Policy         `json:"guardrail"`
	Roles       []namedDoc      `json:"roles"`
	Request     json.RawMessage `json:"request"`
	Want        wantDecision    `json:"want"`
}

type namedDoc struct {
	Name   string `json:"name"`
	Policy Policy `json:"policy"`
}

type wantDecision struct {
	Allowed        bool   `json:"allowed"`
	Policy         string `json:"policy"`
	Service        string `json:"service"`
	RuleIndex      int    `json:"ruleIndex"`
	ReasonContains string `json:"reasonContains"`
}

func loadConformance(t testing.TB) conformanceSuite {
	t.Helper()
	data, err := os.ReadFile(conformanceFile)
	if err != nil {
		t.Fatalf("read %s: %v", conformanceFile, err)
	}
	var s conformanceSuite
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode %s: %v", conformanceFile, err)
	}
	return s
}

// request decodes the base request, then the case's request over it.
func (s conformanceSuite) request(t testing.TB, raw json.RawMessage) Request {
	t.Helper()
	var req Request
	if err := json.Unmarshal(s.BaseRequest, &req); err != nil {
		t.Fatalf("decode baseRequest: %v", err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatalf("decode request: %v", err)
		}
	}
	return req
}

// compileCase compiles a case's guardrail and roles.
func compileCase(env *Env, c conformanceCase) (*Compiled, []NamedPolicy, error) {
	var guard *Compiled
	if c.Guardrail != nil {
		g, err := Compile(*c.Guardrail, env)
		if err != nil {
			return nil, nil, err
		}
		guard = g
	}
	roles := make([]NamedPolicy, 0, len(c.Roles))
	for _, r := range c.Roles {
		compiled, err := Compile(r.Policy, env)
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, NamedPolicy{Name: r.Name, Policy: compiled})
	}
	return guard, roles, nil
}

func TestConformance(t *testing.T) {
	suite := loadConformance(t)
	if len(suite.Cases) < 60 {
		t.Fatalf("%d conformance cases, want at least 60", len(suite.Cases))
	}
	env, err := NewEnv(suite.Services, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if seen[c.Name] {
				t.Fatalf("duplicate case name %q", c.Name)
			}
			seen[c.Name] = true
			guard, roles, err := compileCase(env, c)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			req := suite.request(t, c.Request)
			got := Evaluate(context.Background(), guard, roles, req)
			w := c.Want
			if got.Allowed != w.Allowed || got.Policy != w.Policy || got.Service != w.Service || got.RuleIndex != w.RuleIndex {
				t.Errorf("decision = {allowed:%v policy:%q service:%q rule:%d}, want {allowed:%v policy:%q service:%q rule:%d}\nreason: %s",
					got.Allowed, got.Policy, got.Service, got.RuleIndex, w.Allowed, w.Policy, w.Service, w.RuleIndex, got.Reason)
			}
			if w.ReasonContains != "" && !strings.Contains(got.Reason, w.ReasonContains) {
				t.Errorf("reason %q does not contain %q", got.Reason, w.ReasonContains)
			}
			// The same request through the cache decides the same.
			cache := NewCache(env, 4)
			cachedRoles := make([]NamedPolicy, len(c.Roles))
			for i, r := range c.Roles {
				compiled, err := cache.Get(CacheKey{ID: r.Name, Version: "1"}, r.Policy)
				if err != nil {
					t.Fatalf("cache: %v", err)
				}
				cachedRoles[i] = NamedPolicy{Name: r.Name, Policy: compiled}
			}
			if again := Evaluate(context.Background(), guard, cachedRoles, req); again != got {
				t.Errorf("through the cache: %+v, directly: %+v", again, got)
			}
		})
	}
}

// TestConformanceCoversEveryOutcome keeps the suite honest: each way a
// decision can be reached appears in it.
func TestConformanceCoversEveryOutcome(t *testing.T) {
	suite := loadConformance(t)
	need := map[string]func(conformanceCase) bool{
		"allowed by default":         func(c conformanceCase) bool { return c.Want.Allowed && c.Want.Service == "" },
		"denied by default":          func(c conformanceCase) bool { return !c.Want.Allowed && c.Want.Service == "" && c.Want.Policy != "" },
		"allowed by a rule":          func(c conformanceCase) bool { return c.Want.Allowed && c.Want.RuleIndex >= 0 },
		"denied by a rule":           func(c conformanceCase) bool { return !c.Want.Allowed && c.Want.RuleIndex >= 0 },
		"denied by the guardrail":    func(c conformanceCase) bool { return !c.Want.Allowed && c.Want.Policy == GuardrailPolicy },
		"several roles":              func(c conformanceCase) bool { return len(c.Roles) > 1 },
		"no roles":                   func(c conformanceCase) bool { return len(c.Roles) == 0 },
		"skipped rule":               func(c conformanceCase) bool { return strings.Contains(c.Want.ReasonContains, "skipped") },
		"no rule matched":            func(c conformanceCase) bool { return c.Want.ReasonContains == "no rule matched" },
		"rule after the first":       func(c conformanceCase) bool { return c.Want.RuleIndex > 0 },
		"rule-deny beats role allow": func(c conformanceCase) bool { return len(c.Roles) > 1 && !c.Want.Allowed && c.Want.RuleIndex >= 0 },
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
