package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
)

// A bottle's resources become a cgroup v2 group of its own where the host
// delegates a cgroup to the operator (see internal/sandbox/cgroup). Where
// it does not, the preflight says which limits are not enforced and why,
// and the bottle starts without them: what is enforced is always stated.

// controllerNames are the resources' names for people, by controller.
var controllerNames = map[string]string{"cpu": "cpus", "memory": "memory", "pids": "pids"}

func limitsOf(r backend.Resources) cgroup.Limits {
	return cgroup.Limits{MilliCPUs: r.MilliCPUs, Memory: r.Memory, Pids: r.Pids}
}

// enforceable narrows l to what h can enforce; the error says why the
// rest cannot be, and is nil when nothing was dropped.
func enforceable(h cgroup.Hierarchy, l cgroup.Limits) (cgroup.Limits, error) {
	var why error
	for _, c := range l.Controllers() {
		if _, _, err := h.Parent([]string{c}); err != nil {
			why = err
			switch c {
			case "cpu":
				l.MilliCPUs = 0
			case "memory":
				l.Memory = 0
			case "pids":
				l.Pids = 0
			}
		}
	}
	return l, why
}

// limitsFeatures is what Probe reports of resource limits here: an
// isolation item for those enforced, a note for those that are not.
func limitsFeatures() (isolation, note string) {
	all := cgroup.Limits{MilliCPUs: 1, Memory: 1, Pids: 1}
	var got cgroup.Limits
	h, err := cgroup.System()
	if err == nil {
		got, err = enforceable(h, all)
	}
	var on, off []string
	for _, c := range all.Controllers() {
		if slices.Contains(got.Controllers(), c) {
			on = append(on, controllerNames[c])
		} else {
			off = append(off, controllerNames[c])
		}
	}
	if len(on) > 0 {
		isolation = "cgroup v2 limits (" + strings.Join(on, ", ") + ")"
	}
	if len(off) > 0 {
		reason := strings.TrimPrefix(err.Error(), cgroup.ErrUnavailable.Error()+": ")
		note = fmt.Sprintf("resources (%s) are not enforced: %s", strings.Join(off, ", "), reason)
	}
	return isolation, note
}

// newGroup creates the cgroup that holds the bottle's init and all it
// starts, when the bottle has limits this host can enforce, and records
// it in dir for a Stop from another process. Limits the host cannot
// enforce are left out, as the preflight said; a failure to set up those
// it can is an error, since the preflight said they would be.
func (d *Driver) newGroup(slug string, l cgroup.Limits, dir string) (*cgroup.Group, error) {
	if len(l.Controllers()) == 0 {
		return nil, nil
	}
	h, err := cgroup.System()
	if err == nil {
		var why error
		if l, why = enforceable(h, l); why != nil {
			d.log.Info("some resources are not enforced", "slug", slug, "err", why)
		}
		if len(l.Controllers()) == 0 {
			return nil, nil
		}
		var g *cgroup.Group
		if g, err = h.Create(slug, l); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(g.Path), 0o600); err != nil {
				_ = g.Remove()
				return nil, err
			}
			return g, nil
		}
	}
	if errors.Is(err, cgroup.ErrUnavailable) {
		d.log.Info("resources are not enforced", "slug", slug, "err", err)
		return nil, nil
	}
	return nil, fmt.Errorf("applying the bottle's resources: %w; remove resources from the bottle to start it without limits", err)
}

// removeGroup removes the cgroup recorded in dir, if any.
func removeGroup(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	path := filepath.Clean(strings.TrimSpace(string(data)))
	// The record is the operator's own file, but only ever a group of
	// the system hierarchy.
	if !strings.HasPrefix(path, cgroup.SystemRoot+"/") {
		return fmt.Errorf("refusing to remove %s: not a cgroup", path)
	}
	return cgroup.Remove(path)
}
