//go:build linux

package native

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape"
)

func TestEnforceableDropsWhatTheHostLacks(t *testing.T) {
	// A hierarchy whose root offers memory and pids but no cpu, with the
	// caller in a child that holds processes.
	root := t.TempDir()
	for rel, files := range map[string][3]string{
		"/":     {"memory pids", "memory pids", ""},
		"/self": {"memory pids", "", "42\n"},
	} {
		dir := filepath.Join(root, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"cgroup.controllers", "cgroup.subtree_control", "cgroup.procs"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(files[i]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := cgroup.Hierarchy{Root: root, Self: "/self"}
	got, why := h.Enforceable(cgroup.Limits{MilliCPUs: 500, Memory: 1 << 30, Pids: 100})
	if want := (cgroup.Limits{Memory: 1 << 30, Pids: 100}); got != want || why == nil {
		t.Fatalf("enforceable = %+v, %v; want %+v and why cpu is not", got, why, want)
	}
	if got, why := h.Enforceable(cgroup.Limits{Pids: 100}); got.Pids != 100 || why != nil {
		t.Fatalf("enforceable of pids alone = %+v, %v", got, why)
	}
}

func TestProbeSaysWhatLimitsAreEnforced(t *testing.T) {
	isolation, note := New(Config{}).limitsFeatures()
	if isolation == "" && note == "" {
		t.Fatal("limitsFeatures says nothing")
	}
	if _, err := cgroup.Host(); err != nil && (isolation != "" || note == "") {
		t.Fatalf("without cgroups (%v): isolation %q, note %q; want a note alone", err, isolation, note)
	}
	t.Logf("isolation %q, note %q", isolation, note)
}

// emptyV1 is a host whose cgroup v1 hierarchies are mounted, but hold
// none of the files limits need: nothing can be enforced.
func emptyV1(t *testing.T) func() (cgroup.Enforcer, error) {
	t.Helper()
	root := t.TempDir()
	var mi, self strings.Builder
	for i, c := range []string{"cpu", "memory", "pids"} {
		dir := filepath.Join(root, c)
		if err := os.Mkdir(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mi, "%d 1 0:%d / %s rw - cgroup cgroup rw,%s\n", 30+i, 30+i, dir, c)
		fmt.Fprintf(&self, "%d:%s:/\n", i+1, c)
	}
	h, err := cgroup.ParseV1([]byte(mi.String()), []byte(self.String()))
	if err != nil {
		t.Fatal(err)
	}
	return func() (cgroup.Enforcer, error) { return h, nil }
}

func TestStartRefusesLimitsItCannotEnforce(t *testing.T) {
	if os.Getuid() != 0 {
		backendtest.Missing(t, "a native bottle here needs root")
	}
	d := New(Config{Binary: backendtest.StaticBinary(t), Cgroups: emptyV1(t)})
	h := &escape.Harness{Backend: d, User: backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}, Probe: backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"), ProbePath: "/home/agent/bin/bb-probe"}
	if _, note := d.limitsFeatures(); !strings.Contains(note, "resources (cpus, memory, pids) are not enforced") || !strings.Contains(note, AllowUnenforcedFlag) {
		t.Errorf("the preflight note = %q, want it to say the limits are not enforced and how start behaves", note)
	}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			spec := h.Spec(t, fmt.Sprintf("limits-%v-%d", allow, time.Now().UnixNano()%1_000_000))
			spec.Resources = backend.Resources{Memory: 64 << 20, Pids: 64}
			spec.AllowUnenforcedLimits = allow
			spec.Command = []string{"true"}
			t.Cleanup(func() { _ = d.Stop(context.Background(), spec.Slug) })
			err := d.Start(context.Background(), spec, io.Discard)
			if !allow {
				if err == nil || !strings.Contains(err.Error(), "cannot enforce the bottle's resources (memory, pids)") || !strings.Contains(err.Error(), AllowUnenforcedFlag) {
					t.Fatalf("Start = %v, want a refusal naming the resources and %s", err, AllowUnenforcedFlag)
				}
				if _, err := os.Stat(filepath.Join(spec.StateDir, "native")); !os.IsNotExist(err) {
					t.Errorf("the refused bottle left its folder: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start with the flag = %v, want the bottle to run without its limits", err)
			}
			if code, err := d.Attach(context.Background(), spec.Slug, backend.Stdio{}); err != nil || code != 0 {
				t.Fatalf("the bottle's command: %d, %v", code, err)
			}
		})
	}
}

// TestRemoveGroupFromTheRecord removes a real group (one folder a
// hierarchy on cgroup v1) the way stop and cleanup do for a bottle
// whose owner died: from the state folder's record alone.
func TestRemoveGroupFromTheRecord(t *testing.T) {
	e, err := cgroup.Host()
	if err != nil {
		backendtest.Missing(t, "no cgroups here: %v", err)
	}
	l := cgroup.Limits{Memory: 64 << 20, Pids: 10}
	if _, why := e.Enforceable(l); why != nil {
		backendtest.Missing(t, "no writable memory and pids cgroups here: %v", why)
	}
	d := New(Config{})
	dir := t.TempDir()
	g, err := d.newGroup(fmt.Sprintf("rm-%d", time.Now().UnixNano()%1_000_000), l, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Remove() })
	if len(g.Paths) == 0 {
		t.Fatal("no group made")
	}
	for _, p := range g.Paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeGroup(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s outlived removeGroup: %v", p, err)
		}
	}
	// A record naming something else is refused.
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte("/etc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeGroup(dir); err == nil || !strings.Contains(err.Error(), "not a cgroup") {
		t.Errorf("removeGroup of /etc = %v, want a refusal", err)
	}
}
