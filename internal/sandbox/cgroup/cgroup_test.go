//go:build linux

package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTree builds a cgroup v2 hierarchy as a systemd host with a user
// session delegates it: user@1000.service and below belong to the user,
// cpu is not enabled below it, and the caller runs in term.scope.
func fakeTree(t *testing.T) Hierarchy {
	t.Helper()
	root := t.TempDir()
	for rel, files := range map[string][3]string{
		"/":                                   {"cpuset cpu io memory pids", "cpu memory pids", "1\n"},
		"/user.slice":                         {"cpu memory pids", "cpu memory pids", ""},
		"/user.slice/user@1000.service":       {"cpu memory pids", "memory pids", ""},
		"/user.slice/user@1000.service/app":   {"memory pids", "memory pids", ""},
		"/user.slice/user@1000.service/app/t": {"memory pids", "", "1234\n1240\n"},
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
	h := Hierarchy{Root: root, Self: "/user.slice/user@1000.service/app/t"}
	// Only the user's manager's subtree is delegated.
	h.access = func(p string) error {
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "user.slice/user@1000.service") {
			return nil
		}
		return fs.ErrPermission
	}
	return h
}

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParent(t *testing.T) {
	h := fakeTree(t)
	svc := filepath.Join(h.Root, "user.slice/user@1000.service")
	tests := []struct {
		name       string
		need       []string
		wantDir    string
		wantEnable []string
		wantErr    string
	}{
		// The caller's own scope holds processes: its parent serves.
		{"memory-pids", []string{"memory", "pids"}, filepath.Join(svc, "app"), nil, ""},
		// cpu is available only higher up, to be enabled there.
		{"cpu", []string{"cpu", "memory"}, svc, []string{"cpu"}, ""},
		{"io", []string{"io"}, "", nil, "lacks the io controller"},
		{"nothing", nil, filepath.Join(svc, "app/t"), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, enable, err := h.Parent(tt.need)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "not delegated") {
					t.Fatalf("Parent(%q) = %q, %v; want ErrUnavailable saying %q", tt.need, dir, err, tt.wantErr)
				}
				return
			}
			if err != nil || dir != tt.wantDir || !cmp.Equal(enable, tt.wantEnable) {
				t.Fatalf("Parent(%q) = %q, %q, %v; want %q, %q", tt.need, dir, enable, err, tt.wantDir, tt.wantEnable)
			}
		})
	}
}

func TestParentNotDelegated(t *testing.T) {
	h := fakeTree(t)
	h.access = func(string) error { return fs.ErrPermission }
	if _, _, err := h.Parent([]string{"memory"}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is not delegated to you") {
		t.Fatalf("Parent without write access = %v, want ErrUnavailable", err)
	}
}

