package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestServiceAccountRotationRaces: a rotation and updates of one service
// account racing each other take turns: afterwards the rotated token works
// and the previous one does not. No update writes back a token hash it read
// before the rotation replaced it (which would revive the old, possibly
// leaked, token and kill the new one). internal/systemtest races rotations
// across processes.
func TestServiceAccountRotationRaces(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		created := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), acme.token, saWrite("ci", []string{acme.group})).obj(t)
		ci, original := id(created), str(created, "status", "accessToken")

		send := func(method, path string, body any) (int, map[string]any, error) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, a.URL+path, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+acme.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := a.Client.Do(req)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			return resp.StatusCode, m, nil
		}
		// Each round races one rotation against many updates: an update that
		// read the row before the rotation committed and wrote it after
		// would bring the previous token back and kill the new one.
		const rounds, updates = 5, 16
		previous := original
		for round := range rounds {
			var (
				wg      sync.WaitGroup
				rotated string
			)
			wg.Add(1 + updates)
			go func() {
				defer wg.Done()
				status, body, err := send("POST", orgPath(acme.org, "serviceaccounts", ci, "rotate"), nil)
				if err != nil || status != http.StatusOK {
					t.Errorf("rotate: %d %v %v", status, body, err)
					return
				}
				rotated = str(body, "status", "accessToken")
			}()
			for i := range updates {
				go func() {
					defer wg.Done()
					upd := saWrite("ci", []string{acme.group})
					upd["metadata"].(map[string]any)["description"] = fmt.Sprintf("round %d update %d", round, i)
					if status, body, err := send("PUT", orgPath(acme.org, "serviceaccounts", ci), upd); err != nil || status != http.StatusOK {
						t.Errorf("update: %d %v %v", status, body, err)
					}
				}()
			}
			wg.Wait()
			if rotated == "" {
				t.FailNow()
			}
			if got := status(t, a, previous); got != http.StatusUnauthorized {
				t.Errorf("round %d: the token from before the rotation: status %d, want 401", round, got)
			}
			if got := status(t, a, rotated); got != http.StatusOK {
				t.Errorf("round %d: the rotated token: status %d, want 200", round, got)
			}
			previous = rotated
		}
	})
}

// status is the status of listing users with token.
func status(t *testing.T, a *apiEnv, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/organizations", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
