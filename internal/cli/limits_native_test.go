//go:build linux

package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// forkBomb forks 2000 sleepers as fast as it can and says how many it
// got; memoryHog holds 1 GiB.
const (
	forkBomb  = `perl -e '$ok = $no = 0; for (1..2000) { $p = fork; if (!defined $p) { $no++; next } if (!$p) { sleep 30; exit } $ok++ } print "forked $ok refused $no\n"'`
	memoryHog = `perl -e '$x = "a" x (1 << 30); print "hold ", length($x), "\n"'`
)

// TestNativeLimitsHold runs an attacker's fork bomb and memory hog in a
// bottle that asked for pids 64 and memory 64m, on this host's cgroups
// (v1 or v2): neither may exceed them, the agent cannot leave its
// group, and the group goes with the bottle.
func TestNativeLimitsHold(t *testing.T) {
	if e, err := cgroup.Host(); err != nil {
		backendtest.Missing(t, "no cgroups to enforce limits with here: %v", err)
	} else if got, why := e.Enforceable(cgroup.Limits{Memory: 1, Pids: 1}); why != nil || got.Pids == 0 {
		backendtest.Missing(t, "this host cannot enforce memory and pids limits for the operator: %v", why)
	}
	w := newNativeWorld(t)
	w.writeManifest("bottles", "tight", "---\nextends: shell\nresources: {cpus: \"0.5\", memory: 64m, pids: 64}\n---\n")
	w.writeManifest("agents", "tight", "---\nbottle: tight\n---\nLimits test.\n")
	c := w.cmd("start", "tight", "--yes", "--detach", "--", "sleep", "600")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`cgroup v[12] limits \(cpus, memory, pids\)`).Match(out) {
		t.Fatalf("the preflight does not say the limits are enforced:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	slug := lines[len(lines)-1]
	record, err := os.ReadFile(filepath.Join(w.home, "state", slug, "native", "cgroup"))
	if err != nil {
		t.Fatalf("no cgroup recorded for the bottle: %v", err)
	}
	groups := strings.Split(strings.TrimSpace(string(record)), "\n")
	for _, g := range groups {
		if _, err := os.Stat(g); err != nil {
			t.Fatalf("the bottle's group: %v", err)
		}
	}

	t.Run("a fork bomb stops at the pids limit", func(t *testing.T) {
		got, code := w.run("exec", slug, "--", "sh", "-c", forkBomb)
		m := regexp.MustCompile(`forked (\d+) refused (\d+)`).FindStringSubmatch(got)
		if code != 0 || m == nil {
			t.Fatalf("exit %d:\n%s", code, got)
		}
		forked, _ := strconv.Atoi(m[1])
		t.Logf("forked %s, refused %s", m[1], m[2])
		if forked >= 64 || m[2] == "0" {
			t.Fatalf("the bottle forked %s processes (refused %s) under a limit of 64", m[1], m[2])
		}
		// The bottle is no fork-bomb's hostage: once they end, it serves.
		for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(time.Second) {
			if got, code := w.run("exec", slug, "--", "true"); code == 0 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the bottle did not recover: %d\n%s", code, got)
			}
		}
	})
	t.Run("a memory hog is stopped at the memory limit", func(t *testing.T) {
		got, code := w.run("exec", slug, "--", "sh", "-c", memoryHog)
		if code == 0 || strings.Contains(got, "hold ") {
			t.Fatalf("the bottle held 1 GiB under a limit of 64m (exit %d):\n%s", code, got)
		}
		t.Logf("exit %d: %s", code, strings.TrimSpace(got))
	})
	t.Run("the agent cannot leave its group", func(t *testing.T) {
		script := `cat /proc/self/cgroup
ls -A /sys/fs/cgroup 2>/dev/null | grep -q . && echo "LEAVE cgroupfs is visible"
for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/tasks; do
  [ -e "$f" ] && { echo $$ > "$f"; } 2>/dev/null && echo "LEAVE moved through $f"
done
mkdir -p "$HOME/cg"
for fs in "-t cgroup2 none" "-t cgroup -o pids none" "-t cgroup -o memory none"; do
  mount $fs "$HOME/cg" 2>/dev/null && echo "LEAVE mounted $fs"
done
unshare -C true 2>/dev/null && echo "LEAVE new cgroup namespace"
true`
		got, code := w.run("exec", slug, "--", "sh", "-c", script)
		if code != 0 || strings.Contains(got, "LEAVE") {
			t.Fatalf("exit %d:\n%s", code, got)
		}
		// The memory and pids lines (or v2's one) name the bottle's
		// group, relative to the bottle's cgroup namespace.
		checked := 0
		for line := range strings.SplitSeq(strings.TrimSpace(got), "\n") {
			if strings.Contains(line, ":memory:") || strings.Contains(line, ":pids:") || strings.HasPrefix(line, "0::") && len(groups) == 1 {
				checked++
				if !strings.Contains(line, cgroup.Prefix+"tight-") {
					t.Errorf("the agent runs outside the bottle's group: %s\n%s", line, got)
				}
			}
		}
		if checked == 0 {
			t.Errorf("no cgroup line of the agent to check:\n%s", got)
		}
	})

	if got, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, got)
	}
	w.requireNativeClean()
	for _, g := range groups {
		if _, err := os.Stat(g); !os.IsNotExist(err) {
			t.Errorf("the bottle's group %s outlived it: %v", g, err)
		}
	}
}
