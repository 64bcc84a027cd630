package supervise

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Decide applies the operator's verdict on proposal id. An approved
// route is in force when Decide returns; if it cannot be put in force
// the proposal stays pending and Decide fails.
func (b *Board) Decide(id string, v Verdict) (Proposal, error) {
	v.Notes, v.Reason = strings.TrimSpace(v.Notes), strings.TrimSpace(v.Reason)
	if !v.Approve && v.Reason == "" {
		return Proposal{}, errors.New("a rejection needs a reason (the agent reads it)")
	}
	if v.Lifetime.TTL < 0 || v.Lifetime.Uses < 0 {
		return Proposal{}, errors.New("a lifetime is positive: a TTL over zero, a use count over zero")
	}
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	b.mu.Lock()
	e := b.find(id)
	switch {
	case e == nil:
		b.mu.Unlock()
		return Proposal{}, fmt.Errorf("%w %s in bottle %s", ErrNotFound, id, b.cfg.Bottle)
	case e.p.Status != StatusPending:
		p := clone(e.p)
		b.mu.Unlock()
		return p, fmt.Errorf("proposal %s is already %s", id, p.Status)
	}
	d := Decision{Status: StatusRejected, By: v.By, Notes: v.Notes, Reason: v.Reason, Lifetime: v.Lifetime}
	if !v.Approve || e.p.Kind != KindRoute {
		if v.Approve {
			d.Status = StatusApproved
			d.Lifetime = Lifetime{Once: true}
		}
		rec := b.finish(e, d)
		p := clone(e.p)
		b.mu.Unlock()
		b.audit(rec)
		return p, nil
	}
	b.mu.Unlock()

	route, m := *e.p.Route, e.match
	d.Status = StatusApproved
	if v.Route != nil {
		var err error
		if route, m, err = Normalize(*v.Route, nil); err != nil {
			return Proposal{}, fmt.Errorf("the modified route: %w", err)
		}
		route.Reason = ""
		if !sameRoute(route, *e.p.Route) {
			d.Status = StatusModified
		}
	}
	cur := b.cfg.Policy()
	diff, err := grantDiff(cur, route.Host, m)
	if err != nil {
		return Proposal{}, fmt.Errorf("the route does not validate: %w", err)
	}
	g := &grant{Grant: Grant{ID: id, Host: route.Host, Match: m}}
	switch lt := v.Lifetime; {
	case lt.Once:
		g.UsesLeft = 1
	case lt.Uses > 0:
		g.UsesLeft = lt.Uses
	default:
		g.unlimited = true
	}
	if v.Lifetime.TTL > 0 {
		g.Expires = b.cfg.Now().Add(v.Lifetime.TTL).UTC()
	}

	b.mu.Lock()
	if e.p.Status != StatusPending { // expired meanwhile
		p := clone(e.p)
		b.mu.Unlock()
		return p, fmt.Errorf("proposal %s is already %s", id, p.Status)
	}
	b.grants = append(b.grants, g)
	b.mu.Unlock()
	if err := b.cfg.Reapply(); err != nil {
		b.mu.Lock()
		b.grants = slices.DeleteFunc(b.grants, func(x *grant) bool { return x == g })
		b.mu.Unlock()
		return Proposal{}, fmt.Errorf("putting the grant in force: %w", err)
	}
	b.mu.Lock()
	e.p.Route, e.match, e.p.Diff = &route, m, diff
	rec := b.finish(e, d)
	p := clone(e.p)
	b.mu.Unlock()
	b.audit(rec)
	return p, nil
}
