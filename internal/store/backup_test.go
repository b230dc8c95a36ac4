package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestBackupWhileWriting: a backup taken while writers run is a complete,
// consistent database (integrity check, every row committed before it
// started, no row of a half-done transaction), mode 0600; an existing file
// is refused; PostgreSQL is refused.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testenv.SQLite(t)
	create := func(name string) error {
		org := &store.Organization{Meta: store.Meta{ID: newID(), Name: name, CreatedAt: t0}, Type: "adhoc"}
		return st.Tx(ctx, func(q *store.Q) error {
			if err := q.CreateOrganization(ctx, org); err != nil {
				return err
			}
			// Two rows per transaction: a backup must hold both or neither.
			return q.CreateGroup(ctx, &store.Group{Meta: store.Meta{ID: newID(), OrganizationID: org.ID, Name: "g", CreatedAt: t0}})
		})
	}
	for i := range 20 {
		must(t, create(fmt.Sprint("before-", i)))
	}
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
		n    atomic.Int64
	)
	wg.Go(func() {
		for !stop.Load() {
			if err := create(fmt.Sprint("during-", n.Add(1))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	path := filepath.Join(t.TempDir(), "backup.db")
	err := st.Backup(ctx, path)
	stop.Store(true)
	wg.Wait()
	must(t, err)
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("backup left files behind: %v", entries)
	}

	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	copyStore, err := store.Open(ctx, "sqlite:"+path, "")
	must(t, err)
	defer copyStore.Close()
	var check string
	must(t, copyStore.DB().QueryRow("PRAGMA integrity_check").Scan(&check))
	if check != "ok" {
		t.Fatalf("integrity check of the backup: %s", check)
	}
	var orgs, groups int
	must(t, copyStore.DB().QueryRow("SELECT COUNT(*) FROM organizations").Scan(&orgs))
	must(t, copyStore.DB().QueryRow("SELECT COUNT(*) FROM groups").Scan(&groups))
	if orgs < 20 || orgs != groups {
		t.Errorf("backup holds %d organizations and %d groups; want at least 20 and one group each", orgs, groups)
	}
	if err := st.Backup(ctx, path); err == nil {
		t.Error("a second backup overwrote the first")
	}

	if os.Getenv(testenv.PostgresURLEnv) != "" {
		pg := testenv.Postgres(t)
		if err := pg.Backup(ctx, filepath.Join(t.TempDir(), "pg.db")); !errors.Is(err, store.ErrBackupUnsupported) {
			t.Errorf("backup of PostgreSQL: %v, want ErrBackupUnsupported", err)
		}
	}
}
