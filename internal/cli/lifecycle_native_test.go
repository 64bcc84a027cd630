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

	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// newNativeWorld is a world whose bottles run on the native backend.
func newNativeWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, bin: backendtest.StaticBinary(t), home: t.TempDir(), ws: t.TempDir()}
	w.env = append(os.Environ(), "BOT_BOTTLE_HOME="+w.home, "BOT_BOTTLE_BACKEND=native")
	if out, err := w.cmd("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	t.Cleanup(w.stopAll)
	return w
}

// stopAll stops what a failed test left running of this world's
// bottles: a detached one would outlive the test otherwise.
func (w *world) stopAll() {
	dirs, _ := filepath.Glob(filepath.Join(w.home, "state", "*", "native"))
	for _, d := range dirs {
		_ = w.cmd("stop", filepath.Base(filepath.Dir(d))).Run()
	}
}

// nativeLeftovers lists the processes and folders a native bottle of this
// world left: a process whose command line names the world's home, and
// any native/ folder in its state.
func (w *world) nativeLeftovers() []string {
	w.t.Helper()
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(w.home)) && !bytes.Contains(data, []byte("-test.")) {
			left = append(left, "process "+strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(w.home, "state", "*", "native"))
	for _, d := range dirs {
		left = append(left, "folder "+d)
	}
	return left
}

func (w *world) requireNativeClean() {
	w.t.Helper()
	// A killed process may take a moment to be reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := w.nativeLeftovers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("left behind: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSleeping starts agent's bottle running a long sleep in the
// foreground and returns once the bottle's command printed its marker.
func (w *world) startSleeping(t *testing.T, agent string) (*exec.Cmd, *backendtest.SyncBuffer) {
	t.Helper()
	c := w.cmd("start", agent, "--yes", "--", "sh", "-c", "echo bb-command-run\"\"ning; exec sleep 600")
	out := &backendtest.SyncBuffer{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill() })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "bb-command-running"); {
		if time.Now().After(deadline) {
			t.Fatalf("never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, out
}

func TestNativeStartCommandExitStatus(t *testing.T) {
	w := newNativeWorld(t)
	out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "echo from-native; echo to-stderr >&2; exit 5")
	if code != 5 || !strings.Contains(out, "from-native") || !strings.Contains(out, "to-stderr") || !strings.Contains(out, "backend    native") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	w.requireNativeClean()
}

func TestNativeEndsCleanly(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		want int
	}{
		{"SIGINT", syscall.SIGINT, 130},
		{"SIGTERM", syscall.SIGTERM, 130},
		{"SIGKILL", syscall.SIGKILL, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newNativeWorld(t)
			c, out := w.startSleeping(t, "example")
			_ = c.Process.Signal(tc.sig)
			err := c.Wait()
			if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != tc.want {
				t.Fatalf("exit: %v, want %d\n%s", err, tc.want, out.String())
			}
			if tc.sig == syscall.SIGKILL {
				// Nothing runs on without its owner; only its folder
				// remains, for cleanup.
				deadline := time.Now().Add(5 * time.Second)
				for left := w.nativeLeftovers(); len(left) > 0 && strings.HasPrefix(left[0], "process"); left = w.nativeLeftovers() {
					if time.Now().After(deadline) {
						t.Fatalf("processes outlived their owner: %v", left)
					}
					time.Sleep(50 * time.Millisecond)
				}
				if out, code := w.run("cleanup", "--yes"); code != 0 || !strings.Contains(out, "removed") {
					t.Fatalf("cleanup: %d\n%s", code, out)
				}
			}
			w.requireNativeClean()
		})
	}
}

func TestNativeCrashAndFailedStart(t *testing.T) {
	w := newNativeWorld(t)
	if out, code := w.run("start", "example", "--yes", "--", "sh", "-c", "kill -9 $$"); code != 137 {
		t.Fatalf("crash: exit %d\n%s", code, out)
	}
	w.requireNativeClean()
	bad := filepath.Join(w.home, "not-a-ca.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "BOT_BOTTLE_UPSTREAM_CA="+bad)
	out, code := w.run("start", "example", "--yes", "--", "true")
	if code == 0 || !strings.Contains(out, "the sidecar could not start: the upstream CA holds no PEM certificate") {
		t.Fatalf("failed start: exit %d\n%s", code, out)
	}
	w.requireNativeClean()
}

func TestNativeInteractive(t *testing.T) {
	w := newNativeWorld(t)
	term := w.onTerminal("start", "example", "--yes")
	term.send("\n")
	term.expect("$ ")
	term.send("test -t 0 && echo on-a-tty-$((6*7)); exit 9\n")
	term.expect("on-a-tty-42")
	if code := term.exit(); code != 9 {
		t.Fatalf("exit %d:\n%s", code, term.out.String())
	}
	w.requireNativeClean()
}

func TestNativeExecFromAnotherProcess(t *testing.T) {
	w := newNativeWorld(t)
	c, out := w.startSleeping(t, "example")
	entries, err := os.ReadDir(filepath.Join(w.home, "state"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("state: %v %v", entries, err)
	}
	slug := entries[0].Name()
	if got, code := w.run("exec", slug, "--", "sh", "-c", "hostname; id -u; exit 6"); code != 6 || !strings.Contains(got, slug) || !strings.Contains(got, "1000") {
		t.Fatalf("exec: %d\n%s", code, got)
	}
	if got, code := w.run("list", "active", "--json"); code != 0 || !strings.Contains(got, `"Slug": "`+slug+`"`) || !strings.Contains(got, `"State": "running"`) || !strings.Contains(got, `"Agent": "example"`) {
		t.Fatalf("list active: %d\n%s", code, got)
	}
	// stop from another process ends the owner's bottle.
	if got, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, got)
	}
	if err := c.Wait(); err == nil {
		t.Fatalf("the owner exited 0 after stop:\n%s", out.String())
	}
	w.requireNativeClean()
}

