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
	"github.com/google/go-cmp/cmp/cmpopts"
)

// hybridMountinfo is a cgroup v1 host's (this kind of CI machine's):
// one hierarchy a controller, an empty v2 one beside them.
const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridSelf = `9:name=systemd:/
8:pids:/
4:memory:/process_api/8607
1:cpu:/
0::/
`

func TestParseV1(t *testing.T) {
	tests := []struct {
		name          string
		mounts, self  string
		wantMounts    map[string]string
		wantSelf      map[string]string
		wantErrSubstr string
	}{
		{
			name: "hybrid host", mounts: hybridMountinfo, self: hybridSelf,
			wantMounts: map[string]string{"cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"},
			wantSelf:   map[string]string{"cpu": "/", "memory": "/process_api/8607", "pids": "/"},
		},
		{
			// systemd's usual co-mount, with optional fields before "-".
			name:       "cpu and cpuacct together",
			mounts:     "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n",
			self:       "3:cpu,cpuacct:/user.slice\n",
			wantMounts: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct"},
			wantSelf:   map[string]string{"cpu": "/user.slice"},
		},
		{
			// A container's mount shows its own subtree as /.
			name:       "a mount of a subtree",
			mounts:     "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			self:       "4:memory:/docker/abc/inner\n",
			wantMounts: map[string]string{"memory": "/sys/fs/cgroup/memory"},
			wantSelf:   map[string]string{"memory": "/inner"},
		},
		{
			name:          "a mount the caller is outside of",
			mounts:        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			self:          "4:memory:/elsewhere\n",
			wantErrSubstr: "no cgroup v1 hierarchy",
		},
		{
			name:          "a cgroup v2 host",
			mounts:        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			self:          "0::/user.slice\n",
			wantErrSubstr: "no cgroup v1 hierarchy",
		},
		{
			name:          "a path outside the namespace",
			mounts:        hybridMountinfo,
			self:          "8:pids:/../x\n",
			wantErrSubstr: "no cgroup v1 hierarchy",
		},
		{
			name:       "an escaped mount point",
			mounts:     `39 31 0:36 / /sys/fs/cgroup/my\040pids rw - cgroup cgroup rw,pids` + "\n",
			self:       "8:pids:/\n",
			wantMounts: map[string]string{"pids": "/sys/fs/cgroup/my pids"},
			wantSelf:   map[string]string{"pids": "/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseV1([]byte(tt.mounts), []byte(tt.self))
			if tt.wantErrSubstr != "" {
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.wantErrSubstr) {
					t.Fatalf("ParseV1 = %+v, %v; want ErrUnavailable saying %q", h, err, tt.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantMounts, h.Mounts); diff != "" {
				t.Errorf("Mounts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSelf, h.Self); diff != "" {
				t.Errorf("Self (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseV1(f *testing.F) {
	f.Add([]byte(hybridMountinfo), []byte(hybridSelf))
	f.Add([]byte("35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"), []byte("4:memory:/docker/abc/x\n"))
	f.Add([]byte(`1 2 3 / /a\0 - cgroup x pids`), []byte("1:pids::/\n"))
	f.Fuzz(func(t *testing.T, mounts, self []byte) {
		h, err := ParseV1(mounts, self)
		if err != nil {
			return
		}
		for c, m := range h.Mounts {
			rel, ok := h.Self[c]
			if !ok || !strings.HasPrefix(rel, "/") || strings.Contains(rel, "/../") || strings.HasSuffix(rel, "/..") {
				t.Fatalf("controller %s at %q has self %q", c, m, rel)
			}
			if !filepath.IsAbs(m) {
				t.Fatalf("controller %s is mounted at the relative %q", c, m)
			}
			if r, err := filepath.Rel(m, filepath.Join(m, rel)); err != nil || r == ".." || strings.HasPrefix(r, "../") {
				t.Fatalf("the caller's cgroup %q is outside its mount %q", rel, m)
			}
		}
	})
}

// fakeV1 is a cgroup v1 host as ParseV1 finds this machine: cpu and pids
// at their roots, memory in a cgroup below, each with the files the
// kernel shows, memsw as well when swap is accounted.
func fakeV1(t *testing.T, memsw bool) V1 {
	t.Helper()
	root := t.TempDir()
	h := V1{Mounts: map[string]string{}, Self: map[string]string{"cpu": "/", "memory": "/process_api/x", "pids": "/"}}
	files := map[string][]string{
		"cpu":    {"cgroup.procs", "cpu.cfs_quota_us", "cpu.cfs_period_us"},
		"memory": {"cgroup.procs", "memory.limit_in_bytes", "memory.swappiness"},
		"pids":   {"cgroup.procs"},
	}
	if memsw {
		files["memory"] = append(files["memory"], "memory.memsw.limit_in_bytes")
	}
	for c, names := range files {
		h.Mounts[c] = filepath.Join(root, c)
		dir := filepath.Join(h.Mounts[c], h.Self[c])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.access = func(string) error { return nil }
	return h
}

func TestV1CreateAddRemove(t *testing.T) {
	for _, memsw := range []bool{true, false} {
		t.Run(map[bool]string{true: "swap accounted", false: "no swap accounting"}[memsw], func(t *testing.T) {
			h := fakeV1(t, memsw)
			// A new group in a fake tree lacks the kernel's files (the
			// limits are written anyway, as on cgroupfs), but for the
			// memsw file, which says swap is accounted: the kernel would
			// show it at once.
			if memsw {
				dir := filepath.Join(h.Mounts["memory"], "process_api/x/bot-bottle-dev-abcde")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			g, err := h.Create("dev-abcde", Limits{MilliCPUs: 500, Memory: 64 << 20, Pids: 64})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				filepath.Join(h.Mounts["cpu"], "bot-bottle-dev-abcde"),
				filepath.Join(h.Mounts["memory"], "process_api/x/bot-bottle-dev-abcde"),
				filepath.Join(h.Mounts["pids"], "bot-bottle-dev-abcde"),
			}
			if diff := cmp.Diff(want, g.Paths, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Fatalf("Paths (-want +got):\n%s", diff)
			}
			wantFiles := map[string]string{
				want[0] + "/cpu.cfs_period_us":     "100000",
				want[0] + "/cpu.cfs_quota_us":      "50000",
				want[1] + "/memory.limit_in_bytes": "67108864",
				want[2] + "/pids.max":              "64",
			}
			if memsw {
				wantFiles[want[1]+"/memory.memsw.limit_in_bytes"] = "67108864"
			} else {
				wantFiles[want[1]+"/memory.swappiness"] = "0"
			}
			for p, v := range wantFiles {
				if got := read(t, p); got != v {
					t.Errorf("%s = %q, want %q", p, got, v)
				}
			}
			if err := g.Add(4321); err != nil {
				t.Fatal(err)
			}
			for _, p := range g.Paths {
				if got := read(t, filepath.Join(p, "cgroup.procs")); got != "4321" {
					t.Errorf("%s/cgroup.procs = %q", p, got)
				}
				entries, _ := os.ReadDir(p)
				for _, e := range entries {
					_ = os.Remove(filepath.Join(p, e.Name()))
				}
			}
			if err := g.Remove(); err != nil {
				t.Fatal(err)
			}
			for _, p := range g.Paths {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s outlived Remove: %v", p, err)
				}
			}
		})
	}
}

func TestV1RaisesMemswFirst(t *testing.T) {
	h := fakeV1(t, true)
	// A group left behind with a lower limit: the kernel refuses a
	// memory limit over memsw, which a fake file cannot; a directory in
	// place of the file fails the first write the same way.
	left := filepath.Join(h.Mounts["memory"], "process_api/x/bot-bottle-dev-abcde")
	if err := os.MkdirAll(filepath.Join(left, "memory.limit_in_bytes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "memory.memsw.limit_in_bytes"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := h.Create("dev-abcde", Limits{Memory: 1 << 30})
	// memsw was raised before the (failing) second try of the limit.
	if got := read(t, filepath.Join(left, "memory.memsw.limit_in_bytes")); got != "1073741824" || err == nil || !strings.Contains(err.Error(), "memory.limit_in_bytes") {
		t.Fatalf("memsw = %q, Create = %v; want memsw raised first, then the limit's error", got, err)
	}
}

func TestV1NotWritable(t *testing.T) {
	h := fakeV1(t, true)
	h.access = func(p string) error {
		if strings.Contains(p, "memory") {
			return fs.ErrPermission
		}
		return nil
	}
	got, why := h.Enforceable(Limits{Memory: 1 << 20, Pids: 10})
	if got != (Limits{Pids: 10}) || !errors.Is(why, ErrUnavailable) || !strings.Contains(why.Error(), "not writable by you") {
		t.Fatalf("Enforceable = %+v, %v; want pids alone, and why memory is not", got, why)
	}
	if _, err := h.Create("x", Limits{Memory: 1 << 20, Pids: 10}); err == nil {
		t.Fatal("Create succeeded where memory is not writable")
	}
	// Nothing was left behind in the hierarchy that was writable.
	if _, err := os.Stat(filepath.Join(h.Mounts["pids"], "bot-bottle-x")); !os.IsNotExist(err) {
		t.Errorf("a failed Create left a group: %v", err)
	}
}

func TestV1MissingController(t *testing.T) {
	h := fakeV1(t, true)
	delete(h.Mounts, "cpu")
	if _, why := h.Enforceable(Limits{MilliCPUs: 100}); !errors.Is(why, ErrUnavailable) || !strings.Contains(why.Error(), "mounts the cpu controller") {
		t.Fatalf("Enforceable without a cpu hierarchy: %v", why)
	}
}

func TestHostSaysWhyNot(t *testing.T) {
	e, err := Host()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Host() = %v, want ErrUnavailable", err)
		}
		t.Logf("no cgroups here: %v", err)
		return
	}
	if v := e.Version(); v != "cgroup v1" && v != "cgroup v2" {
		t.Fatalf("Version() = %q", v)
	}
	// What the host offers must be something it can say yes or no to.
	if got, why := e.Enforceable(Limits{Pids: 64}); why == nil && got.Pids != 64 {
		t.Fatalf("Enforceable(pids 64) = %+v with no reason", got)
	}
}
