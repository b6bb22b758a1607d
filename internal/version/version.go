// Package version holds the build's identity, set at link time:
//
//	go build -ldflags "-X github.com/tandem-db/tandem/internal/version.Version=v0.2.0 \
//	  -X github.com/tandem-db/tandem/internal/version.Commit=$(git rev-parse HEAD) \
//	  -X github.com/tandem-db/tandem/internal/version.Date=$(date -u +%FT%TZ)"
//
// (the Makefile's build target does this). A plain `go build` or
// `go install` leaves the defaults; Commit and Date are then taken from
// the Go toolchain's VCS stamp when the build has one.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X (see the package comment).
var (
	// Version is Tandem's release version ("dev" for an unreleased build).
	Version = "dev"
	// Commit is the git commit the binary was built from ("" if unknown).
	Commit = ""
	// Date is the build or commit time, RFC 3339 ("" if unknown).
	Date = ""
)

// Info is the build's identity.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the build's identity, filling Commit and Date from the
// toolchain's VCS stamp when -ldflags did not set them.
func Get() Info {
	in := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	return in
}

// String is the one-line form `tandem --version` prints.
func (in Info) String() string {
	s := in.Version
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (" + c
		if in.Modified {
			s += "+dirty"
		}
		if in.Date != "" {
			s += ", " + in.Date
		}
		s += ")"
	}
	return fmt.Sprintf("%s, %s %s", s, in.GoVersion, in.Platform)
}
