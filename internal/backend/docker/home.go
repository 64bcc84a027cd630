package docker

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/kepthome"
)

// homeMount binds a kept home (spec.HomeDir) at the agent's home, made
// the agent user's, once nothing the agent left at the paths of the
// provisioned files (a link to a folder, which the archive API refuses to
// replace) stands in their way. Nothing of the bottle runs yet.
func homeMount(spec *backend.Spec) (mount.Mount, error) {
	fi, err := os.Lstat(spec.HomeDir)
	if err != nil {
		return mount.Mount{}, fmt.Errorf("the kept home: %w", err)
	}
	if !fi.IsDir() {
		return mount.Mount{}, fmt.Errorf("the kept home %s is not a folder; remove it to start with a fresh home", spec.HomeDir)
	}
	for _, f := range spec.Files {
		rel, ok := strings.CutPrefix(path.Clean(f.Path), strings.TrimSuffix(spec.User.Home, "/")+"/")
		if !ok {
			continue
		}
		if err := kepthome.Clear(spec.HomeDir, filepath.Join(spec.HomeDir, filepath.FromSlash(rel))); err != nil {
			return mount.Mount{}, fmt.Errorf("preparing the kept home for %s: %w", f.Path, err)
		}
	}
	if err := os.Lchown(spec.HomeDir, spec.User.UID, spec.User.GID); err != nil {
		// An operator who is not root cannot give it away; the state
		// folder (0700) keeps everyone else out of it.
		if err := os.Chmod(spec.HomeDir, 0o777); err != nil { //nolint:gosec // G302: inside the operator's 0700 state folder
			return mount.Mount{}, fmt.Errorf("opening the kept home to the agent user: %w", err)
		}
	}
	return mount.Mount{Type: mount.TypeBind, Source: spec.HomeDir, Target: spec.User.Home}, nil
}
