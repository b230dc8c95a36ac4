package access_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// BenchmarkDecide10Roles20Rules is access.Decide, in process, for a member
// holding the user system role and 10 custom roles × 20 rules, under a
// 2-rule guardrail, on the worst-case request (all 200 rules run): the
// decision alone, the caller already loaded.
func BenchmarkDecide10Roles20Rules(b *testing.B) {
	e := env(b)
	engine := access.NewEngine(nil, e, 0)
	var roles []access.Role
	for i, p := range testenv.IAMBenchRoles() {
		roles = append(roles, access.Role{ID: fmt.Sprintf("role-%d", i), Name: fmt.Sprintf("role-%d", i), Version: 1, Policy: compile(b, e, p)})
	}
	g := authz.Compute(nil, &authz.Membership{OrganizationID: org, Member: true, Groups: []string{"grp-dev"},
		GroupRoles: map[string][]string{"grp-dev": {roleID(b, authz.RoleUser)}}})
	c := access.NewCaller(&authn.Principal{Kind: authn.KindServiceAccount, ID: "sa-1", OrganizationID: org}, g, org, roles, compile(b, e, testenv.IAMBenchGuardrail()))
	req := access.Request{Entry: authz.Catalogue["getProject"], Organization: org, Project: proj, Now: t0, SourceIP: "10.1.2.3",
		Parameters: map[string]any{"organizationID": org, "projectID": proj},
		Resources:  map[string]any{"project": map[string]any{"id": proj, "name": "web", "tags": map[string]any{"env": "dev"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d := engine.Decide(ctx, c, req); !d.Allowed || d.Policy != "role-9" || d.RuleIndex != 19 {
		b.Fatalf("benchmark request decided %+v, want role-9 rule 19", d)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		engine.Decide(ctx, c, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	testenv.ReportPercentiles(b, durations)
}

// BenchmarkGuardDecision is the guard's whole decision for one request of a
// service account, on SQLite and PostgreSQL: load the caller (grants, the 10
// custom roles' headers and cached policies, the guardrail version), load
// the target project's attributes, decide. "system-only" is the same
// account holding only the user role (no policy: no resources, no CEL).
func BenchmarkGuardDecision(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		for _, shape := range []struct {
			name           string
			custom, system bool
		}{{"10x20-rules", true, true}, {"system-only", false, true}} {
			b.Run(be.Name+"/"+shape.name, func(b *testing.B) {
				st := be.Open(b)
				e := env(b)
				engine := access.NewEngine(st, e, 0)
				bench := testenv.SeedIAMBench(b, st, shape.custom, shape.system)
				orgID, projectID, saID := bench.OrgID, bench.ProjectID, bench.ServiceAccountID
				p := &authn.Principal{Kind: authn.KindServiceAccount, ID: saID, OrganizationID: orgID, Subject: "serviceaccount:bench"}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				decide := func() access.Decision {
					q := st.Read()
					c, err := engine.Load(ctx, q, p, orgID)
					if err != nil {
						b.Fatal(err)
					}
					req := access.Request{Entry: authz.Catalogue["getProject"], Organization: orgID, Project: projectID, Now: t0, SourceIP: "10.1.2.3"}
					path := map[string]string{"organizationID": orgID, "projectID": projectID}
					if c.HasPolicies() {
						req.Parameters = map[string]any{"organizationID": orgID, "projectID": projectID}
						if req.Resources, err = access.Resources(ctx, q, orgID, path); err != nil {
							b.Fatal(err)
						}
					}
					return engine.Decide(ctx, c, req)
				}
				if d := decide(); !d.Allowed {
					b.Fatalf("benchmark request refused: %+v", d)
				}
				durations := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					decide()
					durations = append(durations, time.Since(start))
				}
				b.StopTimer()
				testenv.ReportPercentiles(b, durations)
				if s := engine.CacheStats(); shape.custom && s.Misses != 11 {
					b.Errorf("cache misses %d, want 11 (10 roles and the guardrail, once)", s.Misses)
				}
			})
		}
	}
}
