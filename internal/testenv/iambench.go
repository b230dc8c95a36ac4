package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// IAMBenchRoles returns 10 custom role policies of 20 rules each on the
// projects service, in the shapes real policies use (operation lists, tag
// lookups on the target project, IP ranges, group membership, business
// hours), a quarter of them deny rules. A get-project on a project tagged
// env=dev matches only the last rule of the last role: every one of the 200
// rules runs, the worst case. The IAM benchmarks of internal/access and
// internal/server share it.
func IAMBenchRoles() []policy.Policy {
	out := make([]policy.Policy, 10)
	for r := range out {
		sp := policy.ServicePolicy{Type: policy.Rules}
		for i := 0; i < 20; i++ {
			var expr string
			switch i % 5 {
			case 0:
				expr = fmt.Sprintf("operation in ['get-thing-%d-%d', 'list-things-%d-%d']", r, i, r, i)
			case 1:
				expr = fmt.Sprintf("has(resources.project) && resources.project.tags.env == 'env-%d-%d'", r, i)
			case 2:
				expr = fmt.Sprintf("inIpRange(sourceIP, '172.%d.%d.0/24')", 16+r, i)
			case 3:
				expr = fmt.Sprintf("'grp-%d-%d' in principal.groupIDs", r, i)
			default:
				expr = fmt.Sprintf("operation.startsWith('op-%d-%d-') && now.getHours('Europe/Zurich') < 18", r, i)
			}
			action := policy.Allow
			if i%4 == 3 {
				action = policy.Deny
			}
			sp.Rules = append(sp.Rules, policy.Rule{Action: action, Expression: expr})
		}
		if r == 9 {
			sp.Rules[19] = policy.Rule{Action: policy.Allow, Expression: "operation == 'get-project' && resources.project.tags.env == 'dev'"}
		}
		out[r] = policy.Policy{DefaultServiceStrategy: policy.Deny, Services: map[string]policy.ServicePolicy{"projects": sp}}
	}
	return out
}

// IAMBenchGuardrail fences the projects service to 10.0.0.0/8.
func IAMBenchGuardrail() policy.Policy {
	return policy.Policy{DefaultServiceStrategy: policy.Allow, Services: map[string]policy.ServicePolicy{
		"projects": {Type: policy.Rules, Rules: []policy.Rule{
			{Action: policy.Deny, Expression: "!inIpRange(sourceIP, '10.0.0.0/8')"},
			{Action: policy.Allow, Expression: "true"}}}}}
}

// ReportPercentiles reports the 50th and 99th percentiles of per-operation
// durations as the benchmark metrics p50-µs and p99-µs.
func ReportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	at := func(q float64) float64 {
		return float64(durations[int(q*float64(len(durations)-1))].Nanoseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// IAMBench is what SeedIAMBench made.
type IAMBench struct {
	OrgID, ProjectID, ServiceAccountID string
	// Token is the service account's bearer token.
	Token string
}

// SeedIAMBench creates, directly in the store and in one transaction, an
// organization with a project tagged env=dev and a service account in one
// group attached to the project. With custom, the group grants the 10
// IAMBenchRoles and the organization has IAMBenchGuardrail; with system, it
// also grants the user role.
func SeedIAMBench(tb testing.TB, st *store.Store, custom, system bool) IAMBench {
	tb.Helper()
	ctx := context.Background()
	ids := IDs()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	meta := func(org, name string) store.Meta {
		return store.Meta{ID: "iam-bench-" + ids(), OrganizationID: org, Name: name, Tags: []store.Tag{}, CreatedAt: at}
	}
	var b IAMBench
	o := &store.Organization{Meta: meta("", "iam-bench"), Type: "adhoc"}
	err := st.Tx(ctx, func(q *store.Q) error {
		if err := q.CreateOrganization(ctx, o); err != nil {
			return err
		}
		var roleIDs []string
		if system {
			r, _ := authz.RoleByName(authz.RoleUser)
			roleIDs = append(roleIDs, r.ID)
		}
		if custom {
			for i, pol := range IAMBenchRoles() {
				doc, err := json.Marshal(pol)
				if err != nil {
					return err
				}
				r := &store.IAMRole{Meta: meta(o.ID, fmt.Sprintf("role-%d", i)), Policy: string(doc), MaxSessionTTL: 3600, Editable: true, Version: 1}
				if err := q.CreateIAMRole(ctx, r); err != nil {
					return err
				}
				roleIDs = append(roleIDs, r.ID)
			}
			doc, err := json.Marshal(IAMBenchGuardrail())
			if err != nil {
				return err
			}
			if err := q.PutOrganizationPolicy(ctx, &store.OrganizationPolicy{OrganizationID: o.ID, Policy: string(doc), ModifiedAt: at}); err != nil {
				return err
			}
		}
		g := &store.Group{Meta: meta(o.ID, "grp-dev"), RoleIDs: roleIDs}
		if err := q.CreateGroup(ctx, g); err != nil {
			return err
		}
		p := &store.Project{Meta: meta(o.ID, "web"), GroupIDs: []string{g.ID}}
		p.Tags = []store.Tag{{Name: "env", Value: "dev"}}
		if err := q.CreateProject(ctx, p); err != nil {
			return err
		}
		b.Token = "ghsa_iam_bench_" + o.ID
		sa := &store.ServiceAccount{Meta: meta(o.ID, "bench"), TokenHash: secret.Hash(b.Token),
			ExpiresAt: time.Now().Add(24 * time.Hour), GroupIDs: []string{g.ID}}
		b.OrgID, b.ProjectID, b.ServiceAccountID = o.ID, p.ID, sa.ID
		return q.CreateServiceAccount(ctx, sa)
	})
	if err != nil {
		tb.Fatalf("seed the IAM benchmark: %v", err)
	}
	return b
}
