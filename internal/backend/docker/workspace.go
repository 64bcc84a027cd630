package docker

import (
	"path"
	"path/filepath"

	"github.com/moby/moby/api/types/mount"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// workspaceMounts binds a mounted workspace, then each pinned folder onto
// itself (a mount point the agent can neither rename nor replace), then
// each protected path read-only, parents before children. Docker resolves
// the targets inside the container, and launch checked that no protected
// path is a symbolic link on the host.
func workspaceMounts(ws backend.Workspace) []mount.Mount {
	ms := []mount.Mount{{Type: mount.TypeBind, Source: ws.HostPath, Target: ws.Path}}
	for _, rel := range ws.Pinned {
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(ws.HostPath, rel), Target: path.Join(ws.Path, rel)})
	}
	for _, rel := range ws.ReadOnly {
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(ws.HostPath, rel), Target: path.Join(ws.Path, rel), ReadOnly: true})
	}
	return ms
}
