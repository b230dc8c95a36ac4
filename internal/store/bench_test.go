package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// seedUsers creates an organization with 20 groups and n users, each in two
// of the groups, in one transaction, and returns the organization's ID.
func seedUsers(b *testing.B, st *store.Store, n int) string {
	b.Helper()
	ctx := b.Context()
	start := time.Now()
	org := &store.Organization{Meta: newMeta("", "bench"), Type: "adhoc"}
	tx(b, st, func(q *store.Q) error {
		if err := q.CreateOrganization(ctx, org); err != nil {
			return err
		}
		groups := make([]string, 20)
		for i := range groups {
			g := &store.Group{Meta: newMeta(org.ID, fmt.Sprintf("group-%02d", i))}
			if err := q.CreateGroup(ctx, g); err != nil {
				return err
			}
			groups[i] = g.ID
		}
		for i := range n {
			u := &store.User{Meta: newMeta(org.ID, fmt.Sprintf("user-%05d", i)), Subject: fmt.Sprintf("user-%05d@example.com", i),
				State: "active", LastActive: t0, GroupIDs: []string{groups[i%20], groups[(i+7)%20]}}
			if err := q.CreateUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := st.DB().ExecContext(ctx, "ANALYZE")
	must(b, err)
	b.Logf("seeded %d users in one transaction in %s", n, time.Since(start).Round(time.Millisecond))
	return org.ID
}

// BenchmarkListUsersPaged walks the 10,000 users of one organization (each in
// two groups, which ListUsers fills in) page by page. ns/op is one full walk;
// ns/page divides it by the queries made (the last, short or empty, page
// included), pages/op counts them.
func BenchmarkListUsersPaged(b *testing.B) {
	const users = 10000
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			st := be.Open(b)
			orgID := seedUsers(b, st, users)
			for _, size := range []int{100, 1000} {
				b.Run(fmt.Sprintf("page=%d", size), func(b *testing.B) {
					ctx := b.Context()
					pages := 0
					for b.Loop() {
						after, seen := "", 0
						for {
							us, err := st.Read().ListUsers(ctx, orgID, store.Page{Limit: size, After: after})
							if err != nil {
								b.Fatal(err)
							}
							pages++
							seen += len(us)
							if len(us) < size {
								break
							}
							after = us[len(us)-1].ID
						}
						if seen != users {
							b.Fatalf("walked %d users, want %d", seen, users)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pages), "ns/page")
					b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
				})
			}
		})
	}
}
