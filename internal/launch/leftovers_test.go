package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t.test", "-c", "protocol.file.allow=always"}, args...)...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestLeftovers builds, with real git, what an agent can leave in a
// mounted workspace that host git would run, next to what it may leave.
func TestLeftovers(t *testing.T) {
	ws := t.TempDir()
	git(t, ws, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(ws, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, ws, "add", "a.txt")
	git(t, ws, "commit", "-q", "-m", "a")
	if got := Leftovers(ws); len(got) != 0 {
		t.Fatalf("a plain repository has leftovers: %q", got)
	}

	// A submodule git cloned lives in .git/modules, which the binds keep
	// read-only: not a leftover.
	up := t.TempDir()
	git(t, up, "init", "-q", "-b", "main")
	git(t, up, "commit", "-q", "--allow-empty", "-m", "up")
	git(t, ws, "submodule", "add", "-q", up, "vendored")
	if got := Leftovers(ws); len(got) != 0 {
		t.Fatalf("a cloned submodule is a leftover: %q", got)
	}

	// A repository the agent made and registered by hand.
	nested := filepath.Join(ws, "sub\x1b]52;c;eA==\a")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, nested, "init", "-q", "-b", "main")
	git(t, nested, "commit", "-q", "--allow-empty", "-m", "sub")
	head := git(t, nested, "rev-parse", "HEAD")
	git(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+head+","+filepath.Base(nested))
	got := Leftovers(ws)
	if len(got) != 1 || !strings.Contains(got[0], "registered as a submodule") || strings.Contains(got[0], "\x1b") {
		t.Fatalf("leftovers = %q, want the nested repository, quoted", got)
	}

	// A rebase left in progress.
	if err := os.Mkdir(filepath.Join(ws, ".git", "rebase-merge"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Leftovers(ws); len(got) != 2 || !strings.Contains(got[0], "a rebase is in progress") {
		t.Fatalf("leftovers = %q, want the rebase first", got)
	}
	if w := LeftoverWarning(ws); !strings.HasPrefix(w, "warning: the workspace holds what host git would run:\n  - a rebase") {
		t.Fatalf("warning = %q", w)
	}
	if w := LeftoverWarning(t.TempDir()); w != "" {
		t.Fatalf("a folder without git warns: %q", w)
	}
}

// FuzzLeftovers feeds the agent's side of the check, a .git file and an
// index, as arbitrary bytes: it must never panic the operator's CLI.
func FuzzLeftovers(f *testing.F) {
	f.Add([]byte("gitdir: .git/worktrees/x\n"), []byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x00"))
	f.Add([]byte{}, []byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, gitFile, idx []byte) {
		ws := t.TempDir()
		gitDir := filepath.Join(ws, "g")
		if err := os.Mkdir(gitDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, ".git"), append([]byte("gitdir: g\n"), gitFile...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(gitDir, "index"), idx, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = Leftovers(ws)
	})
}

// TestLeftoversUnreadableIndex: an index the check cannot read is said,
// not taken for one without submodules.
func TestLeftoversUnreadableIndex(t *testing.T) {
	ws := t.TempDir()
	git(t, ws, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(ws, ".git", "index"), []byte("DIRC garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Leftovers(ws); len(got) != 1 || !strings.Contains(got[0], "the git index could not be checked") {
		t.Fatalf("leftovers = %q", got)
	}
}
