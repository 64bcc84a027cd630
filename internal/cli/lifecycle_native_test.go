package cli_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend/backendtest"
)

// newNativeWorld is a world whose bottles run on the native backend.
func newNativeWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, bin: backendtest.StaticBinary(t), home: t.TempDir(), ws: t.TempDir()}
	w.env = append(os.Environ(), "BOT_BOTTLE_HOME="+w.home, "BOT_BOTTLE_BACKEND=native")
	if out, err := w.cmd("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return w
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
			c := w.cmd("start", "example", "--yes", "--", "sh", "-c", "echo run\"\"ning; exec sleep 600")
			var out syncBuffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "running"); {
				if time.Now().After(deadline) {
					t.Fatalf("never started:\n%s", out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
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
	if code == 0 || !strings.Contains(out, "sidecar exited before it was ready") {
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
	c := w.cmd("start", "example", "--yes", "--", "sh", "-c", "echo run\"\"ning; exec sleep 600")
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill() })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "running"); {
		if time.Now().After(deadline) {
			t.Fatalf("never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
