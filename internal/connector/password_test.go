package connector_test

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// fastParams keep tests quick; TestPasswordHashFormat and the timing test
// use the real defaults.
var fastParams = connector.Argon2Params{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const (
	goodPassword = "correct horse battery"
	badPassword  = "Tr0ub4dor&3-guess"
)

func newPassword(t testing.TB, st *store.Store, clock *testenv.Clock, params connector.Argon2Params) *connector.Password {
	t.Helper()
	p, err := connector.NewPassword(st, connector.PasswordConfig{Params: params, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func t0() *testenv.Clock { return testenv.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) }

// TestPasswordLogin: right and wrong passwords, unknown emails, case, and the
// one error for every failure.
func TestPasswordLogin(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		p := newPassword(t, st, t0(), fastParams)
		if err := p.SetPassword(ctx, "Jo@Example.com", goodPassword); err != nil {
			t.Fatal(err)
		}
		want := connector.Identity{ConnectorID: connector.LocalConnectorID, Subject: "jo@example.com", Email: "jo@example.com", EmailVerified: true}
		for _, email := range []string{"jo@example.com", "JO@EXAMPLE.COM", "  jo@example.com "} {
			id, err := p.Login(ctx, email, goodPassword)
			if err != nil || id != want {
				t.Fatalf("Login(%q): %+v, %v", email, id, err)
			}
		}
		for _, tc := range []struct{ name, email, password string }{
			{"wrong password", "jo@example.com", badPassword},
			{"password with a different case", "jo@example.com", strings.ToUpper(goodPassword)},
			{"password prefix", "jo@example.com", goodPassword[:12]},
			{"unknown email", "nobody@example.com", goodPassword},
			{"empty password", "jo@example.com", ""},
			{"empty email", "", goodPassword},
			{"too long", "jo@example.com", goodPassword + strings.Repeat("x", connector.MaxPasswordBytes)},
		} {
			id, err := p.Login(ctx, tc.email, tc.password)
			if !errors.Is(err, connector.ErrInvalidCredentials) || id != (connector.Identity{}) {
				t.Errorf("%s: %+v, %v; want exactly ErrInvalidCredentials", tc.name, id, err)
			}
		}
	})
}

// TestPasswordLockout: N consecutive failures lock the account for the
// period, the right password included; the lock then lifts; a success resets
// the count; setting the password unlocks.
func TestPasswordLockout(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		clock := t0()
		p := newPassword(t, st, clock, fastParams) // defaults: 5 failures, 15 minutes
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(p.SetPassword(ctx, "jo@example.com", goodPassword))
		// fail makes n failed logins; the one that locks the account
		// (and only that one) is a LockError, for the audit log.
		fail := func(n int) {
			t.Helper()
			for i := range n {
				_, err := p.Login(ctx, "jo@example.com", badPassword)
				if !errors.Is(err, connector.ErrInvalidCredentials) || err.Error() != connector.ErrInvalidCredentials.Error() {
					t.Fatalf("wrong password: %v", err)
				}
				var le *connector.LockError
				if locks := errors.As(err, &le); locks != (n == 5 && i == 4) {
					t.Errorf("failure %d of %d locked: %v", i+1, n, locks)
				}
			}
		}
		ok := func(want bool) {
			t.Helper()
			_, err := p.Login(ctx, "jo@example.com", goodPassword)
			if want && err != nil {
				t.Fatalf("right password refused: %v", err)
			}
			if !want && !errors.Is(err, connector.ErrInvalidCredentials) {
				t.Fatalf("right password on a locked account: %v, want ErrInvalidCredentials", err)
			}
		}

		// A success resets the count.
		fail(4)
		ok(true)
		fail(4)
		ok(true)

		// The fifth failure locks, for 15 minutes, whatever the password.
		fail(5)
		ok(false)
		clock.Advance(15*time.Minute - time.Second)
		ok(false)
		rec, err := st.Read().GetLocalPassword(ctx, "jo@example.com")
		must(err)
		if rec.FailedAttempts != 5 {
			t.Errorf("attempts on a locked account were counted: %d", rec.FailedAttempts)
		}
		clock.Advance(time.Second)
		ok(true)

		// After the lock expires, counting starts over: one failure does not relock.
		fail(5)
		clock.Advance(15 * time.Minute)
		fail(1)
		ok(true)

		// An administrator setting the password unlocks at once.
		fail(5)
		ok(false)
		must(p.SetPassword(ctx, "jo@example.com", "a brand new passphrase"))
		if _, err := p.Login(ctx, "jo@example.com", "a brand new passphrase"); err != nil {
			t.Fatalf("after reset: %v", err)
		}
	})
}

