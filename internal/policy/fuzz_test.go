package policy_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/policy"
)

// FuzzCompileEvaluate checks that no policy document, expression or request
// makes Compile or Evaluate panic or hang, and that decisions stay well
// formed. It is seeded from every conformance case:
//
//	go test ./internal/policy/ -run '^$' -fuzz FuzzCompileEvaluate -fuzztime 1m
func FuzzCompileEvaluate(f *testing.F) {
	suite := loadSuite(f)
	for _, c := range suite.Cases {
		r, err := suite.Request(c)
		if err != nil {
			f.Fatal(err)
		}
		req, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range c.Roles {
			doc, err := json.Marshal(r.Policy)
			if err != nil {
				f.Fatal(err)
			}
			expr := "true"
			if sp, ok := r.Policy.Services["projects"]; ok && len(sp.Rules) > 0 {
				expr = sp.Rules[0].Expression
			}
			f.Add(doc, req, expr)
		}
	}
	env, err := policy.NewEnv(suite.Services, policy.Limits{MaxCost: 20_000})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc, reqJSON []byte, expr string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("compile and evaluate took %v", d)
			}
		}()
		var req policy.Request
		_ = json.Unmarshal(reqJSON, &req) // a partial request is still a request
		var roles []policy.NamedPolicy
		if p, err := policy.Parse(doc, env.Limits()); err == nil {
			if c, err := policy.Compile(p, env); err == nil {
				roles = append(roles, policy.NamedPolicy{Name: "doc", Policy: c})
			}
		}
		exprPolicy := policy.Policy{DefaultServiceStrategy: policy.Allow, Services: map[string]policy.ServicePolicy{
			"projects": {Type: policy.Rules, Rules: []policy.Rule{{Action: policy.Deny, Expression: expr}, {Action: policy.Allow, Expression: expr}}},
		}}
		guard, err := policy.Compile(exprPolicy, env)
		if err == nil {
			roles = append(roles, policy.NamedPolicy{Name: "expr", Policy: guard})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, g := range []*policy.Compiled{nil, guard} {
			d := policy.Evaluate(ctx, g, roles, req)
			if d.RuleIndex < -1 {
				t.Fatalf("rule index %d", d.RuleIndex)
			}
			if d.Allowed && (d.Policy == "" || d.Policy == policy.GuardrailPolicy) {
				t.Fatalf("allowed by %q: %+v", d.Policy, d)
			}
			if d.Reason == "" {
				t.Fatalf("decision without a reason: %+v", d)
			}
		}
	})
}
