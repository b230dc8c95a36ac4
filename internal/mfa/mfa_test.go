package mfa_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

type fixture struct {
	svc   *mfa.Service
	st    *store.Store
	clock *testenv.Clock
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	key := make([]byte, secret.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	sealer, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(t0)
	return &fixture{st: st, clock: clock, svc: &mfa.Service{Store: st, Sealer: sealer, Issuer: "Gatehouse test",
		MaxFailures: 5, LockoutPeriod: 15 * time.Minute, Now: clock.Now, NewID: testenv.IDs()}}
}

// enrol enrols a TOTP factor for subject and returns its secret and the
// recovery codes its confirmation gave.
func (f *fixture) enrol(t *testing.T, subject string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := f.svc.StartTOTP(ctx, mfa.Account{Subject: subject}, "phone")
	if err != nil {
		t.Fatal(err)
	}
	code, err := mfa.Code(e.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	fac, codes, err := f.svc.Confirm(ctx, subject, e.FactorID, code)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if !fac.Confirmed() || fac.Kind != mfa.KindTOTP {
		t.Fatalf("factor after confirm: %+v", fac)
	}
	return e.Secret, codes
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfa.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPAcceptedOnce(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		ctx := context.Background()
		sec, codes := f.enrol(t, "jo@acme.example")
		if len(codes) != mfa.RecoveryCodeCount {
			t.Fatalf("recovery codes at first factor: %d", len(codes))
		}
		// The enrolment's own code is spent: replaying it signs nobody in.
		if _, err := f.svc.Verify(ctx, "jo@acme.example", code(t, sec, f.clock.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("replayed enrolment code: %v", err)
		}
		f.clock.Advance(mfa.Period)
		c := code(t, sec, f.clock.Now())
		if m, err := f.svc.Verify(ctx, "jo@acme.example", c); err != nil || m != mfa.MethodTOTP {
			t.Fatalf("fresh code: %v %v", m, err)
		}
		if _, err := f.svc.Verify(ctx, "jo@acme.example", c); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("replayed code: %v", err)
		}
		// A code of an earlier step (still within the skew) is refused
		// once a later one was used.
		if _, err := f.svc.Verify(ctx, "jo@acme.example", code(t, sec, f.clock.Now().Add(-mfa.Period))); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("older step after a newer: %v", err)
		}
		// Another person's code does not open this account.
		other, _ := f.enrol(t, "al@acme.example")
		f.clock.Advance(mfa.Period)
		if _, err := f.svc.Verify(ctx, "jo@acme.example", code(t, other, f.clock.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("someone else's code: %v", err)
		}
	})
}

func TestTOTPSkew(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		ctx := context.Background()
		sec, _ := f.enrol(t, "jo@acme.example")
		f.clock.Advance(10 * mfa.Period)
		now := f.clock.Now()
		for _, tc := range []struct {
			name   string
			offset time.Duration
			ok     bool
		}{
			{"two steps behind", -2 * mfa.Period, false},
			{"one step behind", -mfa.Period, true},
			{"current step", 0, true},
			{"one step ahead", mfa.Period, true},
			{"two steps ahead", 2 * mfa.Period, false},
		} {
			_, err := f.svc.Verify(ctx, "jo@acme.example", code(t, sec, now.Add(tc.offset)))
			if (err == nil) != tc.ok {
				t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
			}
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		ctx := context.Background()
		_, codes := f.enrol(t, "jo@acme.example")
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 19 || seen[c] {
				t.Fatalf("bad or repeated code %q", c)
			}
			seen[c] = true
		}
		if m, err := f.svc.Verify(ctx, "jo@acme.example", codes[0]); err != nil || m != mfa.MethodRecovery {
			t.Fatalf("recovery code: %v %v", m, err)
		}
		if _, err := f.svc.Verify(ctx, "jo@acme.example", codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("recovery code used twice: %v", err)
		}
		// Typed in capitals, without dashes: the same code.
		if _, err := f.svc.Verify(ctx, "jo@acme.example", strings.ToUpper(strings.ReplaceAll(codes[1], "-", ""))); err != nil {
			t.Fatalf("code typed differently: %v", err)
		}
		// Nothing of the codes is stored in clear.
		var n int
		if err := f.st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM mfa_recovery_codes WHERE code_hash LIKE $1", "%"+strings.ReplaceAll(codes[2], "-", "")+"%").Scan(&n); err != nil || n != 0 {
			t.Fatalf("code in clear: %d %v", n, err)
		}
		if _, left, err := f.svc.Factors(ctx, "jo@acme.example"); err != nil || left != mfa.RecoveryCodeCount-2 {
			t.Fatalf("codes left: %d %v", left, err)
		}
		fresh, err := f.svc.RegenerateRecoveryCodes(ctx, "jo@acme.example")
		if err != nil || len(fresh) != mfa.RecoveryCodeCount {
			t.Fatalf("regenerate: %d %v", len(fresh), err)
		}
		if _, err := f.svc.Verify(ctx, "jo@acme.example", codes[2]); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("code of the replaced set: %v", err)
		}
		if _, err := f.svc.Verify(ctx, "jo@acme.example", fresh[9]); err != nil {
			t.Fatalf("code of the new set: %v", err)
		}
		if _, err := f.svc.RegenerateRecoveryCodes(ctx, "nobody@acme.example"); !errors.Is(err, mfa.ErrNoFactor) {
			t.Fatalf("codes without a factor: %v", err)
		}
	})
}

