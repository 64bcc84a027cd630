//go:build linux

package native

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/conformance"
)

func TestConformance(t *testing.T) {
	bin := backendtest.StaticBinary(t)
	conformance.Run(t, conformance.Harness{
		New: func(_ *testing.T, root string) backend.Backend {
			return New(Config{Binary: bin, StateRoot: root})
		},
		Spec: func(t *testing.T, slug string) *backend.Spec {
			spec := conformance.BaseSpec(t, slug)
			spec.User = backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}
			return spec
		},
		BreakSidecar: func(t *testing.T, b backend.Backend, slug string) {
			bt, err := b.(*Driver).get(slug)
			if err != nil {
				t.Fatal(err)
			}
			_ = bt.sidecar.Process.Signal(syscall.SIGKILL)
		},
		Leftovers: nativeLeftovers,
	})
}

// nativeLeftovers names slug's folder and the processes whose command
// line names it (the init and a detached bottle's supervisor).
func nativeLeftovers(t *testing.T, b backend.Backend, slug string) []string {
	t.Helper()
	dir := filepath.Join(b.(*Driver).cfg.StateRoot, slug, "native")
	var left []string
	if _, err := os.Stat(dir); err == nil {
		left = append(left, "folder "+dir)
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), dir) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return left
}
