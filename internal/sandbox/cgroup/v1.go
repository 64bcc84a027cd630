//go:build linux

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

	"golang.org/x/sys/unix"
)

// V1 is a host's cgroup v1 hierarchies (a cgroup v1 or hybrid host): one
// mounted for each controller, and the caller's cgroup in each. A
// bottle's group goes right below the caller's own (cgroup v1 lets a
// cgroup hold processes and children alike), so that whatever limits the
// caller's group has still hold over the bottle.
type V1 struct {
	// Mounts maps a controller to where its hierarchy is mounted.
	Mounts map[string]string
	// Self maps a controller to the caller's cgroup in its hierarchy,
	// relative to the mount ("/" or "/user.slice/...").
	Self map[string]string

	// access checks write access; tests fake it, since root passes
	// every check.
	access func(path string) error
}

// v1Files are the interface file each controller's limit needs, which
// every cgroup of its hierarchy has (the root included), or "" when the
// root lacks it.
var v1Files = map[string]string{"cpu": "cpu.cfs_quota_us", "memory": "memory.limit_in_bytes", "pids": ""}

// SystemV1 returns the host's cgroup v1 hierarchies, or ErrUnavailable
// where none of the controllers limits need is mounted.
func SystemV1() (V1, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return V1{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return V1{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ParseV1(mountinfo, self)
}

// ParseV1 reads the cgroup v1 hierarchies of the limits' controllers
// from the contents of /proc/self/mountinfo, and the caller's cgroup in
// each from those of /proc/self/cgroup. A hierarchy whose mount does not
// show the caller's cgroup (a mount of a subtree the caller is outside)
// is left out.
func ParseV1(mountinfo, self []byte) (V1, error) {
	h := V1{Mounts: map[string]string{}, Self: map[string]string{}}
	roots := map[string]string{}
	for line := range bytes.SplitSeq(mountinfo, []byte("\n")) {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok {
			continue
		}
		f, g := strings.Fields(string(pre)), strings.Fields(string(post))
		if len(f) < 5 || len(g) < 3 || g[0] != "cgroup" {
			continue
		}
		for opt := range strings.SplitSeq(g[2], ",") {
			if _, want := v1Files[opt]; !want {
				continue
			}
			// A mount point is absolute in a real mountinfo; one that is
			// not would put the caller's cgroup anywhere.
			point := unescapeMount(f[4])
			if _, seen := h.Mounts[opt]; !seen && filepath.IsAbs(point) {
				h.Mounts[opt], roots[opt] = filepath.Clean(point), unescapeMount(f[3])
			}
		}
	}
	for line := range bytes.SplitSeq(self, []byte("\n")) {
		// ID:CONTROLLERS:PATH; the path may hold colons.
		parts := strings.SplitN(string(bytes.TrimSpace(line)), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		p := parts[2]
		if !strings.HasPrefix(p, "/") || p == "/.." || strings.HasPrefix(p, "/../") {
			continue
		}
		p = filepath.Clean(p)
		for c := range strings.SplitSeq(parts[1], ",") {
			root, ok := roots[c]
			if !ok {
				continue
			}
			rel, ok := underRoot(p, root)
			if !ok {
				delete(h.Mounts, c)
				continue
			}
			h.Self[c] = rel
		}
	}
	for c := range h.Mounts {
		if _, ok := h.Self[c]; !ok {
			delete(h.Mounts, c)
		}
	}
	if len(h.Mounts) == 0 {
		return V1{}, fmt.Errorf("%w: no cgroup v1 hierarchy of cpu, memory or pids is mounted", ErrUnavailable)
	}
	return h, nil
}

// underRoot returns p relative to a mount of the subtree root.
func underRoot(p, root string) (string, bool) {
	root = filepath.Clean(root)
	switch {
	case root == "/":
		return p, true
	case p == root:
		return "/", true
	case strings.HasPrefix(p, root+"/"):
		return strings.TrimPrefix(p, root), true
	}
	return "", false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Parent returns the cgroup a group for controller c goes under: the
// caller's own in c's hierarchy, if the caller may create groups there
// and move processes into them. It only reads.
func (h V1) Parent(c string) (string, error) {
	mount, ok := h.Mounts[c]
	if !ok {
		return "", fmt.Errorf("%w: no cgroup v1 hierarchy mounts the %s controller", ErrUnavailable, c)
	}
	dir := filepath.Join(mount, h.Self[c])
	access := h.access
	if access == nil {
		access = func(p string) error { return unix.Access(p, unix.W_OK) }
	}
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs")} {
		if err := access(p); err != nil {
			return "", fmt.Errorf("%w: %s is not writable by you (%w)", ErrUnavailable, p, err)
		}
	}
	if f := v1Files[c]; f != "" {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("%w: %s has no %s (%w)", ErrUnavailable, dir, f, err)
		}
	}
	return dir, nil
}

// Create makes the group Prefix+name with limits l in the hierarchy of
// each controller l needs, below the caller's cgroup there. Groups of
// that name left behind are reused.
func (h V1) Create(name string, l Limits) (*Group, error) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("cgroup name %q: want a bottle slug", name)
	}
	g := &Group{}
	for _, c := range l.Controllers() {
		parent, err := h.Parent(c)
		if err != nil {
			return nil, errors.Join(err, g.Remove())
		}
		dir := filepath.Join(parent, Prefix+name)
		// Two controllers may share a hierarchy (cpu,cpuacct with
		// memory is rare, but allowed): one group serves both.
		if !slices.Contains(g.Paths, dir) {
			if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, errors.Join(fmt.Errorf("creating cgroup %s: %w", dir, err), g.Remove())
			}
			g.Paths = append(g.Paths, dir)
		}
		if err := limitV1(dir, c, l); err != nil {
			return nil, errors.Join(err, g.Remove())
		}
	}
	if len(g.Paths) > 0 {
		g.Path = g.Paths[0]
	}
	return g, nil
}

// limitV1 writes controller c's part of l into the group at dir.
func limitV1(dir, c string, l Limits) error {
	var files [][2]string
	switch c {
	case "cpu":
		quota := max(l.MilliCPUs*cpuPeriod/1000, 1000)
		files = [][2]string{{"cpu.cfs_period_us", strconv.Itoa(cpuPeriod)}, {"cpu.cfs_quota_us", strconv.FormatInt(quota, 10)}}
	case "memory":
		mem := strconv.FormatInt(l.Memory, 10)
		limit := filepath.Join(dir, "memory.limit_in_bytes")
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
			// Without swap accounting, no swapping of the group's pages.
			files = [][2]string{{"memory.limit_in_bytes", mem}, {"memory.swappiness", "0"}}
			break
		}
		// Memory and swap (memsw) may never be under memory alone: the
		// kernel refuses a memory limit over it, so a group left behind
		// with a lower one raises memsw first.
		if err := writeFile(limit, mem); err != nil {
			files = [][2]string{{"memory.memsw.limit_in_bytes", mem}, {"memory.limit_in_bytes", mem}}
		} else {
			files = [][2]string{{"memory.memsw.limit_in_bytes", mem}}
		}
	case "pids":
		files = [][2]string{{"pids.max", strconv.FormatInt(l.Pids, 10)}}
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f[0]), f[1]); err != nil {
			return fmt.Errorf("setting %s of cgroup %s: %w", f[0], dir, err)
		}
	}
	return nil
}