func TestFactorLockout(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		ctx := context.Background()
		sec, _ := f.enrol(t, "jo@acme.example")
		f.clock.Advance(mfa.Period)
		for i := 1; i <= 5; i++ {
			_, err := f.svc.Verify(ctx, "jo@acme.example", "000000")
			want := mfa.ErrInvalidCode
			if i == 5 {
				want = mfa.ErrLocked
			}
			if !errors.Is(err, want) {
				t.Fatalf("attempt %d: %v, want %v", i, err, want)
			}
		}
		// Locked: even the right code is refused, and not spent.
		good := code(t, sec, f.clock.Now())
		var le *mfa.LockError
		if _, err := f.svc.Verify(ctx, "jo@acme.example", good); !errors.As(err, &le) || !le.Until.Equal(t0.Add(mfa.Period).Add(15*time.Minute)) {
			t.Fatalf("right code while locked: %v", err)
		}
		f.clock.Advance(15 * time.Minute)
		if _, err := f.svc.Verify(ctx, "jo@acme.example", code(t, sec, f.clock.Now())); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		// An administrator's reset removes the factors and codes.
		if n, err := f.svc.Reset(ctx, "jo@acme.example"); err != nil || n != 1 {
			t.Fatalf("reset: %d %v", n, err)
		}
		if has, err := f.svc.HasFactor(ctx, "jo@acme.example"); err != nil || has {
			t.Fatalf("factor after reset: %v %v", has, err)
		}
	})
}

func TestSecretSealedAtRest(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		ctx := context.Background()
		e, err := f.svc.StartTOTP(ctx, mfa.Account{Subject: "jo@acme.example"}, "")
		if err != nil {
			t.Fatal(err)
		}
		fac, err := f.st.Read().GetFactor(ctx, "jo@acme.example", e.FactorID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(fac.SecretSealed, e.Secret) || !strings.HasPrefix(fac.SecretSealed, "v1:") {
			t.Fatalf("secret not sealed: %q", fac.SecretSealed)
		}
		if k, err := otp.NewKeyFromURL(e.URL); err != nil || k.Secret() != e.Secret || k.AccountName() != "jo@acme.example" {
			t.Fatalf("otpauth URL %q: %v", e.URL, err)
		}
		if e.QR.Size < 21 || !strings.HasPrefix(e.QR.Path, "M") {
			t.Fatalf("QR code: %+v", e.QR)
		}
		// Pending: no factor yet, and the same enrolment is shown again.
		if has, _ := f.svc.HasFactor(ctx, "jo@acme.example"); has {
			t.Fatal("a pending enrolment counts as a factor")
		}
		again, err := f.svc.PendingTOTP(ctx, "jo@acme.example", time.Hour)
		if err != nil || again.Secret != e.Secret {
			t.Fatalf("pending enrolment: %v", err)
		}
		// A wrong first code does not confirm.
		if _, _, err := f.svc.Confirm(ctx, "jo@acme.example", e.FactorID, "123456x"); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("bad first code: %v", err)
		}
	})
}

func TestPolicy(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		f := newFixture(t, st)
		ctx := context.Background()
		newID := testenv.IDs()
		orgs := map[string]*store.Organization{}
		admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		err := st.Tx(ctx, func(q *store.Q) error {
			for _, name := range []string{"strict", "loose", "none"} {
				o := &store.Organization{Meta: store.Meta{ID: newID(), Name: name, CreatedAt: t0}, Type: "adhoc"}
				if err := q.CreateOrganization(ctx, o); err != nil {
					return err
				}
				orgs[name] = o
			}
			for _, u := range []struct{ org, subject, state string }{
				{"strict", "member@x.example", "active"}, {"loose", "member@x.example", "active"},
				{"strict", "pending@x.example", "pending"}, {"loose", "loose@x.example", "active"},
			} {
				if err := q.CreateUser(ctx, &store.User{Meta: store.Meta{ID: newID(), OrganizationID: orgs[u.org].ID, Name: u.subject, CreatedAt: t0},
					Subject: u.subject, State: u.state}); err != nil {
					return err
				}
			}
			return q.BindPlatformRole(ctx, store.MemberUser, "admin@x.example", admin.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, mode := range map[string]mfa.Mode{"strict": mfa.Required, "loose": mfa.Off} {
			if err := f.svc.SetPolicy(ctx, orgs[name].ID, mode); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			acc  mfa.Account
			want mfa.Mode
		}{
			{"strictest organization of an active member", mfa.Account{Subject: "member@x.example"}, mfa.Required},
			{"a pending membership does not count", mfa.Account{Subject: "pending@x.example"}, mfa.Optional},
			{"off", mfa.Account{Subject: "loose@x.example"}, mfa.Off},
			{"nobody's member", mfa.Account{Subject: "free@x.example"}, mfa.Optional},
			{"platform administrator", mfa.Account{Subject: "admin@x.example"}, mfa.Required},
			{"account owned by an organization: its policy alone", mfa.Account{Subject: "member@x.example", Organization: orgs["loose"].ID}, mfa.Off},
			{"organization without a policy", mfa.Account{Subject: "x@x.example", Organization: orgs["none"].ID}, mfa.Optional},
		} {
			got, err := f.svc.Policy(ctx, tc.acc)
			if err != nil || got != tc.want {
				t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
			}
		}
		f.svc.PlatformAdministrators = mfa.Optional
		if got, _ := f.svc.Policy(ctx, mfa.Account{Subject: "admin@x.example"}); got != mfa.Optional {
			t.Errorf("platform administrators set optional: %q", got)
		}
		// Off refuses enrolment.
		if _, err := f.svc.StartTOTP(ctx, mfa.Account{Subject: "loose@x.example"}, ""); !errors.Is(err, mfa.ErrNotOffered) {
			t.Errorf("enrolment under off: %v", err)
		}
	})
}
