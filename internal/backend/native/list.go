//go:build linux

package native

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/proc"
)

// List implements backend.Backend: the bottles of this process, and the
// folders of the state root: bottles other processes hold (detached ones
// included) and those whose holder died (their processes died with it).
// A bottle whose sidecar refuses connections is partial.
func (d *Driver) List(context.Context) ([]backend.Instance, error) {
	d.mu.Lock()
	type mine struct {
		slug string
		b    *bottle
	}
	var own []mine
	for slug, b := range d.bottles {
		own = append(own, mine{slug, b})
	}
	d.mu.Unlock()
	var out []backend.Instance
	seen := map[string]bool{}
	for _, m := range own {
		seen[m.slug] = true
		b := m.b
		state := backend.StateRunning
		select {
		case <-b.done:
			state = backend.StateStopped
		default:
			if !sidecarServes(b.dir) {
				state = backend.StatePartial
			}
		}
		out = append(out, backend.Instance{Slug: m.slug, Backend: Name, Agent: b.agent, Bottles: b.bottles, Created: b.created, State: state, OwnerPID: b.owner, Resources: []string{"folder " + b.dir}})
	}
	if d.cfg.StateRoot != "" {
		dirs, _ := filepath.Glob(filepath.Join(d.cfg.StateRoot, "*", "native"))
		for _, dir := range dirs {
			slug := filepath.Base(filepath.Dir(dir))
			if seen[slug] {
				continue
			}
			out = append(out, folderInstance(slug, dir))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

// folderInstance is the bottle of a native folder this process does not
// hold.
func folderInstance(slug, dir string) backend.Instance {
	holder := ownerPID(dir)
	state := backend.StateStopped
	if proc.Alive(holder) {
		// Another bot-bottle, or the bottle's supervisor, runs it.
		state = backend.StateRunning
		if !sidecarServes(dir) {
			state = backend.StatePartial
		}
	}
	in := backend.Instance{Slug: slug, Backend: Name, State: state, OwnerPID: holder, Resources: []string{"folder " + dir}}
	if g, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		in.Resources = append(in.Resources, "cgroup "+string(g))
	}
	var meta ownerMeta
	if data, err := os.ReadFile(filepath.Join(dir, "bottle.json")); err == nil && json.Unmarshal(data, &meta) == nil {
		in.Agent, in.Bottles, in.Created, in.Detached = meta.Agent, meta.Bottles, meta.Created, meta.Detached
		if meta.OwnerPID > 0 {
			in.OwnerPID = meta.OwnerPID
		}
		if meta.Detached {
			in.Resources = append(in.Resources, fmt.Sprintf("supervisor %d", holder))
		}
	}
	return in
}
