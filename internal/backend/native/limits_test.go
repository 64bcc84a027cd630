package native

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
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
	got, why := enforceable(h, cgroup.Limits{MilliCPUs: 500, Memory: 1 << 30, Pids: 100})
	if want := (cgroup.Limits{Memory: 1 << 30, Pids: 100}); got != want || why == nil {
		t.Fatalf("enforceable = %+v, %v; want %+v and why cpu is not", got, why, want)
	}
	if got, why := enforceable(h, cgroup.Limits{Pids: 100}); got.Pids != 100 || why != nil {
		t.Fatalf("enforceable of pids alone = %+v, %v", got, why)
	}
}

func TestProbeSaysWhatLimitsAreEnforced(t *testing.T) {
	isolation, note := limitsFeatures()
	if isolation == "" && note == "" {
		t.Fatal("limitsFeatures says nothing")
	}
	if _, err := cgroup.System(); err != nil && (isolation != "" || note == "") {
		t.Fatalf("without cgroup v2 (%v): isolation %q, note %q; want a note alone", err, isolation, note)
	}
	t.Logf("isolation %q, note %q", isolation, note)
}
