// Package buildinfo says which build of Gatehouse is running: its version,
// the commit it was built from, when, and with which Go. A build from a git
// clone gets the commit and its time from the Go toolchain's VCS stamp
// (runtime/debug.ReadBuildInfo); a release build sets them with
//
//	-ldflags "-X github.com/gatehouse/gatehouse/internal/buildinfo.version=v1.2.3
//	          -X github.com/gatehouse/gatehouse/internal/buildinfo.commit=abc123...
//	          -X github.com/gatehouse/gatehouse/internal/buildinfo.date=2026-12-07T19:00:00Z"
//
// (scripts/build.sh does), which win over the stamp.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set at link time (see the package comment); empty means "ask the VCS stamp".
var (
	version string
	commit  string
	date    string
)

// Info describes a build.
type Info struct {
	// Version is the release version, "dev" for a build that set none.
	Version string `json:"version"`
	// Commit is the full revision hash, "unknown" when neither the linker
	// flags nor the VCS stamp gave one; a stamp of a dirty tree adds
	// "-dirty".
	Commit string `json:"commit"`
	// Date is the commit time (RFC 3339) from the VCS stamp, or the date
	// the release build set; "unknown" otherwise.
	Date string `json:"date"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

var (
	once   sync.Once
	cached Info
)

// Get returns the running binary's build information.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		cached = resolve(version, commit, date, bi)
	})
	return cached
}

// resolve combines the link-time values with the VCS stamp of bi (which may
// be nil): a link-time value wins, the stamp fills in the rest.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		var rev, when string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
			if dirty {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = when
		}
		// A module built as a dependency (go install ...@v1.2.3) carries
		// its version in the main module's version.
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}
