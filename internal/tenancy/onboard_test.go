package tenancy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func newService(st *store.Store) *tenancy.Service {
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return &tenancy.Service{Store: st, Now: clock.Now, NewID: testenv.IDs(), Rand: rand.Reader}
}

var admin = &authn.Principal{Kind: authn.KindServiceAccount, ID: "sa", Subject: "serviceaccount:test"}

func count(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOnboard: one transaction creates the organization, the group with its
// roles and the active user in it; any refusal (bad input, a name clash
// found only by the insert, a platform role, someone who needs no
// onboarding) leaves every table as it was.
func TestOnboard(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		s, ctx := newService(st), t.Context()
		if err := s.CreateOrganization(ctx, admin, &store.Organization{Meta: store.Meta{Name: "taken"}, Type: tenancy.OrganizationAdhoc}); err != nil {
			t.Fatal(err)
		}
		acme := &store.Organization{Meta: store.Meta{Name: "acme"}, Type: tenancy.OrganizationDomain, Domain: "acme.example"}
		if err := s.CreateOrganization(ctx, admin, acme); err != nil {
			t.Fatal(err)
		}
		// Only a verified domain is an organization's.
		if _, err := s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: acme.ID, MarkVerified: true, Platform: true}); err != nil {
			t.Fatal(err)
		}
		platform, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		in := func(edit func(*tenancy.OnboardInput)) tenancy.OnboardInput {
			i := tenancy.OnboardInput{Subject: "jo@startup.example", OrganizationName: "startup", GroupName: "admins"}
			if edit != nil {
				edit(&i)
			}
			return i
		}
		refusals := []struct {
			name       string
			in         tenancy.OnboardInput
			wantStatus int
			wantErr    error
		}{
			{"name clash (found by the unique index)", in(func(i *tenancy.OnboardInput) { i.OrganizationName = "taken" }), http.StatusConflict, nil},
			{"bad organization name", in(func(i *tenancy.OnboardInput) { i.OrganizationName = "Start Up" }), http.StatusBadRequest, nil},
			{"bad group name", in(func(i *tenancy.OnboardInput) { i.GroupName = "" }), http.StatusBadRequest, nil},
			{"platform role", in(func(i *tenancy.OnboardInput) { i.RoleIDs = []string{platform.ID} }), http.StatusBadRequest, nil},
			{"unknown role", in(func(i *tenancy.OnboardInput) { i.RoleIDs = []string{"nope"} }), http.StatusBadRequest, nil},
			{"domain owned by an organization", in(func(i *tenancy.OnboardInput) { i.Subject = "sam@acme.example" }), 0, tenancy.ErrOnboarded},
			// What an upstream provider vouches for is not trusted to be
			// an email address, nor text (PostgreSQL refused NUL with a 500).
			{"subject not an email", in(func(i *tenancy.OnboardInput) { i.Subject = "jo" }), http.StatusBadRequest, nil},
			{"subject with a control character", in(func(i *tenancy.OnboardInput) { i.Subject = "jo\x1b@startup.example" }), http.StatusBadRequest, nil},
			{"subject with NUL", in(func(i *tenancy.OnboardInput) { i.Subject = "jo\x00@startup.example" }), http.StatusBadRequest, nil},
			{"subject of 10000 characters", in(func(i *tenancy.OnboardInput) { i.Subject = strings.Repeat("j", 9984) + "@startup.example" }), http.StatusBadRequest, nil},
			{"description with NUL", in(func(i *tenancy.OnboardInput) { i.OrganizationDescription = "a\x00b" }), http.StatusBadRequest, nil},
			{"description not UTF-8", in(func(i *tenancy.OnboardInput) { i.GroupDescription = "a\xffb" }), http.StatusBadRequest, nil},
		}
		tables := []string{"organizations", "groups", "users", "group_members", "group_roles", "audit_events"}
		before := map[string]int{}
		for _, tb := range tables {
			before[tb] = count(t, st, tb)
		}
		for _, tt := range refusals {
			_, err := s.Onboard(ctx, tt.in)
			e, ok := apierror.As(err)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
			case tt.wantErr == nil && (!ok || e.Status != tt.wantStatus):
				t.Errorf("%s: %v, want status %d", tt.name, err, tt.wantStatus)
			}
			for _, tb := range tables {
				if n := count(t, st, tb); n != before[tb] {
					t.Fatalf("%s: %s has %d rows, had %d", tt.name, tb, n, before[tb])
				}
			}
		}
		org, err := s.Onboard(ctx, in(nil))
		if err != nil {
			t.Fatal(err)
		}
		groups, err := st.Read().ListGroups(ctx, org.ID, store.Page{Limit: store.NoLimit})
		if err != nil || len(groups) != 1 {
			t.Fatalf("groups %v %v", groups, err)
		}
		adminRole, _ := authz.RoleByName(authz.RoleAdministrator)
		u, err := st.Read().GetUserBySubject(ctx, org.ID, "jo@startup.example")
		if err != nil || u.State != authz.ActiveUserState || len(u.GroupIDs) != 1 || u.GroupIDs[0] != groups[0].ID ||
			len(groups[0].RoleIDs) != 1 || groups[0].RoleIDs[0] != adminRole.ID || org.CreatedBy != "jo@startup.example" {
			t.Fatalf("user %+v (%v), group %+v, org %+v", u, err, groups[0], org)
		}
		// The onboarding is in the audit log, once, as the new user's doing.
		evs, err := st.Read().ListAuditEvents(ctx, store.AuditFilter{OrganizationID: org.ID}, store.Page{Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].OperationID != "onboard" || evs[0].ActorSubject != "jo@startup.example" ||
			evs[0].ResourceType != "organizations" || evs[0].ResourceID != org.ID || !strings.Contains(evs[0].After, `"group"`) {
			t.Fatalf("audit events of the onboarding: %+v, %v", evs, err)
		}
		if _, err := s.Onboard(ctx, in(func(i *tenancy.OnboardInput) { i.OrganizationName = "second" })); !errors.Is(err, tenancy.ErrOnboarded) {
			t.Fatalf("a member onboarded again: %v", err)
		}
	})
}

