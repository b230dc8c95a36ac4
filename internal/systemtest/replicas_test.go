package systemtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/loginflow"
)

// fired is how many concurrent requests each race sends, spread round robin
// over the replicas.
const fired = 200

// TestReplicas: three replicas on one PostgreSQL behave as one service for
// everything that must happen once: refresh token rotation, code
// redemption, quota allocation, service account rotation and signing key
// rotation.
func TestReplicas(t *testing.T) {
	c := newCluster(t, 3)
	t.Run("refresh rotation", func(t *testing.T) { testRefreshRace(t, c) })
	t.Run("code redemption", func(t *testing.T) { testCodeRace(t, c) })
	t.Run("quota allocation", func(t *testing.T) { testQuotaRace(t, c) })
	t.Run("service account rotation", func(t *testing.T) { testServiceAccountRace(t, c) })
	t.Run("admin rotate-keys", func(t *testing.T) { testRotateKeysRace(t, c) })
}

// tokenRace fires one token request per goroutine, round robin over the
// replicas, and sorts the outcomes: the winners' tokens, and the refusals by
// OAuth2 error code (anything else, a transport error or a 5xx, fails).
func tokenRace(t *testing.T, c *cluster, answered *atomic.Int32, do func(cl *loginflow.Client) (*loginflow.Tokens, error)) ([]*loginflow.Tokens, map[string]int) {
	t.Helper()
	wins := make([]*loginflow.Tokens, fired)
	errs := race(fired, func(i int) error {
		tok, err := do(c.on(c.web, i))
		wins[i] = tok
		answered.Add(1)
		return err
	})
	var won []*loginflow.Tokens
	refused := map[string]int{}
	for i, err := range errs {
		var te *loginflow.Error
		switch {
		case err == nil:
			won = append(won, wins[i])
		case errors.As(err, &te) && te.Status == http.StatusBadRequest:
			refused[te.Code]++
		default:
			t.Errorf("request %d (replica %d): %v", i, i%len(c.replicas), err)
		}
	}
	return won, refused
}

// testRefreshRace: 200 presentations of one refresh token: exactly one
// rotation wins, the others are invalid_grant, and the reuse revokes the
// family: the winner's new refresh token and access token are dead too.
func testRefreshRace(t *testing.T, c *cluster) {
	ctx := context.Background()
	code, flow, err := c.web.Code(ctx, email, password, "openid", "email", "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.web.Exchange(ctx, code, flow)
	if err != nil {
		t.Fatal(err)
	}
	won, refused := tokenRace(t, c, new(atomic.Int32), func(cl *loginflow.Client) (*loginflow.Tokens, error) { return cl.Refresh(ctx, tok.RefreshToken) })
	if len(won) != 1 || refused["invalid_grant"] != fired-1 {
		t.Fatalf("%d concurrent rotations of one refresh token: %d won, refusals %v; want 1 and %d invalid_grant", fired, len(won), refused, fired-1)
	}
	for i := range c.replicas {
		if _, err := c.on(c.web, i).Refresh(ctx, won[0].RefreshToken); !isGrantError(err) {
			t.Errorf("the winner's refresh token on replica %d after the reuse: %v, want invalid_grant (family revoked)", i, err)
		}
		if got := c.userinfo(t, i, won[0].AccessToken); got != http.StatusUnauthorized {
			t.Errorf("the winner's access token on replica %d after the reuse: userinfo %d, want 401", i, got)
		}
	}
}

// testCodeRace: 200 redemptions of one code: one wins, the others are
// invalid_grant, and the replays revoke what the winner got, even though
// they are all answered before the winner has recorded its tokens (the test
// holds the sessions table until then: a slow winner).
func testCodeRace(t *testing.T, c *cluster) {
	ctx := context.Background()
	code, flow, err := c.web.Code(ctx, email, password, "openid", "email", "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	release := c.holdWrites(t, "oidc_sessions")
	var (
		answered atomic.Int32
		won      []*loginflow.Tokens
		refused  map[string]int
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		won, refused = tokenRace(t, c, &answered, func(cl *loginflow.Client) (*loginflow.Tokens, error) { return cl.Exchange(ctx, code, flow) })
	}()
	for deadline := time.Now().Add(60 * time.Second); answered.Load() < fired-1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			release()
			t.Fatalf("only %d of the %d redemptions answered within 60 s while the winner waits", answered.Load(), fired-1)
		}
	}
	release()
	<-finished
	if len(won) != 1 || refused["invalid_grant"] != fired-1 {
		t.Fatalf("%d concurrent redemptions of one code: %d won, refusals %v; want 1 and %d invalid_grant", fired, len(won), refused, fired-1)
	}
	for i := range c.replicas {
		if got := c.userinfo(t, i, won[0].AccessToken); got != http.StatusUnauthorized {
			t.Errorf("the winner's access token on replica %d after the replays: userinfo %d, want 401", i, got)
		}
		if _, err := c.on(c.web, i).Refresh(ctx, won[0].RefreshToken); !isGrantError(err) {
			t.Errorf("the winner's refresh token on replica %d after the replays: %v, want invalid_grant", i, err)
		}
	}
}

