//go:build linux

// Package cgroup enforces a native bottle's resource limits (cpus, memory,
// pids) with a cgroup of its own: on cgroup v2, where the hierarchy is
// delegated to the operator (a cgroup at or above the caller's that it
// may write, whose children get the controllers the limits need); on a
// cgroup v1 host, below the caller's cgroup in each controller's
// hierarchy, where the operator may write it (see V1).
//
// It works on hierarchies mounted at roots it is given, so that its
// logic is tested against fake trees. It never writes above the lowest
// cgroup that suits (so a delegated subtree stays the caller's only), and
// only removes groups it named (Prefix).
package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SystemRoot is where the host mounts its cgroup v2 hierarchy.
const SystemRoot = "/sys/fs/cgroup"

// Prefix starts the name of every group this package creates.
const Prefix = "bot-bottle-"

// cpuPeriod is the cpu.max period, in microseconds (the kernel's default).
const cpuPeriod = 100_000

// ErrUnavailable reports that limits cannot be enforced here; the wrapping
// error says why.
var ErrUnavailable = errors.New("cgroup limits are not available")

// Limits are a bottle's resource limits; zero means no limit.
type Limits struct {
	// MilliCPUs is the CPU time allowed, in thousandths of a CPU.
	MilliCPUs int64 `json:"millicpus,omitempty"`
	// Memory is the memory allowed, in bytes; swap is then not allowed.
	Memory int64 `json:"memory,omitempty"`
	// Pids is the number of processes and threads allowed.
	Pids int64 `json:"pids,omitempty"`
}

// Controllers lists the controllers l needs.
func (l Limits) Controllers() []string {
	var c []string
	if l.MilliCPUs > 0 {
		c = append(c, "cpu")
	}
	if l.Memory > 0 {
		c = append(c, "memory")
	}
	if l.Pids > 0 {
		c = append(c, "pids")
	}
	return c
}

// Hierarchy is a cgroup v2 hierarchy and the caller's place in it.
type Hierarchy struct {
	// Root is where the hierarchy is mounted.
	Root string
	// Self is the caller's cgroup, relative to Root ("/user.slice/...").
	Self string

	// access checks write access; tests fake it, since root passes
	// every check.
	access func(path string) error
}