// TestOnboardConcurrently: however many onboardings of one person race,
// one organization is created (the per-subject lock).
func TestOnboardConcurrently(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		s := newService(st)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Onboard(context.Background(), tenancy.OnboardInput{Subject: "jo@startup.example",
					OrganizationName: fmt.Sprintf("startup-%d", i), GroupName: "admins"})
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, tenancy.ErrOnboarded) {
					t.Errorf("onboarding %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || count(t, st, "organizations") != 1 {
			t.Fatalf("%d onboardings won, %d organizations", wins, count(t, st, "organizations"))
		}
	})
}

// TestNameFromSubject: names derived from emails are valid names.
func TestNameFromSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Jo.Doe@example.com":   "Jo.Doe-example.com",
		"sam+ops@acme.example": "sam-ops-acme.example",
		"@@@":                  "",
		"a@":                   "a",
	} {
		got := tenancy.NameFromSubject(in)
		if got != want || got != "" && !tenancy.ValidName(got) {
			t.Errorf("NameFromSubject(%q) = %q, want %q (valid)", in, got, want)
		}
	}
}

// TestNormalizeSubject: a subject is a bare email address of at most 254
// bytes without control characters, lower-cased.
func TestNormalizeSubject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"jo@acme.example": "jo@acme.example", "Jo.Doe@ACME.example": "jo.doe@acme.example", "zoë@acme.example": "zoë@acme.example",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 181) + ".example": strings.Repeat("a", 64) + "@" + strings.Repeat("b", 181) + ".example",
	} {
		if got, err := tenancy.NormalizeSubject(in); err != nil || got != want {
			t.Errorf("NormalizeSubject(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "jo", "@acme.example", "Jo <jo@acme.example>", "<jo@acme.example>", `"j o"@acme.example`, "jo@acme.example ",
		"jo@acme.example\r\n", "j\x00o@acme.example", "j\xffo@acme.example", "jo\u0085@acme.example", "a@b.example, c@d.example",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 182) + ".example"} {
		if got, err := tenancy.NormalizeSubject(in); err == nil {
			t.Errorf("NormalizeSubject(%q) = %q, want an error", in, got)
		}
	}
}

// TestNeedsOnboardingPlatformAdministrator: a person holding a platform role
// (the console's first administrator) is not asked to create an
// organization; without the role, the same person with no membership is.
func TestNeedsOnboardingPlatformAdministrator(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		for _, subject := range []string{"admin@console.example", "other@console.example"} {
			need, err := tenancy.NeedsOnboarding(ctx, st.Read(), subject)
			if err != nil || !need {
				t.Fatalf("%s before any role: need=%v err=%v, want true", subject, need, err)
			}
		}
		platform, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := st.Tx(ctx, func(q *store.Q) error {
			return q.BindPlatformRole(ctx, store.MemberUser, "admin@console.example", platform.ID)
		}); err != nil {
			t.Fatal(err)
		}
		for subject, want := range map[string]bool{"admin@console.example": false, "other@console.example": true} {
			need, err := tenancy.NeedsOnboarding(ctx, st.Read(), subject)
			if err != nil || need != want {
				t.Errorf("%s: need=%v err=%v, want %v", subject, need, err, want)
			}
		}
	})
}
