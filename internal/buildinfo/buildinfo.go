// Package buildinfo reports the version of this binary. It reads only what
// the linker and the Go toolchain recorded; it never does I/O.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: -X github.com/bot-bottle/bot-bottle/internal/buildinfo.version=v1.2.3
var version string

// Version returns the release version, the module version, or "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Commit returns the short VCS revision the binary was built from, or "".
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// Platform returns GOOS/GOARCH.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// String describes the build in one line.
func String() string {
	commit := Commit()
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("bot-bottle %s (commit %s, %s %s)", Version(), commit, runtime.Version(), Platform())
}
