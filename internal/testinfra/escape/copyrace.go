package escape

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// copySecret is what a host-only file outside the workspace holds.
const copySecret = "bb-host-only-secret-41c7" //nolint:gosec // G101: a planted test secret

// runCopyRace starts bottles that copy their workspace while a process
// of the host keeps swapping a file and a folder of it for links to a
// host-only secret and its folder: the copy must never bring the secret
// in, whichever it saw.
func (h *Harness) runCopyRace(t *testing.T, slug string) {
	t.Run("workspace copy raced with outward links", func(t *testing.T) {
		outside := t.TempDir()
		secretFile := filepath.Join(outside, "id_ed25519")
		if err := os.WriteFile(secretFile, []byte(copySecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ws := t.TempDir()
		if err := os.WriteFile(filepath.Join(ws, "README"), []byte("workspace\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		swap := func(name, target string, makeReal func(string) error) {
			defer wg.Done()
			p := filepath.Join(ws, name)
			for i := 0; !stop.Load(); i++ {
				tmp := filepath.Join(ws, ".tmp-"+name)
				_ = os.RemoveAll(tmp)
				if i%2 == 0 {
					_ = makeReal(tmp)
				} else {
					_ = os.Symlink(target, tmp)
				}
				_ = os.RemoveAll(p)
				_ = os.Rename(tmp, p)
			}
		}
		wg.Add(2)
		go swap("file", secretFile, func(tmp string) error { return os.WriteFile(tmp, []byte("ordinary\n"), 0o644) })
		go swap("dir", outside, func(tmp string) error {
			if err := os.Mkdir(tmp, 0o750); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(tmp, "x"), []byte("ordinary\n"), 0o644)
		})
		defer func() { stop.Store(true); wg.Wait() }()
		// A busy machine makes more copies give up; try until two went
		// through, at most eight times.
		copied := 0
		for i := 0; i < 8 && copied < 2; i++ {
			s := fmt.Sprintf("%s-%d", slug, i+1)
			spec := h.Spec(t, s)
			spec.Workspace = backend.Workspace{Mode: backend.WorkspaceCopy, HostPath: ws, Path: "/workspace"}
			var progress bytes.Buffer
			t.Cleanup(func() { _ = h.Backend.Stop(context.Background(), s) })
			if err := h.Backend.Start(context.Background(), spec, &progress); err != nil {
				// A copy that gives up on a changing workspace is no
				// escape; one that brings the secret in is.
				t.Logf("start %d refused the changing workspace: %v", i, err)
				continue
			}
			out, _ := h.sh(t, s, "cat /workspace/README; grep -rl -- '"+copySecret[:10]+"' /workspace 2>/dev/null; for f in /workspace/file /workspace/dir/*; do [ -L \"$f\" ] || cat \"$f\" 2>/dev/null; done; true")
			if !strings.Contains(out, "workspace\n") {
				t.Fatalf("start %d: the workspace was not copied; the check proves nothing:\n%s", i, out)
			}
			copied++
			if strings.Contains(out, copySecret) || strings.Contains(out, "/workspace/") {
				t.Errorf("start %d: the copy brought the host-only secret in:\n%s", i, out)
			}
			_ = h.Backend.Stop(context.Background(), s)
		}
		if copied == 0 {
			t.Fatalf("no start copied the changing workspace; the check proves nothing")
		}
	})
}
