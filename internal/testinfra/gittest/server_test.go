package gittest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// client is the real git client talking to s over OpenSSH, checking the
// host key strictly against s.HostKey.
type client struct {
	t   *testing.T
	env []string
}

func newClient(t *testing.T, s *gittest.Server, clientKey secret.Value) *client {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, []byte(clientKey.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(dir, "known_hosts")
	line := "[" + s.Host + "]:" + strconv.Itoa(s.Port) + " " + s.HostKey + "\n"
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	ssh := strings.Join([]string{
		"ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
	}, " ")
	return &client{t: t, env: []string{
		"GIT_SSH_COMMAND=" + ssh,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=" + dir,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid",
		"LC_ALL=C",
	}}
}

// git runs the client's git in dir and returns its combined output and
// error.
func (c *client) git(dir string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *client) mustGit(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.git(dir, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestCloneAndPush(t *testing.T) {
	s := gittest.Start(t)
	bare := s.NewBare("team/app.git")
	first := gittest.Commit(t, bare, "main", "first", map[string]string{"README": "hello\n"})
	c := newClient(t, s, s.ClientKey)

	work := filepath.Join(t.TempDir(), "app")
	c.mustGit("", "clone", "--quiet", s.URL("team/app.git"), work)
	if got := gittest.Git(t, work, "rev-parse", "HEAD"); got != first {
		t.Fatalf("cloned HEAD = %s, want %s", got, first)
	}

	if err := os.WriteFile(filepath.Join(work, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustGit(work, "add", "a.txt")
	c.mustGit(work, "commit", "--quiet", "-m", "second")
	c.mustGit(work, "push", "--quiet", "-o", "ci.skip", "-o", "b=2", "-o", "a=1", "origin", "main")

	want := gittest.Git(t, work, "rev-parse", "HEAD")
	if got := gittest.Git(t, bare, "rev-parse", "refs/heads/main"); got != want {
		t.Errorf("upstream main = %s, want %s", got, want)
	}
	if diff := cmp.Diff([]string{"ci.skip", "b=2", "a=1"}, s.PushOptions("team/app.git")); diff != "" {
		t.Errorf("PushOptions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"git-upload-pack '/team/app.git'",
		"git-receive-pack '/team/app.git'",
	}, s.Execs()); diff != "" {
		t.Errorf("Execs (-want +got):\n%s", diff)
	}
}

func TestDenyRef(t *testing.T) {
	s := gittest.Start(t)
	bare := s.NewBare("app.git")
	gittest.Commit(t, bare, "main", "first", map[string]string{"README": "hello\n"})
	s.DenyRef("app.git", "refs/heads/protected")
	c := newClient(t, s, s.ClientKey)

	work := filepath.Join(t.TempDir(), "app")
	c.mustGit("", "clone", "--quiet", s.URL("app.git"), work)
	out, err := c.git(work, "push", "origin", "main:refs/heads/protected", "main:refs/heads/open")
	if err == nil {
		t.Fatalf("push to a denied ref succeeded:\n%s", out)
	}
	for _, want := range []string{"remote: gittest: refs/heads/protected is protected", "[remote rejected] main -> protected (hook declined)", "[new branch]      main -> open"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
}

func TestProtocolV2(t *testing.T) {
	s := gittest.Start(t)
	bare := s.NewBare("app.git")
	gittest.Commit(t, bare, "main", "first", map[string]string{"README": "hello\n"})
	c := newClient(t, s, s.ClientKey)
	c.env = append(c.env, "GIT_TRACE_PACKET=1")

	// GIT_PROTOCOL reaches upload-pack only if the env request passes.
	out := c.mustGit("", "-c", "protocol.version=2", "ls-remote", s.URL("app.git"))
	if !strings.Contains(out, "< version 2") {
		t.Errorf("ls-remote did not speak protocol v2:\n%s", out)
	}
}

func TestRefusals(t *testing.T) {
	s := gittest.Start(t)
	s.NewBare("app.git")
	c := newClient(t, s, s.ClientKey)

	// A real repository next to the root, which a path with ".." would
	// reach if it were not confined.
	outside := filepath.Join(filepath.Dir(s.Dir("app.git")), "..", "outside.git")
	gittest.Git(t, "", "init", "--quiet", "--bare", outside)

	for _, tc := range []struct{ url, want string }{
		{"ssh://git@" + s.Addr + "/../outside.git", "escapes the server's root"},
		{"ssh://git@" + s.Addr + "/missing.git", "'/missing.git' does not appear to be a git repository"},
	} {
		out, err := c.git("", "ls-remote", tc.url)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("ls-remote %s = %v, want a failure saying %q:\n%s", tc.url, err, tc.want, out)
		}
	}

	other, _ := gittest.NewKey(t)
	if out, err := newClient(t, s, other).git("", "ls-remote", s.URL("app.git")); err == nil {
		t.Errorf("ls-remote with an unauthorized key succeeded:\n%s", out)
	}
	if len(s.Execs()) != 0 {
		t.Errorf("Execs = %q, want none", s.Execs())
	}
}

// TestCleanup proves a server leaves nothing behind: a session still in
// progress when the test ends has its git killed and its goroutines
// joined by the time Cleanup returns.
func TestCleanup(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("server", func(t *testing.T) {
		// Registered first, so it runs after the server's cleanup, which
		// is what ends this ssh.
		var cmd *exec.Cmd
		t.Cleanup(func() { _ = cmd.Wait() })
		s := gittest.Start(t)
		s.NewBare("app.git")
		// Hold a receive-pack open: it waits for commands that never come.
		cmd = exec.Command("ssh", "-F", "/dev/null", "-p", strconv.Itoa(s.Port),
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", writeKey(t, s.ClientKey),
			"git@"+s.Host, "git-receive-pack '/app.git'")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		// An open stdin that nobody writes: Wait closes it.
		if _, err := cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := stdout.Read(make([]byte, 4)); err != nil {
			t.Fatalf("reading the advertisement: %v", err)
		}
		if kids := children(t); len(kids) < 2 {
			t.Fatalf("children = %v, want ssh and git receive-pack", kids)
		}
	})
	// Goroutines of the runtime and of testing come and go: allow a moment.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after cleanup, %d before", n, before)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

func writeKey(t *testing.T, key secret.Value) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(p, []byte(key.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// children lists the test process's child processes (Linux /proc).
func children(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	if len(files) == 0 {
		t.Skip("no /proc/self/task/*/children here")
	}
	var kids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}
