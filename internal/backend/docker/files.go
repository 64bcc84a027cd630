package docker

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// copyIn extracts files into a container at /. The owners in the tar
// headers are kept (CopyUIDGID would instead chown everything to the
// container user, looked up on the daemon host).
func (d *Driver) copyIn(ctx context.Context, id string, files []entry, owned ...string) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	tb, err := tarball(files, owned...)
	if err != nil {
		return err
	}
	_, err = cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: tb})
	return err
}

// readFile reads one file of a container, created or running.
func (d *Driver) readFile(ctx context.Context, id, p string) ([]byte, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	res, err := cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: p})
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Content.Close() }()
	return readTarFile(res.Content)
}

// copyWorkspace copies the working tree into the runtime, owned by the
// agent user. The walk is confined to the tree (os.Root), symbolic links
// are kept as links, and other special files are skipped.
func (d *Driver) copyWorkspace(ctx context.Context, id string, spec *backend.Spec) error {
	root, err := os.OpenRoot(spec.Workspace.HostPath)
	if err != nil {
		return fmt.Errorf("opening the workspace: %w", err)
	}
	defer func() { _ = root.Close() }()
	var files []entry
	err = fs.WalkDir(root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		e := entry{Name: path.Join(spec.Workspace.Path, p), UID: spec.User.UID, GID: spec.User.GID}
		info, err := de.Info()
		if err != nil {
			return err
		}
		e.Mode = int64(info.Mode().Perm())
		switch {
		case de.IsDir():
			e.Dir = true
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = root.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if e.Data, err = root.ReadFile(p); err != nil {
				return err
			}
		default:
			return nil
		}
		files = append(files, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("copying the workspace %s: %w", spec.Workspace.HostPath, err)
	}
	if err := d.copyIn(ctx, id, files, spec.Workspace.Path); err != nil {
		return fmt.Errorf("copying the workspace into the bottle: %w", err)
	}
	return nil
}

// demux splits a multiplexed (non-TTY) stream.
func demux(stdout, stderr io.Writer, r io.Reader) (int64, error) {
	return stdcopy.StdCopy(stdout, stderr, r)
}
