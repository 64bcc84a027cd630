// Package backendtest holds what tests of real backends share: the
// static bot-bottle binary the sidecar image is built from, the Docker
// requirement, and the local base image agent images start from. Product
// code never imports it (internal/testinfra/rule_test.go).
package backendtest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the variable that, set to 1 (as CI does), turns a missing prerequisite such as
// an unreachable dockerd into a test failure instead of a skip.
const RequireEnv = "BOT_BOTTLE_REQUIRE_DOCKER"

// DefaultBaseImage is the local image scripts/base-image.sh builds.
const DefaultBaseImage = "bot-bottle-test-base:bookworm"

// Missing skips t, or fails it when RequireEnv is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" ("+RequireEnv+"=1 makes this a failure)", args...)
	}
	t.Skipf(format, args...)
}

// RequireDocker skips or fails t unless a Docker daemon answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		Missing(t, "docker is not usable: %v: %s", err, out)
	}
}

// BaseImage is the image agent test images start from: $BOT_BOTTLE_BASE_IMAGE
// or DefaultBaseImage. It skips or fails t when the image is absent.
func BaseImage(t testing.TB) string {
	t.Helper()
	img := os.Getenv("BOT_BOTTLE_BASE_IMAGE")
	if img == "" {
		img = DefaultBaseImage
	}
	//nolint:gosec // G204: a test's own image name
	if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
		Missing(t, "base image %s is missing; build it with scripts/base-image.sh", img)
	}
	return img
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// StaticBinary builds bot-bottle once per test process with CGO off and
// returns its path: the sidecar image needs a static binary, and a test
// binary built with -race is not one.
func StaticBinary(t testing.TB) string {
	t.Helper()
	return BuildStatic(t, "./cmd/bot-bottle")
}

// BuildStatic builds the main package pkg (relative to the module root)
// once per test process, statically, and returns the binary's path.
func BuildStatic(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if buildDir == "" {
		// Shared by every test of the process, so not t.TempDir.
		dir, err := os.MkdirTemp("", "bot-bottle-bin-") //nolint:usetesting // see above
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	out := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg) //nolint:gosec // G204: our own build
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s statically: %v\n%s", pkg, err, msg)
	}
	built[pkg] = out
	return out
}

// Cleanup removes what BuildStatic built; call it from TestMain.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// ForbiddenService listens on addr (e.g. "0.0.0.0:0") for the rest of the
// test and fails it on any connection: a service of the host that no
// bottle may reach. It returns the address it listens on.
func ForbiddenService(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Errorf("a host service was reached from %s", c.RemoteAddr())
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}
