package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// Leftovers lists what a mounted workspace holds, once its bottle is gone,
// that host git would run and that the read-only binds cannot cover: a
// rebase in progress (`git rebase --continue` runs the exec lines of its
// todo list) and a repository inside the workspace registered as a
// gitlink (host `git status` enters it and runs its own config). Each
// entry says what to do. It reads the git folder's files and never runs
// git.
func Leftovers(ws string) []string {
	gitDir, ok := gitFolder(ws)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range []string{"rebase-merge", "rebase-apply"} {
		if st, err := os.Lstat(filepath.Join(gitDir, d)); err == nil && st.IsDir() {
			out = append(out, fmt.Sprintf("a rebase is in progress (%q): if you did not start it, run 'git rebase --abort' before 'git rebase --continue', which runs its todo list", filepath.Join(gitDir, d)))
			break
		}
	}
	links, err := gitlinks(gitDir)
	if err != nil {
		out = append(out, fmt.Sprintf("the git index could not be checked for submodules (%v): look at 'git ls-files --stage | grep ^160000' before running git in %s", err, ws))
	}
	for _, p := range links {
		rel := filepath.FromSlash(p)
		if !safeRel(rel) || !ownRepo(filepath.Join(ws, rel), gitDir) {
			continue
		}
		// The name is the agent's: quoted, so that it cannot forge lines.
		out = append(out, fmt.Sprintf("a repository at %q is registered as a submodule: host git enters it and runs its .git/config; check that config (or remove the folder) before running git in %s", filepath.Join(ws, rel), ws))
	}
	return out
}

// gitFolder returns the workspace's git folder: .git itself, or the one
// its .git file names.
func gitFolder(ws string) (string, bool) {
	p := filepath.Join(ws, ".git")
	st, err := os.Lstat(p)
	switch {
	case err != nil:
		return "", false
	case st.IsDir():
		return p, true
	case !st.Mode().IsRegular():
		return "", false
	}
	// A nested .git file is the agent's: read no more than a gitdir line.
	f, err := os.Open(p)
	if err != nil {
		return "", false
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	_ = f.Close()
	if err != nil {
		return "", false
	}
	dir, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return "", false
	}
	dir = strings.TrimSpace(dir)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(ws, dir)
	}
	return dir, true
}

// maxIndex is the largest index gitlinks reads: the agent writes it, and
// the check runs in the operator's CLI.
const maxIndex = 256 << 20

// gitlinks returns the paths of the index's gitlink entries; none, and
// no error, when there is no index.
func gitlinks(gitDir string) (links []string, err error) {
	f, err := os.Open(filepath.Join(gitDir, "index"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if st.Size() > maxIndex {
		return nil, fmt.Errorf("it is %d MiB", st.Size()>>20)
	}
	// The decoder reads what the agent wrote: a panic in it must not
	// take the operator's CLI down with it.
	defer func() {
		if r := recover(); r != nil {
			links, err = nil, fmt.Errorf("reading it failed: %v", r)
		}
	}()
	var idx index.Index
	if err := index.NewDecoder(bufio.NewReader(f)).Decode(&idx); err != nil {
		return nil, fmt.Errorf("reading it: %w", err)
	}
	for _, e := range idx.Entries {
		if e.Mode == filemode.Submodule {
			links = append(links, e.Name)
		}
	}
	return links, nil
}

// ownRepo reports a folder holding a repository of its own: a .git
// folder, or a .git file naming a git folder outside gitDir/modules,
// where git keeps (and the binds protect) the submodules it cloned.
func ownRepo(dir, gitDir string) bool {
	sub, ok := gitFolder(dir)
	if !ok {
		return false
	}
	if sub == filepath.Join(dir, ".git") {
		return true
	}
	return !within(filepath.Clean(sub), filepath.Join(gitDir, "modules"))
}

// safeRel reports a relative path that stays inside its root.
func safeRel(rel string) bool {
	return rel != "" && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// LeftoverWarning is Leftovers as one message, or "" when there are none.
func LeftoverWarning(ws string) string {
	l := Leftovers(ws)
	if len(l) == 0 {
		return ""
	}
	return fmt.Sprintf("warning: the workspace holds what host git would run:\n  - %s\n", strings.Join(l, "\n  - "))
}
