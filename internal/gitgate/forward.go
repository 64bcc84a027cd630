package gitgate

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// forward promotes the accepted commands' objects into the mirror, pushes
// the commands upstream, and moves the mirror's refs of those the
// upstream accepted.
func (p *pushRun) forward(ctx context.Context) {
	var (
		idx     []int
		updates []Update
		objs    []plumbing.Hash
	)
	seen := map[plumbing.Hash]bool{}
	for i, c := range p.req.commands {
		v := &p.v[i]
		if v.refused {
			continue
		}
		force, err := isForce(p.q, c)
		if err != nil {
			p.s.log.Error("comparing old and new", "repo", p.m.Name, "ref", c.Name, "err", err)
			v.refuse("gate-error", "gate error")
			continue
		}
		idx = append(idx, i)
		updates = append(updates, Update{Command: c, Force: force})
		for _, h := range v.objs {
			if !seen[h] {
				seen[h] = true
				objs = append(objs, h)
			}
		}
	}
	if p.atomic(); p.pending() == 0 {
		return
	}

	// Only the objects of accepted commands: those of a refused one must
	// never reach the mirror.
	if err := p.q.promote(p.repo.Storer, objs); err != nil {
		p.s.log.Error("promoting quarantine", "repo", p.m.Name, "err", err)
		p.refuseAll("gate-error", "gate error")
		return
	}

	pw := &progressWriter{rp: p.rep, quiet: p.req.caps.has(capQuiet)}
	results, err := p.m.Upstream.Push(ctx, p.repo, updates, p.req.options, pw)
	pw.flush()
	if err == nil && len(results) != len(updates) {
		err = fmt.Errorf("upstream returned %d results for %d updates", len(results), len(updates))
	}
	if err != nil {
		p.s.log.Warn("upstream push failed", "repo", p.m.Name, "err", err)
		p.rep.message("upstream: error: " + oneLine(err.Error()))
		for _, i := range idx {
			p.v[i].refuse("upstream-failed", "upstream push failed")
		}
		return
	}
	for k, i := range idx {
		c := p.req.commands[i]
		if results[k] != nil {
			p.v[i].refuse("upstream-rejected", "upstream: "+oneLine(results[k].Error()))
			continue
		}
		p.setRef(c)
	}
}

// setRef moves the mirror's ref after the upstream accepted c. A failure
// is only logged: the upstream has the update, and the next refresh
// brings the mirror in line.
func (p *pushRun) setRef(c Command) {
	var err error
	if c.Delete() {
		err = p.repo.Storer.RemoveReference(c.Name)
	} else {
		var old *plumbing.Reference
		if !c.Old.IsZero() {
			old = plumbing.NewHashReference(c.Name, c.Old)
		}
		err = p.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(c.Name, c.New), old)
	}
	if err != nil {
		p.s.log.Warn("updating mirror ref", "repo", p.m.Name, "ref", c.Name, "err", err)
	}
}
