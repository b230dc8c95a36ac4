package audit_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRetention: events older than the retention go, oldest first and in
// batches, newer ones stay whatever their organization, and the purge is
// recorded once, as a platform event saying how many went; a purge with
// nothing to do records nothing, and no retention keeps everything.
func TestRetention(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		ids := testenv.IDs()
		now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		insert := func(org string, age time.Duration) string {
			t.Helper()
			e := &store.AuditEvent{ID: ids(), OrganizationID: org, Time: now.Add(-age), ActorKind: "serviceaccount", ActorID: "sa",
				ActorSubject: "serviceaccount:sa", Actor: "{}", OperationID: "updateGroup", ResourceType: "groups", ResourceID: "g",
				RequestID: "r"}
			if err := st.Tx(ctx, func(q *store.Q) error { return q.InsertAuditEvent(ctx, e) }); err != nil {
				t.Fatal(err)
			}
			return e.ID
		}
		events := func(org string) []*store.AuditEvent {
			t.Helper()
			es, err := st.Read().ListAuditEvents(ctx, store.AuditFilter{OrganizationID: org}, store.Page{Limit: store.NoLimit})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		// Five old events in two organizations and the platform, three
		// within the retention (one a millisecond inside it).
		for _, e := range []struct {
			org string
			age time.Duration
		}{{"org-a", 400 * 24 * time.Hour}, {"org-a", 91 * 24 * time.Hour}, {"org-b", 90*24*time.Hour + time.Millisecond},
			{"", 100 * 24 * time.Hour}, {"org-gone", 365 * 24 * time.Hour}} {
			insert(e.org, e.age)
		}
		keptA := insert("org-a", 90*24*time.Hour-time.Millisecond)
		keptB := insert("org-b", time.Hour)
		keptPlatform := insert("", 0)

		r := &audit.Retention{Store: st, Keep: 90 * 24 * time.Hour, Batch: 2, Now: func() time.Time { return now }, NewID: ids,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		n, err := r.Purge(ctx)
		if err != nil || n != 5 {
			t.Fatalf("purge: %d, %v; want 5 removed", n, err)
		}
		for org, want := range map[string][]string{"org-a": {keptA}, "org-b": {keptB}, "org-gone": nil} {
			var got []string
			for _, e := range events(org) {
				got = append(got, e.ID)
			}
			if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
				t.Errorf("%s keeps %v, want %v", org, got, want)
			}
		}
		platform := events("")
		if len(platform) != 2 || platform[0].ID != keptPlatform {
			t.Fatalf("platform events after the purge: %+v", platform)
		}
		rec := platform[1]
		var after struct {
			Removed   int       `json:"removed"`
			Before    time.Time `json:"before"`
			Retention string    `json:"retention"`
		}
		if err := json.Unmarshal([]byte(rec.After), &after); err != nil {
			t.Fatal(err)
		}
		if rec.OperationID != audit.PurgeOperation || rec.ActorKind != "system" || after.Removed != 5 ||
			!after.Before.Equal(now.Add(-90*24*time.Hour)) || after.Retention != "2160h0m0s" || !rec.Time.Equal(now) {
			t.Errorf("purge record %+v, after %+v", rec, after)
		}

		// Nothing more to purge: no new record.
		if n, err := r.Purge(ctx); n != 0 || err != nil {
			t.Errorf("second purge: %d, %v", n, err)
		}
		if got := len(events("")); got != 2 {
			t.Errorf("a purge that removed nothing was recorded (%d platform events)", got)
		}

		// No retention: nothing goes, and Run returns at once.
		insert("org-a", 1000*24*time.Hour)
		keepAll := &audit.Retention{Store: st, Now: func() time.Time { return now }, NewID: ids}
		if n, err := keepAll.Purge(ctx); n != 0 || err != nil {
			t.Errorf("purge without retention: %d, %v", n, err)
		}
		done := make(chan struct{})
		go func() { keepAll.Run(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run without retention did not return")
		}
		if got := len(events("org-a")); got != 2 {
			t.Errorf("without retention org-a has %d events, want 2", got)
		}
	})
}

// TestRetentionRunStops: Run purges at once, and returns when its context
// ends.
func TestRetentionRunStops(t *testing.T) {
	t.Parallel()
	st := testenv.SQLite(t)
	ids := testenv.IDs()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	old := &store.AuditEvent{ID: ids(), OrganizationID: "org-a", Time: now.Add(-48 * time.Hour), ActorKind: "serviceaccount",
		Actor: "{}", OperationID: "updateGroup", ResourceType: "groups"}
	if err := st.Tx(t.Context(), func(q *store.Q) error { return q.InsertAuditEvent(t.Context(), old) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &audit.Retention{Store: st, Keep: 24 * time.Hour, Every: time.Hour, Now: func() time.Time { return now }, NewID: ids,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := st.Read().ListAuditEvents(t.Context(), store.AuditFilter{OrganizationID: "org-a"}, store.Page{Limit: store.NoLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not purge at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}
