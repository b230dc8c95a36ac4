package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLibraryChatterAtDebug: zitadel/oidc's "registered route" lines (seven
// at every start, INFO in the library) are DEBUG in Gatehouse's log: gone
// at --log-level info, kept at debug; other INFO lines are untouched.
func TestLibraryChatterAtDebug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level, format string
		wantRoute     bool
	}{
		{"info", "text", false}, {"info", "json", false}, {"debug", "text", true}, {"debug", "json", true},
	} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, tc.level, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("registered route", "endpoint", "/oauth2/v2/token")
		log.With("k", "v").Info("registered route", "endpoint", "/oauth2/v2/jwks")
		log.Info("serving", "listen", "127.0.0.1:0")
		out := buf.String()
		if got := strings.Contains(out, "registered route"); got != tc.wantRoute {
			t.Errorf("%s/%s: registered route logged %v, want %v:\n%s", tc.level, tc.format, got, tc.wantRoute, out)
		}
		if tc.wantRoute && (strings.Contains(out, `level=INFO msg="registered route"`) || strings.Contains(out, `"level":"INFO","msg":"registered route"`)) {
			t.Errorf("%s/%s: registered route at INFO:\n%s", tc.level, tc.format, out)
		}
		if !strings.Contains(out, "serving") {
			t.Errorf("%s/%s: an ordinary INFO line was dropped:\n%s", tc.level, tc.format, out)
		}
	}
}
