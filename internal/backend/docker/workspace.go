package docker

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// workspaceMounts binds a mounted workspace, then each pinned folder onto
// itself (a mount point the agent can neither rename nor replace), then
// each protected path read-only, parents before children. Docker resolves
// the targets inside the container but follows links in a source on the
// host, so every source is checked again for links right before.
func workspaceMounts(ws backend.Workspace) ([]mount.Mount, error) {
	ms := []mount.Mount{{Type: mount.TypeBind, Source: ws.HostPath, Target: ws.Path}}
	add := func(rel string, ro bool) error {
		if err := noLinks(ws.HostPath, rel); err != nil {
			return err
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(ws.HostPath, rel), Target: path.Join(ws.Path, rel), ReadOnly: ro})
		return nil
	}
	for _, rel := range ws.Pinned {
		if err := add(rel, false); err != nil {
			return nil, err
		}
	}
	for _, rel := range ws.ReadOnly {
		if err := add(rel, true); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// noLinks refuses a relative path below root that is, or goes through, a
// symbolic link, or leaves root.
func noLinks(root, rel string) error {
	if rel == "" || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("protected path %q is not inside the workspace", rel)
	}
	p := root
	for part := range strings.SplitSeq(rel, "/") {
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("checking the protected path %s: %w", p, err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("the protected path %s became a symbolic link after the preflight; start again", p)
		}
	}
	return nil
}
