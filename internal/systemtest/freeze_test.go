package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestFrozenDatabaseAnswers503 is finding 4 of issue 12: PostgreSQL frozen
// (SIGSTOP on the postmaster and every backend: sockets open, nothing
// answered) made API writes hang for over 90 s, and a client that gave up
// was logged as a 500. Now, on a private cluster the test starts (never a
// shared one), an API write and a read are answered 503
// temporarily_unavailable with Retry-After within --database-timeout and a
// margin, a client that gives up is logged 499, and after SIGCONT the same
// process serves again.
func TestFrozenDatabaseAnswers503(t *testing.T) {
	pg := testenv.StartPostgres(t)
	const timeout = 2 * time.Second
	// Generous for a loaded 2-core CI machine; a hang is unbounded.
	const bound = timeout + 10*time.Second

	gatehouse(t, "", "migrate", "--database-url", pg.URL)
	data := t.TempDir()
	r := serve(t, append([]string{"--database-url", pg.URL, "--encryption-key", newKey(), "--data-dir", data,
		"--database-timeout", timeout.String(), "--log-level", "info"}, noRateLimits...)...)
	admin := readToken(t, filepath.Join(data, "bootstrap-token"))
	hc := &http.Client{Timeout: time.Minute}
	status, body, err := call(hc, r.URL, admin, "POST", "/api/v1/organizations",
		map[string]any{"metadata": map[string]any{"name": "frozen"}, "spec": map[string]any{"organizationType": "adhoc"}})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("create organization: %d %s %v", status, body, err)
	}
	var org map[string]any
	_ = json.Unmarshal(body, &org)
	groups := "/api/v1/organizations/" + id(org) + "/groups"
	group := func(name string) map[string]any {
		return map[string]any{"metadata": map[string]any{"name": name},
			"spec": map[string]any{"roleIDs": []string{}, "userIDs": []string{}, "serviceAccountIDs": []string{}}}
	}
	if status, body, err := call(hc, r.URL, admin, "POST", groups, group("before")); err != nil || status != http.StatusCreated {
		t.Fatalf("create group before the freeze: %d %s %v", status, body, err)
	}

	pg.Freeze()
	for _, c := range []struct {
		what, method string
		body         any
	}{
		{"write", "POST", group("during")},
		{"read", "GET", nil},
	} {
		start := time.Now()
		status, body, h, err := callH(hc, r.URL, admin, c.method, groups, c.body)
		took := time.Since(start)
		t.Logf("%s while frozen: %d after %v", c.what, status, took.Round(time.Millisecond))
		var e map[string]string
		switch {
		case err != nil:
			t.Errorf("%s while frozen: %v", c.what, err)
		case status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" ||
			json.Unmarshal(body, &e) != nil || e["error"] != "temporarily_unavailable":
			t.Errorf("%s while frozen: %d %v %s, want 503 temporarily_unavailable with Retry-After", c.what, status, h, body)
		case took > bound:
			t.Errorf("%s while frozen answered after %v, want within %v", c.what, took, bound)
		}
	}
	// A client that gives up before the timeout: logged 499, not 500.
	impatient := &http.Client{Timeout: timeout / 4}
	if _, _, err := call(impatient, r.URL, admin, "GET", groups, nil); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("impatient read while frozen: %v, want the client's own timeout", err)
	}
	ready, err := hc.Get(r.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while frozen: %d, want 503", ready.StatusCode)
	}
	pg.Thaw()

	// The same process serves again, without a restart.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, err := call(hc, r.URL, admin, "POST", groups, group("after"))
		if err == nil && status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the thaw a write still gets %d %s %v", status, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body, err = call(hc, r.URL, admin, "GET", groups, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list groups after the thaw: %d %s %v", status, body, err)
	}
	var list []map[string]any
	_ = json.Unmarshal(body, &list)
	var names []string
	for _, g := range list {
		md, _ := g["metadata"].(map[string]any)
		n, _ := md["name"].(string)
		names = append(names, n)
	}
	if strings.Join(names, ",") != "before,after" {
		t.Errorf("groups after the thaw: %v, want before and after (the write answered 503 must not exist)", names)
	}

	// The log: the impatient client is a 499, and nothing was a 500. The
	// server writes its log in batches: stop it first.
	r.stop(t)
	b, err := os.ReadFile(r.log)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if strings.Contains(log, "status=500") {
		t.Errorf("a request was logged as 500:\n%s", grep(log, "status=500"))
	}
	if !strings.Contains(log, "status=499") {
		t.Errorf("the client that gave up was not logged as 499:\n%s", grep(log, "msg=request"))
	}
}

// isTimeout reports whether err is an HTTP client's timeout.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// grep keeps the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
