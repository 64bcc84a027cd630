//go:build linux

package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// These tests run the real binary against the real daemon and check that
// every way a bottle ends leaves nothing behind.

type world struct {
	t    *testing.T
	bin  string
	home string
	ws   string
	env  []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	backendtest.RequireDocker(t)
	w := &world{t: t, bin: backendtest.StaticBinary(t), home: t.TempDir(), ws: t.TempDir()}
	w.env = append(os.Environ(), "BOT_BOTTLE_HOME="+w.home, "BOT_BOTTLE_BASE_IMAGE="+backendtest.BaseImage(t), "BOT_BOTTLE_BACKEND=docker")
	if out, err := w.cmd("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	t.Cleanup(w.removeAll)
	return w
}

func (w *world) cmd(args ...string) *exec.Cmd {
	c := exec.Command(w.bin, args...)
	c.Dir, c.Env = w.ws, w.env
	return c
}

func (w *world) run(args ...string) (string, int) {
	w.t.Helper()
	out, err := w.cmd(args...).CombinedOutput()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return string(out), code
}

// leftovers lists the containers and networks of bottles of this world.
func (w *world) leftovers() []string {
	w.t.Helper()
	var left []string
	for _, kind := range []string{"container", "network"} {
		args := []string{kind, "ls", "--filter", "label=io.bot-bottle.managed=1", "--format", `{{.Name}} {{.Label "io.bot-bottle.state-dir"}}`}
		if kind == "container" {
			args = []string{"ps", "-a", "--filter", "label=io.bot-bottle.managed=1", "--format", `{{.Names}} {{.Label "io.bot-bottle.state-dir"}}`}
		}
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			w.t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, w.home) {
				left = append(left, kind+" "+line)
			}
		}
	}
	return left
}

// removeAll removes whatever a failed test left of this world's bottles,
// and nothing of anyone else's.
func (w *world) removeAll() {
	for _, l := range w.leftovers() {
		f := strings.Fields(l)
		if f[0] == "container" {
			_ = exec.Command("docker", "rm", "-f", f[1]).Run()
		}
	}
	for _, l := range w.leftovers() {
		f := strings.Fields(l)
		_ = exec.Command("docker", f[0], "rm", f[1]).Run()
	}
}

func (w *world) requireClean() {
	w.t.Helper()
	if left := w.leftovers(); len(left) > 0 {
		w.t.Fatalf("left behind: %v", left)
	}
}

// waitRunning waits until a bottle of this world runs its command.
func (w *world) waitRunning() {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "ps", "--filter", "label=io.bot-bottle.role=agent", "--format", `{{.Label "io.bot-bottle.state-dir"}}`).Output()
		if strings.Contains(string(out), w.home) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Fatal("the bottle never started")
}

func TestStartCommandExitStatus(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "echo from-the-bottle; exit 5")
	if code != 5 || !strings.Contains(out, "from-the-bottle") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	w.requireClean()
}

func TestStartEndsCleanly(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		want int
	}{
		{"SIGINT", syscall.SIGINT, 130},
		{"SIGTERM", syscall.SIGTERM, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.cmd("start", "example", "--yes", "--", "sleep", "600")
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			w.waitRunning()
			_ = c.Process.Signal(tc.sig)
			err := c.Wait()
			if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != tc.want {
				t.Fatalf("exit: %v, want %d\n%s", err, tc.want, out.String())
			}
			w.requireClean()
		})
	}
}

func TestCrashedAgentLeavesNothing(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "kill -9 $$")
	if code != 137 {
		t.Fatalf("exit %d, want 137:\n%s", code, out)
	}
	w.requireClean()
}

