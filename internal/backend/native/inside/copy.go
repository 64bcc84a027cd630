//go:build linux

package inside

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTree copies the folder src into the existing folder dst without
// ever following a symbolic link on the source side: every name is
// opened relative to its parent's descriptor with O_NOFOLLOW, so that a
// link swapped in for a file or folder during the copy (by whatever
// still writes the workspace) cannot make it read anything outside src.
// Links are copied as links, which resolve in the bottle's own tree;
// folders and regular files as they are (files writable by the agent,
// keeping their execute bits, as os.CopyFS does); anything else (FIFOs,
// sockets, devices) is left out. dst is the bottle's own fresh tmpfs,
// which nothing else writes yet.
func copyTree(dst, src string) error {
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	return copyDir(fd, dst, src)
}

// copyDir copies the folder open at fd (which it closes) into dst; name
// is its path, for errors.
func copyDir(fd int, dst, name string) error {
	dir := os.NewFile(uintptr(fd), name)
	defer func() { _ = dir.Close() }()
	names, err := dir.Readdirnames(-1)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed since it was opened
	} else if err != nil {
		return fmt.Errorf("listing %s: %w", name, err)
	}
	for _, n := range names {
		if err := copyEntry(fd, n, filepath.Join(dst, n), filepath.Join(name, n)); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies the entry n of the folder open at parent to dst.
func copyEntry(parent int, n, dst, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed since the listing
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Openat(parent, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return swapped(parent, n, dst, name, err)
		}
		if err := os.Mkdir(dst, 0o777); err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("%s: %w", name, err)
		}
		return copyDir(fd, dst, name)
	case unix.S_IFREG:
		// O_NONBLOCK: a FIFO swapped in must not stall the copy (the
		// type is checked again on what was opened).
		fd, err := unix.Openat(parent, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return swapped(parent, n, dst, name, err)
		}
		return copyFile(fd, dst, name)
	case unix.S_IFLNK:
		return copyLink(parent, n, dst, name)
	}
	return nil
}

// swapped handles an entry that changed type between its stat and its
// opening: a link now is copied as one; one gone is skipped.
func swapped(parent int, n, dst, name string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return copyLink(parent, n, dst, name)
	case errors.Is(err, unix.ENOENT):
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

func copyLink(parent int, n, dst, name string) error {
	buf := make([]byte, unix.PathMax)
	k, err := unix.Readlinkat(parent, n, buf)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EINVAL):
		// No longer a link, and never followed: leave it out.
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := os.Symlink(string(buf[:k]), dst); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// copyFile copies the file open at fd (which it closes) to dst.
func copyFile(fd int, dst, name string) error {
	f := os.NewFile(uintptr(fd), name)
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return nil // swapped for a FIFO, socket or device: left out
	}
	// Reads of a regular file ignore O_NONBLOCK.
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666|info.Mode()&0o111)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.Copy(out, f); err != nil {
		_ = out.Close()
		return fmt.Errorf("copying %s: %w", name, err)
	}
	return out.Close()
}
