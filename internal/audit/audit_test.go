package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func TestSnapshotRedactsSecrets(t *testing.T) {
	t.Parallel()
	type inner struct {
		ClientSecretEnc string
		RefreshToken    string
		Name            string
	}
	v := struct {
		ID             string
		OrganizationID string
		TokenHash      string
		SecretHash     string
		Password       string
		PrivateKey     string
		Nested         inner
		List           []inner
		Enclosure      string // ends in "ure", not a sealed value
		OIDCIssuer     string
	}{"id-1", "org-1", "h", "h2", "pw", "pk", inner{"sealed", "rt", "n"}, []inner{{"s", "t", "m"}}, "kept", "https://issuer"}
	got := string(audit.Snapshot(v))
	for _, secret := range []string{`"h"`, "h2", "pw", "pk", "sealed", `"rt"`, `"s"`, `"t"`, "Hash", "Secret", "Token", "Password"} {
		if strings.Contains(got, secret) {
			t.Errorf("snapshot %s contains %q", got, secret)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": "id-1", "organizationID": "org-1", "enclosure": "kept", "oidcIssuer": "https://issuer"} {
		if m[k] != want {
			t.Errorf("snapshot[%q] = %v, want %v (snapshot %s)", k, m[k], want, got)
		}
	}
	if n, _ := m["nested"].(map[string]any); n["name"] != "n" {
		t.Errorf("nested fields lost: %s", got)
	}
	if string(audit.Snapshot(nil)) != "null" {
		t.Error("nil is not null")
	}
	if string(audit.Snapshot(func() {})) == "" || !strings.Contains(string(audit.Snapshot(func() {})), "unrecorded") {
		t.Error("an unencodable value fails instead of being noted")
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{"TokenHash": true, "secret_hash": true, "accessToken": true, "clientSecret": true,
		"ClientSecretEnc": true, "password": true, "PrivateKey": true, "name": false, "Encoding": false, "tags": false, "roleId": false} {
		if got := audit.Secret(name); got != want {
			t.Errorf("Secret(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestEntryRecordsOnce: a write described in its transaction leaves exactly
// one event with what Describe said; a failed write leaves none; a second
// transaction in the same request records nothing more; Describe outside a
// write does nothing.
func TestEntryRecordsOnce(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ids := testenv.IDs()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		begin := func(reqID string) context.Context {
			e := &audit.Entry{NewID: ids, Now: func() time.Time { return now }, OrganizationID: "org-1", OperationID: "updateGroup",
				RequestID: reqID, Actor: audit.Actor{Kind: "serviceaccount", ID: "sa-1", Subject: "serviceaccount:ci"}}
			return audit.Begin(t.Context(), e, "groups", "route-id")
		}
		events := func(reqID string) []*store.AuditEvent {
			t.Helper()
			es, err := st.Read().ListAuditEvents(t.Context(), store.AuditFilter{OrganizationID: "org-1"}, store.Page{Limit: store.NoLimit})
			if err != nil {
				t.Fatal(err)
			}
			var out []*store.AuditEvent
			for _, e := range es {
				if e.RequestID == reqID {
					out = append(out, e)
				}
			}
			return out
		}

		ctx := begin("ok")
		for range 2 {
			if err := st.Tx(ctx, func(q *store.Q) error {
				audit.Describe(ctx, "", "g-1", map[string]any{"Name": "a"}, map[string]any{"Name": "b", "TokenHash": "x"})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		es := events("ok")
		if len(es) != 1 {
			t.Fatalf("%d events for one write, want 1", len(es))
		}
		e := es[0]
		if e.ResourceType != "groups" || e.ResourceID != "g-1" || e.Before != `{"name":"a"}` || e.After != `{"name":"b"}` ||
			e.ActorID != "sa-1" || e.OperationID != "updateGroup" || !e.Time.Equal(now) {
			t.Errorf("event = %+v", e)
		}

		ctx = begin("failed")
		err := st.Tx(ctx, func(q *store.Q) error {
			audit.Describe(ctx, "", "g-1", nil, nil)
			return errors.New("the write failed")
		})
		if err == nil || len(events("failed")) != 0 {
			t.Errorf("failed write: err %v, %d events; want an error and none", err, len(events("failed")))
		}

		// The route's resource when the service says nothing.
		ctx = begin("undescribed")
		if err := st.Tx(ctx, func(q *store.Q) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if es := events("undescribed"); len(es) != 1 || es[0].ResourceID != "route-id" || es[0].Before != "null" {
			t.Errorf("undescribed write: %+v", es)
		}

		audit.Describe(t.Context(), "groups", "x", nil, nil) // no entry: nothing happens
		if audit.From(t.Context()) != nil {
			t.Error("From found an entry in a bare context")
		}
	})
}