func TestFailedStartLeavesNothing(t *testing.T) {
	w := newWorld(t)
	bad := filepath.Join(w.home, "not-a-ca.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "BOT_BOTTLE_UPSTREAM_CA="+bad)
	out, code := w.run("start", "example", "--yes", "--", "true")
	if code == 0 || !strings.Contains(out, "the sidecar could not start: the upstream CA holds no PEM certificate") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	w.requireClean()
}

func TestDetachExecListStopAndCleanup(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--detach", "--", "sleep", "600")
	if code != 0 {
		t.Fatalf("start --detach: %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slug := lines[len(lines)-1]
	if out, code := w.run("exec", slug, "--", "sh", "-c", "id -un; exit 4"); code != 4 || !strings.Contains(out, "agent") {
		t.Fatalf("exec: %d\n%s", code, out)
	}
	out, code = w.run("list", "active", "--json")
	var rows []struct {
		Slug   string
		State  string
		Orphan bool `json:"orphan"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &rows); code != 0 || err != nil {
		t.Fatalf("list active: %d %v\n%s", code, err, out)
	}
	found := false
	for _, r := range rows {
		if r.Slug == slug {
			found = r.State == "running" && !r.Orphan
		}
	}
	if !found {
		t.Fatalf("list active does not show %s running:\n%s", slug, out)
	}
	if out, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, out)
	}
	w.requireClean()
	if _, err := os.Stat(filepath.Join(w.home, "state", slug, "ca", "ca.key")); !os.IsNotExist(err) {
		t.Errorf("the CA key outlived the bottle: %v", err)
	}

	// A start whose bot-bottle process dies leaves an orphan; cleanup
	// removes it in one go and is idempotent.
	c := w.cmd("start", "example", "--yes", "--", "sleep", "600")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.waitRunning()
	_ = c.Process.Kill()
	_ = c.Wait()
	if len(w.leftovers()) == 0 {
		t.Fatal("killing bot-bottle left nothing to clean; the test proves nothing")
	}
	if out, code := w.run("cleanup", "--yes"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("cleanup: %d\n%s", code, out)
	}
	w.requireClean()
	if out, code := w.run("cleanup", "--yes"); code != 0 || !strings.Contains(out, "nothing to clean up") {
		t.Fatalf("second cleanup: %d\n%s", code, out)
	}
}

// writeManifest adds a manifest to this world's home.
func (w *world) writeManifest(kind, name, text string) {
	w.t.Helper()
	dir := filepath.Join(w.home, kind)
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(text), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func TestWorkspaceMountAndCopy(t *testing.T) {
	w := newWorld(t)
	if err := os.WriteFile(filepath.Join(w.ws, "from-host.txt"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// mount (the default): the bottle reads and writes the tree itself. The
	// agent takes the operator's ids, except for root, which it never is:
	// a root operator's tree must then be writable for the agent user.
	if os.Getuid() == 0 {
		// Without that, the preflight warns.
		const warning = "warning: the agent (uid 1000) cannot write " // the image's node user
		if out, code := w.run("start", "example", "--dry-run"); code != 0 || !strings.Contains(out, warning) {
			t.Fatalf("dry run as root, workspace 0755: %d, want a warning %q:\n%s", code, warning, out)
		}
		if err := os.Chmod(w.ws, 0o777); err != nil {
			t.Fatal(err)
		}
		if out, _ := w.run("start", "example", "--dry-run"); strings.Contains(out, warning) {
			t.Fatalf("dry run, workspace 0777, warns:\n%s", out)
		}
	}
	out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "cat /workspace/from-host.txt && echo bottle data > /workspace/from-bottle.txt")
	if code != 0 || !strings.Contains(out, "host data") {
		t.Fatalf("mount: %d\n%s", code, out)
	}
	if data, err := os.ReadFile(filepath.Join(w.ws, "from-bottle.txt")); err != nil || string(data) != "bottle data\n" {
		t.Fatalf("mount: the bottle's write is not on the host: %q %v", data, err)
	}
	if st, err := os.Stat(filepath.Join(w.ws, "from-bottle.txt")); err == nil && os.Getuid() != 0 {
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
			t.Errorf("the bottle's file belongs to uid %d, not the operator's %d", uid, os.Getuid())
		}
	}
	// copy: the bottle gets its own copy; the host tree is untouched.
	w.writeManifest("bottles", "copied", "---\nextends: shell\nworkspace: {mode: copy}\n---\n")
	w.writeManifest("agents", "copier", "---\nbottle: copied\n---\nCopy test.\n")
	out, code = w.run("start", "copier", "--yes", "--", "sh", "-c", "cat /workspace/from-host.txt && stat -c %U /workspace/from-host.txt && echo changed > /workspace/from-host.txt")
	if code != 0 || !strings.Contains(out, "host data") || !strings.Contains(out, "agent") {
		t.Fatalf("copy: %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(w.ws, "from-host.txt")); string(data) != "host data\n" {
		t.Fatalf("copy: the host tree changed: %q", data)
	}
	w.requireClean()
}

func TestResumeStartsARemovedBottleAgain(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "echo run-$HOSTNAME-$((1+1))")
	if code != 0 || !strings.Contains(out, "run-") {
		t.Fatalf("start: %d\n%s", code, out)
	}
	entries, err := os.ReadDir(filepath.Join(w.home, "state"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("state: %v %v", entries, err)
	}
	slug := entries[0].Name()
	out, code = w.run("resume", slug, "--yes")
	if code != 0 || !strings.Contains(out, "run-") || !strings.Contains(out, "bottle "+slug) {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	w.requireClean()
	if out, code := w.run("resume", "example-zzzzz", "--yes"); code == 0 || !strings.Contains(out, "no bottle example-zzzzz") {
		t.Fatalf("resume of an unknown slug: %d\n%s", code, out)
	}
}

func TestInteractiveStartOnATerminal(t *testing.T) {
	w := newWorld(t)
	c := w.cmd("start", "example", "--yes")
	tty, err := pty.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tty.Close() }()
	var out backendtest.SyncBuffer
	go func() { _, _ = io.Copy(&out, tty) }()
	// Wait for the shell's prompt before typing: input sent earlier may
	// be lost.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "agent@") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := tty.Write([]byte("test -t 0 && echo on-a-tty; exit 7\n")); err != nil {
		t.Fatal(err)
	}
	err = c.Wait()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 7 {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
	// The terminal's last output may still be in flight after the exit.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "resume") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "on-a-tty") || !strings.Contains(out.String(), "resume") {
		t.Fatalf("output:\n%s", out.String())
	}
	w.requireClean()
}

// terminal runs bot-bottle on a pseudo-terminal.
type terminal struct {
	t   *testing.T
	cmd *exec.Cmd
	tty *os.File
	out backendtest.SyncBuffer
}

func (w *world) onTerminal(args ...string) *terminal {
	w.t.Helper()
	c := w.cmd(args...)
	tty, err := pty.Start(c)
	if err != nil {
		w.t.Fatal(err)
	}
	term := &terminal{t: w.t, cmd: c, tty: tty}
	w.t.Cleanup(func() { _ = tty.Close() })
	go func() { _, _ = io.Copy(&term.out, tty) }()
	return term
}

// expect waits until the output holds s.
func (term *terminal) expect(s string) {
	term.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(term.out.String(), s) {
		if time.Now().After(deadline) {
			term.t.Fatalf("waiting for %q:\n%s", s, term.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.tty.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

func (term *terminal) exit() int {
	term.t.Helper()
	err := term.cmd.Wait()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	} else if err != nil {
		term.t.Fatal(err)
	}
	return 0
}

func TestPickerConfirmAndDryRun(t *testing.T) {
	w := newWorld(t)
	// No agent named: a picker; then the question, answered no.
	term := w.onTerminal("start")
	// init's agents: claude, codex, example.
	term.expect("Start which agent? [1-3]")
	term.send("3\n")
	term.expect("Start this bottle? [y/N]")
	term.send("n\n")
	if code := term.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, term.out.String())
	}
	// The terminal's last output may arrive after the exit.
	term.expect("not started")
	// --dry-run prints the preflight and creates nothing.
	out, code := w.run("start", "example", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: nothing was created") || !strings.Contains(out, "backend    docker") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(w.home, "state")); !os.IsNotExist(err) {
		t.Errorf("a refused or dry start left state: %v", err)
	}
	w.requireClean()
	// Without a terminal and without --yes, start refuses to guess.
	if out, code := w.run("start", "example"); code != 2 || !strings.Contains(out, "pass --yes") {
		t.Fatalf("no terminal: %d\n%s", code, out)
	}
}

func TestDetachedAgentAttachAndLogs(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--detach")
	if code != 0 {
		t.Fatalf("start --detach: %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slug := lines[len(lines)-1]
	if out, code := w.run("logs", slug); code != 0 || !strings.Contains(out, "sidecar: ready") {
		t.Fatalf("logs: %d\n%s", code, out)
	}
	term := w.onTerminal("attach", slug)
	term.send("\n")
	term.expect("agent@")
	term.send("echo attached-$((40+2)); exit 3\n")
	term.expect("attached-42")
	if code := term.exit(); code != 3 {
		t.Fatalf("attach exit %d:\n%s", code, term.out.String())
	}
	// The agent's CLI ended; stop removes the rest.
	if out, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, out)
	}
	w.requireClean()
}

// TestCommitThenResume is checkCommitThenResume on Docker, whose commits
// are images.
func TestCommitThenResume(t *testing.T) {
	w := newWorld(t)
	out, code := w.run("start", "example", "--yes", "--detach", "--", "sh", "-c", resumable)
	if code != 0 {
		t.Fatalf("start --detach: %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slug := lines[len(lines)-1]
	images := func() []string {
		out, err := exec.Command("docker", "images", "-q", "--no-trunc", "--filter", "label=io.bot-bottle.role=saved", "--filter", "label=io.bot-bottle.slug="+slug).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	t.Cleanup(func() {
		for _, id := range images() {
			_ = exec.Command("docker", "rmi", "-f", id).Run()
		}
	})
	checkCommitThenResume(t, w, slug, images)
	if out, code := w.run("list", "active"); code != 0 || strings.Contains(out, slug) {
		t.Errorf("the resumed bottle is still listed: %d\n%s", code, out)
	}
	w.requireClean()
}
