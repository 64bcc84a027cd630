//go:build linux

package inside

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// attachTree attaches the idmapped workspace tree the host passed on
// WorkspaceTreeFD at inside, and closes it.
func attachTree(inside string) error {
	tree := os.NewFile(WorkspaceTreeFD, "workspace")
	if tree == nil {
		return fmt.Errorf("the host passed no workspace tree")
	}
	defer func() { _ = tree.Close() }()
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, inside, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching the workspace: %w", err)
	}
	return nil
}

// ownAgentFiles gives the agent its home and a copied workspace. The
// init makes them as its own root, which is not the agent when the
// operator is root.
func ownAgentFiles(cfg *Config) error {
	if err := unix.Lchown(filepath.Join(cfg.Root, cfg.Home), cfg.OuterUID, cfg.OuterGID); err != nil {
		return fmt.Errorf("giving the agent its home: %w", err)
	}
	if cfg.WorkspaceMode != "copy" || cfg.WorkspacePath == "" {
		return nil
	}
	err := filepath.WalkDir(filepath.Join(cfg.Root, cfg.WorkspacePath), func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.Lchown(p, cfg.OuterUID, cfg.OuterGID)
	})
	if err != nil {
		return fmt.Errorf("giving the agent the workspace copy: %w", err)
	}
	return nil
}

// ownFile gives the agent a provisioned file at p, unless it is root's,
// and the folders provisioning made for it below the home or /tmp.
func ownFile(cfg *Config, f File, p string) error {
	if !f.Root {
		if err := unix.Lchown(p, cfg.OuterUID, cfg.OuterGID); err != nil {
			return fmt.Errorf("giving the agent %s: %w", f.Path, err)
		}
	}
	for _, top := range []string{filepath.Join(cfg.Root, cfg.Home), filepath.Join(cfg.Root, "tmp")} {
		for d := filepath.Dir(p); strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
			if err := unix.Lchown(d, cfg.OuterUID, cfg.OuterGID); err != nil {
				return fmt.Errorf("giving the agent %s: %w", d, err)
			}
		}
	}
	return nil
}
