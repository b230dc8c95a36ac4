package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	stamp := func(main string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/gatehouse/gatehouse", Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	clean := stamp("(devel)", "vcs.revision", "0123abc", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"nothing", "", "", "", nil, Info{Version: "dev", Commit: "unknown", Date: "unknown", GoVersion: runtime.Version()}},
		{"vcs stamp", "", "", "", clean, Info{Version: "dev", Commit: "0123abc", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.99.1"}},
		{"dirty tree", "", "", "", stamp("(devel)", "vcs.revision", "0123abc", "vcs.modified", "true"),
			Info{Version: "dev", Commit: "0123abc-dirty", Date: "unknown", GoVersion: "go1.99.1"}},
		{"ldflags win", "v1.2.3", "fedcba9", "2026-12-07T00:00:00Z", clean,
			Info{Version: "v1.2.3", Commit: "fedcba9", Date: "2026-12-07T00:00:00Z", GoVersion: "go1.99.1"}},
		{"ldflags version only", "v1.2.3", "", "", clean,
			Info{Version: "v1.2.3", Commit: "0123abc", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.99.1"}},
		{"module version from go install", "", "", "", stamp("v0.9.0"),
			Info{Version: "v0.9.0", Commit: "unknown", Date: "unknown", GoVersion: "go1.99.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := resolve(tc.version, tc.commit, tc.date, tc.bi)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGetIsStable(t *testing.T) {
	t.Parallel()
	a, b := Get(), Get()
	if a != b || a.Version == "" || a.GoVersion == "" {
		t.Errorf("Get() = %+v then %+v", a, b)
	}
}
