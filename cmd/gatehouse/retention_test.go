package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestAuditRetentionOption: serve refuses a retention that would empty the
// log by mistake (under a day, or negative).
func TestAuditRetentionOption(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"90s", "23h59m", "-1h"} {
		var out, errb bytes.Buffer
		args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--audit-retention", v}
		if code := run(context.Background(), args, &out, &errb); code == 0 || !strings.Contains(errb.String(), "--audit-retention") {
			t.Errorf("--audit-retention %s: exit %d, stderr %q; want a refusal naming the option", v, code, errb.String())
		}
	}
}
