//go:build linux

package cli_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNativeStartRefusesDangerousWorkspaces starts the real binary from
// folders whose contents no bottle may see, and from a project folder,
// which starts.
func TestNativeStartRefusesDangerousWorkspaces(t *testing.T) {
	w := newNativeWorld(t)
	userHome := t.TempDir()
	for _, d := range []string{".ssh", "src/proj"} {
		if err := os.MkdirAll(filepath.Join(userHome, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(userHome, ".ssh", "id_ed25519"), []byte("operator key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(dir string) (string, int) {
		t.Helper()
		c := w.cmd("start", "example", "--yes", "--", "true")
		c.Dir = dir
		c.Env = append(append([]string(nil), w.env...), "HOME="+userHome)
		out, err := c.CombinedOutput()
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	for _, tc := range []struct{ name, dir, want string }{
		{"from the home", userHome, "is your home folder"},
		{"from the root", "/", "is the root folder"},
		{"from the bot-bottle home", w.home, "is the bot-bottle home"},
		{"from inside the bot-bottle home", filepath.Join(w.home, "bottles"), "is inside " + w.home},
		{"from the ssh folder", filepath.Join(userHome, ".ssh"), "is ssh keys"},
		{"from the folder holding the home", filepath.Dir(userHome), "contains " + userHome + ", your home folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := start(tc.dir)
			if code != 1 || !strings.Contains(out, tc.want) || !strings.Contains(out, "cd into a project folder and start again, or set workspace.mode: none") {
				t.Fatalf("start from %s: exit %d, want 1 and %q:\n%s", tc.dir, code, tc.want, out)
			}
			if strings.Contains(out, "bottle example-") {
				t.Errorf("the refusal came after the preflight:\n%s", out)
			}
			if states, _ := filepath.Glob(filepath.Join(w.home, "state", "*")); len(states) > 0 {
				t.Errorf("a refused start left state: %v", states)
			}
		})
	}
	proj := filepath.Join(userHome, "src", "proj")
	t.Run("from a project folder", func(t *testing.T) {
		out, code := start(proj)
		if code != 0 || !strings.Contains(out, "protected  read-only in the bottle: .bot-bottle, .git") {
			t.Fatalf("start from %s: exit %d:\n%s", proj, code, out)
		}
		// The placeholders made for the bottle are gone with it.
		if entries, _ := os.ReadDir(proj); len(entries) > 0 {
			t.Errorf("the bottle left %v in the project folder", entries)
		}
	})
	t.Run("the agent cannot git init the project folder", func(t *testing.T) {
		c := w.cmd("start", "example", "--yes", "--", "sh", "-c", "git init -q . && echo in\"\"ited")
		c.Dir, c.Env = proj, append(append([]string(nil), w.env...), "HOME="+userHome)
		out, _ := c.CombinedOutput()
		if strings.Contains(string(out), "inited") {
			t.Errorf("git init succeeded in the bottle:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(proj, ".git", "config")); !os.IsNotExist(err) {
			t.Errorf("the bottle created .git/config on the host: %v", err)
		}
	})
	t.Run("workspace.protect false says so and lets it", func(t *testing.T) {
		w.writeManifest("bottles", "open", "---\nextends: shell\nworkspace: {protect: false}\n---\n")
		w.writeManifest("agents", "opener", "---\nbottle: open\n---\nOpen test.\n")
		c := w.cmd("start", "opener", "--yes", "--", "sh", "-c", "git init -q . && echo in\"\"ited")
		c.Dir, c.Env = proj, append(append([]string(nil), w.env...), "HOME="+userHome)
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "protected  off (workspace.protect: false)") || !strings.Contains(string(out), "inited") {
			t.Fatalf("start: %v\n%s", err, out)
		}
	})
}

// TestNativeWarnsOfWhatHostGitWouldRun lets the agent leave, in a mounted
// repository, the two things the read-only binds cannot stop (a repository
// of its own registered as a gitlink, a rebase in progress); the real
// binary says so when the bottle ends.
func TestNativeWarnsOfWhatHostGitWouldRun(t *testing.T) {
	w := newNativeWorld(t)
	proj := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"-c", "user.name=t", "-c", "user.email=t@t.test", "commit", "-q", "--allow-empty", "-m", "first"}} {
		c := exec.Command("git", args...)
		c.Dir = proj
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	start := func(script string) string {
		t.Helper()
		c := w.cmd("start", "example", "--yes", "--", "sh", "-c", script)
		c.Dir = proj
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("start: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := start("git status --short"); strings.Contains(out, "warning: the workspace holds") {
		t.Fatalf("a clean session warns:\n%s", out)
	}
	out := start(`set -e; mkdir sub; cd sub; git init -q; git -c user.name=a -c user.email=a@b.test commit -q --allow-empty -m x; cd ..
git update-index --add --cacheinfo "160000,$(git -C sub rev-parse HEAD),sub"; mkdir .git/rebase-merge; echo plan""ted`)
	if !strings.Contains(out, "planted") {
		t.Fatalf("the agent could not plant them, so the check proves nothing:\n%s", out)
	}
	for _, want := range []string{"warning: the workspace holds what host git would run", "a rebase is in progress", `a repository at "` + filepath.Join(proj, "sub") + `" is registered as a submodule`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q after the bottle ended:\n%s", want, out)
		}
	}
}