// startDetached starts a detached native bottle and returns its slug, the
// one line start prints on stdout.
func (w *world) startDetached(args ...string) string {
	w.t.Helper()
	c := w.cmd(append([]string{"start", "example", "--yes", "--detach"}, args...)...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		w.t.Fatalf("start --detach: %v\n%s", err, stderr.String())
	}
	slug := strings.TrimSpace(string(out))
	if slug == "" || strings.Contains(slug, "\n") {
		w.t.Fatalf("start --detach printed %q, want the slug\n%s", out, stderr.String())
	}
	return slug
}

// activeState returns slug's state and orphan mark in list active, or ""
// when it is not listed.
func (w *world) activeState(slug string) (string, bool) {
	w.t.Helper()
	out, err := w.cmd("list", "active", "--json").Output()
	if err != nil {
		w.t.Fatalf("list active: %v\n%s", err, out)
	}
	var rows []struct {
		Slug   string
		State  string
		Orphan bool `json:"orphan"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		w.t.Fatalf("list active: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r.Slug == slug {
			return r.State, r.Orphan
		}
	}
	return "", false
}

func (w *world) requireRunning(slug string) {
	w.t.Helper()
	if state, orphan := w.activeState(slug); state != "running" || orphan {
		w.t.Fatalf("list active: bottle %s is %q (orphan %v), want running", slug, state, orphan)
	}
}

// waitFor waits until out holds s.
func waitFor(t *testing.T, out *backendtest.SyncBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %q:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestNativeDetachExecLogsStop(t *testing.T) {
	w := newNativeWorld(t)
	// As in TestCommitThenResume: the mark makes the order of the
	// command and the exec not matter.
	slug := w.startDetached("--", "sh", "-c", "echo bb-command-run\"\"ning; exec sleep 600")
	// start returned and its process is gone: the bottle runs on.
	if got, code := w.run("exec", slug, "--", "sh", "-c", "hostname; id -u; exit 6"); code != 6 || !strings.Contains(got, slug) || !strings.Contains(got, "1000") {
		t.Fatalf("exec: %d\n%s", code, got)
	}
	w.requireRunning(slug)
	// logs has the sidecar's log and the command's own output.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, code := w.run("logs", slug)
		if code == 0 && strings.Contains(got, "sidecar: ready") && strings.Contains(got, "== agent") && strings.Contains(got, "bb-command-running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: %d\n%s", code, got)
		}
	}
	if got, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, got)
	}
	w.requireNativeClean()
	if state, _ := w.activeState(slug); state != "" {
		t.Errorf("list active still shows %s as %q after stop", slug, state)
	}
	if _, err := os.Stat(filepath.Join(w.home, "state", slug, "ca", "ca.key")); !os.IsNotExist(err) {
		t.Errorf("the CA key outlived the bottle: %v", err)
	}
}

func TestNativeAttachStreamsAndStatus(t *testing.T) {
	w := newNativeWorld(t)
	// The command waits for a file in the workspace, which the test
	// writes once it has seen what it wants.
	// As in TestCommitThenResume: the mark makes the order of the
	// command and the exec not matter.
	slug := w.startDetached("--", "sh", "-c", "echo ear\"\"ly; echo to-std\"\"err >&2; while [ ! -e /workspace/go ]; do sleep 0.05; done; echo la\"\"te; exit 7")
	attach := func() (*exec.Cmd, *backendtest.SyncBuffer, *backendtest.SyncBuffer) {
		c := w.cmd("attach", slug)
		var out, errOut backendtest.SyncBuffer
		c.Stdout, c.Stderr = &out, &errOut
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill() })
		return c, &out, &errOut
	}
	// An attach replays what the command wrote before it, each stream
	// to its own; interrupting it detaches and the bottle runs on, as
	// on Docker.
	first, out, _ := attach()
	waitFor(t, out, "early")
	_ = first.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, first.Wait()); code != 130 {
		t.Fatalf("interrupted attach: exit %d, want 130\n%s", code, out.String())
	}
	w.requireRunning(slug)

	second, out, errOut := attach()
	waitFor(t, out, "early")
	waitFor(t, errOut, "to-stderr")
	if err := os.WriteFile(filepath.Join(w.ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, second.Wait()); code != 7 || !strings.Contains(out.String(), "late") {
		t.Fatalf("attach: exit %d, want 7\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if strings.Contains(out.String(), "to-stderr") {
		t.Errorf("standard error reached attach's stdout:\n%s", out.String())
	}
	// The command ended: the bottle went with it, before attach returned.
	w.requireNativeClean()
	if state, _ := w.activeState(slug); state != "" {
		t.Errorf("list active shows the ended bottle %s as %q", slug, state)
	}
	if got, code := w.run("cleanup", "--yes"); code != 0 || !strings.Contains(got, "nothing to clean up") {
		t.Fatalf("cleanup: %d\n%s", code, got)
	}
}

func TestNativeDetachedCommandEndsOnItsOwn(t *testing.T) {
	w := newNativeWorld(t)
	// As in TestCommitThenResume: the mark makes the order of the
	// command and the exec not matter.
	slug := w.startDetached("--", "sh", "-c", "while [ ! -e /workspace/go ]; do sleep 0.05; done; exit 3")
	w.requireRunning(slug)
	if err := os.WriteFile(filepath.Join(w.ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// No one attached: the supervisor removes everything by itself.
	w.requireNativeClean()
	if state, _ := w.activeState(slug); state != "" {
		t.Errorf("list active shows the ended bottle %s as %q", slug, state)
	}
	if _, err := os.Stat(filepath.Join(w.home, "state", slug, "ca")); !os.IsNotExist(err) {
		t.Errorf("the CA outlived the bottle: %v", err)
	}
	if got, code := w.run("cleanup", "--yes"); code != 0 || !strings.Contains(got, "nothing to clean up") {
		t.Fatalf("cleanup: %d\n%s", code, got)
	}
}

func TestNativeAttachOnATerminal(t *testing.T) {
	w := newNativeWorld(t)
	// No command: the agent's shell, on a terminal of its own.
	slug := w.startDetached()
	term := w.onTerminal("attach", slug)
	term.send("\n")
	term.expect("$ ")
	term.send("read x; echo got-$x-$((40+2))\n")
	term.send("typed\n")
	term.expect("got-typed-42")
	// Ctrl-C goes to the command's terminal, as on Docker: it interrupts
	// the shell's job, not the attach or the bottle.
	// (The shell answers the next line only once the sleep is over.)
	term.send("sleep 1000\n")
	time.Sleep(300 * time.Millisecond)
	term.send("\x03")
	term.send("echo after-$((1+1))\n")
	term.expect("after-2")
	// Ending the attach client leaves the agent running, as on Docker.
	_ = term.cmd.Process.Signal(syscall.SIGTERM)
	if code := term.exit(); code != 130 {
		t.Fatalf("ended attach: exit %d, want 130\n%s", code, term.out.String())
	}
	w.requireRunning(slug)
	again := w.onTerminal("attach", slug)
	again.send("\n")
	again.expect("$ ")
	again.send("test -t 0 && echo on-a-tty-$((6*7)); exit 9\n")
	again.expect("on-a-tty-42")
	if code := again.exit(); code != 9 {
		t.Fatalf("attach: exit %d, want 9\n%s", code, again.out.String())
	}
	w.requireNativeClean()
}

func TestNativeDetachOutlivesItsStarter(t *testing.T) {
	w := newNativeWorld(t)
	// start runs in a shell that stays, on a terminal of its own: a
	// session like a person's. Killing that session's processes and
	// hanging its terminal up must not reach the bottle.
	c := exec.Command("sh", "-c", `"$0" "$@"; echo start-ex""ited; exec sleep 600`, w.bin, "start", "example", "--yes", "--detach", "--", "sh", "-c", "exec sleep 600")
	c.Dir, c.Env = w.ws, w.env
	tty, err := pty.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	var out backendtest.SyncBuffer
	go func() { _, _ = io.Copy(&out, tty) }()
	waitFor(t, &out, "start-exited")
	entries, err := os.ReadDir(filepath.Join(w.home, "state"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("state: %v %v\n%s", entries, err, out.String())
	}
	slug := entries[0].Name()
	// pty.Start made the shell a session and process group leader.
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	_ = c.Wait()
	_ = tty.Close()
	time.Sleep(200 * time.Millisecond)
	w.requireRunning(slug)
	if got, code := w.run("exec", slug, "--", "echo", "still-here"); code != 0 || !strings.Contains(got, "still-here") {
		t.Fatalf("exec after the starter died: %d\n%s", code, got)
	}
	if got, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, got)
	}
	w.requireNativeClean()
}

func TestNativeResources(t *testing.T) {
	w := newNativeWorld(t)
	w.writeManifest("bottles", "limited", "---\nextends: shell\nresources: {cpus: \"0.5\", memory: 256m, pids: 64}\n---\n")
	w.writeManifest("agents", "limited", "---\nbottle: limited\n---\nLimits test.\n")
	out, code := w.run("start", "limited", "--yes", "--allow-unenforced-limits", "--", "cat", "/proc/self/cgroup")
	if code != 0 {
		t.Fatalf("start: %d\n%s", code, out)
	}
	// The preflight always says which limits hold: in the backend line,
	// or in a note saying why not (this is all a cgroup v1 host shows).
	enforced := strings.Contains(out, "cgroup v2 limits (cpus, memory, pids)") || strings.Contains(out, "cgroup v1 limits (cpus, memory, pids)")
	if _, err := cgroup.Host(); err != nil {
		if enforced || !strings.Contains(out, "note: resources (cpus, memory, pids) are not enforced: ") {
			t.Fatalf("without cgroups (%v), the preflight does not say the limits are not enforced:\n%s", err, out)
		}
	}
	w.requireNativeClean()
	// Inside, the group shows relative to the bottle's cgroup namespace,
	// rooted where the init was born: this process's group. (On cgroup
	// v1, TestNativeLimitsHold checks it.)
	h, err := cgroup.System()
	if !enforced || err != nil {
		return
	}
	_, rel, ok := strings.Cut(out, "0::")
	rel, _, _ = strings.Cut(rel, "\n")
	if !ok || !strings.Contains(rel, cgroup.Prefix+"limited-") {
		t.Fatalf("limits said enforced, but the command runs outside the bottle's group:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(h.Root, h.Self, rel)); !os.IsNotExist(err) {
		t.Errorf("the bottle's group %s outlived it: %v", filepath.Join(h.Self, rel), err)
	}
}

// TestNativeCommitThenResume is checkCommitThenResume on native, whose
// commits are archives in the state folder.
func TestNativeCommitThenResume(t *testing.T) {
	w := newNativeWorld(t)
	slug := w.startDetached("--", "sh", "-c", resumable)
	checkCommitThenResume(t, w, slug, func() []string {
		m, _ := filepath.Glob(filepath.Join(w.home, "state", slug, "commit-*.tar"))
		return m
	})
}

// resumable is the command of the commit tests: the first run waits for
// the file the exec writes, marks the home and sleeps; a resumed run
// finds the mark and the file, prints it and ends. The mark makes the
// order of the command and the exec not matter.
const resumable = "if [ -f ~/.resumed ]; then cat ~/state.txt; exit; fi; until [ -f ~/state.txt ]; do sleep 0.1; done; touch ~/.resumed; exec sleep 600"

// checkCommitThenResume: what the agent wrote in its home survives a
// commit, a stop and a resume of the detached bottle slug (running
// resumable); a second commit replaces the first, saved listing what the
// backend keeps of them.
func checkCommitThenResume(t *testing.T, w *world, slug string, saved func() []string) {
	t.Helper()
	if out, code := w.run("exec", slug, "--", "sh", "-c", "echo saved-state > ~/state.txt"); code != 0 {
		t.Fatalf("exec: %d\n%s", code, out)
	}
	// The first run marks the home once it saw the file: from then on
	// the commit holds the mark.
	if out, code := w.run("exec", slug, "--", "timeout", "60", "sh", "-c", "until [ -f ~/.resumed ]; do sleep 0.1; done"); code != 0 {
		t.Fatalf("waiting for the mark: %d\n%s", code, out)
	}
	if out, code := w.run("commit", slug); code != 0 || !strings.Contains(out, "committed as ") {
		t.Fatalf("commit: %d\n%s", code, out)
	}
	first := saved()
	if out, code := w.run("exec", slug, "--", "sh", "-c", "echo more >> ~/state.txt"); code != 0 {
		t.Fatalf("exec: %d\n%s", code, out)
	}
	if out, code := w.run("commit", slug); code != 0 {
		t.Fatalf("second commit: %d\n%s", code, out)
	}
	if second := saved(); len(first) != 1 || len(second) != 1 || first[0] == second[0] {
		t.Errorf("saved after one commit %v, after two %v: want one each, the second replacing the first", first, second)
	}
	if out, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, out)
	}
	out, code := w.run("resume", slug, "--yes")
	if code != 0 || !strings.Contains(out, "saved-state\nmore") {
		t.Fatalf("resume from the commit: %d\n%s", code, out)
	}
}
