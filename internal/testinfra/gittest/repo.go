package gittest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Files the hooks share with the Server, inside each bare repository.
const (
	pushOptionsFile = "gittest-push-options"
	denyFile        = "gittest-deny"
)

// preReceive records the push options of each push, one a line, in order.
const preReceive = `#!/bin/sh
# Written by gittest: records this push's options for Server.PushOptions.
: > "$GIT_DIR/` + pushOptionsFile + `"
i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
	eval "opt=\${GIT_PUSH_OPTION_$i}"
	printf '%s\n' "$opt" >> "$GIT_DIR/` + pushOptionsFile + `"
	i=$((i + 1))
done
exit 0
`

// update refuses the refs listed by Server.DenyRef. It is the update
// hook, not pre-receive, so only that ref is refused and the others of
// the same push go through, as with a real host's branch protection.
const update = `#!/bin/sh
# Written by gittest: refuses the refs listed by Server.DenyRef.
if [ -f "$GIT_DIR/` + denyFile + `" ] && grep -qxF -- "$1" "$GIT_DIR/` + denyFile + `"; then
	echo "gittest: $1 is protected, push declined" >&2
	exit 1
fi
exit 0
`

// NewBare creates an empty bare repository at name under the server's
// root, such as "team/app.git", reachable as URL(name). It advertises push
// options and has hooks for PushOptions and DenyRef. Its default branch
// is main.
func (s *Server) NewBare(name string) string {
	s.t.Helper()
	dir := s.Dir(name)
	Git(s.t, "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	Git(s.t, dir, "config", "receive.advertisePushOptions", "true")
	hooks := filepath.Join(dir, "hooks")
	for name, body := range map[string]string{"pre-receive": preReceive, "update": update} {
		if err := os.WriteFile(filepath.Join(hooks, name), []byte(body), 0o755); err != nil {
			s.t.Fatalf("gittest: writing hook: %v", err)
		}
	}
	return dir
}

// Dir returns the directory of repository name under the server's root.
func (s *Server) Dir(name string) string {
	if !filepath.IsLocal(name) {
		s.t.Fatalf("gittest: repository name %q escapes the root", name)
	}
	return filepath.Join(s.root, name)
}

// Path returns the path a client names repository name by, such as
// "/team/app.git".
func (s *Server) Path(name string) string { return "/" + filepath.ToSlash(name) }

// URL returns the ssh:// URL of repository name for user git.
func (s *Server) URL(name string) string {
	return "ssh://git@" + s.Addr + s.Path(name)
}

// PushOptions returns the push options of the last push to name, in the
// order sent; nil when it had none or there was no push.
func (s *Server) PushOptions(name string) []string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(name), pushOptionsFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("gittest: reading push options: %v", err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// DenyRef makes repository name's update hook refuse pushes to ref, such
// as refs/heads/protected, with a message starting "gittest:".
func (s *Server) DenyRef(name, ref string) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.Dir(name), denyFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = fmt.Fprintln(f, ref)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.t.Fatalf("gittest: DenyRef: %v", err)
	}
}

// Git runs the git binary with args in dir (the current directory when
// empty), isolated from the user's and system's configuration, and
// returns its trimmed standard output. It fails t when git fails.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, "", nil, args...)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return out
}

// Commit adds a commit on branch (created when missing) of the
// repository whose git directory is gitDir, bare or not, with files
// written over its parent's tree, and returns the commit's hash. It uses
// plumbing only, so no hook runs and no work tree is needed.
func Commit(t testing.TB, gitDir, branch, msg string, files map[string]string) string {
	t.Helper()
	ref := "refs/heads/" + branch
	index := filepath.Join(t.TempDir(), "index")
	env := []string{"GIT_INDEX_FILE=" + index}
	git := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(gitDir, stdin, env, args...)
		if err != nil {
			t.Fatalf("gittest: Commit: %v", err)
		}
		return out
	}

	parent, err := run(gitDir, "", env, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err == nil {
		git("", "read-tree", parent)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		blob := git(files[name], "hash-object", "-w", "--stdin")
		git("", "update-index", "--add", "--cacheinfo", "100644,"+blob+","+name)
	}
	tree := git("", "write-tree")
	args := []string{"commit-tree", tree, "-m", msg}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	commit := git("", args...)
	git("", "update-ref", ref, commit)
	return commit
}

// run runs git in dir with stdin and extra env over gitEnv.
func run(dir, stdin string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...) //nolint:gosec // G204: tests choose the arguments.
	cmd.Dir = dir
	cmd.Env = append(gitEnv(""), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// gitEnv is the environment of every git the package runs: no user or
// system config, a fixed identity and messages in English. home, when
// set, replaces HOME.
func gitEnv(home string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=gittest",
		"GIT_AUTHOR_EMAIL=gittest@example.invalid",
		"GIT_COMMITTER_NAME=gittest",
		"GIT_COMMITTER_EMAIL=gittest@example.invalid",
		"LC_ALL=C",
	}
	if home == "" {
		home = os.Getenv("HOME")
	}
	return append(env, "HOME="+home)
}
