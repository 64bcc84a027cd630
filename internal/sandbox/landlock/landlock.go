package landlock

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	ll "github.com/landlock-lsm/go-landlock/landlock"
	llsyscall "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// newestABI is the newest Landlock ABI this package configures: the
// newest go-landlock v0.11.2 knows. A newer kernel is used at this level.
const newestABI = 11

// devices are the files every bottle may write and issue ioctls on,
// whatever its Rules. Each is a character device without storage, or the
// bottle's own pseudo-terminals:
//
//   - /dev/null, /dev/zero and /dev/full: shells and build tools redirect
//     output to them and open them read-write;
//   - /dev/random and /dev/urandom: writing only mixes entropy in, and
//     some libraries open them read-write;
//   - /dev/tty, /dev/ptmx and /dev/pts: interactive tools (git's
//     credential prompt, less, ssh, editors) reopen the terminal and need
//     its ioctls (TCGETS, TIOCGWINSZ), and agents start shells on new
//     pseudo-terminals. /dev/pts is a folder: beneath it files may be
//     written, but nothing created or deleted.
//
// /dev/shm is not here: it is storage, and belongs in Rules.Writable when
// it is a private tmpfs, as in the native bottle.
var devices = []string{
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
	"/dev/tty", "/dev/ptmx", "/dev/pts",
}

// Rules says what the agent may write; everything else is read and
// execute only.
//
// Paths must be absolute. A path that does not exist when [Apply] runs is
// skipped without error: it grants nothing, and the agent cannot create
// it afterwards unless a Writable folder above it allows that. Symbolic
// links are followed when Apply runs.
type Rules struct {
	// Writable are folders, recursively, in which the agent may create,
	// modify, rename and delete files and folders: the workspace, its
	// home, /tmp, /dev/shm. Empty means a read-only bottle.
	Writable []string
	// WritableFiles are files the agent may write and truncate but not
	// create, delete or replace by renaming; a folder here allows that on
	// each file beneath it. The devices listed on [Apply] are always
	// included.
	WritableFiles []string
}

// validate reports every path that is not absolute. A relative one would
// name a different place depending on the working directory.
func (r Rules) validate() error {
	var errs []error
	for _, p := range r.Writable {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("writable folder %q is not an absolute path", p))
		}
	}
	for _, p := range r.WritableFiles {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("writable file %q is not an absolute path", p))
		}
	}
	return errors.Join(errs...)
}

// Apply restricts the calling process (all its threads) and its future
// children to r, and sets no_new_privs, which Landlock requires. It
// cannot be undone.
//
// Besides r.WritableFiles, the agent may always write and use the ioctls
// of /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty,
// /dev/ptmx and the files beneath /dev/pts, where they exist.
//
// Apply uses go-landlock's best-effort mode: it enforces the strongest
// rules the kernel supports and returns the Landlock ABI version in force
// (see [ABI]). Below ABI 2, renaming or linking a file into another folder
// is always refused with EXDEV, which most tools answer by copying; below
// ABI 3, truncating a file outside Writable is not refused. ABI 0 with a
// nil error means the kernel has no Landlock and nothing was restricted:
// the caller must report that as a degradation, never ignore it.
//
// Apply returns an error, having applied no Landlock rules (though
// no_new_privs may be set), when a path in r is not absolute or names
// something a rule cannot apply to (a file in Writable).
func Apply(r Rules) (abi int, err error) {
	if err := r.validate(); err != nil {
		return 0, fmt.Errorf("checking landlock rules: %w", err)
	}
	abi = ABI()
	if abi == 0 {
		return 0, nil
	}
	writable := ll.RWDirs(r.Writable...).WithResolveUnix().IgnoreIfMissing()
	if abi >= 2 {
		// go-landlock falls back to no Landlock at all when the
		// refer right is asked of an ABI 1 kernel.
		writable = writable.WithRefer()
	}
	files := slices.Concat(devices, r.WritableFiles)
	cfg := ll.Config{HandledAccessFS: ll.V11.HandledAccessFS}.BestEffort()
	err = cfg.RestrictPaths(
		ll.RODirs("/"),
		writable,
		ll.RWFiles(files...).WithIoctlDev().IgnoreIfMissing(),
	)
	if err != nil {
		return 0, fmt.Errorf("applying landlock ABI %d rules: %w", abi, err)
	}
	return abi, nil
}

// ABI returns the Landlock ABI version [Apply] enforces on this kernel, 0
// if the kernel has no Landlock or it is disabled.
//
// It is the kernel's version with go-landlock's adjustments: capped at
// the newest version go-landlock knows (11), lowered to 5 when the kernel
// lacks the fix for Landlock's signal-scoping erratum, and 0 below ABI 8
// in a build with the landlocktsync tag, which has no way to restrict
// every thread on older kernels.
func ABI() int {
	v, err := llsyscall.LandlockGetABIVersion()
	if err != nil || v <= 0 {
		return 0
	}
	if v >= 6 {
		// Erratum 2: signal scoping leaked across threads; go-landlock
		// stays at ABI 5 until the kernel says it is fixed.
		errata, err := llsyscall.LandlockGetErrata()
		if err != nil || errata&0x2 == 0 {
			v = 5
		}
	}
	if v < minABI {
		return 0
	}
	return min(v, newestABI)
}
