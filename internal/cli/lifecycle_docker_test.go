package cli_test

import (
	"bytes"
	"encoding/json"
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
	if code == 0 || !strings.Contains(out, "sidecar exited before it was ready") {
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
