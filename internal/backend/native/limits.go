//go:build linux

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

// A bottle's resources become a cgroup of its own: cgroup v2 where the
// host delegates a cgroup to the operator, cgroup v1 where the operator
// may write the hierarchies (see internal/sandbox/cgroup). Where neither
// is possible, the preflight says which limits are not enforced and why,
// and start refuses the bottle unless the operator allows it to run
// without them (Spec.AllowUnenforcedLimits).

// AllowUnenforcedFlag is the start flag that lets a bottle run without
// the limits this host cannot enforce.
const AllowUnenforcedFlag = "--allow-unenforced-limits"

// controllerNames are the resources' names for people, by controller.
var controllerNames = map[string]string{"cpu": "cpus", "memory": "memory", "pids": "pids"}

func limitsOf(r backend.Resources) cgroup.Limits {
	return cgroup.Limits{MilliCPUs: r.MilliCPUs, Memory: r.Memory, Pids: r.Pids}
}

// cgroups returns the host's way to enforce limits (Config.Cgroups in
// tests).
func (d *Driver) cgroups() (cgroup.Enforcer, error) {
	if d.cfg.Cgroups != nil {
		return d.cfg.Cgroups()
	}
	return cgroup.Host()
}

// enforceable narrows l to what this host enforces; the error says why
// the rest cannot be.
func (d *Driver) enforceable(l cgroup.Limits) (cgroup.Enforcer, cgroup.Limits, error) {
	e, err := d.cgroups()
	if err != nil {
		return nil, cgroup.Limits{}, err
	}
	got, why := e.Enforceable(l)
	return e, got, why
}

// names lists the resources of controllers for people.
func names(controllers []string) string {
	var n []string
	for _, c := range controllers {
		n = append(n, controllerNames[c])
	}
	return strings.Join(n, ", ")
}

// reason is err without the sentinel's words.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), cgroup.ErrUnavailable.Error()+": ")
}

// limitsFeatures is what Probe reports of resource limits here: an
// isolation item for those enforced, a note for those that are not.
func (d *Driver) limitsFeatures() (isolation, note string) {
	all := cgroup.Limits{MilliCPUs: 1, Memory: 1, Pids: 1}
	e, got, err := d.enforceable(all)
	var on, off []string
	for _, c := range all.Controllers() {
		if slices.Contains(got.Controllers(), c) {
			on = append(on, c)
		} else {
			off = append(off, c)
		}
	}
	if len(on) > 0 {
		isolation = e.Version() + " limits (" + names(on) + ")"
	}
	if len(off) > 0 {
		note = fmt.Sprintf("resources (%s) are not enforced: %s; start refuses a bottle that sets them unless %s", names(off), reason(err), AllowUnenforcedFlag)
	}
	return isolation, note
}

// newGroup creates the cgroup that holds the bottle's init and all it
// starts, when the bottle has limits, and records it in dir for a Stop
// from another process. A bottle whose limits this host cannot all
// enforce is refused, unless allow: then it runs with those it can.
func (d *Driver) newGroup(slug string, l cgroup.Limits, dir string, allow bool) (*cgroup.Group, error) {
	if len(l.Controllers()) == 0 {
		return nil, nil
	}
	e, got, why := d.enforceable(l)
	if why != nil {
		var dropped []string
		for _, c := range l.Controllers() {
			if !slices.Contains(got.Controllers(), c) {
				dropped = append(dropped, c)
			}
		}
		if !allow {
			return nil, fmt.Errorf("this host cannot enforce the bottle's resources (%s): %s; pass %s to start it without them, or remove them from the bottle", names(dropped), reason(why), AllowUnenforcedFlag)
		}
		d.log.Warn("resources are not enforced", "slug", slug, "resources", names(dropped), "err", why)
	}
	if len(got.Controllers()) == 0 {
		return nil, nil
	}
	g, err := e.Create(slug, got)
	if err != nil {
		return nil, fmt.Errorf("applying the bottle's resources: %w; remove resources from the bottle to start it without limits", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(strings.Join(g.Paths, "\n")), 0o600); err != nil {
		return nil, errors.Join(err, g.Remove())
	}
	return g, nil
}

// removeGroup removes the cgroup recorded in dir, if any: one folder a
// line (one a hierarchy on cgroup v1).
func removeGroup(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		path := filepath.Clean(strings.TrimSpace(line))
		// The record is the operator's own file, but only ever names
		// groups of the system hierarchies.
		if !strings.HasPrefix(path, cgroup.SystemRoot+"/") {
			errs = append(errs, fmt.Errorf("refusing to remove %s: not a cgroup", path))
			continue
		}
		errs = append(errs, cgroup.Remove(path))
	}
	return errors.Join(errs...)
}