func TestParentAtTheRoot(t *testing.T) {
	// At the root, processes and enabled controllers may coexist.
	h := fakeTree(t)
	h.Self, h.access = "/", func(string) error { return nil }
	if err := os.WriteFile(filepath.Join(h.Root, "cgroup.subtree_control"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, enable, err := h.Parent([]string{"pids"})
	if err != nil || dir != h.Root || !cmp.Equal(enable, []string{"pids"}) {
		t.Fatalf("Parent at the root = %q, %q, %v", dir, enable, err)
	}
}

func TestCreateAddRemove(t *testing.T) {
	h := fakeTree(t)
	svc := filepath.Join(h.Root, "user.slice/user@1000.service")
	g, err := h.Create("dev-abcde", Limits{MilliCPUs: 1500, Memory: 512 << 20, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(svc, "bot-bottle-dev-abcde"); g.Path != want {
		t.Fatalf("group at %s, want %s", g.Path, want)
	}
	if got := read(t, filepath.Join(svc, "cgroup.subtree_control")); got != "+cpu" {
		t.Errorf("subtree_control written %q, want +cpu", got)
	}
	for file, want := range map[string]string{"cpu.max": "150000 100000", "memory.max": "536870912", "pids.max": "64"} {
		if got := read(t, filepath.Join(g.Path, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// No swap accounting in this tree: no memory.swap.max to write.
	if _, err := os.Stat(filepath.Join(g.Path, "memory.swap.max")); !os.IsNotExist(err) {
		t.Errorf("memory.swap.max was created: %v", err)
	}
	if err := g.Add(4321); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(g.Path, "cgroup.procs")); got != "4321" {
		t.Errorf("cgroup.procs = %q", got)
	}
	// The kernel's files vanish with the group; a fake tree's do not.
	entries, _ := os.ReadDir(g.Path)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(g.Path, e.Name()))
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Path); !os.IsNotExist(err) {
		t.Fatalf("the group outlived Remove: %v", err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("a second Remove = %v, want nil", err)
	}
}

func TestCreateReusesAGroupAndLimitsSwap(t *testing.T) {
	h := fakeTree(t)
	app := filepath.Join(h.Root, "user.slice/user@1000.service/app")
	// A group left behind, as the kernel shows one with swap accounting.
	left := filepath.Join(app, "bot-bottle-dev-abcde")
	if err := os.Mkdir(left, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "memory.swap.max"), []byte("max"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := h.Create("dev-abcde", Limits{Memory: 64 << 20, MilliCPUs: 0})
	if err != nil || g.Path != left {
		t.Fatalf("Create = %+v, %v; want the group at %s", g, err, left)
	}
	if got := read(t, filepath.Join(left, "memory.swap.max")); got != "0" {
		t.Errorf("memory.swap.max = %q, want 0", got)
	}
	if got := read(t, filepath.Join(app, "cgroup.subtree_control")); got != "memory pids" {
		t.Errorf("subtree_control changed to %q though nothing needed enabling", got)
	}
}

func TestCreateRefusesBadNames(t *testing.T) {
	h := fakeTree(t)
	for _, name := range []string{"", "../x", "a/b", "."} {
		if _, err := h.Create(name, Limits{Pids: 20}); err == nil {
			t.Errorf("Create(%q) succeeded", name)
		}
	}
}

func TestRemoveRefusesForeignGroups(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "user.slice")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err == nil {
		t.Fatal("Remove of a group bot-bottle did not name succeeded")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

func TestCPUQuota(t *testing.T) {
	h := fakeTree(t)
	for milli, want := range map[int64]string{500: "50000 100000", 2000: "200000 100000", 5: "1000 100000"} {
		h.access = func(string) error { return nil }
		g, err := h.Create("q", Limits{MilliCPUs: milli})
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(g.Path, "cpu.max")); got != want {
			t.Errorf("%d millicpus: cpu.max = %q, want %q", milli, got, want)
		}
	}
}

func TestParseSelf(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"0::/user.slice/user-1000.slice/session-2.scope\n", "/user.slice/user-1000.slice/session-2.scope", false},
		{"9:name=systemd:/\n4:memory:/x\n0::/\n", "/", false},
		{"4:memory:/x\n", "", true},
		{"0::/../elsewhere\n", "", true},
		{"0::relative\n", "", true},
	}
	for _, tt := range tests {
		got, err := ParseSelf([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSelf(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestLimitsControllers(t *testing.T) {
	if got := (Limits{MilliCPUs: 1, Pids: 1}).Controllers(); !cmp.Equal(got, []string{"cpu", "pids"}) {
		t.Errorf("Controllers = %q", got)
	}
	if got := (Limits{}).Controllers(); got != nil {
		t.Errorf("Controllers of no limits = %q, want none", got)
	}
}

func TestSystemSaysWhyNot(t *testing.T) {
	h, err := System()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("System() = %v, want ErrUnavailable", err)
		}
		t.Logf("no cgroup v2 here: %v", err)
		return
	}
	if h.Root != SystemRoot || !strings.HasPrefix(h.Self, "/") {
		t.Fatalf("System() = %+v", h)
	}
}
