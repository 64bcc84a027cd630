// Package buildinfo reports which build of bot-bottle is running. It reads
// only what the linker and the Go toolchain recorded in the binary; it never
// does I/O.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time (make build does):
//
//	-ldflags '-X github.com/bot-bottle/bot-bottle/internal/buildinfo.version=v0.1.0
//	          -X github.com/bot-bottle/bot-bottle/internal/buildinfo.commit=abc1234'
var version, commit string

// shortCommit is how many hex digits of the revision Commit keeps, as in
// git's abbreviated hashes.
const shortCommit = 7

// Version returns the version set at link time, else the module version
// recorded by `go install module@version`, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Commit returns the abbreviated VCS revision the binary was built from: the
// one set at link time, else the one the toolchain recorded, with "-dirty"
// when the work tree had changes; or "" when there is neither (go run, go
// test, -buildvcs=false, or a build outside a checkout).
func Commit() string {
	if commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return vcsCommit(bi.Settings)
}

func vcsCommit(settings []debug.BuildSetting) string {
	rev, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	rev = rev[:min(len(rev), shortCommit)]
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Platform returns the GOOS/GOARCH the binary was built for.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// String describes the build in one line, e.g.
// "bot-bottle v0.1.0 (commit abc1234, go1.26.8 linux/amd64)".
func String() string {
	c := Commit()
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("bot-bottle %s (commit %s, %s %s)", Version(), c, runtime.Version(), Platform())
}
