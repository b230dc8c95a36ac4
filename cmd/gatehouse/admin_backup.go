package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

func init() {
	adminCommands["backup"] = adminCommand{
		usage: `backup --to FILE [--data-dir DIR]
      Write a consistent copy of the embedded SQLite database to FILE (mode
      0600, never overwriting), while servers keep running. To restore, stop
      the server, put FILE in place of DATA_DIR/gatehouse.db (removing
      gatehouse.db-wal and -shm) and start it with the same encryption key.
      The encryption key is not in the backup: keep DATA_DIR/encryption-key
      (or your --encryption-key) safe, apart from it. PostgreSQL: use pg_dump.`,
		run: adminBackup,
	}
}

// backupOptions are the database flags plus --to.
type backupOptions struct {
	config.Database
	to string
}

func (o *backupOptions) Bind(b *config.Binder) {
	o.Database.Bind(b)
	b.FS.StringVar(&o.to, "to", "", "file to write the backup to (must not exist)")
}

func adminBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o backupOptions
	if err := config.Parse("gatehouse admin backup", &o, args, stderr); err != nil {
		return err
	}
	if o.to == "" {
		return errors.New("admin backup: --to FILE is required")
	}
	if o.Postgres() {
		return fmt.Errorf("admin backup: %w", store.ErrBackupUnsupported)
	}
	// Opening a missing SQLite file would create an empty database.
	dbFile := strings.TrimPrefix(o.DatabaseURL, "sqlite:")
	if dbFile == "" {
		dbFile = filepath.Join(o.DataDir, "gatehouse.db")
	}
	if _, err := os.Stat(dbFile); err != nil {
		return fmt.Errorf("admin backup: no database to back up: %w", err)
	}
	// Opened without migrating: a backup must not change the database it
	// copies (an older server may still be running on it).
	st, err := store.Open(ctx, o.DatabaseURL, o.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	// Recorded first, in a transaction of its own: a backup nobody could
	// record is not taken (the copy then holds its own event).
	if err := audit.Action(ctx, st, "backups", o.to, map[string]any{"to": o.to}); err != nil {
		return fmt.Errorf("admin backup: audit: %w", err)
	}
	if err := st.Backup(ctx, o.to); err != nil {
		return err
	}
	fi, err := os.Stat(o.to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", o.to, fi.Size())
	fmt.Fprintln(stderr, "the encryption key is not in the backup: keep it safe, apart from the backup")
	return nil
}
