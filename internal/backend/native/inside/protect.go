//go:build linux

package inside

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// protectWorkspace binds each pinned path of the workspace mounted at ws
// onto itself, read-write, then each read-only path read-only. A bind's
// mount point can be neither renamed nor removed, so the agent can swap
// none of them for a file of its own.
//
// Security: each path is opened beneath ws without following any link,
// and the bind is made on that open file, so that a link planted on the
// way cannot move a bind out of the workspace.
func protectWorkspace(ws string, pinned, readOnly []string) error {
	if len(pinned)+len(readOnly) == 0 {
		return nil
	}
	root, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening the workspace: %w", err)
	}
	defer func() { _ = unix.Close(root) }()
	for _, rel := range pinned {
		if err := bindOnto(root, rel, false); err != nil {
			return err
		}
	}
	for _, rel := range readOnly {
		if err := bindOnto(root, rel, true); err != nil {
			return err
		}
	}
	return nil
}

// bindOnto binds rel below root onto itself, read-only if ro.
func bindOnto(root int, rel string, ro bool) error {
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("opening the protected path %s of the workspace: %w", rel, err)
	}
	defer func() { _ = unix.Close(fd) }()
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("cloning the protected path %s: %w", rel, err)
	}
	defer func() { _ = unix.Close(tree) }()
	if ro {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
			return fmt.Errorf("making %s read-only: %w", rel, err)
		}
	}
	if err := unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("binding the protected path %s: %w", rel, err)
	}
	return nil
}
