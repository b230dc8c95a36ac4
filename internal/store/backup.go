package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrBackupUnsupported: Backup is for the embedded SQLite database;
// PostgreSQL is backed up with its own tools (pg_dump, base backups).
var ErrBackupUnsupported = errors.New("online backup is for the embedded SQLite database; back up PostgreSQL with pg_dump or your provider's snapshots")

// Backup writes a consistent copy of the SQLite database to path, while the
// database stays in use: SQLite's VACUUM INTO reads one snapshot (writers go
// on; WAL keeps the snapshot stable) and writes a compacted database that
// opens on its own, with no WAL file beside it. The copy is written under a
// private temporary directory next to path and renamed into place with mode
// 0600 (it holds password hashes and sealed keys), so path is either absent
// or complete. An existing path is never overwritten.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return ErrBackupUnsupported
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("backup: %s already exists; choose a new file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	tmpDir := filepath.Join(filepath.Dir(path), ".gatehouse-backup-"+hex.EncodeToString(b))
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "gatehouse.db")
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO $1", tmp); err != nil {
		return fmt.Errorf("backup: %w", note(ctx, err))
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Link, not rename: it fails instead of replacing a file that appeared
	// at path meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