// TestPasswordLockoutConfig: MaxFailures and LockoutPeriod are honoured.
func TestPasswordLockoutConfig(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	clock := t0()
	p, err := connector.NewPassword(st, connector.PasswordConfig{Params: fastParams, Now: clock.Now, MaxFailures: 2, LockoutPeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.SetPassword(ctx, "jo@example.com", goodPassword)
	for range 2 {
		_, _ = p.Login(ctx, "jo@example.com", badPassword)
	}
	if _, err := p.Login(ctx, "jo@example.com", goodPassword); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("not locked after 2 failures: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := p.Login(ctx, "jo@example.com", goodPassword); err != nil {
		t.Fatalf("still locked after a minute: %v", err)
	}
}

// TestPasswordConcurrentGuesses: a burst of concurrent wrong guesses gets no
// more than MaxFailures of them checked, and leaves the account locked; a
// burst of right passwords on a locked account all fail.
func TestPasswordConcurrentGuesses(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		clock := t0()
		p := newPassword(t, st, clock, fastParams)
		if err := p.SetPassword(ctx, "jo@example.com", goodPassword); err != nil {
			t.Fatal(err)
		}
		burst := func(n int, password string) []error {
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { _, errs[i] = p.Login(ctx, "jo@example.com", password) })
			}
			wg.Wait()
			return errs
		}
		for _, err := range burst(30, badPassword) {
			if !errors.Is(err, connector.ErrInvalidCredentials) {
				t.Fatalf("wrong guess: %v", err)
			}
		}
		rec, err := st.Read().GetLocalPassword(ctx, "jo@example.com")
		if err != nil {
			t.Fatal(err)
		}
		// Each checked guess first took one of the 5 counts; the other 25 found the account locked.
		if rec.FailedAttempts != 5 || !rec.LockedUntil.Equal(clock.Now().Add(15*time.Minute)) {
			t.Fatalf("after 30 concurrent guesses: attempts %d, locked until %v", rec.FailedAttempts, rec.LockedUntil)
		}
		for _, err := range burst(10, goodPassword) {
			if !errors.Is(err, connector.ErrInvalidCredentials) {
				t.Fatalf("right password on a locked account: %v", err)
			}
		}
		// After the lock, MaxFailures concurrent right passwords all pass.
		clock.Advance(15 * time.Minute)
		for _, err := range burst(5, goodPassword) {
			if err != nil {
				t.Fatalf("right password after the lock: %v", err)
			}
		}
	})
}

// TestPasswordPolicy: length in characters (not bytes) at least 12, at most
// 1024 bytes, UTF-8, and a bare email address.
func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	p := newPassword(t, st, t0(), fastParams)
	for _, tc := range []struct {
		name, email, password string
		err                   error
	}{
		{"12 characters", "a@example.com", "abcdefghijkl", nil},
		{"11 characters", "a@example.com", "abcdefghijk", connector.ErrPasswordPolicy},
		{"12 multi-byte characters", "a@example.com", "éééééééééééé", nil},
		{"11 multi-byte characters, 22 bytes", "a@example.com", "ééééééééééé", connector.ErrPasswordPolicy},
		{"1024 bytes", "a@example.com", strings.Repeat("x", 1024), nil},
		{"1025 bytes", "a@example.com", strings.Repeat("x", 1025), connector.ErrPasswordPolicy},
		{"not UTF-8", "a@example.com", "abcdefghijkl\xff", connector.ErrPasswordPolicy},
		{"empty", "a@example.com", "", connector.ErrPasswordPolicy},
		{"no @", "example.com", goodPassword, connector.ErrInvalidEmail},
		{"display name", "Jo <jo@example.com>", goodPassword, connector.ErrInvalidEmail},
		{"empty email", "", goodPassword, connector.ErrInvalidEmail},
	} {
		err := p.SetPassword(ctx, tc.email, tc.password)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		if tc.err == nil {
			if _, err := p.Login(ctx, tc.email, tc.password); err != nil {
				t.Errorf("%s: set, but Login: %v", tc.name, err)
			}
		}
	}
	if err := connector.CheckPasswordPolicy("short"); err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Errorf("policy error %v does not say what is wrong", err)
	}
}

