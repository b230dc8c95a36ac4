package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/assignment"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// assignmentsBench is what seedAssignments made: an organization with
// 100,000 account assignments, its administrator's token, and a target and
// a permission set to filter by.
type assignmentsBench struct {
	org, token, project, set string
}

// The shape of the benchmark's organization: 2,000 users × 50 projects, one
// assignment each (100,000), the permission set cycling through 20.
const benchUsers, benchProjects, benchSets = 2000, 50, 20

// seedAssignments creates acme (through the API, with an administrator)
// and, directly in the store, its users, projects, permission sets and the
// 100,000 assignments, inserted 200 rows a statement in one transaction.
// User names are not in creation order, so sorting by principal name reads
// another index than the creation order.
func seedAssignments(b *testing.B, e *testenv.Env) assignmentsBench {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	admin := e.NewTenant("acme", "administrator")
	ids := testenv.IDs()
	now := e.Clock.Now().Truncate(time.Millisecond)
	meta := func(name string) store.Meta {
		return store.Meta{ID: "seed-" + ids(), OrganizationID: admin.OrgID, Name: name, Tags: []store.Tag{}, CreatedAt: now}
	}
	var bench assignmentsBench
	err := e.Store.Tx(ctx, func(q *store.Q) error {
		users := make([]*store.User, benchUsers)
		for i := range users {
			// 7919 is prime: names in a shuffled order.
			n := fmt.Sprintf("user-%04d", (i*7919)%benchUsers)
			users[i] = &store.User{Meta: meta(n), Subject: n + "@acme.example", State: "active"}
			if err := q.CreateUser(ctx, users[i]); err != nil {
				return err
			}
		}
		projects := make([]*store.Project, benchProjects)
		for i := range projects {
			projects[i] = &store.Project{Meta: meta(fmt.Sprintf("project-%02d", i))}
			if err := q.CreateProject(ctx, projects[i]); err != nil {
				return err
			}
		}
		sets := make([]*store.PermissionSet, benchSets)
		for i := range sets {
			sets[i] = &store.PermissionSet{Meta: meta(fmt.Sprintf("set-%02d", i)), SessionDuration: 3600, Version: 1}
			if err := q.CreatePermissionSet(ctx, sets[i]); err != nil {
				return err
			}
		}
		bench.project, bench.set = projects[7].ID, sets[3].ID
		as := make([]*store.AccountAssignment, 0, benchUsers*benchProjects)
		for i, u := range users {
			for k, p := range projects {
				s := sets[(i+k)%benchSets]
				as = append(as, &store.AccountAssignment{ID: ids(), OrganizationID: admin.OrgID, PrincipalType: store.PrincipalUser,
					PrincipalID: u.ID, PrincipalName: u.Name, PermissionSetID: s.ID, PermissionSetName: s.Name,
					TargetType: store.TargetProject, TargetID: p.ID, TargetName: p.Name,
					CreatedAt: now.Add(time.Duration(len(as)) * time.Millisecond), CreatedBy: "bench"})
			}
		}
		return q.InsertAccountAssignments(ctx, as)
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	// What autovacuum and the statistics would do on a live database.
	analyze := "ANALYZE"
	if e.Store.Dialect() == store.Postgres {
		analyze = "VACUUM ANALYZE"
	}
	if _, err := e.Store.DB().ExecContext(ctx, analyze); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d assignments in %s", benchUsers*benchProjects, time.Since(start).Round(time.Millisecond))
	bench.org, bench.token = admin.OrgID, admin.Token
	return bench
}

// BenchmarkAccountAssignmentsList reads pages of 20 of an organization's
// 100,000 account assignments: the first, a deep one (offset 80,000), the
// middle one (offset 50,000, the deepest walk: pages past the middle are
// read from the other end), the last, in the default order and sorted by
// two keys; filtered by target (2,000 matches), by permission set (5,000),
// and by principal type (all 100,000, whose total is kept like the
// unfiltered one); and a two-key order with mixed directions that no index
// serves (first and deep page). Each case
// runs over HTTP (the administrator's GET, guard included) and in process
// (the assignment service: parse, one snapshot, total and page), with
// per-request percentiles.
func BenchmarkAccountAssignmentsList(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := testenv.NewEnv(b, be.Open(b))
			bench := seedAssignments(b, e)
			env, err := access.NewEnv()
			if err != nil {
				b.Fatal(err)
			}
			svc := &assignment.Service{Store: e.Store, Access: access.NewEngine(e.Store, env, 0), Now: e.Clock.Now, NewID: testenv.IDs()}
			twoKeys := "sort=principalName:asc&sort=createdAt:asc"
			cases := []struct {
				name, query string
				total       int
			}{
				{"first/default", "page=0", 100000},
				{"first/2keys", "page=0&" + twoKeys, 100000},
				{"deep-80k/2keys", "page=4000&" + twoKeys, 100000},
				{"middle-50k/2keys", "page=2500&" + twoKeys, 100000},
				{"last/2keys", "page=4999&" + twoKeys, 100000},
				{"last/default-desc", "page=4999&sort=createdAt:desc", 100000},
				{"target/deep/2keys", "targetID=" + bench.project + "&page=90&" + twoKeys, 2000},
				{"set/deep/2keys", "permissionSetID=" + bench.set + "&page=200&sort=targetName:desc&sort=createdAt:desc", 5000},
				{"type-user/first/2keys", "principalType=user&page=0&" + twoKeys, 100000},
				{"mixed-directions/first", "page=0&sort=principalName:asc&sort=createdAt:desc", 100000},
				{"mixed-directions/deep-80k", "page=4000&sort=principalName:asc&sort=createdAt:desc", 100000},
			}
			for _, c := range cases {
				b.Run(c.name+"/http", func(b *testing.B) {
					req, err := http.NewRequest("GET", e.URL+"/api/v1/organizations/"+bench.org+"/accountassignments?"+c.query, nil)
					if err != nil {
						b.Fatal(err)
					}
					req.Header.Set("Authorization", "Bearer "+bench.token)
					durations := make([]time.Duration, 0, b.N)
					for b.Loop() {
						start := time.Now()
						resp, err := e.Client.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						body, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != http.StatusOK {
							b.Fatalf("status %d, read error %v: %s", resp.StatusCode, err, body)
						}
						durations = append(durations, time.Since(start))
						var page struct {
							Count int   `json:"count"`
							Items []any `json:"items"`
						}
						if err := json.Unmarshal(body, &page); err != nil || page.Count != c.total || len(page.Items) != 20 {
							b.Fatalf("count %d, %d items (%v), want %d and 20", page.Count, len(page.Items), err, c.total)
						}
					}
					b.StopTimer()
					testenv.ReportPercentiles(b, durations)
				})
				b.Run(c.name+"/service", func(b *testing.B) {
					q, err := url.ParseQuery(c.query)
					if err != nil {
						b.Fatal(err)
					}
					var page int
					fmt.Sscan(q.Get("page"), &page)
					f := assignment.Filter{TargetID: q.Get("targetID"), PermissionSetID: q.Get("permissionSetID"), PrincipalType: q.Get("principalType")}
					r := pagination.Request{Page: &page, Sort: q["sort"]}
					ctx := context.Background()
					durations := make([]time.Duration, 0, b.N)
					for b.Loop() {
						start := time.Now()
						p, err := svc.ListAssignments(ctx, bench.org, f, r)
						durations = append(durations, time.Since(start))
						if err != nil || p.Total != c.total || len(p.Items) != 20 {
							b.Fatalf("total %d, %d items, error %v", p.Total, len(p.Items), err)
						}
					}
					b.StopTimer()
					testenv.ReportPercentiles(b, durations)
				})
			}
		})
	}
}