// System returns the host's hierarchy, or ErrUnavailable where
// SystemRoot is not cgroup v2 (a cgroup v1 or hybrid host).
func System() (Hierarchy, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(SystemRoot, &st); err != nil {
		return Hierarchy{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, SystemRoot, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return Hierarchy{}, fmt.Errorf("%w: this host has cgroup v1 at %s, not a unified cgroup v2 hierarchy", ErrUnavailable, SystemRoot)
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	self, err := ParseSelf(data)
	if err != nil {
		return Hierarchy{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return Hierarchy{Root: SystemRoot, Self: self}, nil
}

// ParseSelf returns the cgroup v2 path in the contents of
// /proc/self/cgroup: its "0::PATH" line.
func ParseSelf(data []byte) (string, error) {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if p, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			self := string(bytes.TrimSpace(p))
			// "/.." starts the path of a cgroup outside our cgroup
			// namespace, which its mount does not show.
			if !strings.HasPrefix(self, "/") || self == "/.." || strings.HasPrefix(self, "/../") {
				return "", fmt.Errorf("the cgroup v2 path %q is outside this cgroup namespace", self)
			}
			return filepath.Clean(self), nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// Parent finds the cgroup new groups for limits go under: the lowest one,
// from the caller's up, that the caller may write and whose children get
// every controller in need (perhaps once enable is written to its
// cgroup.subtree_control). It stops at the first cgroup the caller may
// not write: what is above is not delegated. It only reads.
func (h Hierarchy) Parent(need []string) (dir string, enable []string, err error) {
	var why []string
	for rel := h.Self; ; rel = filepath.Dir(rel) {
		dir := filepath.Join(h.Root, rel)
		if err := h.writable(dir); err != nil {
			why = append(why, fmt.Sprintf("%s is not delegated to you (%v)", rel, err))
			break
		}
		available, err := readList(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		enabled, err := readList(filepath.Join(dir, "cgroup.subtree_control"))
		if err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		var missing, off []string
		for _, c := range need {
			switch {
			case slices.Contains(enabled, c):
			case slices.Contains(available, c):
				off = append(off, c)
			default:
				missing = append(missing, c)
			}
		}
		switch {
		case len(missing) > 0:
			why = append(why, fmt.Sprintf("%s lacks the %s controller(s)", rel, strings.Join(missing, ", ")))
		case len(off) == 0:
			return dir, nil, nil
		case rel == "/" || !holdsProcesses(dir):
			return dir, off, nil
		default:
			// The kernel refuses controllers for the children of a
			// cgroup that holds processes (ours, when it is our own),
			// except at the root.
			why = append(why, fmt.Sprintf("%s holds processes, so it cannot enable %s for its children", rel, strings.Join(off, ", ")))
		}
		if rel == "/" {
			break
		}
	}
	return "", nil, fmt.Errorf("%w: %s", ErrUnavailable, strings.Join(why, "; "))
}

// writable reports whether the caller may create groups in dir and move
// processes through it.
func (h Hierarchy) writable(dir string) error {
	access := h.access
	if access == nil {
		access = func(p string) error { return unix.Access(p, unix.W_OK) }
	}
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		if err := access(p); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

func holdsProcesses(dir string) bool {
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return err != nil || len(bytes.TrimSpace(procs)) > 0
}

func readList(p string) ([]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

// Group is one bottle's cgroup.
type Group struct {
	// Path is the group's folder in the hierarchy (cgroup v2), or the
	// first of Paths.
	Path string
	// Paths are all the group's folders: Path alone on cgroup v2, one a
	// hierarchy on cgroup v1.
	Paths []string
}

// Create makes the group Prefix+name with limits l under the Parent for
// them, enabling controllers there when it must. A group of that name
// left behind is reused.
func (h Hierarchy) Create(name string, l Limits) (*Group, error) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("cgroup name %q: want a bottle slug", name)
	}
	parent, enable, err := h.Parent(l.Controllers())
	if err != nil {
		return nil, err
	}
	if len(enable) > 0 {
		ctl := "+" + strings.Join(enable, " +")
		if err := writeFile(filepath.Join(parent, "cgroup.subtree_control"), ctl); err != nil {
			return nil, fmt.Errorf("enabling %s in %s: %w", strings.Join(enable, ", "), parent, err)
		}
	}
	g := &Group{Path: filepath.Join(parent, Prefix+name)}
	g.Paths = []string{g.Path}
	if err := os.Mkdir(g.Path, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating cgroup %s: %w", g.Path, err)
	}
	if err := g.limit(l); err != nil {
		_ = g.Remove()
		return nil, err
	}
	return g, nil
}

// limit writes l into the group's interface files.
func (g *Group) limit(l Limits) error {
	var files [][2]string
	if l.MilliCPUs > 0 {
		// The kernel refuses a quota under 1 ms a period.
		quota := max(l.MilliCPUs*cpuPeriod/1000, 1000)
		files = append(files, [2]string{"cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)})
	}
	if l.Memory > 0 {
		files = append(files, [2]string{"memory.max", strconv.FormatInt(l.Memory, 10)})
		// Without swap accounting there is no file, and no swap to
		// limit through this group.
		if _, err := os.Stat(filepath.Join(g.Path, "memory.swap.max")); err == nil {
			files = append(files, [2]string{"memory.swap.max", "0"})
		}
	}
	if l.Pids > 0 {
		files = append(files, [2]string{"pids.max", strconv.FormatInt(l.Pids, 10)})
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(g.Path, f[0]), f[1]); err != nil {
			return fmt.Errorf("setting %s of cgroup %s: %w", f[0], g.Path, err)
		}
	}
	return nil
}

// Add moves pid into the group (in every hierarchy); its children are
// born there.
func (g *Group) Add(pid int) error {
	for _, p := range g.Paths {
		if err := writeFile(filepath.Join(p, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("moving process %d into cgroup %s: %w", pid, p, err)
		}
	}
	return nil
}

// Remove removes the group once it is empty, waiting a moment for the
// processes of a bottle that just ended to be gone. A group already
// removed is not an error.
func (g *Group) Remove() error {
	var errs []error
	for _, p := range g.Paths {
		errs = append(errs, Remove(p))
	}
	return errors.Join(errs...)
}

// Remove removes the group at path (see Group.Remove). It refuses a path
// whose name this package did not give.
func Remove(path string) error {
	if !strings.HasPrefix(filepath.Base(path), Prefix) {
		return fmt.Errorf("refusing to remove cgroup %s: not one of bot-bottle's", path)
	}
	var err error
	for range 20 {
		err = unix.Rmdir(path)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", path, err)
}

// writeFile writes one value to a cgroup interface file. Creating is
// harmless on cgroupfs, whose files exist already, and is what lets a
// fake tree stand in for it in tests.
func writeFile(p, value string) error {
	return os.WriteFile(p, []byte(value), 0o644)
}
