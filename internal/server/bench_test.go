package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// benchACLSeed creates, directly in the store behind e, an organization with
// 50 groups (each holding a role) and 200 projects (each attached to 5 of
// the groups), and a service account in every group. It returns the
// organization ID and the account's bearer token. Same shape as
// internal/authz's BenchmarkACL.
func benchACLSeed(b *testing.B, e *testenv.Env) (orgID, token string) {
	b.Helper()
	ctx := context.Background()
	const groups, projects, groupsPerProject = 50, 200, 5
	ids := testenv.IDs()
	meta := func(org, name string) store.Meta {
		return store.Meta{ID: "bench-" + ids(), OrganizationID: org, Name: name, Tags: []store.Tag{}, CreatedAt: e.Clock.Now().Truncate(time.Millisecond)}
	}
	roles := []string{authz.RoleUser, authz.RoleUser, authz.RoleReader, authz.RoleUser, authz.RoleAdministrator}
	token = "ghsa_benchmark_acl_token"
	org := &store.Organization{Meta: meta("", "acl-bench"), Type: "adhoc"}
	err := e.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.CreateOrganization(ctx, org); err != nil {
			return err
		}
		gids := make([]string, groups)
		for i := range gids {
			r, _ := authz.RoleByName(roles[i%len(roles)])
			g := &store.Group{Meta: meta(org.ID, fmt.Sprintf("group-%02d", i)), RoleIDs: []string{r.ID}}
			if err := q.CreateGroup(ctx, g); err != nil {
				return err
			}
			gids[i] = g.ID
		}
		for i := range projects {
			p := &store.Project{Meta: meta(org.ID, fmt.Sprintf("project-%03d", i))}
			for k := range groupsPerProject {
				p.GroupIDs = append(p.GroupIDs, gids[(i+k*11)%groups])
			}
			if err := q.CreateProject(ctx, p); err != nil {
				return err
			}
		}
		return q.CreateServiceAccount(ctx, &store.ServiceAccount{Meta: meta(org.ID, "acl-bench"), TokenHash: secret.Hash(token),
			ExpiresAt: e.Clock.Now().Add(24 * time.Hour), GroupIDs: gids})
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	return org.ID, token
}

// BenchmarkACLHTTP is GET /api/v1/organizations/{id}/acl end to end over a
// loopback connection (keep-alive): routing, token lookup, authz.Load,
// Grants.ACL(), JSON encoding of 200 project sections, and the client's read
// of the ~100 KB body.
func BenchmarkACLHTTP(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := testenv.NewEnv(b, be.Open(b))
			orgID, token := benchACLSeed(b, e)
			req, err := http.NewRequest("GET", e.URL+"/api/v1/organizations/"+orgID+"/acl", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			var bytes int64
			for b.Loop() {
				resp, err := e.Client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d, read error %v", resp.StatusCode, err)
				}
				bytes = n
			}
			b.ReportMetric(float64(bytes), "body-bytes")
		})
	}
}

// BenchmarkGuardHTTP is GET /api/v1/organizations/{id}/projects/{id} end to
// end over a keep-alive loopback connection, by a service account holding
// the user role and 10 custom roles × 20 rules under a 2-rule guardrail (the
// worst case: all 200 rules run), against the same account holding the user
// role only: what custom roles add to a request (loading their headers and
// the target's attributes, evaluating the policies).
func BenchmarkGuardHTTP(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		for _, shape := range []struct {
			name   string
			custom bool
		}{{"10x20-rules", true}, {"system-only", false}} {
			b.Run(be.Name+"/"+shape.name, func(b *testing.B) {
				e := testenv.NewEnv(b, be.Open(b))
				bench := testenv.SeedIAMBench(b, e.Store, shape.custom, true)
				req, err := http.NewRequest("GET", e.URL+"/api/v1/organizations/"+bench.OrgID+"/projects/"+bench.ProjectID, nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+bench.Token)
				req.Header.Set("X-Forwarded-For", "10.1.2.3")
				durations := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					start := time.Now()
					resp, err := e.Client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d, read error %v", resp.StatusCode, err)
					}
					durations = append(durations, time.Since(start))
				}
				b.StopTimer()
				testenv.ReportPercentiles(b, durations)
			})
		}
	}
}