// TestPasswordHashFormat: argon2id with OWASP's parameters, written as a PHC
// string that carries them, with a fresh salt per hash.
func TestPasswordHashFormat(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	p, err := connector.NewPassword(st, connector.PasswordConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.SetPassword(ctx, "a@example.com", goodPassword)
	_ = p.SetPassword(ctx, "b@example.com", goodPassword)
	a, err := st.Read().GetLocalPassword(ctx, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := st.Read().GetLocalPassword(ctx, "b@example.com")
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(a.Hash) {
		t.Errorf("hash %q is not $argon2id$v=19$m=19456,t=2,p=1$<16-byte salt>$<32-byte key>", a.Hash)
	}
	if a.Hash == b.Hash || strings.Split(a.Hash, "$")[4] == strings.Split(b.Hash, "$")[4] {
		t.Error("two hashes share a salt")
	}
	if strings.Contains(a.Hash, goodPassword) {
		t.Error("the hash contains the password")
	}
}

// TestPasswordParamsChange: a hash made with old parameters still verifies,
// and is rehashed with the current ones at the next good login.
func TestPasswordParamsChange(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	old := newPassword(t, st, t0(), fastParams)
	if err := old.SetPassword(ctx, "jo@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	stronger := fastParams
	stronger.Memory, stronger.Iterations = 512, 3
	cur := newPassword(t, st, t0(), stronger)
	if _, err := cur.Login(ctx, "jo@example.com", badPassword); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if rec, _ := st.Read().GetLocalPassword(ctx, "jo@example.com"); !strings.Contains(rec.Hash, "$m=256,t=1,p=1$") {
		t.Fatalf("a failed login rehashed: %s", rec.Hash)
	}
	if _, err := cur.Login(ctx, "jo@example.com", goodPassword); err != nil {
		t.Fatalf("hash with old parameters: %v", err)
	}
	rec, _ := st.Read().GetLocalPassword(ctx, "jo@example.com")
	if !strings.Contains(rec.Hash, "$m=512,t=3,p=1$") {
		t.Fatalf("not rehashed with the current parameters: %s", rec.Hash)
	}
	for _, c := range []*connector.Password{cur, old} {
		if _, err := c.Login(ctx, "jo@example.com", goodPassword); err != nil {
			t.Fatalf("after rehash: %v", err)
		}
	}
}

// TestPasswordCorruptHash: a stored hash that is not a sane argon2id string
// is an error, never a success, and parameters that would cost gigabytes are
// refused before hashing.
func TestPasswordCorruptHash(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	p := newPassword(t, st, t0(), fastParams)
	for _, h := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=256,t=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
	} {
		if err := st.Tx(ctx, func(q *store.Q) error { return q.SetLocalPassword(ctx, "jo@example.com", h, time.Now()) }); err != nil {
			t.Fatal(err)
		}
		id, err := p.Login(ctx, "jo@example.com", goodPassword)
		if err == nil || errors.Is(err, connector.ErrInvalidCredentials) {
			t.Errorf("hash %q: %+v, %v; want an internal error", h, id, err)
		}
	}
}

// TestPasswordSameWork: a wrong password, an unknown email and a locked
// account (even with the right password) each cost exactly one argon2id check
// with the configured parameters, so their answers cannot be told apart by
// time. Counted, not timed: a timing test fails on a loaded machine.
func TestPasswordSameWork(t *testing.T) {
	t.Parallel()
	st, ctx := testenv.SQLite(t), t.Context()
	clock := t0()
	p := newPassword(t, st, clock, fastParams)
	for _, email := range []string{"known@example.com", "locked@example.com"} {
		if err := p.SetPassword(ctx, email, goodPassword); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		_, _ = p.Login(ctx, "locked@example.com", badPassword)
	}
	var checks []connector.Argon2Params
	connector.OnVerify(p, func(a connector.Argon2Params) { checks = append(checks, a) })
	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "known@example.com", badPassword},
		{"unknown email", "nobody@example.com", badPassword},
		{"locked account, right password", "locked@example.com", goodPassword},
	} {
		checks = nil
		if _, err := p.Login(ctx, tc.email, tc.password); !errors.Is(err, connector.ErrInvalidCredentials) {
			t.Fatalf("%s: err = %v, want ErrInvalidCredentials", tc.name, err)
		}
		if len(checks) != 1 || checks[0] != fastParams {
			t.Errorf("%s: hash checks %+v, want exactly one with %+v", tc.name, checks, fastParams)
		}
	}
}
