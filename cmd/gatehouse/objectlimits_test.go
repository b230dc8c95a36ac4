package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestObjectLimitsFlag: serve --help documents --object-limits and its
// variable; a bad value stops serve at start, naming the flag, before the
// database is created.
func TestObjectLimitsFlag(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	if !strings.Contains(errb.String(), "-object-limits") || !strings.Contains(errb.String(), config.EnvName("object-limits")) {
		t.Errorf("serve --help does not document -object-limits / %s", config.EnvName("object-limits"))
	}
	for _, bad := range []string{"widgets=3", "apikeys=0", "apikeys"} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--object-limits", bad}
		if code := run(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--object-limits") {
			t.Errorf("serve --object-limits %s: exit %d, stderr %q; want 1 naming --object-limits", bad, code, errb.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !os.IsNotExist(err) {
			t.Errorf("--object-limits %s: a refused start created the database (%v)", bad, err)
		}
	}
}