func isGrantError(err error) bool {
	var te *loginflow.Error
	return errors.As(err, &te) && te.Code == "invalid_grant"
}

// testQuotaRace: 200 allocations of 3 servers each against the default
// quota of 20, created at once through all replicas: exactly 6 fit, the
// others are refused with 400, and the sum never exceeds the quota.
func testQuotaRace(t *testing.T, c *cluster) {
	org := id(c.mustAPI(t, http.StatusAccepted, "POST", "/api/v1/organizations",
		map[string]any{"metadata": map[string]any{"name": "quota-race"}, "spec": map[string]any{"organizationType": "adhoc"}}))
	project := id(c.mustAPI(t, http.StatusAccepted, "POST", "/api/v1/organizations/"+org+"/projects",
		map[string]any{"metadata": map[string]any{"name": "p"}, "spec": map[string]any{"groupIDs": []string{}}}))
	const quota, each = 20, 3
	statuses := make([]int, fired)
	errs := race(fired, func(i int) error {
		name := fmt.Sprintf("a%03d", i)
		status, body, err := c.api(i, "POST", "/api/v1/organizations/"+org+"/projects/"+project+"/allocations", map[string]any{
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"kind": "cluster", "id": "cluster-" + name,
				"allocations": []map[string]any{{"kind": "servers", "committed": each, "reserved": 0}}}})
		statuses[i] = status
		if err == nil && status != http.StatusCreated && status != http.StatusBadRequest {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		return err
	})
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("allocation %d: %v", i, err)
		}
		if statuses[i] == http.StatusCreated {
			created++
		}
	}
	if created != quota/each {
		t.Errorf("%d concurrent allocations of %d servers against a quota of %d: %d created, want %d", fired, each, quota, created, quota/each)
	}
	q := c.mustAPI(t, http.StatusOK, "GET", "/api/v1/organizations/"+org+"/quotas", nil)
	for _, k := range q["quotas"].([]any) {
		k := k.(map[string]any)
		if k["kind"] == "servers" && (k["committed"].(float64) != float64(created*each) || k["committed"].(float64) > quota) {
			t.Errorf("servers quota after the race: %v, want %d committed", k, created*each)
		}
	}
}

// testServiceAccountRace: in each round one rotation races updates of the
// same service account, each through another replica: afterwards the
// rotated token works and the previous one does not (no update wrote back
// the hash it read before the rotation).
func testServiceAccountRace(t *testing.T, c *cluster) {
	org := id(c.mustAPI(t, http.StatusAccepted, "POST", "/api/v1/organizations",
		map[string]any{"metadata": map[string]any{"name": "sa-race"}, "spec": map[string]any{"organizationType": "adhoc"}}))
	base := "/api/v1/organizations/" + org + "/serviceaccounts"
	created := c.mustAPI(t, http.StatusCreated, "POST", base, map[string]any{"metadata": map[string]any{"name": "ci"}, "spec": map[string]any{"groupIDs": []string{}}})
	sa := id(created)
	previous := created["status"].(map[string]any)["accessToken"].(string)
	works := func(token string) int {
		status, _, err := call(c.http, c.replicas[1].URL, token, "GET", "/api/v1/organizations", nil)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	const rounds, updates = 4, 30
	for round := range rounds {
		rotated := make([]string, 1)
		errs := race(1+updates, func(i int) error {
			if i == 0 {
				status, body, err := c.api(round, "POST", base+"/"+sa+"/rotate", nil)
				if err != nil || status != http.StatusOK {
					return fmt.Errorf("rotate: %d %s %v", status, body, err)
				}
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				rotated[0] = m["status"].(map[string]any)["accessToken"].(string)
				return nil
			}
			status, body, err := c.api(i, "PUT", base+"/"+sa, map[string]any{
				"metadata": map[string]any{"name": "ci", "description": fmt.Sprintf("round %d update %d", round, i)},
				"spec":     map[string]any{"groupIDs": []string{}}})
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("update: %d %s %v", status, body, err)
			}
			return nil
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := works(previous); got != http.StatusUnauthorized {
			t.Errorf("round %d: the token before the rotation answers %d, want 401", round, got)
		}
		if got := works(rotated[0]); got != http.StatusOK {
			t.Errorf("round %d: the rotated token answers %d, want 200", round, got)
		}
		previous = rotated[0]
	}
}

// holdWrites locks table against writes (reads go on) until the returned
// function is called, to make a writer slow on purpose.
func (c *cluster) holdWrites(t *testing.T, table string) func() {
	t.Helper()
	db, err := sql.Open("pgx", c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLE "+table+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				t.Error(err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// testRotateKeysRace: two `gatehouse admin rotate-keys` processes running at
// the same time rotate once: both print the same new active key, and exactly
// one key is retired.
func testRotateKeysRace(t *testing.T, c *cluster) {
	db, err := sql.Open("pgx", c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The platform's keys: one set per algorithm (ES256, ES512, RS256),
	// each rotated by rotate-keys, which prints "ALG KID" per set.
	count := func(state string) int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM signing_keys WHERE scope = '' AND state = $1", state).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	active := func() string {
		rows, err := db.Query("SELECT algorithm, id FROM signing_keys WHERE scope = '' AND state = 'active' ORDER BY algorithm")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var alg, id string
			if err := rows.Scan(&alg, &id); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, alg+" "+id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	before := active()
	sets := count("active")
	retired := count("retired")

	// Make the two runs overlap for sure: hold writes to signing_keys (reads
	// go on) until both are inside their rotation, one waiting for the
	// table, the other for the signing key lock, so that both have read the
	// active key before either rotates.
	ctx := context.Background()
	hold, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if _, err := hold.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, "LOCK TABLE signing_keys IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	outs := make([]string, 2)
	errs := make(chan error, 2)
	for i := range outs {
		go func() {
			out, err := gatehouseErr("", append([]string{"admin", "rotate-keys"}, c.dbArgs()...)...)
			outs[i] = strings.TrimSpace(out)
			errs <- err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for waiting := 0; waiting < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the two rotate-keys runs did not both reach their rotation within 30 s (%d waiting)", waiting)
		}
		time.Sleep(20 * time.Millisecond)
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
			WHERE d.datname = current_database() AND NOT l.granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hold.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	for range outs {
		if err := <-errs; err != nil {
			t.Fatalf("rotate-keys: %v", err)
		}
	}
	after := active()
	if outs[0] != after || outs[1] != after || after == before {
		t.Errorf("two racing rotate-keys printed %q and %q; active key %s before, %s after: want both to print the new one", outs[0], outs[1], before, after)
	}
	if got := count("retired"); sets != 3 || got != retired+sets {
		t.Errorf("two racing rotate-keys left %d retired keys (of %d sets), want %d (one rotation per set)", got, sets, retired+sets)
	}
	if count("active") != sets || count("next") != sets {
		t.Errorf("after the race: %d active and %d next keys, want %d each", count("active"), count("next"), sets)
	}
}
